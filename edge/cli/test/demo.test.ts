// The demo as a new user runs it: `orbox run` with no configuration starts the box and its
// simulated monitor (edge/demo, from product code); `orbox status` run from another folder
// finds the box at the machine's fixed socket; the monitor shows as SIMULATED in status, and
// every vitals sample the box recorded from it carries the SIMULATED flag.
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readVitalsTrack } from '../../devices/track.js';
import { StateFlag } from '../../devices/sample.js';

const run = promisify(execFile);
const cli = new URL('../../../../bin/orbox.js', import.meta.url).pathname;

function files(dir: string, ext: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) files(join(dir, e.name), ext, out);
    else if (e.name.endsWith(ext)) out.push(join(dir, e.name));
  }
  return out;
}

t.test('the demo box: found from any folder, its monitor simulated in status and in the recorded vitals', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'orbox-demo-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const env = { ...process.env, ORBOX_RUNTIME_DIR: join(base, 'run'), ORBOX_DATA_DIR: join(base, 'data') };
  const box = spawn(process.execPath, [cli, 'run'], { cwd: base, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  box.stderr.on('data', (d) => { stderr = (stderr + d).slice(-4000); });
  t.teardown(() => { if (box.exitCode === null) box.kill('SIGKILL'); });

  // A user in another folder, with no --config and no --socket.
  const elsewhere = mkdtempSync(join(base, 'elsewhere-'));
  const status = async () => JSON.parse((await run(process.execPath, [cli, 'status', '--json'], { cwd: elsewhere, env })).stdout);
  let s: { devices?: { name: string; state: string; simulated: boolean }[] } | undefined;
  const end = Date.now() + 45_000;
  while (Date.now() < end) {
    try { s = await status(); } catch { s = undefined; }
    if (s?.devices?.[0]?.state === 'connected') break;
    await new Promise((r) => setTimeout(r, 500));
  }
  t.ok(s, s ? 'status answered from another folder' : `no answer; the box said: ${stderr.slice(-500)}`);
  t.match(s?.devices, [{ name: 'monitor', state: 'connected', simulated: true }], `the demo monitor is connected and shown simulated${s?.devices?.[0]?.state === 'connected' ? '' : `; the box said: ${stderr.slice(-1500)}`}`);
  const text = (await run(process.execPath, [cli, 'status'], { cwd: elsewhere, env })).stdout;
  t.match(text, /device monitor \(intellivue on .*\): connected; SIMULATED/);
  await new Promise((r) => setTimeout(r, 2500)); // the track is flushed every 200 ms and synced every second

  box.kill('SIGTERM');
  const [code, signal] = await once(box, 'exit');
  t.equal(code, 0, `the demo stops cleanly${code === 0 ? '' : ` (exit ${code}, signal ${signal}); the box said: ${stderr.slice(-1500)}`}`);
  const tracks = files(join(base, 'data', 'vitals'), '.ovt');
  t.ok(tracks.length >= 1, 'a vitals track was recorded');
  const samples = tracks.flatMap((f) => readVitalsTrack(f).samples);
  t.ok(samples.length > 0, `${samples.length} samples recorded`);
  t.equal(samples.filter((x) => !(x.stateFlags & StateFlag.SIMULATED)).length, 0, 'every recorded sample is flagged SIMULATED');
});
