'use strict';
// The credential headers of a Node request (node:http's IncomingMessage), for
// keyward/express and keyward/fastify.

/**
 * The request's `Authorization` and `X-API-Key` values, each `undefined` when absent and
 * repeated lines joined with ", " as HTTP joins them (node:http keeps only the first
 * Authorization line in `req.headers`, so the raw lines are read). The core decides
 * what they mean.
 */
function headerValues(req) {
  const raw = req.rawHeaders;
  let auth;
  let apiKey;
  if (Array.isArray(raw)) {
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i];
      if (name.length === 13 && name.toLowerCase() === 'authorization') {
        auth = auth === undefined ? raw[i + 1] : `${auth}, ${raw[i + 1]}`;
      } else if (name.length === 9 && name.toLowerCase() === 'x-api-key') {
        apiKey = apiKey === undefined ? raw[i + 1] : `${apiKey}, ${raw[i + 1]}`;
      }
    }
  } else {
    auth = req.headers?.authorization;
    apiKey = req.headers?.['x-api-key'];
  }
  return [auth === undefined ? undefined : String(auth), apiKey === undefined ? undefined : String(apiKey)];
}

module.exports = { headerValues };
