import t from 'tap';
import {
  MAX_NACK_FCIS, encodeFir, encodeNack, encodePli, forEachFeedback, forEachNackedSeq, nackFciCount, nackSize,
  newFeedbackCounts, newFeedbackHeader, type FeedbackVisitor,
} from '../rtcp-feedback.js';
import { BufferTooSmallError, RtpFormatError } from '../errors.js';
import { mulberry32 } from '../../demo/prng.js';

const SENDER = 0x11223344;
const MEDIA = 0xdeadbeef;

// Case table: what to encode, the exact bytes, and what the decoder reports. Drives encode,
// decode, truncation and the fuzz seeds.
const cases: { name: string; encode: (buf: Uint8Array) => number; bytes: number[]; events: string[] }[] = [
  {
    name: 'NACK: PID with BLP bits 0, 2, 15, then two lone PIDs',
    encode: (b) => encodeNack(SENDER, MEDIA, [100, 101, 103, 116, 117, 200], 6, b),
    bytes: [0x81, 205, 0x00, 0x05, 0x11, 0x22, 0x33, 0x44, 0xde, 0xad, 0xbe, 0xef,
      0x00, 0x64, 0x80, 0x05, 0x00, 0x75, 0x00, 0x00, 0x00, 0xc8, 0x00, 0x00],
    events: ['nack-packet 11223344>deadbeef fcis=3', 'nack 100 8005', 'nack 117 0', 'nack 200 0'],
  },
  {
    name: 'NACK across the wrap 65534, 65535, 0, 1: one FCI',
    encode: (b) => encodeNack(SENDER, MEDIA, [65534, 65535, 0, 1], 4, b),
    bytes: [0x81, 205, 0x00, 0x03, 0x11, 0x22, 0x33, 0x44, 0xde, 0xad, 0xbe, 0xef, 0xff, 0xfe, 0x00, 0x07],
    events: ['nack-packet 11223344>deadbeef fcis=1', 'nack 65534 7'],
  },
  {
    name: 'PLI',
    encode: (b) => encodePli(SENDER, MEDIA, b),
    bytes: [0x81, 206, 0x00, 0x02, 0x11, 0x22, 0x33, 0x44, 0xde, 0xad, 0xbe, 0xef],
    events: ['pli 11223344>deadbeef'],
  },
  {
    name: 'FIR, media SSRC 0 in the header, target and Seq nr in the FCI',
    encode: (b) => encodeFir(SENDER, MEDIA, 7, b),
    bytes: [0x84, 206, 0x00, 0x04, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 7, 0, 0, 0],
    events: ['fir 11223344 deadbeef 7'],
  },
];

const hex = (n: number): string => n.toString(16);

function recorder(events: string[]): FeedbackVisitor {
  return {
    onNackPacket: (h) => events.push(`nack-packet ${hex(h.senderSsrc)}>${hex(h.mediaSsrc)} fcis=${h.fciCount}`),
    onNack: (_h, pid, blp) => events.push(`nack ${pid} ${hex(blp)}`),
    onPli: (h) => events.push(`pli ${hex(h.senderSsrc)}>${hex(h.mediaSsrc)}`),
    onFir: (h, ssrc, seqNr) => events.push(`fir ${hex(h.senderSsrc)} ${hex(ssrc)} ${seqNr}`),
  };
}

const compound = Buffer.from(cases.flatMap((c) => c.bytes));
const allEvents = cases.flatMap((c) => c.events);

t.test('encoders write the case table byte-exact and refuse a short buffer before writing', async (t) => {
  for (const c of cases) {
    const buf = Buffer.alloc(c.bytes.length + 8, 0xee);
    t.equal(c.encode(buf), c.bytes.length, `${c.name}: size`);
    t.same([...buf.subarray(0, c.bytes.length)], c.bytes, c.name);
    t.ok(buf.subarray(c.bytes.length).every((x) => x === 0xee), `${c.name}: nothing written past the end`);
    const short = Buffer.alloc(c.bytes.length - 1, 0xee);
    t.throws(() => c.encode(short), BufferTooSmallError, `${c.name}: short buffer`);
    t.ok(short.every((x) => x === 0xee), `${c.name}: short buffer untouched`);
  }
  t.equal(nackSize([100, 101, 103, 116, 117, 200], 6), 24);
  t.throws(() => encodeNack(1, 2, [], 0, Buffer.alloc(64)), RangeError);
});

