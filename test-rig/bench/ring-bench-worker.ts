/**
 * Thread bodies for ring.bench.ts. Each role runs one measurement and posts its result.
 * Flow control for the throughput runs: the consumer publishes how many records it has
 * taken (every 256) in a shared counter and the producer stays at most half a ring ahead,
 * so the figure is lossless throughput, not the rate of overruns. (The ring itself never
 * makes a producer wait; this is the benchmark's pacing.) A consumer sets the second credit
 * word once it is attached, and producers start only then: a slot-ring consumer attaching
 * after the first frames were published would wait for frames the producer, held back by
 * the window, never publishes.
 * Record throughput (ring and postMessage consumers) is timed from the first record a consumer
 * takes, not from when it attaches: the producer thread is still booting then (tens of ms on
 * this machine, against runs of 100 ms), and that boot is not the ring's. The records taken
 * before the clock starts are not counted. Frame throughput is timed by the slot producer, in
 * rounds (see 'slot-producer').
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { copyIntoShared, FLAG_SYNC, READ_EMPTY, RingBatch, RingConsumer, RingProducer, SlotConsumer, SlotProducer } from '../../edge/lib/ring/index.js';

interface Args {
  role: string;
  sab?: SharedArrayBuffer;
  credit?: SharedArrayBuffer;
  port?: MessagePort;
  count: number;
  size: number;
  window?: number;
  intervalUs?: number;
  batch?: boolean;
  /** latency-consumer: how it waits for the next record (see the role). */
  wait?: 'async' | 'blocking' | 'spin';
  /** slot-producer: frames per timed round (count is a multiple). */
  perRound?: number;
  /** ring-producer: records appended per publish() (1: write() each). */
  burst?: number;
}
const a = workerData as Args;
const post = (m: unknown) => parentPort!.postMessage(m);
const hr = () => process.hrtime.bigint();

async function main(): Promise<void> {
  // A pending Atomics.waitAsync does not keep a thread's event loop alive; this does.
  const keepAlive = setInterval(() => {}, 1 << 30);
  try {
    await run();
  } finally {
    clearInterval(keepAlive);
  }
}

/** Times records from the first one taken; those taken with it are outside the window. */
class FirstRecordClock {
  private t0 = 0n;
  private n0 = 0;
  took(n: number): void {
    if (this.n0 === 0) { this.t0 = hr(); this.n0 = n; }
  }
  result(n: number): { ns: number; n: number } {
    return { ns: Number(hr() - this.t0), n: n - this.n0 };
  }
}

/**
 * The latency producers sleep between records, as the box's producers do (they run on
 * events). Pacing by spinning instead took one of this machine's two CPUs from the consumer's
 * wake-up: hop p99 568-731 us in three bench runs, against 213-373 us in two sleeping. The
 * sleeps run long (~600 us for 500), which spaces records unevenly and changes nothing in a
 * hop, timed from the write.
 */
const napWord = new Int32Array(new SharedArrayBuffer(4));
const nap = (us: number): void => { Atomics.wait(napWord, 0, 0, us / 1000); };

const ATTACHED = 1;
const attached = (credit: Int32Array): void => { Atomics.store(credit, ATTACHED, 1); Atomics.notify(credit, ATTACHED); };
const awaitConsumer = (credit: Int32Array): void => { while (Atomics.load(credit, ATTACHED) === 0) Atomics.wait(credit, ATTACHED, 0, 10); };

