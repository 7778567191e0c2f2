// The same Hono app as a JavaScript Worker (wrangler dev, workerd) for bench/runtimes.mjs;
// the key's hash and hint arrive as vars, the raw key only as the bearer token to compare.
import { benchApp } from './hono-app.mjs';

/** SHA-256 by Web Crypto, as a check in a JavaScript Worker would hash. */
async function hashHex(s) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(s)));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

let app;
export default {
  fetch(request, env, ctx) {
    app ??= benchApp({ key: env.BENCH_KEY, hash: env.BENCH_HASH, hint: env.BENCH_HINT }, { hashHex });
    return app.fetch(request, env, ctx);
  },
};
