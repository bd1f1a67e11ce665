import t from 'tap';

/** What the helpers assert with (a subtest). */
type Tap = { same(a: unknown, b: unknown, msg: string): unknown };
import { St2022FecEncoder, type St2022FecEncoderOptions } from '../st2022-1-encoder.js';
import { St2022FecDecoder, St2022FecReceiver, type St2022FecDecoderOptions } from '../st2022-1-decoder.js';
import { decodeSt2022Fec, newSt2022FecHeader } from '../st2022-1-header.js';
import { writeFixedHeader, writeU32 } from '../header.js';
import { seqAdd } from '../seq.js';
import type { StreamInfo } from '../interceptor.js';
import { mulberry32 } from '../../demo/prng.js';

const info: StreamInfo = { name: 'or1/hq', kind: 'video', ssrc: 0x11223344, payloadType: 96, clockRate: 90000 };

/** A media packet: plain header, a seeded payload of 20..1200 bytes, marker every 7th. */
function media(seq: number, i: number, rnd: () => number): Uint8Array {
  const n = 12 + 20 + Math.floor(rnd() * 1180);
  const p = new Uint8Array(n);
  writeFixedHeader(p, i % 7 === 6, 96, seq, (1000 + 3000 * Math.floor(i / 4)) >>> 0, info.ssrc);
  for (let k = 12; k < n; k++) p[k] = Math.floor(rnd() * 256);
  return p;
}

/** A packet with two CSRCs, a one-word extension and 3 bytes of padding (RFC 3550 §5.1). */
function fancy(seq: number): Uint8Array {
  const p = Uint8Array.from([0xb2, 0xe1, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0,
    0, 0, 0, 0x0a, 0, 0, 0, 0x0b, 0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0, 0x65, 0x88, 0x77, 0, 0, 3]);
  p[2] = seq >> 8; p[3] = seq & 0xff;
  writeU32(p, 8, info.ssrc);
  return p;
}

interface Run { media: Uint8Array[]; rows: Uint8Array[]; cols: Uint8Array[]; order: string[] }

/** Runs `count` packets from `seq0` through an encoder; records copies and the emission order. */
function encode(tt: Tap, count: number, seq0: number, opts: Partial<St2022FecEncoderOptions> = {}, special?: (i: number, seq: number) => Uint8Array | null): Run {
  const r: Run = { media: [], rows: [], cols: [], order: [] };
  const enc = new St2022FecEncoder({
    columns: 5, rows: 5, ...opts,
    rowSink: (p, n) => { r.rows.push(p.slice(0, n)); r.order.push(`R${r.rows.length - 1}`); },
    columnSink: (p, n) => { r.cols.push(p.slice(0, n)); r.order.push(`C${r.cols.length - 1}`); },
  });
  const wire: Uint8Array[] = [];
  const send = enc.bindLocalStream(info, (p, n) => { wire.push(p.slice(0, n)); r.order.push(`M${wire.length - 1}`); });
  const rnd = mulberry32(7);
  for (let i = 0; i < count; i++) {
    const seq = seqAdd(seq0, i);
    const p = special?.(i, seq) ?? media(seq, i, rnd);
    r.media.push(p);
    send(p, p.length);
  }
  enc.close();
  tt.same(wire, r.media, 'the encoder passes every media packet on unchanged');
  return r;
}

/** Feeds media (minus `lost` indices), then row FEC, then column FEC; returns rebuilt packets. */
function decode(r: Run, lost: Set<number>, opts: Partial<St2022FecDecoderOptions> = {}): { got: Uint8Array[]; dec: St2022FecDecoder } {
  const got: Uint8Array[] = [];
  const dec = new St2022FecDecoder({ ...opts, sink: (p, n) => got.push(p.slice(0, n)) });
  r.media.forEach((p, i) => { if (!lost.has(i)) dec.pushMedia(p, p.length); });
  for (const p of r.rows) dec.pushFec(p, p.length, 'row');
  for (const p of r.cols) dec.pushFec(p, p.length, 'column');
  return { got, dec };
}

const seqOf = (p: Uint8Array): number => (p[2] << 8) | p[3];

