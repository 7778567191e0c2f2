// The type-check's view of `#wasm` (wasm-bindgen's glue, generated into npm/pkg by the
// build, which `make lint` does not run first): its exports, untyped.
declare const glue: any;
export = glue;