t.test('the compound of all cases decodes, twice into the same header and counts objects', async (t) => {
  const h = newFeedbackHeader();
  const counts = newFeedbackCounts();
  for (let round = 0; round < 2; round++) {
    const events: string[] = [];
    const r = forEachFeedback(compound, compound.length, recorder(events), h, counts);
    t.equal(r, counts, 'returns the counts object it was given');
    t.same(events, allEvents, `round ${round}: events`);
    t.same(counts, { packets: 4, nackPackets: 2, nackFcis: 4, plis: 1, firFcis: 1, otherFeedback: 0, malformed: 0, oversized: 0 });
  }
  t.equal(h.offset, 52, 'the header object describes the last feedback packet (FIR at byte 52)');
});

t.test('NACK round trip: random loss sets come back exactly, in the fewest FCIs', async (t) => {
  const rnd = mulberry32(4585);
  const buf = Buffer.alloc(12 + 4 * 400);
  for (let trial = 0; trial < 300; trial++) {
    const start = Math.floor(rnd() * 65536);
    const seqs: number[] = [];
    let s = start;
    const n = 1 + Math.floor(rnd() * 120);
    for (let i = 0; i < n; i++) { s = (s + 1 + Math.floor(rnd() * (rnd() < 0.2 ? 40 : 3))) & 0xffff; seqs.push(s); }
    const len = encodeNack(SENDER, MEDIA, seqs, seqs.length, buf);
    // Fewest FCIs: greedy windows of 17 from the oldest, counted independently here.
    let fcis = 0;
    for (let i = 0, pidIdx = -1; i < seqs.length; i++) {
      if (pidIdx < 0 || ((seqs[i] - seqs[pidIdx]) & 0xffff) > 16) { fcis++; pidIdx = i; }
    }
    t.equal(len, 12 + 4 * fcis);
    t.equal(nackFciCount(seqs, seqs.length), fcis);
    const got: number[] = [];
    forEachFeedback(buf, len, { onNack: (_h, pid, blp) => { forEachNackedSeq(pid, blp, (q) => got.push(q)); } });
    if (JSON.stringify(got) !== JSON.stringify(seqs)) { t.same(got, seqs, `trial ${trial}`); return; }
  }
  t.pass('300 random loss sets round trip');
  // Unordered and repeated input still names every packet once.
  const len = encodeNack(SENDER, MEDIA, [5, 3, 3, 4, 40], 5, buf);
  const got: number[] = [];
  forEachFeedback(buf, len, { onNack: (_h, pid, blp) => { forEachNackedSeq(pid, blp, (q) => got.push(q)); } });
  t.same(got.sort((a, b) => a - b), [3, 4, 5, 40]);
});

t.test('every truncation of the compound: a typed error at the cut packet, or the whole packets before it', async (t) => {
  const starts = [0, 24, 40, 52];
  for (let n = 1; n < compound.length; n++) {
    const events: string[] = [];
    const cut = starts.filter((s) => s < n).pop()!;
    if (starts.includes(n)) {
      forEachFeedback(compound, n, recorder(events));
      t.same(events, cases.slice(0, starts.indexOf(n)).flatMap((c) => c.events), `cut at a packet boundary ${n}`);
    } else {
      t.throws(() => forEachFeedback(compound, n, recorder(events)), { name: 'RtpFormatError', offset: cut }, `cut at ${n}`);
      t.same(events, cases.slice(0, starts.indexOf(cut)).flatMap((c) => c.events), `cut at ${n}: packets before were visited`);
    }
  }
});