t.test('encoder: one row packet per L, one column packet per column, each D packets apart after the matrix', async (t) => {
  const r = encode(t, 75, 1000);
  t.equal(r.rows.length, 15);
  t.equal(r.cols.length, 15, 'three matrices: close() sends the pending columns of the last');
  const h = newSt2022FecHeader();
  decodeSt2022Fec(r.rows[3], r.rows[3].length, h);
  t.match(h, { direction: 'row', snBase: 1015, offset: 1, na: 5, payloadType: 96, ssrc: info.ssrc, sequenceNumber: 3, type: 0, extended: true });
  decodeSt2022Fec(r.cols[7], r.cols[7].length, h);
  t.match(h, { direction: 'column', snBase: 1027, offset: 5, na: 5, sequenceNumber: 7 });
  // Rows leave right after their fifth packet; column c of matrix 0 after media 25 + 5c.
  t.equal(r.order[r.order.indexOf('M4') + 1], 'R0');
  for (let c = 0; c < 5; c++) {
    const at = r.order.indexOf(`C${c}`);
    t.equal(r.order[at - 1], `M${25 + 5 * c}`, `column ${c} spread after media ${25 + 5 * c}`);
  }
  // The FEC timestamp is the media timestamp at sending.
  decodeSt2022Fec(r.cols[2], r.cols[2].length, h);
  t.equal(h.timestamp, (1000 + 3000 * Math.floor(35 / 4)) >>> 0);
  const burst = encode(t, 25, 1000, { spreadColumns: false });
  t.same(burst.order.slice(-3), ['M24', 'R4', 'C4']);
  t.equal(burst.order[burst.order.indexOf('M21') + 1], 'C1', 'unspread: a column leaves as it completes');
  const rowsOnly = encode(t, 25, 1000, { columnFec: false });
  t.same([rowsOnly.rows.length, rowsOnly.cols.length], [5, 0]);
  const colsOnly = encode(t, 25, 1000, { rowFec: false });
  t.same([colsOnly.rows.length, colsOnly.cols.length], [0, 5]);
});

t.test('every single loss in a 5x5 matrix is rebuilt bit-exact, a CSRC/extension/padding packet included', async (t) => {
  const r = encode(t, 75, 1000, {}, (i, seq) => (i === 12 ? fancy(seq) : null));
  for (let k = 0; k < 25; k++) {
    const { got, dec } = decode(r, new Set([k]));
    t.equal(got.length, 1, `loss ${k}: one packet rebuilt`);
    t.same(got[0], r.media[k], `loss ${k}: bit-exact`);
    dec.flush();
    t.match(dec.stats, { recovered: 1, unrecoverable: 0, badFec: 0, fecPackets: 30 });
  }
});

t.test('a 2x2 square of losses is not rebuilt and is counted unrecoverable', async (t) => {
  const r = encode(t, 75, 1000);
  const { got, dec } = decode(r, new Set([6, 7, 11, 12]));
  t.equal(got.length, 0);
  dec.flush();
  t.match(dec.stats, { recovered: 0, unrecoverable: 4 });
});

t.test('iterative: a column rebuild completes a row, whose rebuild completes the next column', async (t) => {
  const r = encode(t, 75, 1000);
  // Rows 0 and 1 miss two each; only column 0 can start.
  const { got, dec } = decode(r, new Set([0, 1, 6, 7]));
  t.same(got.map(seqOf), [1000, 1001, 1006, 1007], 'column 0, row 0, column 1, row 1');
  for (const p of got) t.same(p, r.media[seqOf(p) - 1000]);
  dec.flush();
  t.match(dec.stats, { recovered: 4, unrecoverable: 0 });
});

t.test('a matrix across the 65535 -> 0 wrap', async (t) => {
  const r = encode(t, 50, 65530);
  const h = newSt2022FecHeader();
  decodeSt2022Fec(r.rows[2], r.rows[2].length, h);
  t.equal(h.snBase, 4, 'row 2 starts at 65530 + 10 - 65536');
  // 65534, 65535, 0, 1: row 1 misses three, each column one.
  const { got, dec } = decode(r, new Set([4, 5, 6, 7]));
  t.same(got.map(seqOf).sort((a, b) => a - b), [0, 1, 65534, 65535]);
  for (const p of got) t.same(p, r.media[(seqOf(p) - 65530 + 65536) & 0xffff]);
  dec.flush();
  t.match(dec.stats, { recovered: 4, unrecoverable: 0 });
});

t.test('FEC before its media, late media, stale FEC, wrong port, geometry change', async (t) => {
  const r = encode(t, 75, 1000);
  const got: Uint8Array[] = [];
  const dec = new St2022FecDecoder({ sink: (p, n) => got.push(p.slice(0, n)), window: 256 });
  // Row 0's FEC before its last packet (lost): rebuilt ahead of the newest packet.
  for (let i = 0; i < 4; i++) dec.pushMedia(r.media[i], r.media[i].length);
  dec.pushFec(r.rows[0], r.rows[0].length, 'row');
  t.same(got, [r.media[4]]);
  dec.pushMedia(r.media[4], r.media[4].length);
  t.equal(dec.stats.duplicates, 1, 'the real packet after its rebuild is a duplicate');
  dec.pushFec(r.rows[1], r.rows[1].length, 'column');
  t.equal(dec.stats.badFec, 1, 'row packet on the column port');
  // Move the window 400 on (two steps under a window each): 1005..1148 leave it unseen.
  const far = Uint8Array.from(r.media[0]);
  for (const s of [1204, 1404]) {
    far[2] = s >> 8; far[3] = s & 0xff;
    dec.pushMedia(far, far.length);
  }
  dec.pushFec(r.rows[1], r.rows[1].length, 'row');
  dec.pushMedia(r.media[5], r.media[5].length);
  t.match(dec.stats, { staleFec: 1, late: 1, unrecoverable: 1148 - 1005 + 1, resets: 0 });
  const odd = Uint8Array.from(r.rows[2]);
  odd[26] = 4;
  dec.pushFec(odd, odd.length, 'row');
  t.equal(dec.stats.badFec, 2, 'NA 4 after L = 5 was learned');
  t.same(dec.geometry, { columns: 5, rows: 0 });
});

