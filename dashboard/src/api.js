// The dashboard's only way to the Worker: its public HTTP API, with the signed-in key as
// `Authorization: Bearer`. The key lives in this module's memory and in the tab's
// sessionStorage (gone when the tab closes); never in localStorage or a cookie.

const SESSION = 'keyward.session';

let key = null;
try { key = sessionStorage.getItem(SESSION); } catch { key = null; }

/** The signed-in key, if any. */
export const signedIn = () => key !== null;

/** Keeps `k` for this tab. */
export function signIn(k) {
  key = k;
  try { sessionStorage.setItem(SESSION, k); } catch { /* memory only */ }
}

/** Forgets the key. */
export function signOut() {
  key = null;
  try { sessionStorage.removeItem(SESSION); } catch { /* nothing kept */ }
}

/** An answer the API refused: its stable code, message and status. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * Calls the API; resolves with the JSON body, rejects with an ApiError.
 * @param {string} path
 * @param {{method?: string, body?: any, as?: string}} [options]
 */
export async function api(path, { method = 'GET', body, as } = {}) {
  const headers = { accept: 'application/json' };
  const bearer = as ?? key;
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let r;
  try {
    r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' });
  } catch {
    throw new ApiError(0, 'network', 'The Worker could not be reached.');
  }
  let json = null;
  try { json = await r.json(); } catch { json = null; }
  if (!r.ok) {
    const e = json?.error;
    throw new ApiError(r.status, e?.code ?? 'http_error', e?.message ?? `HTTP ${r.status}`);
  }
  return json;
}

/** A query string of the given, non-empty parameters. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
