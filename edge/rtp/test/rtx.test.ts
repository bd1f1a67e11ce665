import t from 'tap';
import { decodeRtx, decodeRtxWith, encodeRtx, rtxOsn } from '../rtx.js';
import { BufferTooSmallError } from '../errors.js';
import { seqAdd } from '../seq.js';
import { mulberry32 } from '../../demo/prng.js';

const RTX_SSRC = 0xa0b0c0d0;
const RTX_PT = 97;

// Case table: original, the RTX parameters, the exact RTX bytes, and what decoding gives back
// (the original itself unless it had padding, which RTX does not carry: RFC 4588 §4).
const cases: { name: string; orig: number[]; rtxSeq: number; rtx: number[]; back?: number[] }[] = [
  {
    name: 'marker, PT 96, seq 65535',
    orig: [0x80, 0xe0, 0xff, 0xff, 0x12, 0x34, 0x56, 0x78, 0x01, 0x02, 0x03, 0x04, 0x65, 0x88, 0x99],
    rtxSeq: 0,
    rtx: [0x80, 0xe1, 0x00, 0x00, 0x12, 0x34, 0x56, 0x78, 0xa0, 0xb0, 0xc0, 0xd0, 0xff, 0xff, 0x65, 0x88, 0x99],
  },
  {
    name: 'two CSRCs and a one-word extension are carried before the OSN',
    orig: [0x92, 0x60, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02, 0x03, 0x04,
      0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x0b, 0xbe, 0xde, 0x00, 0x01, 0x10, 0xaa, 0x00, 0x00, 0x41],
    rtxSeq: 0x1234,
    rtx: [0x92, 0x61, 0x12, 0x34, 0xff, 0xff, 0xff, 0xff, 0xa0, 0xb0, 0xc0, 0xd0,
      0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x0b, 0xbe, 0xde, 0x00, 0x01, 0x10, 0xaa, 0x00, 0x00, 0x00, 0x01, 0x41],
  },
  {
    name: 'the original padding is removed (P cleared)',
    orig: [0xa0, 0x60, 0x00, 0x05, 0x00, 0x00, 0x00, 0x09, 0x01, 0x02, 0x03, 0x04, 0xaa, 0xbb, 0x00, 0x00, 0x03],
    rtxSeq: 7,
    rtx: [0x80, 0x61, 0x00, 0x07, 0x00, 0x00, 0x00, 0x09, 0xa0, 0xb0, 0xc0, 0xd0, 0x00, 0x05, 0xaa, 0xbb],
    back: [0x80, 0x60, 0x00, 0x05, 0x00, 0x00, 0x00, 0x09, 0x01, 0x02, 0x03, 0x04, 0xaa, 0xbb],
  },
  {
    name: 'an empty original payload gives an OSN-only RTX packet',
    orig: [0x80, 0x60, 0x00, 0x2a, 0, 0, 0, 1, 0x01, 0x02, 0x03, 0x04],
    rtxSeq: 65535,
    rtx: [0x80, 0x61, 0xff, 0xff, 0, 0, 0, 1, 0xa0, 0xb0, 0xc0, 0xd0, 0x00, 0x2a],
  },
];

t.test('RTX encode writes the case table byte-exact; decode gives back the original', async (t) => {
  for (const c of cases) {
    const out = Buffer.alloc(c.rtx.length + 4, 0xee);
    t.equal(encodeRtx(Buffer.from(c.orig), c.orig.length, RTX_SSRC, RTX_PT, c.rtxSeq, out), c.rtx.length, `${c.name}: size`);
    t.same([...out.subarray(0, c.rtx.length)], c.rtx, `${c.name}: RTX bytes`);
    t.equal(rtxOsn(Buffer.from(c.rtx), c.rtx.length), (c.orig[2] << 8) | c.orig[3], `${c.name}: OSN`);
    const back = Buffer.alloc(100, 0xee);
    const n = decodeRtx(Buffer.from(c.rtx), c.rtx.length, 0x01020304, 96, back);
    t.same([...back.subarray(0, n)], c.back ?? c.orig, `${c.name}: decoded original`);
    // Decode twice into the same buffer at an offset.
    t.equal(decodeRtx(Buffer.from(c.rtx), c.rtx.length, 0x01020304, 96, back, 10), n);
    t.same([...back.subarray(10, 10 + n)], c.back ?? c.orig, `${c.name}: decoded at an offset`);
  }
});

