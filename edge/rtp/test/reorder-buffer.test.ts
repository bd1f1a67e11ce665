import t from 'tap';
import { ReorderBuffer } from '../reorder-buffer.js';

/** A minimal RTP packet with sequence number `seq` and one payload byte tagging it. */
function rtp(seq: number, tag = seq & 0xff): Uint8Array {
  const p = new Uint8Array(13);
  p[0] = 0x80; p[1] = 96; p[2] = (seq >> 8) & 0xff; p[3] = seq & 0xff; p[12] = tag;
  return p;
}
const seqOf = (p: Uint8Array) => (p[2]! << 8) | p[3]!;

function harness(latencyMs = 100, slots = 64) {
  const out: number[] = [];
  const b = new ReorderBuffer({ latencyMs, slots }, (p, n) => out.push(n === 13 ? seqOf(p) : -n));
  return { b, out };
}

t.test('in-order packets leave at once; a reordered one waits for its predecessor', async (t) => {
  const { b, out } = harness();
  b.push(rtp(10), 13, 0);
  b.push(rtp(12), 13, 1);
  t.same(out, [10], '12 waits for 11');
  t.equal(b.held, 1);
  b.push(rtp(11), 13, 5);
  t.same(out, [10, 11, 12]);
  t.equal(b.held, 0);
});

t.test('a missing packet is given up latencyMs after the first later one arrived, not before', async (t) => {
  const { b, out } = harness(100);
  b.push(rtp(1), 13, 0);
  b.push(rtp(3), 13, 10);
  b.push(rtp(4), 13, 20);
  b.release(109);
  t.same(out, [1]);
  b.release(110);
  t.same(out, [1, 3, 4]);
  t.equal(b.stats.lost, 1);
  b.push(rtp(2), 13, 111);
  t.equal(b.stats.late, 1, 'its repair came after the deadline: dropped, never out of order');
  t.same(out, [1, 3, 4]);
});

t.test('duplicates are dropped; the sequence wraps 65535 -> 0; a jump past the buffer gives up the gap at once', async (t) => {
  const { b, out } = harness(100, 64);
  b.push(rtp(65534), 13, 0);
  b.push(rtp(0), 13, 0);
  b.push(rtp(0), 13, 0);
  b.push(rtp(65534), 13, 0);
  t.equal(b.stats.duplicates, 1, 'a second copy of a held packet');
  t.equal(b.stats.late, 1, 'a second copy of one that left');
  b.push(rtp(65535), 13, 0);
  b.push(rtp(1), 13, 0);
  t.same(out, [65534, 65535, 0, 1]);
  b.push(rtp(3), 13, 1);
  b.push(rtp(200), 13, 2);
  t.same(out, [65534, 65535, 0, 1, 3], '2 is given up and 3 leaves when 200 does not fit in 64 slots; 4..136 are lost');
  t.equal(b.stats.lost, 1 + (136 - 4 + 1));
  b.release(1000);
  t.same(out.slice(-1), [200]);
});

t.test('seeded random arrival orders: every packet leaves once, in order, and lost + emitted covers every sequence number', async (t) => {
  let x = 12345;
  const rnd = () => ((x = (x * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let run = 0; run < 20; run++) {
    const { b, out } = harness(50, 256);
    const arrivals: { seq: number; at: number }[] = [];
    for (let i = 0; i < 2000; i++) if (rnd() > 0.1) arrivals.push({ seq: (60000 + i) & 0xffff, at: i + rnd() * 40 });
    arrivals.sort((a, c) => a.at - c.at);
    for (const a of arrivals) b.push(rtp(a.seq), 13, a.at);
    b.release(1e9);
    const ext = (s: number) => (s < 60000 ? s + 65536 : s);
    const unwrapped = out.map(ext);
    t.ok(unwrapped.every((s, i) => i === 0 || s > unwrapped[i - 1]!), `run ${run}: strictly in order`);
    const first = ext(arrivals[0]!.seq), last = Math.max(...arrivals.map((a) => ext(a.seq)));
    t.equal(b.stats.emitted + b.stats.lost, last - first + 1, `run ${run}: every sequence number from the first to arrive to the highest left or was given up`);
    t.equal(b.stats.emitted + b.stats.late + b.stats.duplicates, arrivals.length, `run ${run}: every arrival accounted for`);
  }
  const { b } = harness();
  b.push(new Uint8Array(5), 5, 0);
  b.push(new Uint8Array(13).fill(0x40), 13, 0);
  t.equal(b.stats.malformed, 2, 'short or not RTP version 2: counted');
});
