// The typings of keyward/fetch, keyward/hono, keyward/fastify and keyward/slim.
import Fastify from 'fastify';
import { Hono } from 'hono';
import { checkRequest, memoryStore, type CheckResult } from 'keyward/fetch';
import { apiKey, guard, requireScope, type ApiKeyEnv } from 'keyward/hono';
import keyward, { requireScope as fastifyScope } from 'keyward/fastify';
import { init, createKey } from 'keyward/slim';

const store = memoryStore();

export async function handle(request: Request): Promise<Response> {
  const auth: CheckResult = await checkRequest(request, { store, env: 'live', scopes: ['scans:read'] });
  if (!auth.valid) return auth.response;
  const owner: string | null = auth.key.owner;
  return Response.json({ owner }, { headers: auth.headers });
}

const app = new Hono<ApiKeyEnv>();
app.use('/api/*', apiKey({ store, env: 'live' }));
app.get('/api/scans', requireScope('scans:read'), (c) => c.json({ id: c.get('apiKey').id }));

// guard(): `c` is typed by the options' environment on an app of any environment.
const plain = new Hono();
plain.get('/scans/:id', guard({ store, env: 'live', scopes: ['scans:read'] }, (c) => c.json({ id: c.get('apiKey').id, scan: c.req.param('id') })));
plain.post('/scans', guard({ store, env: 'live' }, async (c) => c.text(c.get('apiKey').owner ?? '', 201)));
// @ts-expect-error: the handler is required.
guard({ store, env: 'live' });

const server = Fastify();
await server.register(keyward, { store, env: { any: true } });
void server.register(keyward, { store, env: 'live', getKey: (request) => request.headers['x-token'] as string | undefined, cost: (request) => (request.method === 'POST' ? 5 : 1) });
server.get('/scans', { preHandler: fastifyScope('scans:read') }, async (request) => ({ id: request.apiKey?.id }));

await init(new Uint8Array());
export const made: { key: string } = createKey();