t.test('RTX round trip through a wrap of both sequence spaces, with random payloads and headers', async (t) => {
  const rnd = mulberry32(4588);
  let rtxSeq = 65533;
  const rtx = Buffer.alloc(1600);
  const back = Buffer.alloc(1600);
  const seen: number[] = [];
  for (let i = 0; i < 400; i++) {
    const seq = seqAdd(65530, i);
    const cc = rnd() < 0.2 ? 1 + Math.floor(rnd() * 3) : 0;
    const ext = rnd() < 0.3;
    const payload = Math.floor(rnd() * 1400);
    const orig = Buffer.alloc(12 + 4 * cc + (ext ? 8 : 0) + payload);
    for (let k = 0; k < orig.length; k++) orig[k] = Math.floor(rnd() * 256);
    orig[0] = 0x80 | (ext ? 0x10 : 0) | cc;
    orig[1] = (orig[1] & 0x80) | 96;
    orig.writeUInt16BE(seq, 2);
    orig.writeUInt32BE(0x01020304, 8);
    if (ext) orig.writeUInt16BE(1, 12 + 4 * cc + 2);
    const n = encodeRtx(orig, orig.length, RTX_SSRC, RTX_PT, rtxSeq, rtx);
    t.equal(n, orig.length + 2);
    seen.push(rtx.readUInt16BE(2));
    const m = decodeRtxWith(rtx, n, new Map([[RTX_PT, 96]]), new Map([[RTX_SSRC, 0x01020304]]), back);
    if (m !== orig.length || !back.subarray(0, m).equals(orig)) { t.fail(`packet ${i} (seq ${seq}) did not come back`); return; }
    rtxSeq = seqAdd(rtxSeq, 1);
  }
  t.same(seen.slice(0, 5), [65533, 65534, 65535, 0, 1], 'the RTX stream wraps 65535 -> 0');
  t.pass('400 packets come back bit-exact across the original seq wrap at 65535');
});

t.test('RTX errors: not RTP, no OSN, output too small; unknown pairing is not an error', async (t) => {
  const orig = Buffer.from(cases[0].orig);
  const out = Buffer.alloc(64);
  t.throws(() => encodeRtx(orig, 11, RTX_SSRC, RTX_PT, 0, out), { name: 'RtpFormatError', structure: 'rtx-original', offset: 11 });
  const v1 = Buffer.from(orig);
  v1[0] = 0x40;
  t.throws(() => encodeRtx(v1, v1.length, RTX_SSRC, RTX_PT, 0, out), { name: 'RtpFormatError', offset: 0 });
  const small = Buffer.alloc(cases[0].rtx.length - 1, 0xee);
  t.throws(() => encodeRtx(orig, orig.length, RTX_SSRC, RTX_PT, 0, small), BufferTooSmallError);
  t.ok(small.every((x) => x === 0xee), 'nothing written to a short buffer');
  // An RTX packet with one payload byte, and a padded one whose padding eats the OSN.
  const oneByte = Buffer.from([0x80, 0x61, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0x00]);
  t.throws(() => decodeRtx(oneByte, oneByte.length, 1, 96, out), { name: 'RtpFormatError', offset: 12, message: /no room for the OSN/ });
  const padded = Buffer.from([0xa0, 0x61, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0x00, 0x01, 0x02]);
  t.throws(() => rtxOsn(padded, padded.length), { name: 'RtpFormatError', offset: 12 });
  const rtx = Buffer.from(cases[0].rtx);
  t.throws(() => decodeRtx(rtx, rtx.length, 1, 96, Buffer.alloc(rtx.length - 3)), BufferTooSmallError);
  t.equal(decodeRtxWith(rtx, rtx.length, new Map([[98, 96]]), new Map([[RTX_SSRC, 1]]), out), -1, 'unknown RTX payload type');
  t.equal(decodeRtxWith(rtx, rtx.length, new Map([[RTX_PT, 96]]), new Map([[5, 1]]), out), -1, 'unknown RTX SSRC');
  t.throws(() => decodeRtxWith(rtx, 8, new Map(), new Map(), out), { name: 'RtpFormatError', offset: 0 });
});
