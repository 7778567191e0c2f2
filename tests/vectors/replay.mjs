// Helpers for replaying the shared vectors over HTTP (the npm suites and the Worker's
// end-to-end suite): the same cases the Rust tests replay against the core.
import { readFileSync } from 'node:fs';

/** The cases of tests/vectors/{name}.json. */
export const load = (name) => JSON.parse(readFileSync(new URL(`./${name}.json`, import.meta.url), 'utf8')).cases;

/**
 * A checks.json case moved to the present: every time in its record shifted by
 * (now - the case's `now`), so that a front end that reads its own clock sees the same
 * relations. Cases that sit exactly on a boundary (`exact_time`) cannot be replayed on a
 * running clock and are left out by `onTheClock()`.
 */
export function shifted(c, now = Date.now()) {
  const by = now - Date.parse(c.input.now);
  const record = c.input.record && { ...c.input.record };
  if (record) {
    for (const f of ['created_at', 'expires_at', 'revoked_at', 'last_used_at']) {
      if (record[f]) record[f] = new Date(Date.parse(record[f]) + by).toISOString();
    }
  }
  return { ...c, input: { ...c.input, record, now: new Date(now).toISOString() } };
}

/** The checks.json cases a running clock can replay. */
export const onTheClock = () => load('checks').filter((c) => !c.exact_time);

/** The environment a check's rule names: the asked-for one, or the key's own prefix's. */
export const envOf = (c) => c.input.env ?? c.input.key.split('_')[1];

/**
 * A credentials.json case's header lines as [name, value] pairs, sent as separate lines
 * (each front end joins repeated lines as HTTP does).
 */
export function headerLines(c) {
  return [
    ...c.input.authorization.map((v) => ['authorization', v]),
    ...c.input.x_api_key.map((v) => ['x-api-key', v]),
  ];
}
