// Compiled by `tsc --noEmit` in test/entry.test.mjs: keyward/origin as an origin meets it.
import express from 'express';
import { GatewaySignatureError, gatewayAuth, verifyGatewayRequest } from 'keyward/origin';
import type { GatewayIdentity } from 'keyward/origin';

const app = express();
app.use(gatewayAuth({ secret: 'x'.repeat(32), maxAgeSeconds: 30 }));
app.get('/repos/:id', (req, res) => {
  const who: GatewayIdentity | undefined = req.gateway;
  res.json({ scopes: who?.scopes ?? [] });
});

export async function handler(request: Request): Promise<Response> {
  try {
    const who = await verifyGatewayRequest(request, { secret: new Uint8Array(32) });
    return new Response(who.keyId);
  } catch (e) {
    if (e instanceof GatewaySignatureError) {
      const reason: 'missing' | 'malformed' | 'stale' | 'mismatch' = e.reason;
      return new Response(reason, { status: e.status });
    }
    throw e;
  }
}
