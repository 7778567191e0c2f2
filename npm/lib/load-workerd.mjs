// workerd (Cloudflare Workers, wrangler): the .wasm imported as a compiled module. No
// fs, and no compiling from bytes, which workerd forbids at request time and, with
// disallow_eval_during_startup, at startup too.
import * as glue from '../pkg/web/keyward_wasm.mjs';
import module from '../pkg/keyward_wasm_bg.wasm';

glue.initSync({ module });

export * from '../pkg/web/keyward_wasm.mjs';
