/**
 * The record ring's memory layout as bytes: what createRing(), the producer and the consumer
 * leave in the SharedArrayBuffer, word by word, against the diagram in layout.ts. A ring is
 * shared by threads (and, after a restart, by code that did not write it), so these bytes are
 * its wire format.
 */
import t from 'tap';
import { createRing, ringBytes, FLAG_SYNC, RingBatch, RingConsumer, RingProducer, RING_MAGIC, RING_VERSION } from '../index.js';

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');

// createRing(256, 2): 32 header words + 2 consumer blocks of 8 words = 192 bytes, then 256 data bytes.
const DATA = 192;
const CAP = 256;

t.test('createRing writes the magic, version, capacity and consumer count; nothing else', async (t) => {
  const sab = createRing(CAP, 2);
  t.equal(sab.byteLength, DATA + CAP);
  t.equal(ringBytes(CAP, 2), DATA + CAP);
  t.equal(ringBytes(CAP, 1), 160 + CAP, 'one consumer block less');
  const b = new Uint8Array(sab);
  t.equal(hex(b.subarray(0, 16)), '4f 52 42 52 04 00 00 00 00 01 00 00 02 00 00 00', "'ORBR', version 4, capacity 256, 2 consumers");
  t.equal(RING_MAGIC, 0x5242524f);
  t.equal(RING_VERSION, 4);
  t.ok(b.subarray(16).every((x) => x === 0), 'cursors, counters, consumer blocks and data start zeroed');
});

t.test('a record as written: header words, timestamps, payload, 8-byte alignment, COMMIT and RESERVE', async (t) => {
  const sab = createRing(CAP, 2);
  const w = new Int32Array(sab, 0, 48);
  const b = new Uint8Array(sab);
  const oldest = new RingConsumer(sab, 0, 'oldest');
  const p = new RingProducer(sab);
  t.equal(w[10], 1, 'PRODUCER_EPOCH counts the attach');
  t.equal(p.write(0x1234, FLAG_SYNC | 0x8000, 0x0102030405060708n, -2n, Uint8Array.of(0xaa, 0xbb, 0xcc)), 0);
  t.equal(hex(b.subarray(DATA, DATA + 40)), [
    '03 00 00 00', // len
    '34 12 01 80', // kind 0x1234, flags SYNC | 0x8000
    '00 00 00 00', // seq 0
    '00 00 00 00', // spare word, always 0
    '08 07 06 05 04 03 02 01', // wall ns, i64 little-endian
    'fe ff ff ff ff ff ff ff', // mono ns -2
    'aa bb cc 00 00 00 00 00', // payload, padded to 8
  ].join(' '));
  t.same([w[5], w[6], w[7], w[8], w[11], w[12]], [40, 0, 1, 1, 40, 0], 'COMMIT 40, LAST_SYNC 0, HAS_SYNC, NEXT_SEQ 1, BYTES_WRITTEN 40');
  t.equal(w[16], 40 + 16, 'RESERVE a chunk (capacity/16) past the record');
  const late = new RingConsumer(sab, 1);
  t.same([...w.subarray(40, 48)], [1, 40, 0, 0, 0, 0, 1, 0], "a live consumer's block: ATTACHED, READ_POS at COMMIT, EXPECT_SEQ 1");
  t.same([...w.subarray(32, 40)], [1, 0, 0, 0, 0, 0, 0, 0], "an oldest consumer's block before it reads");
  const r = oldest.read()!;
  t.same([r.kind, r.flags, r.seq, r.wallNs, r.monoNs, hex(r.payload)], [0x1234, 0x8001, 0, 0x0102030405060708n, -2n, 'aa bb cc']);
  t.same([...w.subarray(32, 40)], [1, 40, 1, 0, 0, 0, 1, 0], 'READ_POS 40, RECORDS_READ 1, EXPECT_SEQ 1');
  t.equal(late.read(), undefined);
});

