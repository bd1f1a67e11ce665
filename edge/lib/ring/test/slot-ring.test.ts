import t from 'tap';
import { Worker } from 'node:worker_threads';
import { copyIntoShared, createSlotRing, SlotProducer, SlotConsumer, slotRingStats } from '../index.js';
import { fillPayload, payloadMatches } from './fixtures.js';

const meta = (i: number) => ({ kind: 1, flags: 1, wallNs: BigInt(i) * 33_333_333n, monoNs: BigInt(i), user0: 1920, user1: 1080 });

function put(p: SlotProducer, i: number, len = 1000): number | undefined {
  const c = p.claim();
  if (!c) return undefined;
  fillPayload(c.bytes.subarray(0, len), i);
  return p.publish(c, len, meta(i));
}

t.test('a frame is handed over in place and given back', async (t) => {
  const sab = createSlotRing(4, 4096, 2);
  const p = new SlotProducer(sab);
  const c = new SlotConsumer(sab, 0);
  t.equal(c.acquire(), undefined, 'nothing published yet');
  t.equal(put(p, 0), 1);
  const f = c.acquire()!;
  t.equal(f.seq, 1);
  t.equal(f.bytes.length, 1000);
  t.ok(payloadMatches(f.bytes, 0));
  t.equal(f.user0, 1920);
  t.equal(f.wallNs, 0n);
  t.equal(f.bytes.buffer, sab, 'zero copy: a view of the shared ring');
  c.release(f);
  t.equal(c.acquire(), undefined);
  t.throws(() => p.publish(p.claim()!, 5000, meta(1)), RangeError);
});

t.test('the producer never overwrites a held frame and drops only when every slot is held', async (t) => {
  const sab = createSlotRing(3, 1024, 1);
  const p = new SlotProducer(sab);
  const c = new SlotConsumer(sab, 0);
  put(p, 0);
  const held = c.acquire()!;
  for (let i = 1; i < 10; i++) put(p, i);
  t.ok(payloadMatches(held.bytes, 0), 'held frame untouched after 9 more frames');
  // Frames 2..9 went through the two free slots; 9 and 10 are still there.
  const next = c.acquire()!;
  t.equal(next.seq, 9, 'lapped: resumes at the oldest frame still in the ring');
  t.ok(payloadMatches(next.bytes, next.seq - 1));
  const s = slotRingStats(sab);
  t.equal(s.consumers[0].overruns, 1);
  t.equal(s.consumers[0].lost, 7, 'lost exactly the overwritten frames 2..8');
  // Hold all three slots: the producer must drop, not block or overwrite.
  const third = c.acquire() ?? (put(p, 10), c.acquire());
  t.ok(third);
  t.equal(put(p, 11), undefined, 'no free slot: frame dropped');
  t.equal(slotRingStats(sab).framesDropped, 1);
  c.release(held);
  t.ok(put(p, 12), 'a released slot is reused');
});

t.test('a consumer one frame too late loses that one frame, whatever the slot count', async (t) => {
  // video-capture's pattern: it claims the next slot before it waits for the frame; the
  // consumer holds one frame (video-encode holds its first while it starts its pipeline).
  for (const slots of [5, 6, 7, 8]) {
    const sab = createSlotRing(slots, 1024, 1);
    const p = new SlotProducer(sab);
    const c = new SlotConsumer(sab, 0);
    let claim = p.claim()!;
    p.publish(claim, 10, meta(0));
    claim = p.claim()!;
    const first = c.acquire()!;
    // slots - 2 frames fit beside the held one and the claimed one; one more laps the oldest.
    for (let i = 1; i <= slots - 1; i++) { p.publish(claim, 10, meta(i)); claim = p.claim()!; }
    c.release(first);
    const got: number[] = [];
    for (let f = c.acquire(); f; f = c.acquire()) { got.push(f.seq); c.release(f); }
    const st = slotRingStats(sab).consumers[0];
    t.same(got, Array.from({ length: slots - 2 }, (_, i) => i + 3), `${slots} slots: frames 3..${slots} read`);
    t.equal(st.lost, 1, `${slots} slots: only frame 2 lost`);
    t.equal(st.overruns, 1);
  }
});

t.test('consumersReady: every consumer has asked for a frame, and stays so across its restart', async (t) => {
  const sab = createSlotRing(3, 64, 2);
  const p = new SlotProducer(sab);
  const c0 = new SlotConsumer(sab, 0);
  const c1 = new SlotConsumer(sab, 1);
  t.notOk(p.consumersReady(), 'attached is not ready: workers attach before they start');
  c0.acquire();
  t.notOk(p.consumersReady(), 'one of two');
  c1.acquire();
  t.ok(p.consumersReady(), 'both asked');
  new SlotConsumer(sab, 1);
  t.ok(p.consumersReady(), 'a restarted consumer keeps its place');
});

