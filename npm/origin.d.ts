// Types of 'keyward/origin': for the origin behind keyward's gateway.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** What the gateway asserted, once its signature verified. */
export interface GatewayIdentity {
  /** The key's id (`key_…`). */
  keyId: string;
  /** The key's owner (decoded from `X-Keyward-Owner`). */
  owner: string;
  /** The key's scopes. */
  scopes: string[];
  /** When the gateway signed, in Unix seconds. */
  timestamp: number;
}

export interface VerifyGatewayOptions {
  /** The gateway's `ORIGIN_SECRET` (at least 32 bytes). */
  secret: string | Uint8Array;
  /** The oldest (or furthest ahead) signature accepted, 1 to 3600 s; default 60. */
  maxAgeSeconds?: number;
  /** The clock, in milliseconds; default `Date.now`. */
  now?: () => number;
}

/** A request the gateway did not sign as it is. Assert on `code` and `reason`. */
export class GatewaySignatureError extends Error {
  readonly code: 'bad_signature';
  readonly reason: 'missing' | 'malformed' | 'stale' | 'mismatch';
  readonly status: 401;
  readonly statusCode: 401;
  readonly expose: true;
}

/**
 * Verifies that keyward's gateway sent `request` as it is (method, path and query, and
 * the key's identity, signed at most `maxAgeSeconds` ago).
 *
 * @example
 * const who = await verifyGatewayRequest(request, { secret: env.ORIGIN_SECRET });
 */
export function verifyGatewayRequest(
  request: Request | IncomingMessage,
  options: VerifyGatewayOptions,
): Promise<GatewayIdentity>;

/**
 * Middleware: `next(err)` (401 `bad_signature`) for a request the gateway did not sign;
 * `req.gateway` for one it did.
 *
 * @example
 * app.use(gatewayAuth({ secret: process.env.ORIGIN_SECRET }));
 */
export function gatewayAuth(
  options: VerifyGatewayOptions,
): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

declare global {
  namespace Express {
    interface Request {
      /** Set by gatewayAuth() when the gateway's signature verifies. */
      gateway?: GatewayIdentity;
    }
  }
}
