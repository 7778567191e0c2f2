'use strict';
// The WebAssembly build of keyward-core (crates/keyward-wasm, built by `npm run build`),
// loaded once, synchronously, with its code table. `#wasm` is the runtime's loader,
// chosen by the conditions of package.json's "imports": Node reads the file, workerd
// imports it as a compiled module, Bun embeds it as a file, Deno and bundlers take the
// bytes from a module. keyward/slim puts the instance here itself (init(module)).
const slot = require('./slot.cjs');

const wasm = slot.wasm ?? require('#wasm');
slot.wasm = wasm;

/** Every code, in the core's table order (`Code::ALL`). */
const CODE_LIST = Object.freeze(JSON.parse(wasm.codeTable()).map((row) => Object.freeze(row)));
/** code → {code, status, bearer_error, message} */
const CODE_INFO = new Map(CODE_LIST.map((row) => [row.code, row]));

module.exports = { wasm, CODE_LIST, CODE_INFO };
