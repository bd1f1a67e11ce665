/**
 * Ring benchmark (`make bench`): the ring FIFOs against what Node offers without them, in the
 * same run, on the same machine.
 *  - 64-byte records per second across two threads: ring vs MessagePort.postMessage
 *    (goal: >= 20x postMessage), with the batch reader high-rate consumers use: the producer
 *    publishing every record (write()), and publishing bursts of 16 (append() + publish(), as
 *    a producer of several records per event does); one-record-per-call readInto() for reference.
 *  - 1080p NV12 frames (3,110,400 B) per second across two threads through the slot ring,
 *    as bandwidth against a plain Buffer copy in one thread (the memory limit; goal >= 0.7x),
 *    the two alternating in rounds on the producer's thread (a shared host's memory
 *    bandwidth swings by 2x from one second to the next).
 *  - Hop latency of a small record, producer to a consumer waiting with Atomics.waitAsync,
 *    p50/p99 (goal p99 < 100 us), with the CPU wake-up latency request the box holds while it
 *    runs (cpu.wakeLatencyUs of the demo configuration; edge/lib/cpu-latency.ts) held
 *    by this process; postMessage's for reference. Then, for what the machine sets: the same
 *    hop without the request, a consumer blocked in Atomics.wait (a bare wake-up, no event
 *    loop), and a consumer that never sleeps (no wake-up at all: the host's scheduling).
 * Each figure is the median of several runs; prints `BENCH ring ...` lines.
 */
import { Worker, MessageChannel } from 'node:worker_threads';
import { demoConfig } from '../../edge/config/demo.js';
import { createRing, createSlotRing } from '../../edge/lib/ring/index.js';
import { requestCpuWakeLatency, type CpuLatencyState } from '../../edge/lib/cpu-latency.js';
import { quantile, sortedCopy } from '../../edge/lib/stats.js';

/** Records per publish() in the burst figure: a device message's samples, a frame's RTP packets. */
const BURST = 16;
const workerUrl = new URL('./ring-bench-worker.js', import.meta.url);

function thread(data: Record<string, unknown>, transfer: readonly unknown[] = []): Promise<any> {
  return new Promise((resolve, reject) => {
    const w = new Worker(workerUrl, { workerData: data, transferList: transfer as never, execArgv: [] });
    w.once('message', (m) => { resolve(m); void w.terminate(); });
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`bench thread ${String(data.role)} exited (${code}) before reporting`)));
  });
}

const median = (xs: number[]) => quantile(sortedCopy(xs), 0.5);
const pct = (xs: number[], p: number) => quantile(sortedCopy(xs), p / 100);
const fmt = (x: number, d = 0) => x.toFixed(d);

async function ringRate(batch: boolean, burst: number): Promise<number> {
  const count = 2_000_000;
  const size = 64;
  const credit = new SharedArrayBuffer(8);
  const sab = createRing(1 << 20, 1);
  const window = Math.floor((1 << 20) / (32 + size) / 2);
  const c = thread({ role: 'ring-consumer', sab, credit, count, size, batch });
  await thread({ role: 'ring-producer', sab, credit, count, size, window, burst });
  const r = await c;
  return (r.n / r.ns) * 1e9;
}

interface Small { ring: number; ringBatch: number; ringBurst: number; pm: number }

async function smallRecords(): Promise<Small> {
  const size = 64;
  const pmCount = 200_000;
  const pmCredit = new SharedArrayBuffer(8);
  const { port1, port2 } = new MessageChannel();
  const pc = thread({ role: 'pm-consumer', port: port2, credit: pmCredit, count: pmCount, size }, [port2]);
  await thread({ role: 'pm-producer', port: port1, credit: pmCredit, count: pmCount, size, window: 4096 }, [port1]);
  const p = await pc;
  return {
    ring: await ringRate(false, 1),
    ringBatch: await ringRate(true, 1),
    ringBurst: await ringRate(true, BURST),
    pm: (p.n / p.ns) * 1e9,
  };
}

interface Frames { fps: number; copyFps: number; ratio: number }

async function frames(): Promise<Frames> {
  const size = 1920 * 1080 * 3 / 2;
  const perRound = 60;
  const count = perRound * 9;
  // The box's raw ring: 6 slots (ring-plan.ts); the producer stays up to 4 frames ahead.
  const sab = createSlotRing(6, size, 1);
  const credit = new SharedArrayBuffer(8);
  const c = thread({ role: 'slot-consumer', sab, credit, count, size });
  const { rounds } = await thread({ role: 'slot-producer', sab, credit, count, size, window: 4, perRound }) as { rounds: { ringNs: number; copyNs: number }[] };
  await c;
  const fps = (ns: number) => (perRound / ns) * 1e9;
  return {
    fps: median(rounds.map((r) => fps(r.ringNs))),
    copyFps: median(rounds.map((r) => fps(r.copyNs))),
    ratio: median(rounds.map((r) => r.copyNs / r.ringNs)),
  };
}

interface Latency { p50: number; p99: number; pmP50: number; pmP99: number; bareP50: number; bareP99: number; syncP50: number; syncP99: number; spinP50: number; spinP99: number; cpu: CpuLatencyState }

/** The box's own request, as `orbox run` holds it. */
const boxWakeLatencyUs = demoConfig().cpu.wakeLatencyUs;

