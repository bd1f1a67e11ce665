// Service-level pieces: port config schema, command states, protobuf payload, vitals track,
// CSV / WebVTT export, replay and its CLI, and the service itself over an in-memory transport.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, truncateSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { CommandTracker, type SetTimer } from '../commands.js';
import { DevicesConfigSchema, formatConfigIssues, PortConfigSchema, resolvePortConfig } from '../config.js';
import type { CommandReporter, ProtocolDriver } from '../driver.js';
import { DeviceDataService, type DeviceEvent } from '../index.js';
import { encodeRawCapture } from '../raw-log.js';
import { registerDevicesCommands, replayCapture } from '../replay.js';
import { StateFlag, completeSample, type VitalSample } from '../sample.js';
import { readVitalsTrack, VitalsTrackWriter } from '../track.js';
import { toCsv, toWebVtt } from '../export.js';
import { decodeVitalSample, encodeVitalSample } from '../vitals-codec.js';
import type { PortTransport } from '../transport.js';
import { IntelliVueMonitorCore } from '../../demo/intellivue-sim.js';
import { VitalsScript } from '../../demo/script.js';

const fakeClock = (startNs = 1_700_000_000_000_000_000n) => {
  let mono = 0n;
  return { advance: (ns: bigint) => (mono += ns), now: () => ({ wallNs: startNs + mono, monoNs: mono }) };
};

t.test('port config schema: defaults per protocol, errors name the key path', async (t) => {
  const ok = PortConfigSchema.parse({ name: 'monitor', path: '/dev/ttyUSB0', protocol: 's5' });
  t.same(resolvePortConfig(ok), { ...ok, baudRate: 19200, parity: 'even', dataBits: 8, stopBits: 1, rtscts: true });
  const bad = DevicesConfigSchema.safeParse({ ports: [{ name: 'a', path: '/x', protocol: 'intellivue' }, { name: 'a', path: '/y', protocol: 'medibus', baudRate: 12345, extra: 1 }] });
  t.notOk(bad.success);
  const lines = formatConfigIssues(bad.error!, 'devices');
  t.ok(lines.some((l) => l.startsWith('devices.ports.1.baudRate:')), lines.join('\n'));
  t.ok(lines.some((l) => l.startsWith('devices.ports.1:') && /extra/.test(l)), 'unknown key named');
  t.throws(() => new DeviceDataService({ ports: [{ name: 'm', path: '', protocol: 'intellivue' }], onSample: () => {} }), /ports\.0\.path/);
});

t.test('command states: finished with latency, invalid at once, unsupported, timeout -> invalid, cancel, close', async (t) => {
  const clock = fakeClock();
  const timers: { fn: () => void; ms: number }[] = [];
  const setTimer: SetTimer = (fn, ms) => {
    const e = { fn, ms };
    timers.push(e);
    return () => timers.splice(timers.indexOf(e), 1);
  };
  const states: string[] = [];
  const tr = new CommandTracker(clock, (id, s) => states.push(`${id}:${s}`), 60_000, setTimer);
  let rep: CommandReporter | undefined;
  const driver = {
    command: (action: string, _args: unknown, r: CommandReporter) => {
      if (action === 'nope') return { kind: 'unsupported', reason: 'cannot' } as const;
      if (action === 'bad') return { kind: 'invalid', reason: 'args' } as const;
      rep = r;
      r.started();
      return { kind: 'accepted' } as const;
    },
  } as unknown as ProtocolDriver;
  const drivers = (p: string) => (p === 'mon' ? driver : undefined);

  const p1 = tr.submit({ transactionId: 't1', port: 'mon', action: 'waves.select', arrivedMonoNs: 0n }, drivers);
  clock.advance(12_000_000n);
  rep!.finished('ok');
  const r1 = await p1;
  t.equal(r1.state, 'finished');
  t.equal(r1.latencyNs, 12_000_000n, 'latency from arrival to acknowledgement');
  t.same(r1.history.map((h) => h.state), ['waiting', 'started', 'finished']);

  t.equal((await tr.submit({ transactionId: 't2', port: 'mon' }, drivers)).state, 'invalid', 'malformed (no action) -> invalid at once');
  t.equal((await tr.submit({ transactionId: 't3', port: 'ghost', action: 'x' }, drivers)).state, 'invalid', 'unknown port');
  t.equal((await tr.submit('garbage', drivers)).state, 'invalid');
  t.equal((await tr.submit({ transactionId: 't4', port: 'mon', action: 'nope' }, drivers)).state, 'unsupported');
  t.equal((await tr.submit({ transactionId: 't5', port: 'mon', action: 'bad' }, drivers)).state, 'invalid');

  const p6 = tr.submit({ transactionId: 't6', port: 'mon', action: 'slow' }, drivers);
  t.equal((await tr.submit({ transactionId: 't6', port: 'mon', action: 'slow' }, drivers)).reason, 'duplicate transaction id in flight');
  t.equal(timers.length, 1);
  t.equal(timers[0]!.ms, 60_000, '60 s timeout armed');
  clock.advance(60_000_000_000n);
  timers[0]!.fn();
  const r6 = await p6;
  t.equal(r6.state, 'invalid');
  t.match(r6.reason, /timeout/);

  const p7 = tr.submit({ transactionId: 't7', port: 'mon', action: 'slow' }, drivers);
  t.ok(tr.cancel('t7'));
  t.equal((await p7).state, 'cancelled');
  const p8 = tr.submit({ transactionId: 't8', port: 'mon', action: 'slow' }, drivers);
  tr.close();
  t.equal((await p8).state, 'cancelled');
  t.equal(tr.pending(), 0);
  t.ok(states.includes('t1:started'));
});

