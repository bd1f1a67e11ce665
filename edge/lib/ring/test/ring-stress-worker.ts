/**
 * Thread body for the cross-thread ring tests. workerData.role:
 *  - 'producer': writes `count` records (sizes from the seeded schedule, payloads derived
 *    from the seq), pausing at random to vary the interleaving; every `syncEvery`-th record
 *    is flagged SYNC. With `bursts`, records are append()ed and publish()ed in bursts.
 *  - 'consumer': reads until it has seen the last seq, checking every payload; "restarts"
 *    itself (a fresh RingConsumer on the same slot) at random points; stalls at random so
 *    it gets overrun. Posts its tally. With `untimed`, its waits have no timeout, so a lost
 *    wake-up leaves it waiting for good.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RingBatch, RingConsumer, RingProducer, FLAG_SYNC, READ_EMPTY } from '../index.js';
import { fillPayload, payloadMatches, prng, sizeOf } from './fixtures.js';

interface Args { untimed?: boolean; batch?: boolean; bursts?: boolean; producerPause: number; role: 'producer' | 'consumer'; sab: SharedArrayBuffer; seed: number; count: number; syncEvery: number; index: number; maxSize: number; stallProb: number; restartProb: number }
const a = workerData as Args;
const rnd = prng(a.seed * 7 + a.index + (a.role === 'producer' ? 1 : 100));
const idle = (c: RingConsumer): Promise<void> => (a.untimed ? c.wait() : c.wait(50));
const spin = (n: number) => { const end = performance.now() + n; while (performance.now() < end); };

if (a.role === 'producer') {
  const p = new RingProducer(a.sab);
  const scratch = new Uint8Array(a.maxSize);
  for (let seq = 0; seq < a.count; seq++) {
    const len = sizeOf(seq, a.seed, a.maxSize);
    const flags = seq % a.syncEvery === 0 || seq === a.count - 1 ? FLAG_SYNC : 0;
    if (a.bursts) {
      // Bursts of random length (sometimes longer than the ring), published at their end.
      const payload = scratch.subarray(0, len);
      fillPayload(payload, seq);
      p.append(seq % 7, flags, BigInt(seq) * 1000n, BigInt(seq), payload);
      if (rnd() < 0.25 || seq === a.count - 1) p.publish();
    } else {
      p.writeWith(seq % 7, flags, BigInt(seq) * 1000n, BigInt(seq), len, (dst) => fillPayload(dst, seq));
    }
    if (rnd() < a.producerPause) spin(rnd() * 0.2);
  }
  parentPort!.postMessage({ done: true });
} else {
  let c = new RingConsumer(a.sab, a.index, 'oldest');
  const buf = new Uint8Array(a.maxSize);
  let read = 0, bad = 0, restarts = 0, lastSeq = -1, outOfOrder = 0, badSize = 0;
  const keepAlive = setInterval(() => {}, 1000);
  if (a.batch) {
    // The batch reader: a destination of a few records' worth, so runs end mid-ring too.
    const dst = new Uint8Array(Math.max(a.maxSize + 32, 4096));
    const batch = new RingBatch(64);
    let done = false;
    while (!done) {
      const n = c.readBatch(dst, batch);
      if (n === 0) { await idle(c); continue; }
      for (let i = 0; i < n; i++) {
        const seq = batch.seq[i];
        const p = dst.subarray(batch.offset[i], batch.offset[i] + batch.length[i]);
        if (seq <= lastSeq) outOfOrder++;
        if (p.length !== sizeOf(seq, a.seed, a.maxSize)) badSize++;
        else if (!payloadMatches(p, seq)) bad++;
        if (batch.wallNs(i) !== BigInt(seq) * 1000n) bad++;
        lastSeq = seq; read++;
        if (seq === a.count - 1) done = true;
      }
      if (rnd() < a.stallProb) spin(rnd() * 3);
      if (rnd() < a.restartProb * 10) { c = new RingConsumer(a.sab, a.index); restarts++; }
    }
    clearInterval(keepAlive);
    parentPort!.postMessage({ read, bad, badSize, restarts, outOfOrder });
  } else for (;;) {
    const n = c.readInto(buf);
    if (n === READ_EMPTY) { await idle(c); continue; }
    const seq = c.meta.seq;
    if (seq <= lastSeq) outOfOrder++;
    if (n !== sizeOf(seq, a.seed, a.maxSize)) badSize++;
    else if (!payloadMatches(buf.subarray(0, n), seq)) bad++;
    if (c.meta.wallNs !== BigInt(seq) * 1000n) bad++;
    lastSeq = seq; read++;
    if (seq === a.count - 1) break;
    if (rnd() < a.stallProb) spin(rnd() * 3);
    if (rnd() < a.restartProb) { c = new RingConsumer(a.sab, a.index); restarts++; }
  }
  clearInterval(keepAlive);
  parentPort!.postMessage({ read, bad, badSize, restarts, outOfOrder });
}
