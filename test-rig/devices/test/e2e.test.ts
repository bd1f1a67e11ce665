// End to end: each simulator on a real pty pair -> DeviceDataService over serialport -> samples
// with values and timestamps on the injected clock; vitals track recorded and read back; cable
// pulled and restored -> gap marked, data back within 10 s; silent device; remote commands.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BoxClock } from '../../../edge/lib/clock.js';
import { DeviceDataService, type DeviceEvent, type PortConfigInput, type VitalSample } from '../../../edge/devices/index.js';
import { readVitalsTrack, VitalsTrackWriter } from '../../../edge/devices/track.js';
import { createPtyPair } from '../../../edge/demo/pty.js';
import { IntelliVueSimulator } from '../../../edge/demo/intellivue-sim.js';
import { S5Simulator } from '../s5-sim.js';
import { MedibusSimulator } from '../medibus-sim.js';
import { VitalsScript } from '../../../edge/demo/script.js';

// A box clock anchored far from the machine's wall clock: samples stamped with it prove the
// injected clock is the one used.
const FAKE_EPOCH_NS = 2_000_000_000_000_000_000n;
const clock = new BoxClock({ wallNs: FAKE_EPOCH_NS, monoNs: process.hrtime.bigint() });

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return cond();
}

async function rig(t: { teardown(fn: () => unknown): void }, port: Omit<PortConfigInput, 'path' | 'name'>, makeSim: (path: string) => IntelliVueSimulator | S5Simulator | MedibusSimulator) {
  const pty = await createPtyPair();
  const sim = makeSim(pty.devicePath);
  await sim.start();
  const samples: VitalSample[] = [];
  const events: DeviceEvent[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'orbox-e2e-'));
  const track = new VitalsTrackWriter(join(dir, 'vitals.ovt'), { createdWallNs: clock.wallNs() });
  track.open();
  const svc = new DeviceDataService({
    ports: [{ name: 'dev', path: pty.boxPath, ...port } as PortConfigInput],
    onSample: (s) => {
      samples.push(s);
      track.append(s);
    },
    onEvent: (e) => events.push(e),
    clock,
    tickMs: 50,
    reconnect: { minMs: 200, maxMs: 1000 },
  });
  t.teardown(async () => {
    await svc.close();
    track.close();
    await sim.close();
    await pty.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const t0 = clock.wallNs();
  svc.start();
  return { pty, sim, svc, samples, events, track, t0 };
}

t.test('IntelliVue on a pty: numerics and waves on the box clock, device time, track read back, command acknowledged', async (t) => {
  const script = new VitalsScript({ nibpFirstMs: 500, alarms: [{ fromMs: 2500, toMs: 60_000 }] });
  const r = await rig(t, { protocol: 'intellivue', waves: ['ECG_II', 'PLETH'] }, (p) => new IntelliVueSimulator(p, { script, deviceClockOffsetMs: -37_000 }));
  t.ok(await waitFor(() => r.samples.filter((s) => s.label === 'HR').length >= 3 && r.samples.some((s) => s.label === 'PLETH'), 15_000), 'HR x3 and pleth arrived');
  const t1 = clock.wallNs();
  const hr = r.samples.find((s) => s.label === 'HR')!;
  t.equal(hr.value, 72);
  t.equal(hr.mdcCode, 147842);
  t.equal(hr.port, 'dev');
  t.ok(hr.hostWallNs >= r.t0 && hr.hostWallNs <= t1, 'host time on the injected box clock');
  const devOffset = hr.hostWallNs - hr.deviceTimeNs;
  t.ok(devOffset > FAKE_EPOCH_NS - BigInt(Date.now() + 60_000) * 1_000_000n, 'device time is the monitor clock');
  t.match(hr.deviceId, /MX800-SIM/);
  t.ok(r.samples.some((s) => s.label === 'NIBP_SYS' && s.value === 118), 'NIBP');
  const ecg = r.samples.filter((s) => s.label === 'ECG_II');
  t.ok(ecg.length >= 2);
  t.equal(ecg[0]!.samplePeriodNs, 2_000_000n);
  t.ok(ecg[0]!.hostWallNs < ecg[1]!.hostWallNs, 'blocks in order, stamped at first sample');
  t.same(r.samples.map((s) => s.seq), r.samples.map((_, i) => BigInt(i + 1)), 'sequence numbers');
  const res = await r.svc.command({ transactionId: 'tx-1', port: 'dev', action: 'waves.select', args: { waves: ['ECG_II'] } });
  t.equal(res.state, 'finished');
  t.ok(res.latencyNs > 0n && res.latencyNs < 150_000_000n, `acknowledged in ${Number(res.latencyNs) / 1e6} ms`);
  t.equal((await r.svc.command({ transactionId: 'tx-2', port: 'dev', action: 'alarm.silence' })).state, 'unsupported');
  t.equal((await r.svc.command({ transactionId: 'tx-3', port: 'dev' })).state, 'invalid');
  await waitFor(() => r.samples.some((s) => s.label === 'HR' && (s.stateFlags & 256) !== 0), 5000);
  t.ok(r.samples.some((s) => s.label === 'HR' && s.value === 150 && (s.stateFlags & 256) !== 0), 'HR in alarm flagged');
  r.track.sync();
  const back = readVitalsTrack(r.track.path);
  t.equal(back.samples.length, r.samples.length, 'every sample in the recorded track');
  t.same(back.samples[0]!.hostWallNs, r.samples[0]!.hostWallNs);
  const info = r.track.info();
  t.ok(info.startWallNs >= r.t0 && info.endWallNs >= info.startWallNs && info.samples === r.samples.length, 'catalog row fields');
});

t.test('IntelliVue cable pulled and replugged: gap marked, data back within 10 s', async (t) => {
  const r = await rig(t, { protocol: 'intellivue' }, (p) => new IntelliVueSimulator(p, {}));
  t.ok(await waitFor(() => r.samples.some((s) => s.label === 'HR'), 10_000), 'data before');
  await r.pty.pull();
  t.ok(await waitFor(() => r.events.some((e) => e.type === 'state' && e.state === 'disconnected'), 5000), 'disconnected seen');
  const open = r.samples.find((s) => s.kind === 'gap' && s.gapEndNs === 0n);
  t.ok(open, 'gap opened');
  await new Promise((res) => setTimeout(res, 1000));
  const plugged = Date.now();
  await r.pty.replug();
  await r.sim.reopen();
  const n = r.samples.length;
  t.ok(await waitFor(() => r.samples.slice(n).some((s) => s.label === 'HR'), 10_000), 'HR back');
  const back = (Date.now() - plugged) / 1000;
  t.ok(back < 10, `data back ${back.toFixed(1)} s after replug`);
  const closed = r.samples.find((s) => s.kind === 'gap' && s.gapEndNs !== 0n)!;
  t.ok(closed && closed.gapEndNs - closed.gapStartNs >= 1_000_000_000n, 'gap spans the outage');
  t.notOk(r.samples.some((s) => s.kind === 'numeric' && s.hostWallNs > closed.gapStartNs && s.hostWallNs < closed.gapEndNs), 'nothing synthesized inside the gap');
});

t.test('S/5 on a pty (19200 8E1 RTS/CTS): displayed values with states, waves, silent device -> gap -> back', async (t) => {
  const script = new VitalsScript({ nibpFirstMs: 60_000 });
  const r = await rig(t, { protocol: 's5', intervalS: 1, waves: ['ECG1', 'PLETH'], silenceMs: 2500 }, (p) => new S5Simulator(p, { script, driLevel: 0x08, stuffedChecksumEvery: 3 }));
  t.ok(await waitFor(() => r.samples.filter((s) => s.label === 'HR').length >= 2 && r.samples.some((s) => s.label === 'ECG1'), 15_000), 'data');
  const hr = r.samples.find((s) => s.label === 'HR')!;
  t.equal(hr.value, 72);
  t.ok(hr.deviceTimeNs > 0n);
  const nibp = r.samples.find((s) => s.label === 'NIBP_SYS')!;
  t.equal(nibp.value, undefined, 'invalid state, not a number');
  const ecg = r.samples.filter((s) => s.label === 'ECG1');
  t.equal(ecg[0]!.samplePeriodNs, 3_333_333n);
  r.sim.setSilent(true);
  t.ok(await waitFor(() => r.events.some((e) => e.type === 'state' && e.state === 'silent'), 8000), 'silent');
  t.ok(r.samples.some((s) => s.kind === 'gap' && s.gapReason === 'silent'), 'gap for silence');
  r.sim.setSilent(false);
  t.ok(await waitFor(() => r.samples.some((s) => s.kind === 'gap' && s.gapEndNs !== 0n), 10_000), 'gap closed: data back');
});

t.test('MEDIBUS on a pty: measured data, alarms, real-time curves interleaved with ASCII, command acknowledged', async (t) => {
  const script = new VitalsScript({ alarms: [{ fromMs: 0, toMs: 60_000 }] });
  const r = await rig(t, { protocol: 'medibus', baudRate: 19200, waves: ['PAW'] }, (p) => new MedibusSimulator(p, { script, corruptEvery: 7 }));
  t.ok(await waitFor(() => r.samples.filter((s) => s.label === 'EtCO2').length >= 2 && r.samples.filter((s) => s.label === 'PAW').length >= 3, 15_000), 'data');
  t.equal(r.samples.find((s) => s.label === 'EtCO2')!.value, 38);
  t.ok(r.samples.some((s) => s.kind === 'alarm' && s.alarmText === 'PULSE HIGH'));
  const paw = r.samples.filter((s) => s.label === 'PAW');
  t.equal(paw[0]!.samplePeriodNs, 8_000_000n);
  t.ok(paw.every((w) => w.samples.every((v) => v >= -20 && v <= 80)), 'curve values in range');
  const res = await r.svc.command({ transactionId: 'm-1', port: 'dev', action: 'device.id' });
  t.equal(res.state, 'finished');
  t.equal(res.detail, "'0161'Primus-SIM");
  const st = r.svc.status()[0]!;
  t.equal(st.state, 'connected');
  t.ok((st.driver['rtFrames'] ?? 0) > 0);
});
