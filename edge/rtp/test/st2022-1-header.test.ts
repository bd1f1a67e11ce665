import t from 'tap';
import { decodeSt2022Fec, encodeSt2022FecHeader, newSt2022FecHeader, ST2022_FEC_OVERHEAD, type St2022FecHeader } from '../st2022-1-header.js';
import { NEED_MORE } from '../header.js';
import { BufferTooSmallError } from '../errors.js';

// Case table: the first 28 bytes of a FEC packet and the header they mean. The first two were
// captured from GStreamer 1.22 `rtpst2022-1-fecenc rows=5 columns=5` behind `rtph264pay ssrc=0
// seqnum-offset=65400` (its first row and first column packet); the third sets every field.
const cases: { name: string; bytes: number[]; h: Partial<St2022FecHeader> }[] = [
  {
    name: 'GStreamer row packet',
    bytes: [0x80, 0x60, 0x00, 0x00, 0xf4, 0x08, 0xa7, 0x87, 0x00, 0x00, 0x00, 0x00,
      0xff, 0x78, 0x01, 0x29, 0xe0, 0x00, 0x00, 0x00, 0xf4, 0x08, 0xa7, 0x87, 0x40, 0x01, 0x05, 0x00],
    h: { markerRecovery: false, payloadType: 96, sequenceNumber: 0, timestamp: 0xf408a787, ssrc: 0, snBase: 65400,
      lengthRecovery: 0x0129, extended: true, ptRecovery: 96, mask: 0, tsRecovery: 0xf408a787, n: false,
      direction: 'row', type: 0, index: 0, offset: 1, na: 5, snBaseExt: 0 },
  },
  {
    name: 'GStreamer column packet (M recovery set)',
    bytes: [0x80, 0xe0, 0x00, 0x00, 0xf4, 0x08, 0xf9, 0x8e, 0x00, 0x00, 0x00, 0x00,
      0xff, 0x78, 0x01, 0x0c, 0xe0, 0x00, 0x00, 0x00, 0xf4, 0x08, 0x96, 0x47, 0x00, 0x05, 0x05, 0x00],
    h: { markerRecovery: true, payloadType: 96, timestamp: 0xf408f98e, snBase: 65400, lengthRecovery: 0x010c,
      ptRecovery: 96, tsRecovery: 0xf4089647, direction: 'column', offset: 5, na: 5 },
  },
  {
    name: 'every field set',
    bytes: [0xb3, 0xe2, 0xab, 0xcd, 0x01, 0x02, 0x03, 0x04, 0xde, 0xad, 0xbe, 0xef,
      0x12, 0x34, 0x56, 0x78, 0xff, 0x0a, 0x0b, 0x0c, 0x89, 0xab, 0xcd, 0xef, 0x87, 0x14, 0x0a, 0x7f],
    h: { paddingRecovery: true, extensionRecovery: true, csrcCountRecovery: 3, markerRecovery: true, payloadType: 98,
      sequenceNumber: 0xabcd, timestamp: 0x01020304, ssrc: 0xdeadbeef, snBase: 0x1234, lengthRecovery: 0x5678,
      extended: true, ptRecovery: 0x7f, mask: 0x0a0b0c, tsRecovery: 0x89abcdef, n: true, direction: 'column',
      type: 0, index: 7, offset: 20, na: 10, snBaseExt: 0x7f },
  },
];

t.test('2022-1 FEC header decodes the case table, twice into the same object', async (t) => {
  const h = newSt2022FecHeader();
  for (const c of cases) {
    const buf = Uint8Array.from([...c.bytes, 0xaa, 0xbb]);
    for (let round = 0; round < 2; round++) {
      t.equal(decodeSt2022Fec(buf, buf.length, h), ST2022_FEC_OVERHEAD, `${c.name}: payload offset`);
      for (const [k, v] of Object.entries(c.h)) t.equal(h[k as keyof St2022FecHeader], v, `${c.name}: ${k}`);
    }
  }
});

t.test('2022-1 FEC header encodes the case table byte-exact and round trips', async (t) => {
  const h = newSt2022FecHeader();
  for (const c of cases) {
    const buf = Uint8Array.from(c.bytes);
    decodeSt2022Fec(buf, buf.length, h);
    const out = new Uint8Array(40).fill(0x55);
    t.equal(encodeSt2022FecHeader(h, out, 3), ST2022_FEC_OVERHEAD);
    t.same([...out.subarray(3, 3 + ST2022_FEC_OVERHEAD)], c.bytes, c.name);
    t.equal(out[2], 0x55, 'nothing written before off');
    t.equal(out[31], 0x55, 'nothing written after 28 bytes');
  }
  const out = new Uint8Array(30).fill(0x55);
  t.throws(() => encodeSt2022FecHeader(h, out, 3), BufferTooSmallError);
  t.same([...out], new Array(30).fill(0x55), 'too small: nothing written');
});

t.test('2022-1 FEC header: every truncation needs more; malformed fields carry their offset', async (t) => {
  const h = newSt2022FecHeader();
  for (const c of cases) {
    for (let n = 0; n < ST2022_FEC_OVERHEAD; n++) t.equal(decodeSt2022Fec(Uint8Array.from(c.bytes), n, h), NEED_MORE, `${c.name} cut to ${n}`);
  }
  // A len beyond the buffer is the buffer's length.
  t.equal(decodeSt2022Fec(Uint8Array.from(cases[0].bytes).subarray(0, 20), 28, h), NEED_MORE);
  const bad: { name: string; at: number; value: number; offset: number; message: RegExp }[] = [
    { name: 'version 1', at: 0, value: 0x40, offset: 0, message: /version 1/ },
    { name: 'E=0 (plain RFC 2733)', at: 16, value: 0x60, offset: 16, message: /E=0/ },
    { name: 'type 1 (not XOR)', at: 24, value: 0x48, offset: 24, message: /type 1/ },
    { name: 'Offset 0', at: 25, value: 0, offset: 25, message: /Offset 0/ },
    { name: 'NA 0', at: 26, value: 0, offset: 26, message: /NA 0/ },
    { name: 'row with Offset 5', at: 25, value: 5, offset: 25, message: /row packet .* Offset 5/ },
  ];
  for (const b of bad) {
    const buf = Uint8Array.from(cases[0].bytes);
    buf[b.at] = b.value;
    t.throws(() => decodeSt2022Fec(buf, buf.length, h), { name: 'RtpFormatError', offset: b.offset, message: b.message }, b.name);
  }
});