t.test('malformed lengths and counts: errors carry the offset, readable packets are skipped and counted', async (t) => {
  const ok = Buffer.from(cases[2].bytes); // a PLI to follow each bad packet
  const walk = (bytes: number[]): { events: string[]; counts: ReturnType<typeof newFeedbackCounts> } => {
    const events: string[] = [];
    const b = Buffer.concat([Buffer.from(bytes), ok]);
    const counts = forEachFeedback(b, b.length, recorder(events));
    return { events, counts };
  };
  // Length 0 on an RTPFB: a 4-byte packet with no room for its SSRCs.
  let r = walk([0x81, 205, 0, 0]);
  t.equal(r.counts.malformed, 1);
  t.same(r.events, ['pli 11223344>deadbeef'], 'the walk goes on after it');
  // A NACK with the common header only (length 2): no FCI.
  r = walk([0x81, 205, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
  t.equal(r.counts.malformed, 1);
  // A FIR whose FCI area (4 bytes) does not hold an 8-byte entry.
  r = walk([0x84, 206, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2]);
  t.equal(r.counts.malformed, 1);
  // Padding count larger than the FCI area, and padding count 0.
  r = walk([0xa1, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 9]);
  t.equal(r.counts.malformed, 1);
  r = walk([0xa1, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 0]);
  t.equal(r.counts.malformed, 1);
  // Padding that leaves one FCI: decoded.
  r = walk([0xa1, 205, 0, 4, 0, 0, 0, 1, 0, 0, 0, 2, 0, 9, 0, 0, 0, 0, 0, 4]);
  t.same(r.events, ['nack-packet 1>2 fcis=1', 'nack 9 0', 'pli 11223344>deadbeef']);
  // Another feedback type (REMB is PSFB FMT 15): passed over.
  r = walk([0x8f, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0]);
  t.equal(r.counts.otherFeedback, 1);
  t.equal(r.counts.malformed, 0);

  // A NACK whose length claims 10 000 FCIs in a 16-byte datagram: unreadable, typed error at its offset.
  const claim = Buffer.concat([ok, Buffer.from([0x81, 205, (10_002 >> 8) & 0xff, 10_002 & 0xff, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 0])]);
  t.throws(() => forEachFeedback(claim, claim.length, {}), { name: 'RtpFormatError', offset: 12, message: /runs past the datagram end/ });
  // A datagram that really holds 10 000 FCIs: skipped as oversized, no callback made.
  const big = Buffer.alloc(12 + 4 * 10_000);
  big.set([0x81, 205, (10_002 >> 8) & 0xff, 10_002 & 0xff, 0, 0, 0, 1, 0, 0, 0, 2]);
  let calls = 0;
  const c = forEachFeedback(big, big.length, { onNack: () => { calls++; } });
  t.equal(c.oversized, 1);
  t.equal(calls, 0);
  // Exactly MAX_NACK_FCIS is accepted.
  const max = Buffer.alloc(12 + 4 * MAX_NACK_FCIS);
  max.set([0x81, 205, ((MAX_NACK_FCIS + 2) >> 8) & 0xff, (MAX_NACK_FCIS + 2) & 0xff]);
  t.equal(forEachFeedback(max, max.length, { onNack: () => { calls++; } }).nackFcis, MAX_NACK_FCIS);
  // Bad version in the second packet.
  const v1 = Buffer.concat([ok, Buffer.from([0x41, 205, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2])]);
  t.throws(() => forEachFeedback(v1, v1.length, {}), { name: 'RtpFormatError', offset: 12, message: /version 1/ });
  // `len` beyond the buffer is clamped to it.
  t.equal(forEachFeedback(ok, 1000, {}).plis, 1);
});

t.test('seeded garbage and mutations: only RtpFormatError, offsets inside the datagram', async (t) => {
  const rnd = mulberry32(0x4585);
  let errors = 0;
  let visited = 0;
  const v: FeedbackVisitor = { onNack: () => { visited++; }, onPli: () => { visited++; }, onFir: () => { visited++; } };
  for (let i = 0; i < 20_000; i++) {
    let b: Buffer;
    if (i % 2 === 0) {
      b = Buffer.from(compound);
      const flips = 1 + Math.floor(rnd() * 4);
      for (let k = 0; k < flips; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      b = b.subarray(0, Math.floor(rnd() * (b.length + 1)));
    } else {
      b = Buffer.alloc(Math.floor(rnd() * 64));
      for (let k = 0; k < b.length; k++) b[k] = Math.floor(rnd() * 256);
      if (b.length > 1 && rnd() < 0.7) { b[0] = 0x80 | (b[0] & 0x3f); b[1] = 205 + Math.floor(rnd() * 2); }
    }
    try {
      forEachFeedback(b, b.length, v);
    } catch (e) {
      if (!(e instanceof RtpFormatError) || e.offset < 0 || e.offset >= b.length) {
        t.fail(`input ${b.toString('hex')} threw ${String(e)}`);
        return;
      }
      errors++;
    }
  }
  t.ok(errors > 1000 && visited > 1000, `typed errors ${errors}, FCIs visited ${visited}`);
});
