// Draeger MEDIBUS / MEDIBUS.X: checksum, messages, items, real-time demultiplexing, NAK, faults.
import t from 'tap';
import { asciiBytes, encodeMessage, encodeRealtime, ESC, MAX_MESSAGE, MedibusFramer, SOH, type AsciiMessage, type RealtimeFrame } from '../medibus/frame.js';
import { formatMeasured, parseAlarms, parseMeasured, parseRealtimeConfig } from '../medibus/codec.js';
import { MedibusDriver } from '../medibus/driver.js';
import { DecodeError } from '../errors.js';
import { StateFlag } from '../sample.js';
import { MedibusDeviceCore } from '../../../test-rig/devices/medibus-sim.js';
import { VirtualLink } from '../../../test-rig/devices/loopback.js';
import { VitalsScript } from '../../demo/script.js';

function feed(chunks: Uint8Array[]) {
  const f = new MedibusFramer();
  const msgs: { start: number; cmd: number; data: string }[] = [];
  const rt: number[][] = [];
  let naks = 0;
  let bad = 0;
  const sink = {
    message: (m: AsciiMessage) => msgs.push({ start: m.start, cmd: m.cmd, data: String.fromCharCode(...m.data) }),
    realtime: (r: RealtimeFrame) => rt.push(r.values.slice(0, r.count)),
    nak: () => naks++,
    badChecksum: () => bad++,
  };
  for (const c of chunks) f.feed(c, sink);
  return { f, msgs, rt, naks, bad };
}

t.test('checksum: the reference ICC command and responses (table)', async (t) => {
  const table: [string, Uint8Array, number[]][] = [
    ['ICC', encodeMessage(ESC, 0x51), [0x1b, 0x51, 0x36, 0x43, 0x0d]],
    ['NOP', encodeMessage(ESC, 0x30), [0x1b, 0x30, 0x34, 0x42, 0x0d]],
    ['ICC response', encodeMessage(SOH, 0x51), [0x01, 0x51, 0x35, 0x32, 0x0d]],
    ['data', encodeMessage(SOH, 0x24, asciiBytes('E6  38')), [0x01, 0x24, 0x45, 0x36, 0x20, 0x20, 0x33, 0x38, 0x34, 0x42, 0x0d]],
  ];
  for (const [name, got, want] of table) t.same(Array.from(got), want, name);
  const r = feed([Uint8Array.from(table[3]![2])]);
  t.same(r.msgs, [{ start: SOH, cmd: 0x24, data: 'E6  38' }]);
});

t.test('items: measured data, invalid values, alarms, real-time configuration', async (t) => {
  const items = parseMeasured(Uint8Array.from(formatMeasured([{ code: 0xe6, value: 38 }, { code: 0xeb, value: undefined }, { code: 0x78, value: 5, decimals: 1 }])));
  t.same(items.map((i) => [i.code, i.value]), [[0xe6, 38], [0xeb, undefined], [0x78, 5]]);
  t.same(parseMeasured(Uint8Array.from(asciiBytes('E1  72D6    '))).map((i) => i.value), [72, undefined], 'blanks are no value');
  t.throws(() => parseMeasured(Uint8Array.from(asciiBytes('E1 72'))), DecodeError, 'not a multiple of 6');
  t.throws(() => parseMeasured(Uint8Array.from(asciiBytes('ZZ  72'))), DecodeError, 'bad hex code');
  t.same(parseAlarms(Uint8Array.from(asciiBytes('312PULSE HIGH  '))), [{ priority: 3, code: 0x12, text: 'PULSE HIGH' }]);
  t.same(parseRealtimeConfig(Uint8Array.from(asciiBytes('00 8000  -20   80'))), [{ id: 0, periodUs: 8000, min: -20, max: 80 }]);
});

t.test('real-time bytes: sync + 12-bit halves, demultiplexed from inside an ASCII message', async (t) => {
  const rtf = encodeRealtime(0b0011, [0x0fff, 0x0123]);
  t.same(Array.from(rtf), [0xd3, 0xbf, 0xbf, 0xa3, 0x84]);
  const msg = encodeMessage(SOH, 0x24, asciiBytes('E6  38EB  97'));
  const mixed = new Uint8Array([...msg.subarray(0, 5), ...rtf, ...msg.subarray(5, 9), ...encodeRealtime(1, [7]), ...msg.subarray(9)]);
  const r = feed([mixed]);
  t.same(r.msgs.map((m) => m.data), ['E6  38EB  97'], 'ASCII message intact, checksum without the RT bytes');
  t.same(r.rt, [[0x0fff, 0x0123], [7]]);
  // split at every position: same result
  for (let cut = 1; cut < mixed.length; cut++) {
    const s = feed([mixed.subarray(0, cut), mixed.subarray(cut)]);
    if (s.msgs.length !== 1 || s.rt.length !== 2) t.fail(`split at ${cut}`);
  }
  const stray = feed([Uint8Array.of(0x85, 0x86), rtf, Uint8Array.of(0xd1, 0x81, 0xd1, 0x81, 0x82)]);
  t.equal(stray.f.stats.rtStray, 2, 'data bytes without sync counted');
  t.equal(stray.f.stats.rtTruncated, 1, 'sync interrupting a frame counted');
  t.equal(stray.rt.length, 2);
});

