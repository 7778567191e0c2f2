'use strict';
// The WebAssembly build of keyward-core (crates/keyward-wasm, built by `npm run build`),
// loaded once, synchronously, with its code table.
const wasm = require('../pkg/keyward_wasm.js');

/** Every code, in the core's table order (`Code::ALL`). */
const CODE_LIST = Object.freeze(JSON.parse(wasm.codeTable()).map((row) => Object.freeze(row)));
/** code → {code, status, bearer_error, message} */
const CODE_INFO = new Map(CODE_LIST.map((row) => [row.code, row]));

module.exports = { wasm, CODE_LIST, CODE_INFO };
