// Display helpers: times, limits, credits, and the names of the list's status filters.

/** `2026-06-01 12:00 UTC` (with `seconds`: `12:00:07`), or `-`. */
export function time(t, seconds = false) {
  if (!t) return '-';
  return `${t.slice(0, 10)} ${t.slice(11, seconds ? 19 : 16)} UTC`;
}

/** `10/1m, burst=5/1s`, or `-`. */
export function limits(list) {
  if (!list || list.length === 0) return '-';
  return list.map((l) => `${l.name}=${l.limit}/${l.period}`).join(', ');
}

/** `480 (refill 500/day)`, or `-`. */
export function credits(c) {
  if (!c) return '-';
  const notes = [];
  if (c.refill) notes.push(`refill ${c.refill.amount}/${c.refill.interval}`);
  if (c.alert_below !== null && c.alert_below !== undefined) notes.push(`alert below ${c.alert_below}`);
  return notes.length ? `${c.remaining} (${notes.join(', ')})` : String(c.remaining);
}

/** The list's status filters: each is the API's `GET /v1/keys?status=` value (the server
 * decides which keys pass; the dashboard only names them). */
export const STATUS_FILTERS = {
  any: 'any status',
  active: 'active',
  expiring: 'expiring within 7 days',
  revoked: 'revoked',
  expired: 'expired',
  stale: 'unused for 90+ days',
  over_privileged: 'holds admin or a wildcard',
};
