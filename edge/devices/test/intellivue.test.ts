// IntelliVue Data Export: framing, FCS, escaping, FLOAT, poll results, session faults.
// Outbound vectors: reference/device-protocols.md ("Outbound frames, for your own tests").
import t from 'tap';
import { decodeFloat, encodeFloat } from '../intellivue/float.js';
import { encodeFrame, fcs16, frameCheck, IntelliVueFramer, MAX_FRAME } from '../intellivue/frame.js';
import { buildExtendedPoll, buildMdsCreateResult } from '../intellivue/build.js';
import { decodeMonitorMessage } from '../intellivue/decode.js';
import { NOM, RORLS } from '../intellivue/nomenclature.js';
import { IntelliVueDriver } from '../intellivue/driver.js';
import { U32Unwrapper } from '../time-math.js';
import { StateFlag } from '../sample.js';
import { IntelliVueMonitorCore } from '../../demo/intellivue-sim.js';
import { VirtualLink } from '../../../test-rig/devices/loopback.js';
import { VitalsScript } from '../../demo/script.js';

const hex = (s: string) => Uint8Array.from(s.trim().split(/\s+/).map((b) => parseInt(b, 16)));
const MDS_RESULT = hex('c0 11 01 00 1c e1 00 00 02 00 02 00 14 00 01 00 01 00 0e 00 21 00 00 00 00 00 0a bd 00 0d 06 00 00 39 17 c1');
const NUMERIC_POLL = hex('c0 11 01 00 30 e1 00 00 02 00 01 00 28 00 01 00 07 00 22 00 21 00 00 00 00 00 00 00 00 f1 3b 00 14 00 01 00 01 00 06 00 00 00 01 00 08 f1 3e 00 04 00 03 a9 80 58 71 c1');

function frames(chunks: Uint8Array[]): { out: Uint8Array[]; f: IntelliVueFramer } {
  const f = new IntelliVueFramer();
  const out: Uint8Array[] = [];
  for (const c of chunks) f.push(c, (d) => out.push(d.slice()));
  return { out, f };
}

t.test('FCS-16 (CRC-16/X-25): check value, reference frames, good residue', async (t) => {
  // CRC-16/X-25 catalogue check value over "123456789" is 0x906E.
  t.equal(frameCheck(new TextEncoder().encode('123456789')), 0x906e);
  for (const [name, v] of [['MDS result', MDS_RESULT], ['numeric poll', NUMERIC_POLL]] as const) {
    const body = v.subarray(1, v.length - 3); // header + data (no escapes in these vectors)
    const fcs = frameCheck(body);
    t.equal(fcs & 0xff, v[v.length - 3], `${name} FCS low byte`);
    t.equal(fcs >> 8, v[v.length - 2], `${name} FCS high byte`);
    t.equal(fcs16(v, 1, v.length - 1), 0xf0b8, `${name}: over data + FCS a receiver gets 0xF0B8`);
  }
});

t.test('encoders reproduce the reference outbound frames byte for byte', async (t) => {
  t.same(encodeFrame(buildMdsCreateResult(1, 0x000abd00)), MDS_RESULT);
  t.same(encodeFrame(buildExtendedPoll(1, 1, NOM.MOC_VMO_METRIC_NU, 240000)), NUMERIC_POLL);
});

t.test('escaping table: C0, C1, 7D inside header, data and FCS', async (t) => {
  const cases: [string, number[]][] = [
    ['BOF in data', [0xc0]],
    ['EOF in data', [0xc1]],
    ['ESC in data', [0x7d]],
    ['all three', [0x7d, 0xc0, 0xc1, 0x20, 0x5d]],
    // length 0x00C0 puts C0 into the header itself
    ['C0 in length', new Array(0xc0).fill(0x11)],
  ];
  for (const [name, data] of cases) {
    const enc = encodeFrame(Uint8Array.from(data));
    for (let i = 1; i < enc.length - 1; i++) t.not([0xc0, 0xc1].includes(enc[i]!), true, `${name}: no raw C0/C1 at ${i}`);
    const { out } = frames([enc]);
    t.same(out, [Uint8Array.from(data)], `${name}: round trip`);
  }
  // Exact bytes of one escaped frame: data [7D] -> 7D 5D; FCS computed over unescaped bytes.
  const enc = encodeFrame(Uint8Array.of(0x7d));
  t.same(Array.from(enc.subarray(0, 7)), [0xc0, 0x11, 0x01, 0x00, 0x01, 0x7d, 0x5d]);
});

