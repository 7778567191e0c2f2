// keyward/slim: keyward without a loader of its own. Nothing is initialised until
// init(module) is given the .wasm ('keyward/keyward.wasm'): a WebAssembly.Module
// (workerd's import), its bytes, a Response (fetch()) or a promise of one of these.
// Then the bindings below are keyward's and keyward/fetch's.
import * as glue from './pkg/web/keyward_wasm.mjs';
import slot from './lib/slot.cjs';

export let createKey, parseKey, hashKey, parseScope, hasScope, verify, wwwAuthenticate, codes;
export let ApiKeyError, KeywardOptionError, memoryStore, remoteStore, checkRequest;

async function compile(source) {
  const given = await source;
  if (given instanceof WebAssembly.Module) return given;
  if (typeof Response === 'function' && given instanceof Response) {
    return typeof WebAssembly.compileStreaming === 'function'
      ? WebAssembly.compileStreaming(given)
      : WebAssembly.compile(await given.arrayBuffer());
  }
  if (given instanceof ArrayBuffer || ArrayBuffer.isView(given)) return WebAssembly.compile(given);
  throw new TypeError('keyward/slim: init() takes the .wasm as a WebAssembly.Module, bytes or a Response');
}

let ready;
/** Initialises keyward from the .wasm once; later calls return the same promise. */
export function init(source) {
  ready ??= (async () => {
    const module = await compile(source);
    glue.initSync({ module });
    slot.wasm ??= glue;
    const { default: core } = await import('./lib/index.cjs');
    const { default: web } = await import('./lib/fetch.cjs');
    ({ createKey, parseKey, hashKey, parseScope, hasScope, verify, wwwAuthenticate, codes } = core);
    ({ ApiKeyError, KeywardOptionError, memoryStore, remoteStore } = core);
    ({ checkRequest } = web);
  })();
  ready.catch(() => { ready = undefined; });
  return ready;
}