t.test('a record that would cross the end is preceded by a pad filling the tail', async (t) => {
  const sab = createRing(CAP, 1);
  const b = new Uint8Array(sab);
  const w = new Int32Array(sab, 0, 40);
  const data = 160;
  const p = new RingProducer(sab);
  const c = new RingConsumer(sab, 0, 'oldest');
  p.write(1, FLAG_SYNC, 0n, 0n, new Uint8Array(100)); // 136 bytes at 0
  t.equal(c.read()!.seq, 0);
  p.write(2, 0, 0n, 0n, new Uint8Array(100).fill(7)); // 120 left: pad, then the record at 0
  t.equal(hex(b.subarray(data + 136, data + 144)), '78 00 00 00 ff ff 00 00', 'pad of 120 bytes, kind 0xFFFF');
  t.equal(hex(b.subarray(data, data + 12)), '64 00 00 00 02 00 00 00 01 00 00 00', 'the record at offset 0, seq 1');
  t.same([w[5], w[6], w[8], w[11]], [256 + 136, 0, 2, 392], 'COMMIT counts the pad; LAST_SYNC stays at the first record');
  const r = c.read()!;
  t.same([r.kind, r.seq, r.payload.length, r.payload[99]], [2, 1, 100, 7], 'the consumer steps over the pad');
  t.same([...w.subarray(32, 40)], [1, 392, 2, 0, 0, 0, 2, 0]);
});

t.test('records laid out by hand in the shared memory read back as the table says', async (t) => {
  const sab = createRing(CAP, 1);
  const data = 160;
  const c = new RingConsumer(sab, 0, 'oldest');
  const b = new Uint8Array(sab);
  const w = new Int32Array(sab, 0, 40);
  const rec = (seq: number, flags: number, payload: number[]) => [
    payload.length, 0, 0, 0, 0x05, 0x00, flags, 0x00, seq, 0, 0, 0, 0, 0, 0, 0,
    0x10, 0, 0, 0, 0, 0, 0, 0, 0x20 + seq, 0, 0, 0, 0, 0, 0, 0, ...payload,
  ];
  const r0 = rec(0, FLAG_SYNC, [1, 2, 3, 4, 5, 6, 7, 8, 9]); // 41 bytes: 48 in the ring
  const r1 = rec(2, 0, []); // seq 2: one record lost before it
  b.set(r0, data);
  b.set(r1, data + 48);
  b.set([0x10, 0, 0, 0, 0xff, 0xff, 0, 0], data + 80); // a pad of 16
  b.set(rec(3, 0, [0xee]), data + 96);
  w[16] = 136; // RESERVE
  Atomics.store(w, 5, 136); // COMMIT
  const dst = new Uint8Array(256);
  const batch = new RingBatch(8);
  t.equal(c.readBatch(dst, batch), 2, 'one run: the pad ends it');
  t.same([...batch.seq.subarray(0, 2)], [0, 2]);
  t.same([...batch.flags.subarray(0, 2)], [FLAG_SYNC, 0]);
  t.same([...batch.kind.subarray(0, 2)], [5, 5]);
  t.same([batch.wallNs(0), batch.monoNs(0), batch.monoNs(1)], [16n, 32n, 34n]);
  t.same([...dst.subarray(batch.offset[0], batch.offset[0] + batch.length[0])], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.equal(batch.length[1], 0);
  t.equal(c.readInto(dst), 1, 'the record past the pad');
  t.same([c.meta.seq, dst[0], c.meta.monoNs], [3, 0xee, 35n]);
  t.same([...w.subarray(32, 40)], [1, 136, 3, 0, 1, 0, 4, 0], 'READ_POS 136, 3 read, 1 LOST, EXPECT_SEQ 4');
});

t.test("a parked consumer sets COMMIT's WAITING bit; the next publish clears it", async (t) => {
  const sab = createRing(CAP, 1);
  const w = new Int32Array(sab, 0, 40);
  const p = new RingProducer(sab);
  const c = new RingConsumer(sab, 0);
  const waiting = c.wait(5000);
  t.equal(Atomics.load(w, 5), 1, 'COMMIT 0 with bit 0 set');
  p.write(1, FLAG_SYNC, 0n, 0n, new Uint8Array(8));
  t.equal(Atomics.load(w, 5), 40, 'position 40, bit cleared by the exchange');
  await waiting;
  t.equal(c.read()!.payload.length, 8);
});

t.test('a buffer that is not this ring is refused with the reason', async (t) => {
  const sab = createRing(CAP, 1);
  const w = new Int32Array(sab, 0, 4);
  w[1] = 3;
  t.throws(() => new RingConsumer(sab, 0), { name: 'RingLayoutError', message: 'ring version 3, this code reads 4' });
  w[1] = 4;
  w[2] = 512;
  t.throws(() => new RingProducer(sab), { name: 'RingLayoutError', message: 'ring size does not match its header' });
  t.throws(() => new RingProducer(new SharedArrayBuffer(64)), /expected a SharedArrayBuffer made by createRing/);
});
