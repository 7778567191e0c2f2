// Cold import time of keyward (the WebAssembly compiled and instantiated, the code table
// read) in fresh processes: Node (its file loader), Bun and Deno, median of 7 each; and
// the tarball's size. Run from npm/ after `npm run build`.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('..', import.meta.url));
const bin = (name) => `${dir}node_modules/.bin/${name}`;
const script = (entry) => `const t = performance.now(); await import('${entry}'); console.log(performance.now() - t);`;
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const runs = (cmd, args) => median(Array.from({ length: 7 }, () => Number(execFileSync(cmd, args, { cwd: dir, encoding: 'utf8' }).trim().split('\n').pop())));

for (const entry of ['keyward', 'keyward/fetch', 'keyward/hono', 'keyward/express']) {
  console.log(`Node ${process.versions.node}  import('${entry}'): ${runs(process.execPath, ['--input-type=module', '-e', script(entry)]).toFixed(1)} ms`);
}
console.log(`Bun  import('keyward/fetch'): ${runs(bin('bun'), ['-e', script('keyward/fetch')]).toFixed(1)} ms`);
console.log(`Deno import('keyward/fetch'): ${runs(bin('deno'), ['eval', script('keyward/fetch')]).toFixed(1)} ms`);
const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
console.log(`npm pack: ${packed.size} bytes packed, ${packed.unpackedSize} unpacked, ${packed.entryCount} files`);
