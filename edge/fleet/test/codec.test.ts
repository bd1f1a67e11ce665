// Codec of edge/proto/fleet.proto: byte tables (hand-encoded from the protobuf wire format,
// https://protobuf.dev/programming-guides/encoding/), round trips, 64-bit values, and the
// decode errors of malformed commands.
import t from 'tap';
import {
  type Ack,
  type FleetCommand,
  MAX_COMMAND_BYTES,
  decodeAck,
  decodeBirth,
  decodeCommand,
  decodeDeath,
  decodeEvent,
  decodeTelemetry,
  encodeAck,
  encodeBirth,
  encodeCommand,
  encodeDeath,
  encodeEvent,
  encodeTelemetry,
  salvageCommandId,
} from '../codec.js';
import { FleetDecodeError } from '../errors.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

t.test('byte tables: encode gives the exact bytes, decode gives the object back (twice)', async (t) => {
  const cases: { name: string; bytes: string; encode: () => Uint8Array; decode: (b: Uint8Array) => unknown; expected: unknown }[] = [
    {
      // Death: timestamp_ms=1 (08 01), bd_seq=3 (10 03), reason="close" (1a 05 ...)
      name: 'death',
      bytes: '080110031a05636c6f7365',
      encode: () => encodeDeath({ timestampMs: 1, bdSeq: 3, reason: 'close' }),
      decode: decodeDeath,
      expected: { timestampMs: 1, bdSeq: 3, reason: 'close' },
    },
    {
      // Death as last will: everything default -> zero bytes but bd_seq
      name: 'will',
      bytes: '1007',
      encode: () => encodeDeath({ timestampMs: 0, bdSeq: 7, reason: '' }),
      decode: decodeDeath,
      expected: { timestampMs: 0, bdSeq: 7, reason: '' },
    },
    {
      // Ack: command_id="c1" (0a 02 63 31), state=FINISHED (10 03)
      name: 'ack',
      bytes: '0a0263311003',
      encode: () => encodeAck({ commandId: 'c1', state: 'finished', message: '', timestampMs: 0, details: {}, duplicate: false }),
      decode: decodeAck,
      expected: { commandId: 'c1', state: 'finished', message: '', timestampMs: 0, details: {}, duplicate: false },
    },
    {
      // Telemetry: seq=1 (10 01), metrics[0] (1a 04) = alias=2 (08 02), int_value=-1 sint64 zigzag 1 (58 01)
      name: 'telemetry',
      bytes: '10011a0408025801',
      encode: () => encodeTelemetry({ timestampMs: 0, seq: 1, metrics: [{ alias: 2, type: 'int', value: -1n }] }),
      decode: (b) => decodeTelemetry(b),
      expected: { timestampMs: 0, seq: 1, metrics: [{ alias: 2, type: 'int', value: -1n }] },
    },
  ];
  for (const c of cases) {
    t.equal(hex(c.encode()), c.bytes, `${c.name} encodes`);
    const bytes = Buffer.from(c.bytes, 'hex');
    t.same(c.decode(bytes), c.expected, `${c.name} decodes`);
    t.same(c.decode(bytes), c.expected, `${c.name} decodes again from the same buffer`);
  }
});

t.test('64-bit fields survive: uint64 boot id, sint64 metrics, uint64 event seq', async (t) => {
  const birth = {
    timestampMs: 1_767_225_600_000,
    bdSeq: 255,
    seq: 0,
    firmwareVersion: '1.2.3',
    bootId: 0xffff_ffff_ffff_ffffn,
    metrics: [
      { alias: 0, name: 'disk/free_bytes', type: 'int' as const, unit: 'B', value: 9_007_199_254_740_993n }, // 2^53 + 1
      { alias: 1, name: 'ring/x/overruns', type: 'int' as const, value: -9_223_372_036_854_775_808n },
      { alias: 2, name: 'system/temperature_c', type: 'double' as const, unit: 'Cel', value: null },
      { alias: 3, name: 'device/ecg/connected', type: 'bool' as const, value: false },
      { alias: 4, name: 'recording/state', type: 'string' as const, value: 'idle' },
    ],
  };
  t.same(decodeBirth(encodeBirth(birth)), birth);
  const ev = { seq: 18_446_744_073_709_551_615n, timestampMs: 5, kind: 'k', severity: 'error' as const, message: 'm', fields: { a: 'b' } };
  t.same(decodeEvent(encodeEvent(ev)), ev);
});

