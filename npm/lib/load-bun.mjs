// Bun: the .wasm as a file asset, which `bun build --compile` embeds in the binary.
import { readFileSync } from 'node:fs';
import * as glue from '../pkg/web/keyward_wasm.mjs';
import path from '../pkg/keyward_wasm_bg.wasm' with { type: 'file' };

glue.initSync({ module: readFileSync(path) });

export * from '../pkg/web/keyward_wasm.mjs';
