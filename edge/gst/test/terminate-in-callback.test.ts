/**
 * Patch fix 12 (a terminated worker cannot abort the process): worker.terminate() landing
 * while a pull callback's microtasks run (the guard restarting a worker it found hung, while
 * its pipelines deliver) left the binding's wakeup going on to the next sink's sample, whose
 * caps object V8 then refused to freeze: `FATAL ERROR: v8::FromJust Maybe value is Nothing`
 * in Pipeline::capsFor, and the whole box (supervisor and all nine workers) gone. Seen twice
 * in one CI run (the demo box and the uplink audio test). The fixture runs in a child process,
 * so the abort it caused unpatched is reported here, not suffered.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('./fixtures/terminate-in-callback.js', import.meta.url));
const N = 10;

t.test('workers terminated inside a pull callback: the process lives on', async (t) => {
  const { code, signal, stdout, stderr } = await new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [FIXTURE, String(N)], { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, signal: err?.signal ?? null, stdout, stderr }));
  });
  t.notMatch(stderr, /FATAL ERROR/, `no V8 fatal error${stderr ? `: ${stderr.slice(0, 800)}` : ''}`);
  t.same({ code, signal }, { code: 0, signal: null }, 'the process exited by itself, with 0');
  const r = JSON.parse(stdout.trim().split('\n').pop() || '{}') as { workers?: number; terminatedInCallback?: number };
  t.same(r, { workers: N, terminatedInCallback: N }, `${r.terminatedInCallback} of ${N} workers terminated while a callback ran`);
});
