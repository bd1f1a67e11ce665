// GE S/5 Computer Interface: framing, stuffing, both checksum variants, header and subrecords,
// invalid-value states, requests, DRI level negotiation, silence.
import t from 'tap';
import { checksum8, encodeS5Frame, MAX_RECORD, S5Framer } from '../s5/frame.js';
import { buildPhdbRequest, buildRecord, buildWaveRequest, MAINTYPE, parseHeader, parseWave } from '../s5/record.js';
import { S5Driver } from '../s5/driver.js';
import { DecodeError } from '../errors.js';
import { StateFlag } from '../sample.js';
import { S5MonitorCore } from '../../../test-rig/devices/s5-sim.js';
import { VirtualLink } from '../../../test-rig/devices/loopback.js';
import { VitalsScript } from '../../demo/script.js';

function run(chunks: Uint8Array[]): { out: Uint8Array[]; f: S5Framer } {
  const f = new S5Framer();
  const out: Uint8Array[] = [];
  for (const c of chunks) f.push(c, (d) => out.push(d.slice()));
  return { out, f };
}

t.test('stuffing and checksum table (unstuffed sum sent, both variants accepted)', async (t) => {
  const table: { name: string; rec: number[]; wire: number[] }[] = [
    { name: 'plain', rec: [0x01, 0x02], wire: [0x7e, 0x01, 0x02, 0x03, 0x7e] },
    { name: '7E stuffed', rec: [0x7e], wire: [0x7e, 0x7d, 0x5e, 0x7d, 0x5e, 0x7e] },
    { name: '7D stuffed', rec: [0x7d, 0x00], wire: [0x7e, 0x7d, 0x5d, 0x00, 0x7d, 0x5d, 0x7e] },
    { name: 'checksum itself stuffed', rec: [0x3f, 0x3f], wire: [0x7e, 0x3f, 0x3f, 0x7d, 0x5e, 0x7e] },
  ];
  for (const c of table) {
    t.same(Array.from(encodeS5Frame(Uint8Array.from(c.rec))), c.wire, `${c.name}: wire bytes`);
    t.same(run([Uint8Array.from(c.wire)]).out, [Uint8Array.from(c.rec)], `${c.name}: decoded`);
  }
  // The other transmitters' variant: sum over the stuffed bytes. [7E] -> 7D+5E = 0xDB
  const stuffedVariant = Uint8Array.of(0x7e, 0x7d, 0x5e, 0xdb, 0x7e);
  const r = run([stuffedVariant]);
  t.same(r.out, [Uint8Array.of(0x7e)]);
  t.equal(r.f.stats.checksumStuffed, 1, 'stuffed-sum variant accepted');
  t.same(encodeS5Frame(Uint8Array.of(0x7e), 'stuffed'), stuffedVariant);
  t.equal(checksum8(Uint8Array.of(0xff, 0x02)), 0x01);
});

t.test('framer faults: split reads, several per read, escape at boundary, bad checksum, bad escape, noise, overflow', async (t) => {
  const a = encodeS5Frame(Uint8Array.of(1, 0x7e, 3, 0x7d));
  const b = encodeS5Frame(Uint8Array.of(5, 6));
  t.equal(run(Array.from(a, (x) => Uint8Array.of(x))).out.length, 1, 'byte by byte');
  t.equal(run([new Uint8Array([...a, ...b, ...a])]).out.length, 3, 'three in one read');
  const esc = a.indexOf(0x7d);
  t.same(run([a.subarray(0, esc + 1), a.subarray(esc + 1)]).out, [Uint8Array.of(1, 0x7e, 3, 0x7d)], 'escape at boundary');
  const bad = a.slice();
  bad[1] ^= 0x10;
  const rb = run([bad, b]);
  t.equal(rb.out.length, 1);
  t.equal(rb.f.stats.badChecksum, 1);
  const rbe = run([Uint8Array.of(0x7e, 0x01, 0x7d, 0x41, 0x02, 0x7e), b]);
  t.equal(rbe.f.stats.badEscapes, 1, '7D followed by something else');
  t.equal(rbe.out.length, 1);
  const rn = run([Uint8Array.of(0x7e, 0x33, 0x7e), b]);
  t.equal(rn.out.length, 1, 'noise between flags costs a runt, not the next frame');
  const f = new S5Framer();
  const junk = new Uint8Array(MAX_RECORD * 3).fill(0x11);
  f.push(junk, () => t.fail('no frame'));
  t.ok(f.buffered() <= MAX_RECORD + 1, 'bounded');
  f.push(b, () => {});
  t.equal(f.stats.frames, 1, 'recovers');
});

t.test('requests: physiological 49 bytes, waveform 72 bytes, header fields little-endian', async (t) => {
  const ph = buildPhdbRequest(0x0b, 10);
  t.equal(ph.length, 49);
  t.same(Array.from(ph.subarray(0, 4)), [49, 0, 0, 0x0b], 'r_len LE, r_nbr, dri_level');
  t.same(Array.from(ph.subarray(16, 22)), [0, 0, 0, 0, 0, 0xff], 'one subrecord, list ended by 0xFF');
  t.same(Array.from(ph.subarray(40, 43)), [1, 10, 0], 'displayed, interval 10 s LE');
  const wf = buildWaveRequest(0x09, true, [1, 8]);
  t.equal(wf.length, 72);
  t.equal(wf[14], MAINTYPE.WAVE);
  t.same(Array.from(wf.subarray(40, 48)), [0, 0, 0, 0, 1, 8, 0xff, 0xff], 'start, ids, 0xFF terminated');
});