t.test('framer faults: split reads, several frames per read, escape at a read boundary, bad FCS, abort, noise, overflow', async (t) => {
  const a = encodeFrame(Uint8Array.of(1, 2, 0x7d, 3));
  const b = encodeFrame(Uint8Array.of(9, 0xc0, 8));
  // one byte per read
  t.equal(frames(Array.from(a, (x) => Uint8Array.of(x))).out.length, 1, 'frame split into single bytes');
  // several frames in one read
  const both = new Uint8Array([...a, ...b, ...a]);
  t.equal(frames([both]).out.length, 3, 'three frames in one read');
  // split exactly after the escape byte
  const escAt = a.indexOf(0x7d);
  const r = frames([a.subarray(0, escAt + 1), a.subarray(escAt + 1)]);
  t.same(r.out, [Uint8Array.of(1, 2, 0x7d, 3)], 'escape at read boundary');
  // bad FCS
  const bad = a.slice();
  bad[bad.length - 2] ^= 0x01;
  const rb = frames([bad, b]);
  t.equal(rb.out.length, 1);
  t.equal(rb.f.stats.badFcs, 1, 'bad FCS counted and dropped, next frame fine');
  // 7D C1 abort
  const aborted = new Uint8Array([...a.subarray(0, 5), 0x7d, 0xc1, ...b]);
  const ra = frames([aborted]);
  t.equal(ra.out.length, 1);
  t.equal(ra.f.stats.aborts, 1, 'abort counted');
  // noise before and between frames
  const rn = frames([Uint8Array.of(0x00, 0xff, 0x13), a, Uint8Array.of(0x55), b]);
  t.equal(rn.out.length, 2);
  t.equal(rn.f.stats.noiseBytes, 4);
  // overflow: a frame that never ends is bounded
  const f = new IntelliVueFramer();
  const junk = new Uint8Array(MAX_FRAME * 3).fill(0x42);
  junk[0] = 0xc0;
  f.push(junk, () => t.fail('no frame'));
  t.ok(f.buffered() <= MAX_FRAME, 'buffer bounded');
  t.equal(f.stats.overflows, 1);
  f.push(a, () => {});
  t.equal(f.stats.frames, 1, 'recovers at the next frame');
});

t.test('FLOAT-Type decoding with specials (table)', async (t) => {
  const table: [number, number | string][] = [
    [0x00000048, 72], // exponent 0, mantissa 72
    [0xff0003da, 98.6], // exponent -1, mantissa 986
    [0xfe002710, 100], // 10000 * 10^-2
    [0x01000005, 50], // 5 * 10^1
    [0x00fffffe, -2], // negative mantissa
    [0xffffff9c, -10], // -100 * 10^-1
    [0x007fffff, 'NaN'],
    [0x00800000, 'NRes'],
    [0x007ffffe, '+INF'],
    [0x00800002, '-INF'],
  ];
  for (const [u32, want] of table) {
    const d = decodeFloat(u32);
    if (typeof want === 'string') {
      t.equal(d.special, want, `0x${u32.toString(16)} is ${want}`);
      t.ok(Number.isNaN(d.value));
    } else t.equal(d.value, want, `0x${u32.toString(16)} = ${want}`);
  }
  t.equal(encodeFloat(98.6, 1), 0xff0003da);
  t.equal(decodeFloat(encodeFloat(-40.96, 2)).value, -40.96);
});