async function run(): Promise<void> {
  const credit = a.credit ? new Int32Array(a.credit) : undefined;
  if (credit && a.role.endsWith('-producer')) awaitConsumer(credit);
  switch (a.role) {
    case 'ring-producer': {
      const p = new RingProducer(a.sab!);
      const payload = new Uint8Array(a.size).fill(7);
      const window = a.window!;
      const burst = a.burst ?? 1;
      for (let i = 0; i < a.count; i++) {
        while (i - Atomics.load(credit!, 0) > window) { p.publish(); Atomics.wait(credit!, 0, Atomics.load(credit!, 0), 1); }
        if (burst === 1) p.write(1, FLAG_SYNC, 0n, 0n, payload);
        else {
          p.append(1, FLAG_SYNC, 0n, 0n, payload);
          if ((i + 1) % burst === 0) p.publish();
        }
      }
      p.publish();
      post({ done: true });
      return;
    }
    case 'ring-consumer': {
      const c = new RingConsumer(a.sab!, 0, 'oldest');
      attached(credit!);
      const buf = new Uint8Array(c.maxPayload);
      let n = 0;
      let sum = 0;
      const clock = new FirstRecordClock();
      if (a.batch) {
        const dst = new Uint8Array(64 * 1024);
        const batch = new RingBatch(512);
        let credited = 0;
        while (n < a.count) {
          const k = c.readBatch(dst, batch);
          if (k === 0) { await c.wait(100); continue; }
          for (let i = 0; i < k; i++) sum += dst[batch.offset[i]];
          n += k;
          clock.took(n);
          if (n - credited >= 256) { credited = n; Atomics.store(credit!, 0, n); Atomics.notify(credit!, 0); }
        }
        post({ ...clock.result(n), sum });
        return;
      }
      while (n < a.count) {
        const len = c.readInto(buf);
        if (len === READ_EMPTY) { await c.wait(100); continue; }
        sum += buf[0];
        n++;
        clock.took(n);
        if ((n & 255) === 0) { Atomics.store(credit!, 0, n); Atomics.notify(credit!, 0); }
      }
      post({ ...clock.result(n), sum });
      return;
    }
    case 'pm-producer': {
      const port = a.port!;
      const window = a.window!;
      const payload = new Uint8Array(a.size).fill(7);
      for (let i = 0; i < a.count; i++) {
        while (i - Atomics.load(credit!, 0) > window) Atomics.wait(credit!, 0, Atomics.load(credit!, 0), 1);
        port.postMessage(payload);
      }
      post({ done: true });
      return;
    }
    case 'pm-consumer': {
      const port = a.port!;
      attached(credit!);
      let n = 0;
      let sum = 0;
      const clock = new FirstRecordClock();
      await new Promise<void>((resolve) => {
        port.on('message', (m: Uint8Array) => {
          sum += m[0];
          n++;
          clock.took(n);
          if ((n & 255) === 0) { Atomics.store(credit!, 0, n); Atomics.notify(credit!, 0); }
          if (n === a.count) resolve();
        });
      });
      port.close();
      post({ ...clock.result(n), sum });
      return;
    }
    case 'slot-producer': {
      // Rounds alternate a plain copy of `perRound` frames in this thread (Buffer to Buffer,
      // memcpy, over as many destinations as the ring has slots: the memory limit) with
      // `perRound` frames through the ring, each timed until the consumer has released the
      // last one. Adjacent in time on the same thread, the two see the same host; the median
      // of the per-round ratios is the figure. Frames go into slots by memcpy, as the box's
      // capture does (the binding's pullInto; copyIntoShared for frames made in JS).
      const p = new SlotProducer(a.sab!);
      const frame = Buffer.alloc(a.size);
      for (let i = 0; i < frame.length; i += 4096) frame[i] = i & 0xff;
      const copies = Array.from({ length: p.slots }, () => Buffer.alloc(a.size));
      const perRound = a.perRound!;
      const rounds: { ringNs: number; copyNs: number }[] = [];
      let published = 0;
      for (let r = 0; r < a.count / perRound; r++) {
        let t0 = hr();
        for (let i = 0; i < perRound; i++) frame.copy(copies[i % copies.length]);
        const copyNs = Number(hr() - t0);
        t0 = hr();
        const end = published + perRound;
        while (published < end) {
          const claim = p.claim();
          if (!claim) { Atomics.wait(credit!, 0, Atomics.load(credit!, 0), 1); continue; }
          copyIntoShared(claim.bytes, frame);
          p.publish(claim, frame.length, { kind: 1, flags: 1, wallNs: 0n, monoNs: 0n, user0: 0, user1: 0 });
          published++;
          // Stay at most a few frames ahead so no frame is lost (lossless bandwidth).
          while (published - Atomics.load(credit!, 0) > a.window!) Atomics.wait(credit!, 0, Atomics.load(credit!, 0), 1);
        }
        for (let taken; (taken = Atomics.load(credit!, 0)) < end;) Atomics.wait(credit!, 0, taken, 1);
        rounds.push({ ringNs: Number(hr() - t0), copyNs });
      }
      post({ rounds });
      return;
    }
    case 'slot-consumer': {
      const c = new SlotConsumer(a.sab!, 0);
      attached(credit!);
      let n = 0;
      let sum = 0;
      while (n < a.count) {
        const f = c.acquire();
        if (!f) { await c.wait(100); continue; }
        sum += f.bytes[4096];
        c.release(f);
        n++;
        Atomics.store(credit!, 0, n);
        Atomics.notify(credit!, 0);
      }
      post({ n, sum });
      return;
    }
    case 'latency-producer': {
      const p = new RingProducer(a.sab!);
      const payload = new Uint8Array(a.size);
      for (let i = 0; i < a.count; i++) {
        nap(a.intervalUs!);
        const now = hr();
        p.write(1, FLAG_SYNC, 0n, now, payload);
      }
      post({ done: true });
      return;
    }
    case 'latency-consumer': {
      // async: as every worker waits (Atomics.waitAsync, its event loop running).
      // blocking: blocked in Atomics.wait (a bare futex wake, no event loop). Workers cannot
      // wait like this (their event loop would stop); it shows how much of the hop is the
      // machine's wake-up itself.
      // spin: never sleeps, costing a whole core: no wake-up at all, so what is left is the
      // machine's own scheduling (a virtual CPU the host deschedules).
      const c = new RingConsumer(a.sab!, 0, 'oldest');
      const buf = new Uint8Array(c.maxPayload);
      const hops: number[] = [];
      while (hops.length < a.count) {
        const len = c.readInto(buf);
        if (len === READ_EMPTY) {
          if (a.wait === 'blocking') c.waitBlocking(1000);
          else if (a.wait === 'async') await c.wait(); // untimed, as workers wait (see RingConsumer.wait)
          continue;
        }
        hops.push(Number(hr() - c.meta.monoNs));
      }
      post({ hops });
      return;
    }
    case 'pm-latency-consumer': {
      const hops: number[] = [];
      await new Promise<void>((resolve) => {
        a.port!.on('message', (sent: bigint) => {
          hops.push(Number(hr() - sent));
          if (hops.length === a.count) resolve();
        });
      });
      a.port!.close();
      post({ hops });
      return;
    }
    case 'pm-latency-producer': {
      for (let i = 0; i < a.count; i++) {
        nap(a.intervalUs!);
        a.port!.postMessage(hr());
      }
      post({ done: true });
      return;
    }
  }
}

void main();