async function latency(): Promise<Latency> {
  const count = 4000;
  const ringHops = async (wait: 'async' | 'blocking' | 'spin'): Promise<number[]> => {
    const sab = createRing(1 << 16, 1);
    const c = thread({ role: 'latency-consumer', sab, count, size: 16, wait });
    await new Promise((r) => setTimeout(r, 100));
    await thread({ role: 'latency-producer', sab, count, size: 16, intervalUs: 500 });
    return (await c).hops as number[];
  };
  const bare = await ringHops('async');
  const request = requestCpuWakeLatency(boxWakeLatencyUs);
  try {
    const hops = await ringHops('async');
    const sync = await ringHops('blocking');
    const spin = await ringHops('spin');
    const { port1, port2 } = new MessageChannel();
    const pc = thread({ role: 'pm-latency-consumer', port: port2, count }, [port2]);
    await new Promise((r) => setTimeout(r, 100));
    await thread({ role: 'pm-latency-producer', port: port1, count, intervalUs: 500 }, [port1]);
    const pm = (await pc).hops as number[];
    const warm = (xs: number[]) => xs.slice(100);
    const us = (xs: number[], p: number) => pct(warm(xs), p) / 1000;
    return {
      p50: us(hops, 50), p99: us(hops, 99), pmP50: us(pm, 50), pmP99: us(pm, 99), bareP50: us(bare, 50), bareP99: us(bare, 99),
      syncP50: us(sync, 50), syncP99: us(sync, 99), spinP50: us(spin, 50), spinP99: us(spin, 99),
      cpu: { ...request.state }, // as it was while measuring: release() clears held
    };
  } finally {
    request.release();
  }
}

const runs = Number(process.env.ORBOX_BENCH_RUNS ?? 3);
const small: Small[] = [];
const big: Frames[] = [];
const lat: Latency[] = [];
for (let i = 0; i < runs; i++) {
  console.error(`# ring bench run ${i + 1}/${runs}: small records`);
  small.push(await smallRecords());
  console.error(`# ring bench run ${i + 1}/${runs}: 1080p frames`);
  big.push(await frames());
  console.error(`# ring bench run ${i + 1}/${runs}: hop latency`);
  lat.push(await latency());
}
const pmRate = median(small.map((s) => s.pm));
const ratio = median(small.map((s) => s.ringBatch / s.pm));
const ratioSingle = median(small.map((s) => s.ring / s.pm));
const ratioBurst = median(small.map((s) => s.ringBurst / s.pm));
console.log(`BENCH ring small_records_per_s=${fmt(median(small.map((s) => s.ringBatch)))} postmessage_records_per_s=${fmt(pmRate)} ratio=${fmt(ratio, 1)} goal=20 goal_met=${ratio >= 20} (64 B records, readBatch consumer)`);
console.log(`BENCH ring small_records_burst_per_s=${fmt(median(small.map((s) => s.ringBurst)))} ratio_burst=${fmt(ratioBurst, 1)} goal=20 goal_met=${ratioBurst >= 20} (the same, producer publishing bursts of ${BURST} records: append() + publish())`);
console.log(`BENCH ring small_records_readinto_per_s=${fmt(median(small.map((s) => s.ring)))} ratio_readinto=${fmt(ratioSingle, 1)} (the same, one record per call)`);
const fps = median(big.map((b) => b.fps));
const copyFps = median(big.map((b) => b.copyFps));
const bwRatio = median(big.map((b) => b.ratio));
const mb = (f: number) => fmt((f * 1920 * 1080 * 1.5) / 1e6);
console.log(`BENCH ring frames_1080p_nv12_per_s=${fmt(fps)} ring_MB_per_s=${mb(fps)} plain_copy_MB_per_s=${mb(copyFps)} ratio=${fmt(bwRatio, 2)} goal=0.7 goal_met=${bwRatio >= 0.7}`);
const p99 = median(lat.map((l) => l.p99));
const requestNote = boxWakeLatencyUs === null ? 'the box makes no CPU wake-up latency request'
  : lat.every((l) => l.cpu.held) ? `with the box's CPU wake-up latency request, ${boxWakeLatencyUs} us` : `WITHOUT the box's CPU wake-up latency request (${lat.find((l) => !l.cpu.held)?.cpu.error})`;
const m = (f: (l: Latency) => number) => fmt(median(lat.map(f)), 1);
console.log(`BENCH ring hop_latency_p50_us=${m((l) => l.p50)} hop_latency_p99_us=${fmt(p99, 1)} postmessage_p50_us=${m((l) => l.pmP50)} postmessage_p99_us=${m((l) => l.pmP99)} goal_p99_us=100 goal_met=${p99 < 100} (${requestNote})`);
console.log(`BENCH ring hop_latency_no_request_p50_us=${m((l) => l.bareP50)} hop_latency_no_request_p99_us=${m((l) => l.bareP99)} (reference: the same hop without the request)`);
console.log(`BENCH ring hop_latency_blocking_wait_p50_us=${m((l) => l.syncP50)} hop_latency_blocking_wait_p99_us=${m((l) => l.syncP99)} (reference, ${requestNote}: the machine's bare wake-up, a consumer blocked in Atomics.wait)`);
console.log(`BENCH ring hop_latency_spinning_p50_us=${m((l) => l.spinP50)} hop_latency_spinning_p99_us=${m((l) => l.spinP99)} (floor, ${requestNote}: a consumer that never sleeps, so no wake-up at all; what is left is the machine's scheduling)`);
