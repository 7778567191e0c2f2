// Display helpers: times, durations, limits, credits, and the list's status filters.

const DAY = 86_400_000;

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

/** The list's status filters, each a test of a key record at `now` (ms). */
export const STATUS_FILTERS = {
  any: { label: 'any status', test: () => true },
  active: { label: 'active', test: (k) => k.status === 'active' || k.status === 'rotating' },
  expiring: {
    label: 'expiring within 7 days',
    test: (k, now) => (k.status === 'active' || k.status === 'rotating') && k.expires_at !== null && Date.parse(k.expires_at) - now <= 7 * DAY,
  },
  revoked: { label: 'revoked', test: (k) => k.status === 'revoked' },
  unused: {
    label: 'unused for 90+ days',
    test: (k, now) => now - Date.parse(k.last_used_at ?? k.created_at) >= 90 * DAY,
  },
  privileged: {
    label: 'holds admin or a wildcard',
    test: (k) => k.scopes.some((s) => s === 'admin' || s.endsWith(':*')),
  },
};