t.test('framing faults: bad checksum, aborted message, NAK, noise, overflow', async (t) => {
  const good = encodeMessage(SOH, 0x30);
  const bad = good.slice();
  bad[2] = 0x30;
  const r = feed([bad, good]);
  t.equal(r.bad, 1);
  t.equal(r.msgs.length, 1);
  const ab = feed([Uint8Array.of(0x01, 0x24, 0x45), good]);
  t.equal(ab.f.stats.aborted, 1, 'a new SOH aborts the unfinished message');
  t.equal(ab.msgs.length, 1);
  const nk = feed([Uint8Array.of(0x15, 0x41), good]);
  t.equal(nk.naks, 1);
  t.equal(nk.f.stats.noiseBytes, 1);
  const f = new MedibusFramer();
  const big = new Uint8Array(MAX_MESSAGE * 3).fill(0x41);
  big[0] = 0x01;
  f.feed(new Uint8Array([...big, 0x0d, ...good]), { message: () => {}, realtime: () => {}, nak: () => {}, badChecksum: () => {} });
  t.ok(f.buffered() <= MAX_MESSAGE);
  t.equal(f.stats.overflows, 1);
  t.equal(f.stats.messages, 1, 'recovers');
});

t.test('session: ICC, device id, measured data with raw unmapped code, NAK and repeat, device commands answered, curves', async (t) => {
  const l = new VirtualLink();
  const script = new VitalsScript({ artifacts: [{ fromMs: 0, toMs: 60_000 }], alarms: [{ fromMs: 0, toMs: 60_000 }] });
  const core = new MedibusDeviceCore(l.deviceSend, l.nowMs, { corruptEvery: 4, deviceNopMs: 1000 }, script);
  const drv = new MedibusDriver(l.host, { curves: ['PAW', 'FLOW'], blockSamples: 25 });
  l.attach(drv, core);
  drv.start();
  l.run(4000);
  t.equal(l.deviceId, "'0161'Primus-SIM");
  const et = l.samples.find((s) => s.label === 'EtCO2')!;
  t.equal(et.value, 38);
  t.equal(et.mdcCode, 151728);
  const spo2 = l.samples.find((s) => s.label === 'SpO2')!;
  t.equal(spo2.value, undefined);
  t.ok(spo2.stateFlags! & StateFlag.INVALID);
  const raw = l.samples.find((s) => s.vendorCode === 0xaa)!;
  t.equal(raw.mdcCode, 0, 'unmapped kept raw');
  t.equal(raw.value, 42);
  t.ok(core.stats.naksReceived >= 1, 'host NAKed corrupted responses');
  t.ok(core.stats.hostAnswers >= 2, "device's own NOPs answered");
  t.ok(l.samples.some((s) => s.kind === 'alarm' && s.alarmText === 'PULSE HIGH'), 'alarm');
  const paw = l.samples.filter((s) => s.kind === 'wave' && s.label === 'PAW');
  t.ok(paw.length >= 10, `PAW blocks ${paw.length}`);
  t.equal(paw[1]!.samplePeriodNs, 8_000_000n);
  t.equal(paw[1]!.samples!.length, 25);
  t.equal(paw[3]!.hostWallNs - paw[2]!.hostWallNs, 25n * 8_000_000n, 'blocks continue');
  t.ok(paw.every((w) => w.samples!.every((v) => v >= -20 && v <= 80)));
});

t.test('silence -> silent, re-ICC; commands: device.id finished, unsupported, invalid', async (t) => {
  const l = new VirtualLink();
  const core = new MedibusDeviceCore(l.deviceSend, l.nowMs, {});
  const drv = new MedibusDriver(l.host, { silenceMs: 3000 });
  l.attach(drv, core);
  drv.start();
  l.run(2000);
  const log: string[] = [];
  const rep = { started: () => log.push('started'), finished: (d?: string) => log.push(`finished ${d}`), failed: (r: string) => log.push(`failed ${r}`) };
  t.equal(drv.command('device.id', {}, rep).kind, 'accepted');
  l.run(50);
  t.same(log, ['started', "finished '0161'Primus-SIM"]);
  t.equal(drv.command('settings.change', {}, rep).kind, 'unsupported');
  t.equal(drv.command('realtime.configure', { curves: 'PAW' }, rep).kind, 'invalid');
  core.silent = true;
  l.run(4000);
  t.ok(l.states.some((s) => s.state === 'silent'));
  core.silent = false;
  const n = l.samples.length;
  l.run(4000);
  t.ok(l.samples.length > n, 'back after re-ICC');
});
