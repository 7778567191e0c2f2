// Deno (no --allow-read needed), bundlers (esbuild, webpack, Vite: the bundle runs from
// any directory) and browsers: the .wasm's bytes from a module, compiled once.
import * as glue from '../pkg/web/keyward_wasm.mjs';
import base64 from '../pkg/keyward_wasm_bg.wasm.mjs';

const text = atob(base64);
const bytes = new Uint8Array(text.length);
for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
glue.initSync({ module: bytes });

export * from '../pkg/web/keyward_wasm.mjs';
