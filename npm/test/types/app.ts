// Compiled by `tsc --noEmit` in test/entry.test.mjs: the typings as a user meets them.
import express from 'express';
import { ApiKeyError, codes, createKey, hashKey, hasScope, memoryStore, parseKey, remoteStore, verify } from 'keyward';
import type { AuditEvent, KeyRecord, KeyStore } from 'keyward';
import { apiKeyAuth, apiKeyErrorHandler, requireScope } from 'keyward/express';

const { key, hash, hint } = createKey({ env: 'live' });
const record: KeyRecord = {
  id: 'key_0123456789abcdef', hash, hint, name: 'ci', owner: 'team-a',
  scopes: ['scans:read'], env: 'live', created_at: new Date().toISOString(),
};
// The generated type (record.d.ts, from the Rust schema) has the restrictions.
const fenced: KeyRecord = { ...record, allowed_ips: ['203.0.113.0/24'], not_before: null, roles: ['reader'] };
// @ts-expect-error a camelCase field is no field of a key record
const camel: KeyRecord = { ...record, revokedAt: null };
const store = memoryStore([record, fenced, camel]);
const db: KeyStore = { findByHash: async (h: string) => (h === hash ? record : null) };
const status: number = codes.unknown_key.status;
const v = verify(record, { env: 'live', scopes: ['scans:read'], ip: '203.0.113.9' });
const ok: boolean = v.valid && hasScope(record.scopes, 'scans:read') && parseKey(key).env === 'live' && hashKey(key) === hash;

const app = express();
app.use(apiKeyAuth({ store, env: 'live', onUse: (e: AuditEvent) => console.log(e.key_id, e.status) }));
app.use('/db', apiKeyAuth({ store: db, env: { any: true }, clientIp: (req) => req.socket.remoteAddress }));
app.use('/remote', apiKeyAuth({ store: remoteStore({ url: 'http://127.0.0.1:8787', token: 't', cacheTtlMs: 1000 }), env: 'live' }));
app.get('/scans', requireScope('scans:read'), (req, res) => {
  // Declaration merging: req.apiKey is typed.
  const owner: string | null | undefined = req.apiKey?.owner;
  const scopes: readonly string[] = req.apiKey?.scopes ?? [];
  res.json({ owner, scopes, status, ok });
});
app.use(apiKeyErrorHandler({ realm: 'api' }));
app.use((err: unknown, _req: express.Request, res: express.Response, next: express.NextFunction) => {
  if (err instanceof ApiKeyError && err.code === 'unavailable') res.status(err.status);
  next(err);
});

// @ts-expect-error: requestProperty is a string
apiKeyAuth({ store, env: 'live', requestProperty: 1 });
// @ts-expect-error: env is required
apiKeyAuth({ store });
// @ts-expect-error: a store needs findByHash
apiKeyAuth({ store: {}, env: 'live' });
// @ts-expect-error: not a code
new ApiKeyError('nope');