t.test('a restarted consumer gives back the holds of its previous incarnation', async (t) => {
  const sab = createSlotRing(2, 1024, 1);
  const p = new SlotProducer(sab);
  let c = new SlotConsumer(sab, 0);
  put(p, 0); c.acquire();
  put(p, 1); c.acquire();
  t.equal(put(p, 2), undefined, 'both slots held by a consumer that is about to die');
  c = new SlotConsumer(sab, 0);
  t.equal(put(p, 3), 3, 'slots free again after the consumer came back');
  t.equal(c.acquire()!.seq, 3, 'cursor kept across the restart');
  t.equal(slotRingStats(sab).framesDropped, 1, 'the frame with no free slot is counted as dropped');
});

t.test('frames cross threads intact under random schedules', async (t) => {
  const sab = createSlotRing(4, 64 * 1024, 2);
  const consumerSrc = `
    const { workerData, parentPort } = require('node:worker_threads');
    (async () => {
      const { SlotConsumer } = await import(workerData.ring);
      const { payloadMatches } = await import(workerData.fx);
      const c = new SlotConsumer(workerData.sab, workerData.index);
      let read = 0, bad = 0, last = 0, hold = [];
      const ka = setInterval(() => {}, 1000);
      for (;;) {
        const f = c.acquire();
        if (!f) { await c.wait(20); continue; }
        if (!payloadMatches(f.bytes, f.seq - 1) || f.seq <= last) bad++;
        last = f.seq; read++;
        hold.push(f);
        if (hold.length > 1 || Math.random() < 0.5) c.release(hold.shift());
        if (f.seq >= workerData.count) break;
      }
      hold.forEach((f) => c.release(f));
      clearInterval(ka);
      parentPort.postMessage({ read, bad });
    })();
  `;
  const count = 3000;
  const ring = new URL('../slot-ring.js', import.meta.url).href;
  const fx = new URL('./fixtures.js', import.meta.url).href;
  for (const index of [0, 1]) new SlotConsumer(sab, index);
  const results = [0, 1].map((index) => new Promise<any>((resolve, reject) => {
    const w = new Worker(consumerSrc, { eval: true, workerData: { sab, index, count, ring, fx }, execArgv: [] });
    w.once('message', resolve); w.once('error', reject);
  }));
  const p = new SlotProducer(sab);
  let published = 0;
  for (let i = 0; published < count; i++) {
    const len = 1 + ((i * 7919) % (64 * 1024 - 1));
    const c = p.claim();
    if (!c) { await new Promise((r) => setImmediate(r)); continue; }
    fillPayload(c.bytes.subarray(0, len), published);
    p.publish(c, len, meta(published));
    published++;
    if (i % 50 === 0) await new Promise((r) => setImmediate(r));
  }
  const r = await Promise.all(results);
  const s = slotRingStats(sab);
  for (const [i, x] of r.entries()) {
    t.equal(x.bad, 0, `consumer ${i}: every frame intact and in order`);
    t.equal(x.read + s.consumers[i].lost, count, `consumer ${i}: read ${x.read} + lost ${s.consumers[i].lost} = published`);
  }
});

t.test('an untimed wait() ends on a published frame or on wake()', async (t) => {
  const sab = createSlotRing(3, 1024, 1);
  const p = new SlotProducer(sab);
  const c = new SlotConsumer(sab, 0);
  const keepAlive = setInterval(() => {}, 1000);
  let woke = false;
  const waiting = c.wait().then(() => { woke = true; });
  await new Promise((r) => setTimeout(r, 50));
  t.notOk(woke, 'still waiting with nothing published');
  c.wake();
  await waiting;
  t.ok(woke, 'wake() ends it');
  t.equal(c.acquire(), undefined, 'a wake carries no frame');
  const next = c.wait();
  put(p, 0);
  await next;
  clearInterval(keepAlive);
  t.equal(c.acquire()?.seq, 1, 'a publish ends it with the frame');
});

t.test('copyIntoShared copies a frame, large or small, and leaves the rest of the slot alone', async (t) => {
  const sab = createSlotRing(2, 1920 * 1080 * 3 / 2, 1);
  const p = new SlotProducer(sab);
  const c = new SlotConsumer(sab, 0);
  for (const len of [0, 1, 100, 16 * 1024 - 1, 16 * 1024, 640 * 480 * 3 / 2 + 7]) {
    const claim = p.claim()!;
    claim.bytes.fill(0xee);
    const src = new Uint8Array(len);
    fillPayload(src, len);
    copyIntoShared(claim.bytes, src);
    p.publish(claim, len, meta(len));
    const f = c.acquire()!;
    t.ok(payloadMatches(f.bytes, len), `${len} bytes arrive as written`);
    t.equal(claim.bytes[len], 0xee, `${len} bytes: the byte after the frame is untouched (fill() would repeat the source)`);
    c.release(f);
  }
  const claim = p.claim()!;
  t.throws(() => copyIntoShared(claim.bytes.subarray(0, 10), new Uint8Array(11)), /11 bytes do not fit in 10/, 'a frame larger than the slot is refused');
});
