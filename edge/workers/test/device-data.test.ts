import t from 'tap';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createPtyPair, startDemoIntelliVue, IntelliVueUdpSimulator, MedibusSimulator, S5Simulator } from '../../../test-rig/devices/index.js';
import { validateConfig } from '../../config/index.js';
import { readVitalsTrack } from '../../devices/index.js';
import { Catalog } from '../../recording/index.js';
import { ringStats } from '../../lib/ring/index.js';
import type { WorkerName } from '../../lib/health.js';
import { nextReady, startBox, testConfig, waitFor } from '../../supervisor/test/harness.js';

const until = async (what: string, pred: () => boolean, ms = 15_000) => {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

t.test('a simulated IntelliVue on a pty reaches the vitals ring and track through the device-data worker, across a restart', async (t) => {
  // The simulator runs on this (main) thread and the driver in the worker thread: both use the
  // serialport binding, which needed patches/@serialport+bindings-cpp (poll on the thread's own loop).
  const monitor = await startDemoIntelliVue();
  t.teardown(() => monitor.close());
  const cfg = testConfig({ devices: { ports: [{ name: 'monitor', path: monitor.path, protocol: 'intellivue' }] } });
  const sup = await startBox(cfg);
  let stopped = false;
  t.teardown(async () => { if (!stopped) await sup.stop(); });
  const vitals = () => ringStats(sup.rings.get('vitals')!.sab);
  await until('first samples', () => vitals().recordsWritten >= 20);
  t.ok(vitals().consumers.every((c) => c.recordsRead > 0), 'net-send and control both read the vitals ring');

  // Killed with its port open, twice: exited, then hung and terminated. Each time the new
  // thread must be able to open the port again (the dead one's fd and lock are released).
  for (const mode of ['exit', 'hang'] as const) {
    const back = nextReady(sup, 'device-data', 5000);
    sup.send('device-data', { type: 'fault', mode });
    await back;
    const before = vitals().recordsWritten;
    await until(`samples after the ${mode} restart`, () => vitals().recordsWritten >= before + 20);
    t.pass(`samples flow again after device-data was restarted (${mode}; ${vitals().recordsWritten} in the ring)`);
  }

  const result = waitFor<[WorkerName, { type: string; id: string; result: { state: string; reason?: string } }]>(sup, 'worker-event', (_n, e) => e.type === 'command-result' && e.id === 'c-1', 10_000);
  sup.send('device-data', { type: 'command', id: 'c-1', from: 'test', name: 'device', args: { transactionId: 't-1', port: 'monitor', action: 'poll.numerics' } });
  t.equal((await result)[1].result.state, 'finished', 'a remote command is acknowledged by the device');
  const bad = waitFor<[WorkerName, { type: string; id: string; result: { state: string } }]>(sup, 'worker-event', (_n, e) => e.type === 'command-result' && e.id === 'c-2', 10_000);
  sup.send('device-data', { type: 'command', id: 'c-2', from: 'test', name: 'device', args: { transactionId: 't-2', port: 'monitor', action: 'NOT VALID' } });
  t.equal((await bad)[1].result.state, 'invalid', 'a malformed command is invalid at once');

  await sup.stop();
  stopped = true;
  const dir = join(cfg.box.dataDir, 'vitals');
  const files = readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.ovt')).map((f) => join(dir, f));
  t.ok(files.length >= 2, `a vitals track per incarnation of the worker (${files.length})`);
  const samples = files.flatMap((f) => readVitalsTrack(f).samples);
  const catalog = new Catalog({ path: join(cfg.box.dataDir, 'catalog.db') });
  catalog.open();
  const rows = catalog.segmentsInRange(0n, BigInt(Date.now() + 60_000) * 1_000_000n, 'vitals');
  const closed = rows.find((r) => r.state === 'closed');
  t.ok(closed, `the vitals track is in the catalog beside the video (${rows.length} rows)`);
  if (closed) t.equal(closed.frames, readVitalsTrack(closed.path).samples.length, 'catalog sample count = samples in the file');
  catalog.close();
  const hr = samples.filter((s) => s.label === 'HR' && s.kind === 'numeric' && s.value !== undefined);
  t.ok(hr.length >= 2, `heart rate samples recorded (${hr.length})`);
  t.ok(hr.every((s) => s.value! > 20 && s.value! < 250 && s.unit === 'bpm'), 'plausible heart rates in bpm');
  t.ok(hr.every((s, i) => i === 0 || s.hostWallNs >= hr[i - 1].hostWallNs), 'stamped in order on the box clock');
  const now = BigInt(Date.now()) * 1_000_000n;
  t.ok(hr.every((s) => now - s.hostWallNs < 120_000_000_000n), 'host capture time is box wall time of this run');
});

t.test('IntelliVue, GE S/5 and Draeger MEDIBUS on three ptys, one box: every device recorded on the box clock', async (t) => {
  const iv = await startDemoIntelliVue();
  t.teardown(() => iv.close());
  const s5pty = await createPtyPair();
  const s5 = new S5Simulator(s5pty.devicePath, {});
  await s5.start();
  t.teardown(async () => { await s5.close(); await s5pty.close(); });
  const mbpty = await createPtyPair();
  const mb = new MedibusSimulator(mbpty.devicePath, {});
  await mb.start();
  t.teardown(async () => { await mb.close(); await mbpty.close(); });
  const cfg = testConfig({ devices: { ports: [
    { name: 'monitor', path: iv.path, protocol: 'intellivue' },
    { name: 'or-monitor-ge', path: s5pty.boxPath, protocol: 's5', intervalS: 1 },
    { name: 'anesthesia', path: mbpty.boxPath, protocol: 'medibus' },
  ] } });
  const t0 = BigInt(Date.now()) * 1_000_000n;
  const sup = await startBox(cfg);
  await until('samples from all three devices', () => ringStats(sup.rings.get('vitals')!.sab).recordsWritten >= 60, 20_000);
  await new Promise((r) => setTimeout(r, 3000));
  await sup.stop();
  const dir = join(cfg.box.dataDir, 'vitals');
  const files = readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.ovt')).map((f) => join(dir, f));
  const samples = files.flatMap((f) => readVitalsTrack(f).samples);
  const t1 = BigInt(Date.now()) * 1_000_000n;
  for (const port of ['monitor', 'or-monitor-ge', 'anesthesia']) {
    const mine = samples.filter((s) => s.port === port && s.kind === 'numeric' && s.value !== undefined);
    t.ok(mine.length > 0, `${port}: ${mine.length} numeric samples recorded (${[...new Set(mine.map((s) => s.label))].slice(0, 6).join(', ')})`);
    t.ok(mine.every((s) => s.hostWallNs >= t0 && s.hostWallNs <= t1), `${port}: stamped within the run on the box clock`);
  }
});

t.test('an IntelliVue on the LAN (UDP, no serial framing) through the device-data worker; UDP paths validated', async (t) => {
  const monitor = new IntelliVueUdpSimulator({ demo: true });
  await monitor.start();
  t.teardown(() => monitor.close());
  const cfg = testConfig({ devices: { ports: [{ name: 'lan-monitor', path: monitor.path, protocol: 'intellivue' }] } });
  const sup = await startBox(cfg);
  await until('samples over UDP', () => ringStats(sup.rings.get('vitals')!.sab).recordsWritten >= 10, 15_000);
  await sup.stop();
  const dir = join(cfg.box.dataDir, 'vitals');
  const files = readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.ovt')).map((f) => join(dir, f));
  const hr = files.flatMap((f) => readVitalsTrack(f).samples).filter((s) => s.port === 'lan-monitor' && s.label === 'HR' && s.value !== undefined);
  t.ok(hr.length > 0 && hr.every((s) => s.value! > 20 && s.value! < 250), `heart rate over the LAN (${hr.length} samples)`);
  t.ok(monitor.core.stats.associations >= 1, 'the monitor saw an association over UDP');
  const base = { box: { id: 'x', dataDir: '/tmp/x' }, api: { socket: '/tmp/x/s' } };
  t.throws(() => validateConfig({ ...base, devices: { ports: [{ name: 'a', path: 'udp://10.0.0.9', protocol: 's5' }] } }), /devices\.ports\[0\]\.path: only IntelliVue speaks UDP/);
  t.throws(() => validateConfig({ ...base, devices: { ports: [{ name: 'a', path: 'udp://', protocol: 'intellivue' }] } }), /devices\.ports\[0\]\.path: expected udp:\/\/<host>/);
  t.doesNotThrow(() => validateConfig({ ...base, devices: { ports: [{ name: 'a', path: 'udp://10.0.0.9', protocol: 'intellivue' }] } }));
});
