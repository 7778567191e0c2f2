// The same Hono app as a JavaScript Worker (wrangler dev, workerd) for bench/runtimes.mjs;
// the key's hash and hint arrive as vars, the raw key only as the bearer token to compare.
import { benchApp } from './hono-app.mjs';

let app;
export default {
  fetch(request, env, ctx) {
    app ??= benchApp({ key: env.BENCH_KEY, hash: env.BENCH_HASH, hint: env.BENCH_HINT });
    return app.fetch(request, env, ctx);
  },
};
