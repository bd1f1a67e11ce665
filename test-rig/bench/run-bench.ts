/**
 * `make bench`: runs every benchmark program (`*.bench.js` under dist/) one after another, each
 * in its own process so one bench's threads and native state cannot colour the next.
 *
 * A benchmark program measures its goal against a baseline taken in the same run (these
 * machines are shared and noisy) and prints one line per result:
 *   BENCH <area> <metric>=<value> [<metric>=<value> ...]
 * Lines not starting with BENCH pass through as commentary. A bench that exits non-zero is
 * reported and makes `make bench` fail; a missed goal is printed (goal_met=false), not fatal.
 *
 * Usage: node dist/test-rig/bench/run-bench.js [name-substring ...]
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function find(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.bench.js')) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2);
const benches = find('dist').sort().filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
let failures = 0;
const lines: string[] = [];
for (const file of benches) {
  console.log(`# ${file}`);
  const r = spawnSync(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', timeout: (process.env.ORBOX_BENCH_LONG === '1' ? 90 : 15) * 60_000 });
  process.stdout.write(r.stdout ?? '');
  for (const l of (r.stdout ?? '').split('\n')) if (l.startsWith('BENCH ')) lines.push(l);
  if (r.status !== 0) { failures++; console.log(`# ${file} failed (exit ${r.status ?? r.signal})`); }
}
console.log('\n# summary');
for (const l of lines) console.log(l);
process.exit(failures ? 1 : 0);
