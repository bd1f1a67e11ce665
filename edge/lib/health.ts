/**
 * Health table: one SharedArrayBuffer, allocated by the supervisor, in which every worker
 * writes its heartbeat and state and the guard writes the box's health verdict.
 *
 * Layout (BigInt64 words, so heartbeats are monotonic ns that never wrap):
 *
 *   word 0: MAGIC | 1: VERSION | 2: WORKERS | 3: VERDICT (1 healthy, 0 not)
 *   word 4: CHANGES, bumped (and notified) by the supervisor when a worker dies, so the guard
 *           acts at once instead of at its next tick | 5..7: reserved
 *   then per worker, 8 words: STATE, HEARTBEAT_NS, RESTARTS, LAST_EXIT, STARTED_NS,
 *                             FAILS_IN_ROW, LAST_FAULT (reason code), READY_NS
 *
 * Writers: a worker writes only its own STATE and HEARTBEAT_NS (from its runtime); the
 * supervisor writes STATE on exit/start, RESTARTS, LAST_EXIT, STARTED_NS, READY_NS; the
 * guard writes FAILS_IN_ROW, LAST_FAULT and VERDICT. Every access is an Atomics operation.
 * Readers may see a value a moment old; nothing here needs more than that.
 */

export const WORKER_NAMES = [
  'control', 'guard', 'device-data', 'video-capture', 'audio-capture',
  'video-encode', 'audio-encode', 'net-send', 'duplex-voice',
] as const;
export type WorkerName = (typeof WORKER_NAMES)[number];

export enum WorkerState { Stopped = 0, Starting = 1, Ready = 2, Stopping = 3, Dead = 4, Hung = 5, Backoff = 6 }

export enum Fault { None = 0, Exited = 1, Threw = 2, Hung = 3, StartTimeout = 4 }

const MAGIC = 0x544c414548425251n; // 'QRBHEALT' as little-endian bytes: marks a health table
const VERSION = 1n;
const HEADER = 8;
const PER = 8;
const F_STATE = 0, F_HEARTBEAT = 1, F_RESTARTS = 2, F_LAST_EXIT = 3, F_STARTED = 4, F_FAILS = 5, F_FAULT = 6, F_READY = 7;

export function createHealthTable(workers = WORKER_NAMES.length): SharedArrayBuffer {
  const sab = new SharedArrayBuffer((HEADER + workers * PER) * 8);
  const w = new BigInt64Array(sab);
  w[1] = VERSION;
  w[2] = BigInt(workers);
  Atomics.store(w, 0, MAGIC);
  return sab;
}

export const monoNs = (): bigint => process.hrtime.bigint();

export interface WorkerHealth {
  name: WorkerName;
  state: WorkerState;
  stateName: string;
  /** Age of the last heartbeat in ms. */
  heartbeatAgeMs: number;
  restarts: number;
  lastExit: number;
  failsInRow: number;
  lastFault: string;
  /** ms since the current incarnation became ready, or -1. */
  upMs: number;
}

/** A view of the table; cheap to construct, usable on any thread. */
export class HealthTable {
  private readonly w: BigInt64Array;
  constructor(readonly sab: SharedArrayBuffer) {
    this.w = new BigInt64Array(sab);
    if (Atomics.load(this.w, 0) !== MAGIC || this.w[1] !== VERSION) throw new Error('not a health table');
  }

  private at(name: WorkerName, f: number): number {
    const i = WORKER_NAMES.indexOf(name);
    if (i < 0) throw new Error(`unknown worker ${name}`);
    return HEADER + i * PER + f;
  }

  get(name: WorkerName, f: number): bigint { return Atomics.load(this.w, this.at(name, f)); }
  private set(name: WorkerName, f: number, v: bigint): void { Atomics.store(this.w, this.at(name, f), v); }

  state(name: WorkerName): WorkerState { return Number(this.get(name, F_STATE)) as WorkerState; }
  setState(name: WorkerName, s: WorkerState): void { this.set(name, F_STATE, BigInt(s)); }
  beat(name: WorkerName, now = monoNs()): void { this.set(name, F_HEARTBEAT, now); }
  heartbeatAgeMs(name: WorkerName, now = monoNs()): number { return Number(now - this.get(name, F_HEARTBEAT)) / 1e6; }

  markStarting(name: WorkerName): void {
    const now = monoNs();
    this.set(name, F_STARTED, now);
    this.set(name, F_READY, 0n);
    this.set(name, F_HEARTBEAT, now);
    this.setState(name, WorkerState.Starting);
  }
  markReady(name: WorkerName): void { this.set(name, F_READY, monoNs()); this.beat(name); this.setState(name, WorkerState.Ready); }
  markExited(name: WorkerName, code: number, fault: Fault): void {
    this.set(name, F_LAST_EXIT, BigInt(code));
    this.set(name, F_FAULT, BigInt(fault));
    this.setState(name, WorkerState.Dead);
    Atomics.add(this.w, 4, 1n);
    Atomics.notify(this.w, 4);
  }

  /** Resolves when a worker dies or `timeoutMs` passes, without blocking the event loop. */
  async waitForChange(timeoutMs: number): Promise<void> {
    const seen = Atomics.load(this.w, 4);
    const r = Atomics.waitAsync(this.w, 4, seen, timeoutMs);
    if (r.async) await r.value;
  }
  countRestart(name: WorkerName): void { Atomics.add(this.w, this.at(name, F_RESTARTS), 1n); }
  failsInRow(name: WorkerName): number { return Number(this.get(name, F_FAILS)); }
  setFailsInRow(name: WorkerName, n: number): void { this.set(name, F_FAILS, BigInt(n)); }
  setFault(name: WorkerName, f: Fault): void { this.set(name, F_FAULT, BigInt(f)); }
  readyAtNs(name: WorkerName): bigint { return this.get(name, F_READY); }

  get healthy(): boolean { return Atomics.load(this.w, 3) === 1n; }
  set healthy(v: boolean) { Atomics.store(this.w, 3, v ? 1n : 0n); }

  snapshot(name: WorkerName, now = monoNs()): WorkerHealth {
    const state = this.state(name);
    const ready = this.get(name, F_READY);
    return {
      name, state, stateName: WorkerState[state].toLowerCase(),
      heartbeatAgeMs: Math.round(this.heartbeatAgeMs(name, now)),
      restarts: Number(this.get(name, F_RESTARTS)),
      lastExit: Number(this.get(name, F_LAST_EXIT)),
      failsInRow: Number(this.get(name, F_FAILS)),
      lastFault: Fault[Number(this.get(name, F_FAULT))]?.toLowerCase() ?? 'unknown',
      upMs: state === WorkerState.Ready && ready > 0n ? Math.round(Number(now - ready) / 1e6) : -1,
    };
  }
}