t.test('poll result parsing: single and linked, numerics, compound NIBP, raw unmapped code, demo/invalid state kept', async (t) => {
  const l = new VirtualLink();
  const script = new VitalsScript({ nibpFirstMs: 0, artifacts: [{ fromMs: 0, toMs: 60_000 }] });
  const core = new IntelliVueMonitorCore(l.deviceSend, l.nowMs, { splitLinked: true, demo: true }, script);
  const drv = new IntelliVueDriver(l.host);
  l.attach(drv, core);
  drv.start();
  l.run(3500);
  t.equal(drv.stats.associations, 1);
  t.ok(drv.stats.linkedParts >= 4, 'linked parts seen');
  t.equal(drv.stats.linkedGaps, 0);
  const byLabel = (x: string) => l.samples.filter((s) => s.label === x);
  const hr = byLabel('HR')[0]!;
  t.equal(hr.value, 72);
  t.equal(hr.mdcCode, 147842);
  t.equal(hr.unit, 'bpm');
  t.ok(hr.stateFlags! & StateFlag.DEMO_DATA, 'demo flag kept');
  t.equal(hr.vendorState! & 0x0400, 0x0400, 'raw state kept');
  const spo2 = byLabel('SpO2')[0]!;
  t.equal(spo2.mdcCode, 150456);
  t.ok(spo2.stateFlags! & StateFlag.QUESTIONABLE, 'artifact -> questionable');
  t.equal(byLabel('NIBP_SYS')[0]!.mdcCode, 150021);
  t.equal(byLabel('NIBP_SYS')[0]!.value, 118);
  t.equal(byLabel('NIBP_DIA')[0]!.value, 76);
  const priv = byLabel('0xf0e5')[0]!;
  t.equal(priv.mdcCode, 0, 'unmapped code: mdc 0');
  t.equal(priv.vendorCode, 0xf0e5, 'unmapped code kept raw');
  t.equal(priv.value, 1.5);
  // device time: monitor clock 37 s behind
  const off = drv.clockEstimate().offsetNs!;
  t.ok(off > 36_900_000_000n && off < 37_200_000_000n, `offset ${off}`);
});

t.test('linked-result decoding from bytes: ROLRS first/last state and count', async (t) => {
  const l = new VirtualLink();
  const core = new IntelliVueMonitorCore(l.deviceSend, l.nowMs, { splitLinked: true });
  const drv = new IntelliVueDriver(l.host);
  l.attach(drv, core);
  const seen: { state: number; count: number }[] = [];
  l.mangle = (c) => {
    const f = new IntelliVueFramer();
    f.push(c, (d) => {
      const m = decodeMonitorMessage(d);
      if (m.kind === 'poll' && m.poll.linked) seen.push(m.poll.linked);
    });
    return [c];
  };
  drv.start();
  l.run(2500);
  t.ok(seen.length >= 2);
  t.equal(seen[0]!.state, RORLS.FIRST);
  t.equal(seen[0]!.count, 1);
  t.equal(seen[1]!.state, RORLS.NOT_FIRST_NOT_LAST);
  t.equal(seen[1]!.count, 2);
});

t.test('waves: refused until spec, scale and period are known; stamped at first sample with period; masked', async (t) => {
  const l = new VirtualLink();
  const core = new IntelliVueMonitorCore(l.deviceSend, l.nowMs, {});
  const drv = new IntelliVueDriver(l.host, { waves: ['ECG_II', 'PLETH'] });
  l.attach(drv, core);
  // Drop the first wave update (the one carrying the spec): waves must be refused, not guessed.
  let dropped = false;
  l.mangle = (c) => {
    if (!dropped && c.length > 300) {
      dropped = true;
      return [];
    }
    return [c];
  };
  drv.start();
  l.run(1500);
  t.ok(drv.stats.wavesRefused > 0, 'refused without spec');
  t.equal(l.samples.filter((s) => s.kind === 'wave').length, 0);
  // Re-poll (a new wave poll sends the spec again) by re-associating.
  l.mangle = undefined;
  drv.command('reassociate', {}, { started() {}, finished() {}, failed() {} });
  l.run(2000);
  const waves = l.samples.filter((s) => s.kind === 'wave' && s.label === 'ECG_II');
  t.ok(waves.length >= 3, `ECG blocks: ${waves.length}`);
  const w = waves[1]!;
  t.equal(w.samplePeriodNs, 2_000_000n, '500 Hz');
  t.equal(w.samples!.length, 128);
  t.ok(w.samples!.every((v) => v >= -40.96 && v <= 40.94), 'upper 4 bits masked off');
  t.equal(waves[2]!.hostWallNs - waves[1]!.hostWallNs, 128n * 2_000_000n, 'consecutive blocks continue sample by sample');
  t.ok(w.hostWallNs < BigInt(l.t) * 1_000_000n, 'first-sample stamp before arrival');
});