const sample = (over: Partial<VitalSample> = {}): VitalSample => ({
  ...completeSample({ kind: 'numeric', hostWallNs: 1_700_000_000_123_456_789n, hostMonoNs: 42n, value: 72, label: 'HR', unit: 'bpm', mdcCode: 147842 }, 'mon', 'intellivue', 9_007_199_254_740_993n),
  ...over,
});

t.test('protobuf payload: 64-bit fields exact, optional value, waves, gaps', async (t) => {
  const cases: VitalSample[] = [
    sample(),
    sample({ value: undefined, stateFlags: 1, vendorState: 0x8000 }),
    sample({ value: 0 }),
    sample({ kind: 'wave', value: undefined, samplePeriodNs: 2_000_000n, samples: [0.5, -1.25, 3], deviceTimeNs: 1_699_999_963_000_000_000n }),
    sample({ kind: 'gap', value: undefined, gapStartNs: 1n, gapEndNs: 18_446_744_073_709_551_615n, gapReason: 'silent' }),
    sample({ kind: 'alarm', value: undefined, alarmText: 'HR HIGH', alarmPriority: 'high' }),
  ];
  for (const c of cases) {
    if (c.value === undefined) delete c.value; // absent, not a key holding undefined
    t.same(decodeVitalSample(encodeVitalSample(c)), c, `${c.kind} round trip`);
  }
});

t.test('vitals track: append, read back, torn tail stops cleanly, reopen cuts the tail', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'orbox-track-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'vitals.ovt');
  const noTimers = () => () => {};
  const w = new VitalsTrackWriter(path, { createdWallNs: 5n, setInterval: noTimers });
  w.open();
  for (let i = 0; i < 50; i++) w.append(sample({ seq: BigInt(i + 1), hostWallNs: 1_000n + BigInt(i) }));
  w.sync();
  const info = w.close();
  t.equal(info.samples, 50);
  t.equal(info.startWallNs, 1_000n);
  t.equal(info.endWallNs, 1_049n);
  t.equal(info.bytes, statSync(path).size);
  const r = readVitalsTrack(path);
  t.equal(r.samples.length, 50);
  t.equal(r.createdWallNs, 5n);
  t.notOk(r.tornTail);
  // power cut mid-record
  truncateSync(path, statSync(path).size - 7);
  const torn = readVitalsTrack(path);
  t.equal(torn.samples.length, 49, 'stops at the torn record');
  t.ok(torn.tornTail);
  // garbage after the last good record (CRC fails)
  appendFileSync(path, Buffer.from([5, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9, 9, 9]));
  t.equal(readVitalsTrack(path).samples.length, 49);
  const w2 = new VitalsTrackWriter(path, { createdWallNs: 0n, setInterval: noTimers });
  w2.open();
  w2.append(sample({ seq: 100n }));
  w2.close();
  const again = readVitalsTrack(path);
  t.equal(again.samples.length, 50);
  t.notOk(again.tornTail, 'tail cut on reopen, new record readable');
  t.equal(again.samples[49]!.seq, 100n);
});

