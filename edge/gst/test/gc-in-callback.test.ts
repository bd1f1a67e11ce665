/**
 * Patch fix 11 (no use after free in the notifier): a bus or pull callback that stops its
 * pipeline and drops it, followed by a garbage collection before the callback returns, left
 * Pipeline::onNotify running on a deleted wrapper (valgrind: "Invalid read ... inside a block
 * free'd" by V8's weak callback; in the demo box, now and then, a worker killed by SIGSEGV in
 * onNotify). Freed memory read this way rarely crashes outright, so the fixture runs under
 * valgrind's memcheck, which reports every such read; the pipelines must still be collected.
 * Only addressability is checked (--undef-value-errors=no): V8's conservative stack scan reads
 * uninitialised stack words on purpose, which memcheck would otherwise report.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('./fixtures/gc-in-callback.js', import.meta.url));

t.test('a callback that drops its pipeline and collects garbage: no read of freed memory', async (t) => {
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile('valgrind', ['-q', '--error-exitcode=9', '--error-limit=no', '--undef-value-errors=no', process.execPath, '--expose-gc', FIXTURE],
      { timeout: 240_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }));
  });
  const invalid = stderr.split('\n').filter((l) => /Invalid (read|write)/.test(l));
  t.same(invalid, [], `memcheck: ${invalid.length} invalid accesses${invalid.length ? `\n${stderr.slice(0, 3000)}` : ''}`);
  t.equal(code, 0, `the fixture exited 0 under valgrind${code ? `: ${stderr.slice(-1500)}` : ''}`);
  const r = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { pipelines: number; inCallback: number; finalized: number };
  t.equal(r.inCallback, r.pipelines, `${r.inCallback} of ${r.pipelines} pipelines dropped and collected inside their callback`);
  t.ok(r.finalized >= r.pipelines - 2, `${r.finalized} of ${r.pipelines} collected`);
});