t.test('relative time wraps at 2^32 ticks without a jump in device time', async (t) => {
  const u = new U32Unwrapper();
  t.equal(u.push(0xfffffff0), 0xfffffff0n);
  t.equal(u.push(0x00000010), 0x100000010n);
  t.equal(u.push(0x00000008), 0x100000008n, 'small step back allowed');
  const l = new VirtualLink();
  // Start 1.5 s before the wrap: 12 000 ticks.
  const core = new IntelliVueMonitorCore(l.deviceSend, l.nowMs, { relTimeStart: 0x100000000 - 12_000 });
  const drv = new IntelliVueDriver(l.host);
  l.attach(drv, core);
  drv.start();
  l.run(4000);
  const hr = l.samples.filter((s) => s.label === 'HR');
  t.ok(hr.length >= 3);
  for (let i = 1; i < hr.length; i++) {
    const d = hr[i]!.deviceTimeNs! - hr[i - 1]!.deviceTimeNs!;
    t.ok(d > 900_000_000n && d < 1_100_000_000n, `device time step ${d} ns across the wrap`);
  }
});

t.test('silence -> silent state, re-association; refusal retried; abort handled', async (t) => {
  const l = new VirtualLink();
  const core = new IntelliVueMonitorCore(l.deviceSend, l.nowMs, { refuseFirst: 1 });
  const drv = new IntelliVueDriver(l.host, { silenceMs: 3000 });
  l.attach(drv, core);
  drv.start();
  l.run(8000);
  t.equal(drv.stats.refusals, 1, 'refused once');
  t.equal(drv.stats.associations, 1, 'then associated');
  core.silent = true;
  l.run(4000);
  t.ok(l.states.some((s) => s.state === 'silent'), 'silent reported');
  core.silent = false;
  const before = l.samples.length;
  l.run(4000);
  t.ok(drv.stats.reassociations >= 1);
  t.ok(l.samples.length > before, 'data back after re-association');
  // Abort SPDU from the monitor -> re-association
  l.toHost.push(encodeFrame(Uint8Array.of(0x19, 0x00)));
  const assoc = drv.stats.associations;
  l.run(3000);
  t.ok(drv.stats.associations > assoc, 're-associated after abort');
});

t.test('remote commands: waves.select acknowledged by the Set result, unsupported and invalid at once', async (t) => {
  const l = new VirtualLink();
  const core = new IntelliVueMonitorCore(l.deviceSend, l.nowMs, {});
  const drv = new IntelliVueDriver(l.host);
  l.attach(drv, core);
  drv.start();
  l.run(1000);
  const log: string[] = [];
  const rep = { started: () => log.push('started'), finished: () => log.push('finished'), failed: (r: string) => log.push(`failed ${r}`) };
  t.same(drv.command('waves.select', { waves: ['ECG_II'] }, rep), { kind: 'accepted' });
  l.run(100);
  t.same(log, ['started', 'finished']);
  t.equal(drv.command('nibp.start', {}, rep).kind, 'unsupported');
  t.equal(drv.command('waves.select', { waves: ['NOPE'] }, rep).kind, 'invalid');
});
