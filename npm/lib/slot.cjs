'use strict';
// Where the initialised WebAssembly glue is kept: set by wasm.cjs from the runtime's
// loader (#wasm), or first by keyward/slim's init(module).
module.exports = { wasm: undefined };
