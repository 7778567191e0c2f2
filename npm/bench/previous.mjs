// The previous run's figures, kept beside the new ones so that a regression shows the day
// it happens. Each benchmark saves its section of `.bench/npm.json` at the repository's
// root (git-ignored: figures of one machine, never committed) and prints each figure with
// the one it replaces.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FILE = process.env.BENCH_PREVIOUS
  ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../.bench/npm.json');

function readAll() {
  try {
    return JSON.parse(readFileSync(FILE, 'utf8'));
  } catch {
    return {};
  }
}

/** The previous run's figures of `section` (`{}` on the first run), and a saver for the new ones. */
export function previous(section) {
  const before = readAll()[section] ?? {};
  return {
    /** The figure `name` had in the previous run, or undefined. */
    get: (name) => before[name]?.value,
    /** When the previous run was made, or undefined. */
    at: () => Object.values(before)[0]?.at,
    /** Saves this run's figures (`{name: value}`) as the section, replacing the previous run's. */
    save(figures) {
      const all = readAll();
      const at = new Date().toISOString();
      all[section] = Object.fromEntries(Object.entries(figures).map(([k, value]) => [k, { value, at }]));
      mkdirSync(dirname(FILE), { recursive: true });
      writeFileSync(`${FILE}.tmp`, `${JSON.stringify(all, null, 2)}\n`);
      renameSync(`${FILE}.tmp`, FILE);
    },
  };
}

/** `value` formatted with `digits`, then the previous run's beside it: `1.23 (was 1.10)`. */
export function withPrevious(value, before, digits) {
  const now = value.toFixed(digits);
  return before === undefined ? `${now} (no previous run)` : `${now} (was ${before.toFixed(digits)})`;
}