t.test('header and subrecords: offsets, lengths, bounds errors carry the offset', async (t) => {
  const w1 = new Uint8Array(6 + 4);
  new DataView(w1.buffer).setInt16(0, 2, true);
  new DataView(w1.buffer).setInt16(6, -5, true);
  new DataView(w1.buffer).setInt16(8, 300, true);
  const w2 = new Uint8Array(6 + 2);
  new DataView(w2.buffer).setInt16(0, 1, true);
  const rec = buildRecord({ driLevel: 9, rTime: 1_700_000_000, mainType: MAINTYPE.WAVE, subrecords: [{ offset: 0, type: 1 }, { offset: 10, type: 8 }] }, new Uint8Array([...w1, ...w2]));
  const h = parseHeader(rec);
  t.equal(h.rTime, 1_700_000_000);
  t.same(h.subrecords.map((s) => [s.offset, s.type, s.length]), [[40, 1, 10], [50, 8, 8]]);
  t.same(Array.from(parseWave(rec, h.subrecords[0]!).samples), [-5, 300]);
  const broken = rec.slice();
  new DataView(broken.buffer).setInt16(19, 400, true); // second subrecord offset beyond the data
  t.throws(() => parseHeader(broken), DecodeError);
  const shortLen = rec.slice(0, 30);
  try {
    parseHeader(shortLen);
    t.fail('should throw');
  } catch (e) {
    t.ok(e instanceof DecodeError && e.offset === 0, 'r_len mismatch at offset 0');
  }
});

t.test('displayed values: scaling, EtCO2 via ambient pressure, invalid-value states never numbers, alarms, DRI level found', async (t) => {
  const l = new VirtualLink();
  const script = new VitalsScript({ nibpFirstMs: 3000, artifacts: [{ fromMs: 0, toMs: 2500 }], alarms: [{ fromMs: 2000, toMs: 4000 }] });
  const core = new S5MonitorCore(l.deviceSend, l.nowMs, { driLevel: 0x07, stuffedChecksumEvery: 2 }, script);
  const drv = new S5Driver(l.host, { intervalS: 1 });
  l.attach(drv, core);
  drv.start();
  l.run(5500);
  t.ok(core.stats.ignoredLevel >= 4, 'levels above 0x07 ignored by the monitor');
  const first = (label: string) => l.samples.find((s) => s.label === label)!;
  t.equal(first('HR').value, 72);
  t.equal(first('HR').mdcCode, 147842);
  t.equal(first('EtCO2').value, 38);
  t.equal(first('EtCO2').unit, 'mmHg');
  const nibp0 = first('NIBP_SYS');
  t.equal(nibp0.value, undefined, 'NIBP before measurement: no number');
  t.ok(nibp0.stateFlags! & StateFlag.INVALID);
  t.equal(nibp0.vendorState, -32767 & 0xffff, 'raw invalid code kept');
  const spo2 = first('SpO2');
  t.equal(spo2.value, undefined);
  t.ok(spo2.stateFlags! & StateFlag.QUESTIONABLE, 'discontinuity -> questionable + invalid');
  const laterNibp = l.samples.filter((s) => s.label === 'NIBP_SYS' && s.value !== undefined);
  t.ok(laterNibp.length > 0);
  t.equal(laterNibp[0]!.value, 118);
  const alarms = l.samples.filter((s) => s.kind === 'alarm');
  t.ok(alarms.some((a) => a.alarmText === 'HR HIGH 150' && a.alarmPriority === 'high'), 'alarm seen');
  t.ok(alarms.some((a) => a.alarmPriority === 'none'), 'alarm cleared');
  t.ok(l.samples[0]!.deviceTimeNs! > 0n, 'device time from r_time');
});

t.test('waves: counted sample times, period, refuse unknown wave ids; silence re-requests', async (t) => {
  const l = new VirtualLink();
  const core = new S5MonitorCore(l.deviceSend, l.nowMs, {});
  const drv = new S5Driver(l.host, { intervalS: 1, waves: ['ECG1', 'PLETH'], silenceMs: 3000 });
  l.attach(drv, core);
  drv.start();
  l.run(2000);
  const ecg = l.samples.filter((s) => s.label === 'ECG1');
  t.ok(ecg.length >= 4);
  t.equal(ecg[1]!.samples!.length, 75);
  t.equal(ecg[1]!.samplePeriodNs, 3_333_333n);
  t.equal(ecg[2]!.hostWallNs - ecg[1]!.hostWallNs, 75n * 3_333_333n, 'next block continues the sample count');
  core.silent = true;
  l.run(4000);
  t.ok(l.states.some((s) => s.state === 'silent'));
  core.silent = false;
  const n = l.samples.length;
  l.run(6000);
  t.ok(l.samples.length > n, 'data back after re-request');
  t.ok(drv.stats.rerequests >= 1);
});
