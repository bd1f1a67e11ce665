import t from 'tap';
import { decodeRtpHeader, encodeRtpHeader, newRtpHeader, rtpHeaderSize, NEED_MORE, type RtpHeader } from '../header.js';
import { BufferTooSmallError } from '../errors.js';

// Case table: bytes, the header they mean, payload offset. Drives decode, encode and truncation.
const cases: { name: string; bytes: number[]; h: Partial<RtpHeader>; payloadOffset: number }[] = [
  {
    name: 'plain, marker, PT 96',
    bytes: [0x80, 0xe0, 0xff, 0xff, 0x12, 0x34, 0x56, 0x78, 0xde, 0xad, 0xbe, 0xef, 0x65, 0x88],
    h: { marker: true, payloadType: 96, sequenceNumber: 65535, timestamp: 0x12345678, ssrc: 0xdeadbeef, csrcCount: 0, extension: false },
    payloadOffset: 12,
  },
  {
    name: 'two CSRCs and an extension of one word',
    bytes: [0x92, 0x60, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01,
      0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x0b,
      0xbe, 0xde, 0x00, 0x01, 0x10, 0xaa, 0x00, 0x00,
      0x41],
    h: { marker: false, payloadType: 96, sequenceNumber: 1, timestamp: 0xffffffff, ssrc: 1, csrcCount: 2, csrc: [10, 11], extension: true, extensionProfile: 0xbede, extensionLength: 4, extensionOffset: 24 },
    payloadOffset: 28,
  },
];

t.test('RTP header decodes the case table, twice into the same object', async (t) => {
  const h = newRtpHeader();
  for (const c of cases) {
    const buf = Buffer.from(c.bytes);
    for (let round = 0; round < 2; round++) {
      t.equal(decodeRtpHeader(buf, buf.length, h), c.payloadOffset, `${c.name}: payload offset`);
      for (const [k, v] of Object.entries(c.h)) {
        if (k === 'csrc') t.same(h.csrc.slice(0, h.csrcCount), v, `${c.name}: csrc`);
        else t.equal(h[k as keyof RtpHeader], v, `${c.name}: ${k}`);
      }
    }
  }
});

t.test('RTP header encodes the case table byte-exact and round trips', async (t) => {
  for (const c of cases) {
    const h = { ...newRtpHeader(), ...c.h } as RtpHeader;
    const out = Buffer.alloc(c.payloadOffset);
    t.equal(rtpHeaderSize(h), c.payloadOffset);
    t.equal(encodeRtpHeader(h, out, 0), c.payloadOffset);
    // Extension data is the caller's to fill: compare the bytes the encoder owns.
    const own = h.extension ? h.extensionOffset : c.payloadOffset;
    t.same([...out.subarray(0, own)], c.bytes.slice(0, own), c.name);
  }
  t.throws(() => encodeRtpHeader(newRtpHeader(), Buffer.alloc(11), 0), BufferTooSmallError);
});

t.test('RTP header: need more bytes, bad version, bad padding carry offsets', async (t) => {
  const h = newRtpHeader();
  for (const c of cases) {
    for (let n = 0; n < c.payloadOffset; n++) {
      t.equal(decodeRtpHeader(Buffer.from(c.bytes), n, h), NEED_MORE, `${c.name} truncated to ${n}`);
    }
  }
  const bad = Buffer.from(cases[0].bytes);
  bad[0] = 0x40;
  t.throws(() => decodeRtpHeader(bad, bad.length, h), { name: 'RtpFormatError', offset: 0 });
  const pad = Buffer.from([0xa0, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xaa, 0x05]);
  t.throws(() => decodeRtpHeader(pad, pad.length, h), { name: 'RtpFormatError', offset: 13 });
  const okPad = Buffer.from([0xa0, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xaa, 0x00, 0x02]);
  t.equal(decodeRtpHeader(okPad, okPad.length, h), 12);
  t.equal(h.paddingLength, 2);
});
