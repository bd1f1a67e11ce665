/**
 * `orbox cameras discover` by multicast, inside a network namespace this test makes (loopback
 * up with multicast, 239.0.0.0/8 routed to it): the probe and the simulated camera meet on
 * 239.255.255.250:3702 there, and nothing reaches the machine's real interfaces. Also by
 * unicast (--to) outside it. Debian's onvif-util (libonvif, an independent client) finds the
 * simulator in the namespace too (its login, `onvif-util -u … IP`, does not work against it yet). Skipped (said so) where namespaces cannot be made (not root).
 */
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { OnvifSimulator } from '../simulator.js';

const ORBOX = fileURLToPath(new URL('../../../../bin/orbox.js', import.meta.url));
const SIM = fileURLToPath(new URL('../sim-host.js', import.meta.url));
const run = promisify(execFile);

t.test('discover by multicast inside a network namespace', async (t) => {
  const ns = `orbox-onvif-${process.pid}`;
  try {
    execFileSync('ip', ['netns', 'add', ns]);
  } catch (e) {
    t.comment(`skipped: no network namespace here (${(e as Error).message.split('\n')[0]}): multicast discovery not tested`);
    t.pass('nothing probed by multicast');
    return;
  }
  t.teardown(() => { try { execFileSync('ip', ['netns', 'delete', ns]); } catch { /* gone */ } });
  for (const a of [['link', 'set', 'lo', 'up'], ['link', 'set', 'lo', 'multicast', 'on'], ['route', 'add', '239.0.0.0/8', 'dev', 'lo']]) execFileSync('ip', ['netns', 'exec', ns, 'ip', ...a]);
  const sim = spawn('ip', ['netns', 'exec', ns, process.execPath, SIM], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { sim.kill('SIGTERM'); });
  const [line] = (await once(createInterface({ input: sim.stdout! }), 'line')) as [string];
  const info = JSON.parse(line) as { deviceUrl: string; endpoint: string };
  const { stdout } = await run('ip', ['netns', 'exec', ns, process.execPath, ORBOX, 'cameras', 'discover', '--json', '--interface', '127.0.0.1', '--timeout', '1000'], { timeout: 15_000 });
  const found = JSON.parse(stdout) as { endpoint: string; model: string; name: string; xaddrs: string[]; profiles: { token: string; encoding: string; streamUri: string }[]; credentialsNeeded: boolean }[];
  t.equal(found.length, 1, 'one camera in the namespace');
  t.equal(found[0].endpoint, info.endpoint);
  t.equal(found[0].model, 'OR Cam 4K');
  t.same(found[0].xaddrs, [info.deviceUrl]);
  t.same(found[0].profiles.map((p) => [p.token, p.encoding, p.streamUri]), [['main', 'H264', 'rtsp://127.0.0.1:554/stream']]);
  t.equal(found[0].credentialsNeeded, false);
  // An independent client (Debian's onvif-tools, libonvif) sees the simulator as a camera.
  const util = await run('ip', ['netns', 'exec', ns, 'onvif-util', '-a'], { timeout: 15_000 }).catch((e: Error & { code?: string }) => e);
  if ('stdout' in util) t.match(util.stdout, /^127\.0\.0\.1 \(ceiling left OR Cam 4K\)$/m, 'onvif-util -a finds it by its name and model');
  else t.fail(`onvif-util (Debian onvif-tools) did not run: ${util.message}`);
});

t.test('discover by unicast: a camera that needs credentials says so', async (t) => {
  const sim = new OnvifSimulator({ user: 'admin', password: 'pw', name: 'door' });
  await sim.start();
  t.teardown(() => sim.stop());
  const { stdout } = await run(process.execPath, [ORBOX, 'cameras', 'discover', '--to', `127.0.0.1:${sim.discoveryPort}`, '--timeout', '500'], { timeout: 15_000 });
  t.match(stdout, new RegExp(`^door  model SimCam  http://127\\.0\\.0\\.1:${sim.httpPort}/onvif/device_service  ${sim.endpoint}  credentials needed$`, 'm'));
});
