'use strict';
// What every adapter does with a store's verdict (the one store interface's answer),
// before it maps it to its own I/O: note who was checked for the usage event, and turn a
// refusal or a store's fault into the ApiKeyError to answer with.
const { ApiKeyError } = require('./errors.cjs');
const { wasm } = require('./wasm.cjs');

/**
 * Notes the verdict `v` in the request's usage `state` (key id, hint, code, and the key's
 * info when valid). Returns undefined for a valid key, else the refusal as an ApiKeyError
 * (with the missing `scope`, and the counted use's `headers`: RateLimit, Retry-After).
 */
function noteVerdict(state, v) {
  const found = v.key;
  if (found !== undefined) {
    state.keyId = found.id;
    state.hint = found.hint;
  } else {
    if (v.keyId !== undefined) state.keyId = v.keyId;
    if (v.hint !== undefined) state.hint = v.hint;
  }
  state.code = v.code;
  if (v.valid) {
    state.info = found;
    return undefined;
  }
  const err = new ApiKeyError(v.code, v.message, v.scope === undefined ? undefined : { scope: v.scope });
  if (v.headers !== undefined) err.headers = v.headers;
  return err;
}

/** A store that threw or rejected: its ApiKeyError (internal, unavailable, ...), else 503 `unavailable`. */
function noteFault(state, e) {
  const err = e instanceof ApiKeyError ? e : new ApiKeyError('unavailable', undefined, { cause: e });
  state.code = err.code;
  return err;
}

/**
 * The usage event handed to onUse: who was checked (`state`), for what (`action`:
 * `METHOD /path` without the query), from where, and how it was answered.
 */
function usageEvent(state, action, ip, userAgent, status) {
  return {
    event_id: wasm.eventId(),
    key_id: state.keyId ?? null,
    hint: state.hint ?? null,
    owner: state.info?.owner ?? null,
    actor: null,
    action,
    ip: ip ?? null,
    country: null,
    user_agent: userAgent ?? null,
    time: new Date(state.time).toISOString(),
    outcome: state.code,
    status,
  };
}

module.exports = { noteVerdict, noteFault, usageEvent };