t.test('a new SSRC or a jump of a window restarts the decoder', async (t) => {
  const r = encode(t, 25, 1000);
  const dec = new St2022FecDecoder({ sink: () => {}, window: 256 });
  for (let i = 0; i < 10; i++) if (i !== 3) dec.pushMedia(r.media[i], r.media[i].length);
  const other = Uint8Array.from(r.media[10]);
  writeU32(other, 8, 5);
  dec.pushMedia(other, other.length);
  t.match(dec.stats, { resets: 1, unrecoverable: 1 });
  const jump = Uint8Array.from(other);
  jump[2] = 0x80;
  dec.pushMedia(jump, jump.length);
  t.match(dec.stats, { resets: 2, unrecoverable: 1, mediaPackets: 11 });
});

t.test('the receiver unit passes media on and adds the rebuilt packets', async (t) => {
  const r = encode(t, 75, 1000);
  const rx = new St2022FecReceiver({ columns: 5, rows: 5 });
  const out: number[] = [];
  const audioNext = (): void => {};
  t.equal(rx.bindRemoteStream({ ...info, kind: 'audio' }, audioNext), audioNext, 'other streams untouched');
  const sink = rx.bindRemoteStream(info, (p) => out.push(seqOf(p)));
  r.media.forEach((p, i) => { if (i !== 2 && i !== 30) sink(p, p.length); });
  for (const p of r.rows) rx.pushFec(p, p.length, 'row');
  t.equal(out.length, 75);
  t.same(out.slice(-2), [1002, 1030], 'rebuilt ones arrive late, as their FEC does');
  t.equal(rx.stats.recovered, 2);
  rx.close();
  sink(r.media[0], r.media[0].length);
  t.equal(out.length, 75, 'closed: drops');
});

t.test('seeded garbage and mutated packets never throw', async (t) => {
  const r = encode(t, 75, 1000);
  const rnd = mulberry32(2022);
  for (const opts of [{}, { columns: 5, rows: 5 }] as Partial<St2022FecDecoderOptions>[]) {
    let out = 0;
    const dec = new St2022FecDecoder({ ...opts, window: 256, fecSlots: 16, sink: (_p, n) => { out += n; } });
    const buf = new Uint8Array(2000);
    t.doesNotThrow(() => {
      for (let i = 0; i < 20000; i++) {
        const pick = rnd();
        const src = pick < 0.4 ? r.media[Math.floor(rnd() * 75)] : pick < 0.8 ? (rnd() < 0.5 ? r.rows : r.cols)[Math.floor(rnd() * 15) % 10] : null;
        let len: number;
        if (src) {
          buf.set(src);
          len = rnd() < 0.1 ? Math.floor(rnd() * 2000) : src.length;
          for (let k = Math.floor(rnd() * 4); k > 0; k--) buf[Math.floor(rnd() * 40)] = Math.floor(rnd() * 256);
        } else {
          len = Math.floor(rnd() * 2000);
          for (let k = 0; k < len; k++) buf[k] = Math.floor(rnd() * 256);
          if (rnd() < 0.5) buf[0] = 0x80;
          if (rnd() < 0.5) buf[16] |= 0x80;
          if (rnd() < 0.5) buf[24] &= 0xc7;
        }
        if (rnd() < 0.5) dec.pushMedia(buf, len); else dec.pushFec(buf, len, rnd() < 0.5 ? 'row' : 'column');
      }
    });
    const s = dec.stats;
    t.equal(s.mediaPackets + s.fecPackets, 20000);
    t.ok(s.badFec > 1000 && s.badMedia > 100, `garbage counted bad (${s.badFec} FEC, ${s.badMedia} media)`);
    t.ok(out >= 0);
  }
});

t.test('options are checked', async (t) => {
  const sinks = { rowSink: () => {}, columnSink: () => {} };
  t.throws(() => new St2022FecEncoder({ ...sinks, columns: 0, rows: 5 }), { name: 'RtpOptionError', option: 'columns' });
  t.throws(() => new St2022FecEncoder({ ...sinks, columns: 5, rows: 256 }), { name: 'RtpOptionError', option: 'rows' });
  t.throws(() => new St2022FecEncoder({ ...sinks, columns: 5, rows: 5, rowFec: false, columnFec: false }), { name: 'RtpOptionError' });
  t.throws(() => new St2022FecEncoder({ ...sinks, columns: 5, rows: 5, payloadType: 128 }), { name: 'RtpOptionError', option: 'payloadType' });
  t.throws(() => new St2022FecDecoder({ sink: () => {}, window: 1000 }), { name: 'RtpOptionError', option: 'window' });
  t.throws(() => new St2022FecDecoder({ sink: () => {}, fecSlots: 1 }), { name: 'RtpOptionError', option: 'fecSlots' });
});
