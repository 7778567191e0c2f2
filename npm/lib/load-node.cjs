'use strict';
// Node: wasm-bindgen's Node glue reads the .wasm beside it. Deno resolves require() with
// Node's conditions (not "deno") and, without --allow-read, cannot read that file: it
// takes the bytes from a module instead (Deno's require() loads ES modules).
module.exports = typeof globalThis.Deno === 'object' && globalThis.Deno !== null
  ? require('./load-bytes.mjs')
  : require('../pkg/keyward_wasm.js');
