// Hono on Node for bench/runtimes.mjs: prints {port, key} once listening.
import { hash as digest } from 'node:crypto';
import { serve } from '@hono/node-server';
import { createKey } from 'keyward';
import { benchApp } from './hono-app.mjs';

const made = createKey({ env: 'live' });
const server = serve({ fetch: benchApp(made, { hashHex: (s) => digest('sha256', s) }).fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
  console.log(JSON.stringify({ port: info.port, key: made.key }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
