'use strict';
// keyward/origin: for the origin behind keyward's gateway. The gateway asserts who called
// (X-Keyward-Key-Id, -Owner, -Scopes) and signs it: HMAC-SHA256 under ORIGIN_SECRET over
//
//   keyward-origin-v1 LF METHOD LF path?query LF timestamp LF key id LF owner LF scopes
//
// (keyward_core::gateway::signed_message; tests/vectors/origin_signature.json), sent as
// X-Keyward-Timestamp (Unix seconds) and X-Keyward-Signature (`v1=` + lowercase hex).
// Anyone who reaches the origin directly can send those headers; only the gateway can
// sign them. No WebAssembly here: Web Crypto (Node >= 20, Workers, Deno, Bun) does it.

const PREFIX = 'keyward-origin-v1';
const DEFAULT_MAX_AGE_SECONDS = 60;
const MIN_SECRET_BYTES = 32;

/**
 * A request the gateway did not sign as it is: `code` is always `'bad_signature'`
 * (status 401); `reason` says which check failed: `'missing'`, `'malformed'`, `'stale'`
 * (older, or further ahead, than `maxAgeSeconds`) or `'mismatch'` (forged or altered).
 */
class GatewaySignatureError extends Error {
  constructor(reason, message) {
    super(message);
    this.name = 'GatewaySignatureError';
    this.code = 'bad_signature';
    this.reason = reason;
    this.status = 401;
    this.statusCode = 401;
    this.expose = true;
  }
}

function optionError(option, message) {
  const e = /** @type {TypeError & {code: string, option: string}} */ (new TypeError(`keyward: ${option}: ${message}`));
  e.code = 'ERR_KEYWARD_OPTION';
  e.option = option;
  return e;
}

/** Checks the options once; returns {key: Promise<CryptoKey>, maxAge, now}. */
function prepare(options) {
  if (options === null || typeof options !== 'object') throw optionError('options', 'expected {secret, maxAgeSeconds?}');
  const { secret, maxAgeSeconds = DEFAULT_MAX_AGE_SECONDS, now = Date.now } = options;
  let bytes;
  if (typeof secret === 'string') bytes = new TextEncoder().encode(secret.trim());
  else if (secret instanceof Uint8Array) bytes = secret;
  else throw optionError('secret', 'ORIGIN_SECRET is required (a string or bytes, the same as the gateway\'s)');
  if (bytes.length < MIN_SECRET_BYTES) throw optionError('secret', `must be at least ${MIN_SECRET_BYTES} bytes (the gateway refuses shorter)`);
  if (!Number.isInteger(maxAgeSeconds) || maxAgeSeconds < 1 || maxAgeSeconds > 3600) {
    throw optionError('maxAgeSeconds', 'must be a whole number of seconds from 1 to 3600');
  }
  if (typeof now !== 'function') throw optionError('now', 'must be a function returning milliseconds');
  const key = globalThis.crypto.subtle.importKey('raw', /** @type {Uint8Array<ArrayBuffer>} */ (bytes), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  // Reported when used, not as an unhandled rejection now.
  key.catch(() => {});
  return { key, maxAge: maxAgeSeconds, now };
}

/** method, path and query, and a header getter, of a Web Request or a Node IncomingMessage. */
function partsOf(request) {
  if (request && typeof request.headers?.get === 'function' && typeof request.url === 'string' && /^[a-z][a-z0-9+.-]*:/i.test(request.url)) {
    const url = new URL(request.url);
    return { method: request.method, target: url.pathname + url.search, header: (n) => request.headers.get(n) };
  }
  if (request && typeof request.headers === 'object' && typeof request.url === 'string') {
    // Express rewrites req.url inside routers; originalUrl is what arrived.
    const target = typeof request.originalUrl === 'string' ? request.originalUrl : request.url;
    return {
      method: request.method,
      target,
      header: (n) => {
        const v = request.headers[n];
        // A repeated header is not what the gateway sent: it sends each once.
        return Array.isArray(v) ? null : (v ?? null);
      },
    };
  }
  throw new GatewaySignatureError('malformed', 'not a request (a Web Request or a Node IncomingMessage)');
}

const HEX = /^[0-9a-f]{64}$/;

function hexBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

async function check(prepared, request) {
  const { method, target, header } = partsOf(request);
  const keyId = header('x-keyward-key-id');
  const owner = header('x-keyward-owner');
  const scopes = header('x-keyward-scopes');
  const timestamp = header('x-keyward-timestamp');
  const signature = header('x-keyward-signature');
  if ([keyId, owner, scopes, timestamp, signature].some((v) => v === null || v === undefined)) {
    throw new GatewaySignatureError('missing', 'the request does not carry the gateway\'s signed identity');
  }
  if (!/^\d{1,12}$/.test(timestamp) || !signature.startsWith('v1=') || !HEX.test(signature.slice(3))) {
    throw new GatewaySignatureError('malformed', 'the gateway\'s timestamp or signature is malformed');
  }
  const age = Math.floor(prepared.now() / 1000) - Number(timestamp);
  if (!(Math.abs(age) <= prepared.maxAge)) {
    throw new GatewaySignatureError('stale', `the gateway signed this request ${age} s from now; at most ${prepared.maxAge} s are accepted`);
  }
  const message = [PREFIX, String(method).toUpperCase(), target, timestamp, keyId, owner, scopes].join('\n');
  const key = await prepared.key;
  const ok = await globalThis.crypto.subtle.verify('HMAC', key, hexBytes(signature.slice(3)), new TextEncoder().encode(message));
  if (!ok) throw new GatewaySignatureError('mismatch', 'the gateway did not sign this request as it is');
  let ownerName;
  try {
    ownerName = decodeURIComponent(owner);
  } catch {
    ownerName = owner;
  }
  return { keyId, owner: ownerName, scopes: scopes === '' ? [] : scopes.split(' '), timestamp: Number(timestamp) };
}

/**
 * Verifies that keyward's gateway sent `request` (a Web `Request` or a Node
 * `IncomingMessage`) as it is: its method, path and query, and the key's identity,
 * signed under `secret` (the gateway's `ORIGIN_SECRET`) at most `maxAgeSeconds` ago
 * (default 60). Resolves to `{keyId, owner, scopes, timestamp}`; rejects with a
 * `GatewaySignatureError` (`code: 'bad_signature'`, 401). The body is not signed: an
 * origin that must trust it should reach the gateway over a private network or mTLS.
 *
 * @example
 * const who = await verifyGatewayRequest(request, { secret: env.ORIGIN_SECRET });
 * who.scopes.includes('repos:write');
 */
async function verifyGatewayRequest(request, options) {
  return check(prepare(options), request);
}

/**
 * Express (or any `(req, res, next)`) middleware: refuses a request the gateway did not
 * sign with `next(err)` (status 401, `code: 'bad_signature'`), and sets `req.gateway` to
 * `{keyId, owner, scopes, timestamp}` on one it did. Options are checked here, once.
 *
 * @example
 * app.use(gatewayAuth({ secret: process.env.ORIGIN_SECRET }));
 * app.get('/repos/:id', (req, res) => res.json({ by: req.gateway.keyId }));
 */
function gatewayAuth(options) {
  const prepared = prepare(options);
  return function keywardGatewayAuth(req, res, next) {
    check(prepared, req).then((who) => {
      req.gateway = who;
      next();
    }, next);
  };
}

module.exports = { verifyGatewayRequest, gatewayAuth, GatewaySignatureError };
