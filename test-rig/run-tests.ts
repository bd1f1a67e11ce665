/**
 * The test command's runner: runs every compiled test file (`*.test.js` under dist/) as its
 * own `node` process, one after another, and ends with the plain line `N passed, N failed`
 * that CI reads.
 *
 * A tap test file is a program that prints TAP; running it directly (rather than through
 * tap's runner) keeps the runner's module hooks out of the process, whose threads and child
 * processes are what many tests measure. A "test" is one named top-level `t.test(...)`; a
 * file that crashes, times out or fails outside its tests counts as one failure of its own,
 * so a broken file is never silently zero tests.
 *
 * Usage: node dist/test-rig/run-tests.js [test files]   (ORBOX_TEST_TIMEOUT: seconds per file)
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
const timeoutS = Number(process.env.ORBOX_TEST_TIMEOUT ?? 300);

interface FileResult { passed: number; failed: number; skipped: number; failures: string[] }

function runFile(file: string): Promise<FileResult> {
  return new Promise((resolve) => {
    const r: FileResult = { passed: 0, failed: 0, skipped: 0, failures: [] };
    const t0 = Date.now();
    const child = spawn(process.execPath, ['--enable-source-maps', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TAP: '1', TAP_TIMEOUT: String(timeoutS) } });
    let buf = '';
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutS * 1000);
    const onLine = (line: string) => {
      process.stdout.write(line + '\n');
      const m = /^(not ok|ok) \d+ - (.*?)(?: # (SKIP|TODO)\b.*| # time=.*)?$/.exec(line);
      if (!m) return;
      if (m[3] === 'SKIP') r.skipped++;
      else if (m[1] === 'ok' || m[3] === 'TODO') r.passed++;
      else { r.failed++; r.failures.push(`${file}: ${m[2]}`); }
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) { onLine(buf.slice(0, i)); buf = buf.slice(i + 1); }
    });
    child.stderr.on('data', (d) => process.stderr.write(d));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (buf) onLine(buf);
      if (timedOut || code !== 0 || r.passed + r.failed + r.skipped === 0) {
        if (r.failed === 0) {
          r.failed++;
          const why = timedOut ? `timed out after ${timeoutS} s` : signal ? `killed by ${signal}` : code !== 0 ? `exited with ${code}` : 'ran no test';
          r.failures.push(`${file}: ${why} outside its tests`);
        }
      }
      process.stdout.write(`# ${file}: ${r.passed} passed, ${r.failed} failed (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
      resolve(r);
    });
  });
}

let passed = 0, failed = 0, skipped = 0;
const failures: string[] = [];
if (files.length === 0) {
  console.log('no test files under dist/: run the build first');
  failed = 1;
}
for (const f of files) {
  const r = await runFile(f);
  passed += r.passed; failed += r.failed; skipped += r.skipped;
  failures.push(...r.failures);
}
if (failures.length) {
  console.log('\nFailed:');
  for (const f of failures) console.log(`  - ${f}`);
}
if (skipped) console.log(`# ${skipped} skipped (each says why above)`);
// The last line is exactly `N passed, N failed`: CI reads it.
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