const sample: FleetCommand[] = [
  { commandId: 'a', issuedAtMs: 1, expiresAtMs: 0, issuer: 'cli', body: { kind: 'recordingStart', caseId: 'case-7', channels: ['endo', 'room'] } },
  { commandId: 'b', issuedAtMs: 1, expiresAtMs: 99, issuer: '', body: { kind: 'recordingStop', caseId: '' } },
  { commandId: 'c', issuedAtMs: 0, expiresAtMs: 0, issuer: '', body: { kind: 'channelSettings', channel: 'endo', settings: { bitrate_kbps: '8000' } } },
  { commandId: 'd', issuedAtMs: 0, expiresAtMs: 0, issuer: '', body: { kind: 'deviceCommand', device: 'vent', command: 'silence', args: { s: '60' } } },
  { commandId: 'e', issuedAtMs: 0, expiresAtMs: 0, issuer: '', body: { kind: 'restartWorker', worker: 'video-encode' } },
  { commandId: 'f', issuedAtMs: 0, expiresAtMs: 0, issuer: '', body: { kind: 'rebirth' } },
  { commandId: 'g', issuedAtMs: 0, expiresAtMs: 0, issuer: 'ops', body: { kind: 'snapshot', channel: 'endo', save: true, fresh: false } },
  { commandId: 'h', issuedAtMs: 0, expiresAtMs: 0, issuer: '', body: { kind: 'snapshot', channel: 'room', save: false, fresh: true } },
];

t.test('every command kind round-trips', async (t) => {
  for (const c of sample) t.same(decodeCommand(encodeCommand(c)), c, c.body.kind);
});

t.test('malformed commands throw FleetDecodeError; the id is salvaged when readable', async (t) => {
  const good = encodeCommand(sample[0]);
  const bad: [string, Uint8Array, string | undefined][] = [
    ['truncated', good.subarray(0, good.length - 3), 'a'],
    ['garbage', Buffer.from('ffffffffffffffffffff', 'hex'), undefined],
    ['empty', new Uint8Array(0), undefined],
    ['no body', encodeAckLike(), 'x1'],
    ['oversize', new Uint8Array(MAX_COMMAND_BYTES + 1), undefined],
    ['bad id', encodeCommand({ ...sample[5], commandId: 'has space' }), undefined],
    ['missing channel', encodeCommand({ ...sample[2], body: { kind: 'channelSettings', channel: '', settings: {} } }), 'c'],
    ['snapshot without a channel', encodeCommand({ ...sample[6], body: { kind: 'snapshot', channel: '', save: true, fresh: false } }), 'g'],
  ];
  for (const [name, bytes, id] of bad) {
    t.throws(() => decodeCommand(bytes), FleetDecodeError, name);
    t.equal(salvageCommandId(bytes), id, `${name}: salvaged id`);
  }
  t.throws(() => decodeCommand(good.subarray(0, good.length - 3)), /command: index out of range/, 'truncation says so');
  t.throws(() => decodeCommand(good.subarray(0, 5)), /command: no body/, 'a prefix that parses still needs a body');

  function encodeAckLike(): Uint8Array {
    // An Ack with command_id "x1" has field 1 like a Command but no body.
    const a: Ack = { commandId: 'x1', state: 'finished', message: '', timestampMs: 0, details: {}, duplicate: false };
    return encodeAck(a);
  }
});