t.test('CSV and WebVTT export', async (t) => {
  const s0 = 1_700_000_000_000_000_000n;
  const ss: VitalSample[] = [
    sample({ hostWallNs: s0 + 500_000_000n }),
    sample({ hostWallNs: s0 + 600_000_000n, label: 'SpO2', unit: '%', value: 97 }),
    sample({ hostWallNs: s0 + 2_100_000_000n, value: 80 }),
    sample({ hostWallNs: s0 + 2_200_000_000n, kind: 'alarm', value: undefined, alarmText: 'HR <HIGH>', alarmPriority: 'high' }),
    sample({ hostWallNs: s0 + 3_000_000_000n, kind: 'wave', value: undefined, samples: [1, 2], samplePeriodNs: 1_000_000n }),
    sample({ hostWallNs: s0 + 4_000_000_000n, kind: 'gap', value: undefined, gapStartNs: s0 + 2_200_000_000n, gapReason: 'silent' }),
  ];
  const csv = toCsv(ss).trim().split('\n');
  t.equal(csv.length, 6, 'header + 5 rows (wave omitted)');
  t.match(csv[1], /^2023-11-14T22:13:20\.500Z,1700000000500000000,mon,intellivue,9007199254740993,numeric,HR,147842,0,72,bpm,0,,$/);
  t.equal(toCsv(ss, { waves: 'expand' }).trim().split('\n').length, 8);
  const vtt = toWebVtt(ss, { videoStartWallNs: s0 });
  t.match(vtt, /^WEBVTT\n\n1\n00:00:00\.000 --> 00:00:02\.000\nHR 72 bpm  SpO2 97 %\n/);
  t.match(vtt, /HR 80 bpm  SpO2 97 %\nALARM HIGH: HR &lt;HIGH&gt;/);
  t.match(vtt, /NO DATA mon \(silent\)/);
});

