/**
 * The test command's runner: runs tap over the compiled tests and ends with the plain line
 * `N passed, N failed` that CI reads (tap's own summary is not read there).
 *
 * A "test" is one named `t.test(...)` block at the top of a test file; a file that crashes
 * before or between its blocks counts as one failure of its own, so a broken file is never
 * silently zero tests.
 *
 * Usage: node dist/test-rig/run-tests.js [files or globs relative to dist/...]
 * Exit code: 0 when nothing failed and at least one test ran, 1 otherwise.
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

function findTests(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules') continue;
    if (statSync(p).isDirectory()) findTests(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const args = process.argv.slice(2);
const files = (args.length ? args : findTests('dist')).map((f) => relative(process.cwd(), f)).sort();
if (files.length === 0) {
  console.log('no test files under dist/: run the build first');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const timeout = process.env.ORBOX_TEST_TIMEOUT ?? '300';
const tap = spawn(
  process.execPath,
  ['node_modules/tap/dist/esm/run.mjs', '--disable-coverage', '--reporter=tap', `--timeout=${timeout}`, '--jobs=1', ...files],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);

let passed = 0;
let failed = 0;
let skipped = 0;
let fileSubtests = 0;
let buf = '';
const failures: string[] = [];
let currentFile = '';

function onLine(line: string): void {
  process.stdout.write(line + '\n');
  const sub = /^# Subtest: (.*)$/.exec(line);
  if (sub) { currentFile = sub[1]; fileSubtests = 0; return; }
  const nested = /^ {4}(not ok|ok) \d+ - (.*?)(?: # (SKIP|TODO).*| # time=.*)?$/.exec(line);
  if (nested) {
    fileSubtests++;
    if (nested[3] === 'SKIP') skipped++;
    else if (nested[1] === 'ok') passed++;
    else { failed++; failures.push(`${currentFile}: ${nested[2]}`); }
    return;
  }
  const top = /^(not ok|ok) \d+ - (.*?)(?: # .*)?$/.exec(line);
  if (top && top[1] === 'not ok') {
    // The file failed outside its named blocks (crash, timeout, stray assertion).
    const inBlocks = failures.some((f) => f.startsWith(`${top[2]}: `));
    if (!inBlocks || fileSubtests === 0) { failed++; failures.push(`${top[2]}: file failed outside its tests`); }
  }
}

tap.stdout.setEncoding('utf8');
tap.stdout.on('data', (chunk: string) => {
  buf += chunk;
  let i: number;
  while ((i = buf.indexOf('\n')) >= 0) { onLine(buf.slice(0, i)); buf = buf.slice(i + 1); }
});
tap.on('close', (code) => {
  if (buf) onLine(buf);
  if (failures.length) {
    console.log('\nFailed:');
    for (const f of failures) console.log(`  - ${f}`);
  }
  if (code !== 0 && failed === 0) { failed++; console.log(`tap exited with ${code}`); }
  console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ''));
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
});
