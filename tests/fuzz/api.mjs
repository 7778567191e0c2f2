// The API fuzzer: Schemathesis reads the Worker's own OpenAPI document and attacks every
// operation (every check on, the stateful phase following the document's links), against
// the real Worker under `wrangler dev` with fresh state, first with the root key, then with
// a key of limited scopes. JUnit reports go to target/fuzz-api/.
//   node tests/fuzz/api.mjs            (make fuzz-api)
// KEYWARD_FUZZ_EXAMPLES sets the examples per operation (default 100), KEYWARD_FUZZ_SEED the
// seed (default 1: the same inputs each run, so that a failure reproduces).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, call, startWorker } from '../e2e/harness.mjs';

const ST = join(ROOT, '.venv/bin/st');
if (!existsSync(ST)) {
  console.error(`schemathesis is not installed (${ST}): run scripts/setup.sh`);
  process.exit(2);
}
const examples = process.env.KEYWARD_FUZZ_EXAMPLES ?? '100';
const reports = join(ROOT, 'target/fuzz-api');
mkdirSync(reports, { recursive: true });

// Roles declared, so the document lists them and the fuzzer grants them.
const worker = await startWorker({
  unauthenticatedLimit: 1000000,
  vars: { KEYWARD_ROLES: JSON.stringify({ reader: ['scans:read'], auditor: ['audit:read', 'keys:read'] }) },
});
let failed = false;
try {
  const limited = await call(worker.url, '/v1/keys', {
    method: 'POST',
    key: worker.rootKey,
    body: { name: 'fuzz-limited', owner: 'fuzz', env: 'live', scopes: ['keys:read', 'keys:write', 'keys:verify', 'audit:read', 'scans:read'] },
  });
  if (limited.status !== 201) throw new Error(`the limited key: ${limited.text}`);
  for (const [name, key] of [['root', worker.rootKey], ['limited', limited.body.key]]) {
    const args = [
      'run', `${worker.url}/v1/openapi.json`,
      '--url', worker.url,
      '--header', `Authorization: Bearer ${key}`,
      '--checks', 'all',
      '--phases', 'examples,coverage,fuzzing,stateful',
      '--max-examples', examples,
      '--workers', '1',
      '--seed', process.env.KEYWARD_FUZZ_SEED ?? '1',
      '--report', 'junit',
      '--report-dir', join(reports, name),
      '--generation-database', 'none',
      '--generation-with-security-parameters', 'false',
      '--no-color',
    ];
    console.log(`schemathesis with the ${name} key: st ${args.join(' ').replace(key, '<key>')}`);
    const r = spawnSync(ST, args, {
      stdio: 'inherit',
      cwd: join(ROOT, 'tests/fuzz'),
      env: { ...process.env, SCHEMATHESIS_HOOKS: 'hooks', KEYWARD_FUZZ_ROOT: name === 'root' ? '1' : '0', PYTHONPATH: join(ROOT, 'tests/fuzz') },
    });
    if (r.status !== 0) failed = true;
  }
} finally {
  await worker.stop();
}
process.exit(failed ? 1 : 0);