t.test('replay: capture file -> samples; CLI prints one JSON object per line; plain byte streams too', async (t) => {
  // Record the monitor's bytes of a simulated session as a capture.
  let now = 1_700_000_000_000;
  const chunks: { at: { wallNs: bigint; monoNs: bigint }; bytes: Uint8Array }[] = [];
  const at = () => ({ wallNs: BigInt(now) * 1_000_000n, monoNs: BigInt(now) * 1_000_000n });
  const core = new IntelliVueMonitorCore((b) => chunks.push({ at: at(), bytes: b.slice() }), () => now, { script: new VitalsScript() });
  const { buildAssociationRequest, buildMdsCreateResult, buildExtendedPoll } = await import('../intellivue/build.js');
  const { NOM } = await import('../intellivue/nomenclature.js');
  const { encodeFrame } = await import('../intellivue/frame.js');
  core.receive(encodeFrame(buildAssociationRequest()));
  core.receive(encodeFrame(buildMdsCreateResult(1, 0)));
  core.receive(encodeFrame(buildExtendedPoll(2, 1, NOM.MOC_VMO_METRIC_NU, 240000)));
  for (let i = 0; i < 300; i++) {
    now += 10;
    core.tick();
  }
  const file = encodeRawCapture('intellivue', chunks);
  const r = replayCapture('intellivue', file);
  const hr = r.samples.filter((s) => s.label === 'HR');
  t.ok(hr.length >= 3);
  t.equal(hr[0]!.value, 72);
  t.ok(hr[0]!.hostWallNs >= 1_700_000_000_000_000_000n, 'read times from the capture');
  const plain = replayCapture('intellivue', Buffer.concat(chunks.map((c) => c.bytes)));
  t.equal(plain.samples.length, r.samples.length, 'plain byte stream decodes the same');
  t.throws(() => replayCapture('s5', file), /capture is intellivue/);

  const dir = mkdtempSync(join(tmpdir(), 'orbox-replay-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const p = join(dir, 'cap.raw');
  writeFileSync(p, file);
  const out: string[] = [];
  const program = new Command().exitOverride();
  registerDevicesCommands(program, { out: (l) => out.push(l), err: () => {} });
  await program.parseAsync(['devices', 'replay', '--protocol', 'intellivue', '--file', p, '--json'], { from: 'user' });
  t.equal(out.length, r.samples.length);
  const first = JSON.parse(out[0]!);
  t.equal(first.protocol, 'intellivue');
  t.equal(typeof first.hostWallNs, 'string', '64-bit as decimal string');
  t.equal(readFileSync(p).length, file.length);
});

/** An in-memory transport whose other end is a simulator core on the real clock. */
class MemTransport implements PortTransport {
  static lines: MemTransport[] = [];
  data: (c: Uint8Array) => void = () => {};
  lost: (r: string) => void = () => {};
  open_ = true;
  core: IntelliVueMonitorCore;
  timer: NodeJS.Timeout | undefined;
  static refuse = false;
  constructor() {
    this.core = new IntelliVueMonitorCore((b) => this.open_ && setImmediate(() => this.data(b)), () => Date.now(), { numericPeriodMs: 100 });
    MemTransport.lines.push(this);
  }
  async open() {
    if (MemTransport.refuse) throw new Error('ENOENT');
    this.timer = setInterval(() => this.core.tick(), 10);
  }
  write(b: Uint8Array) {
    if (this.open_) this.core.receive(b);
  }
  async close() {
    this.open_ = false;
    clearInterval(this.timer);
  }
  onData(cb: (c: Uint8Array) => void) {
    this.data = cb;
  }
  onClose(cb: (r: string) => void) {
    this.lost = cb;
  }
  pull() {
    this.open_ = false;
    clearInterval(this.timer);
    this.lost('cable pulled');
  }
}

t.test('service: sequence numbers, port lost -> gap marked, reconnect with backoff, data back; close idempotent', async (t) => {
  const samples: VitalSample[] = [];
  const events: DeviceEvent[] = [];
  const svc = new DeviceDataService({
    ports: [{ name: 'mon', path: 'mem', protocol: 'intellivue' }],
    onSample: (s) => samples.push(s),
    onEvent: (e) => events.push(e),
    transportFactory: () => new MemTransport(),
    tickMs: 20,
    reconnect: { minMs: 50, maxMs: 200 },
    random: () => 0.5,
  });
  t.teardown(() => svc.close());
  svc.start();
  const waitFor = async (cond: () => boolean, ms = 5000) => {
    const end = Date.now() + ms;
    while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    return cond();
  };
  t.ok(await waitFor(() => samples.filter((s) => s.label === 'HR').length >= 3), 'numerics flow');
  t.same(samples.map((s) => s.seq), samples.map((_, i) => BigInt(i + 1)), 'seq 1, 2, 3, ...');
  MemTransport.refuse = true;
  MemTransport.lines.at(-1)!.pull();
  t.ok(await waitFor(() => events.some((e) => e.type === 'state' && e.state === 'disconnected')));
  const open = samples.find((s) => s.kind === 'gap' && s.gapEndNs === 0n);
  t.ok(open, 'open gap mark recorded');
  t.equal(open!.gapReason, 'disconnected');
  await new Promise((r) => setTimeout(r, 300));
  MemTransport.refuse = false;
  const n = samples.length;
  t.ok(await waitFor(() => samples.length > n + 3), 'data back after reconnect');
  const closed = samples.find((s) => s.kind === 'gap' && s.gapEndNs !== 0n)!;
  t.ok(closed.gapEndNs > closed.gapStartNs, 'gap closed with its end');
  t.equal(closed.gapStartNs, open!.gapStartNs);
  t.ok(svc.status()[0]!.reconnects >= 2, 'retried with backoff');
  const done = svc.command({ transactionId: 'x', port: 'mon', action: 'poll.numerics' });
  t.equal((await done).state, 'finished');
  await svc.close();
  await svc.close();
  t.equal(svc.status()[0]!.state, 'closed');
  t.equal((await svc.command({ transactionId: 'y', port: 'mon', action: 'poll.numerics' })).state, 'cancelled');
});

t.test('service: every sample of a port configured simulated is flagged SIMULATED, and no other port\'s', async (t) => {
  const samples: VitalSample[] = [];
  const svc = new DeviceDataService({
    ports: [{ name: 'demo', path: 'mem', protocol: 'intellivue', simulated: true }, { name: 'real', path: 'mem', protocol: 'intellivue' }],
    onSample: (s) => samples.push(s),
    transportFactory: () => new MemTransport(),
    tickMs: 20,
  });
  t.teardown(() => svc.close());
  svc.start();
  const end = Date.now() + 5000;
  while (Date.now() < end && !(['demo', 'real'].every((p) => samples.filter((s) => s.port === p && s.label === 'HR').length >= 2))) await new Promise((r) => setTimeout(r, 10));
  const of = (port: string) => samples.filter((s) => s.port === port);
  t.ok(of('demo').length >= 2 && of('real').length >= 2, 'both ports deliver');
  t.ok(of('demo').every((s) => s.stateFlags & StateFlag.SIMULATED), 'the simulated port: every sample flagged');
  t.ok(of('real').every((s) => !(s.stateFlags & StateFlag.SIMULATED)), 'the other port: none');
  const back = decodeVitalSample(encodeVitalSample(of('demo')[0]!));
  t.ok(back.stateFlags & StateFlag.SIMULATED, 'the flag survives the vitals ring and track encoding');
});
