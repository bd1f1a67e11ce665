/**
 * The worker runtime: what every one of the nine worker threads runs around its own module.
 *
 * Owns, per worker thread: attaching its rings, the heartbeat (written into the health table
 * every `guard.heartbeatMs`, which also holds the event loop open: a pending
 * Atomics.waitAsync does not), reading the inbox ring, answering pings, fault injection for
 * tests of the guard, and the lifecycle: start -> ready (posted to the supervisor) -> stop
 * with a deadline (the module's stop() is given the deadline; the thread exits after).
 *
 * A worker module is `{ start(ctx), stop(), onMessage? }`. Errors thrown by start() end the
 * thread with a non-zero exit, which the guard sees and the supervisor restarts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BoxClock } from '../lib/clock.js';
import { HealthTable, WorkerState, type WorkerName } from '../lib/health.js';
import { createLogger, type Logger } from '../lib/log.js';
import { RingConsumer, RingProducer, SlotConsumer, SlotProducer, READ_EMPTY, type RecordMeta } from '../lib/ring/index.js';
import type { BoxConfig } from '../config/index.js';
import { INBOX_KIND_JSON } from '../lib/record-kinds.js';
import type { FromSupervisor, InboxMessage, ToSupervisor, WorkerBoot, WorkerEvent } from './boot.js';

export interface WorkerContext {
  readonly name: WorkerName;
  readonly incarnation: number;
  readonly config: BoxConfig;
  readonly clock: BoxClock;
  readonly log: Logger;
  readonly health: HealthTable;
  readonly boot: WorkerBoot;
  /** Producer side of a record ring this worker writes. */
  producer(ring: string): RingProducer;
  slotProducer(ring: string): SlotProducer;
  consumer(ring: string): RingConsumer;
  slotConsumer(ring: string): SlotConsumer;
  /** Names of the rings this worker is attached to in a role, optionally by prefix. */
  rings(role: 'producer' | 'consumer', prefix?: string): string[];
  /** Reports an event (routed by the supervisor to control). */
  emit(event: WorkerEvent): void;
  /** Sends a message into another worker's inbox, through the supervisor. */
  send(to: WorkerName, msg: InboxMessage): void;
  /** Posts a raw message to the supervisor (guard's restart requests). */
  post(msg: ToSupervisor): void;
  /** True until stop begins; loops check it. */
  readonly running: boolean;
}

export interface WorkerModule {
  start(ctx: WorkerContext): Promise<void> | void;
  /** Stops within the deadline (ms); the thread exits right after. */
  stop(deadlineMs: number): Promise<void> | void;
  onMessage?(msg: InboxMessage): Promise<void> | void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let standbyBoot: WorkerBoot | undefined;

/** Used by the standby thread: the boot of the worker it is about to become. */
export function setBoot(boot: WorkerBoot): void {
  standbyBoot = boot;
}

/** Runs a worker module on this thread. Call once, at the top of the worker's entry module. */
export function runWorker(mod: WorkerModule): void {
  const boot = standbyBoot ?? (workerData as WorkerBoot);
  const port = parentPort!;
  const health = new HealthTable(boot.health);
  const log = createLogger(boot.name, { level: boot.config.log.level });
  const clock = new BoxClock(boot.anchor);
  const attached = new Map<string, RingProducer | RingConsumer | SlotProducer | SlotConsumer>();
  let running = true;
  // The inbox stays open while the module stops: control still takes the events the other
  // workers send as they stop (a recorder's last segment-closed), until the thread exits.
  let exiting = false;

  function attach<T>(ring: string, role: 'producer' | 'consumer', type: 'record' | 'slot'): T {
    const a = boot.rings[ring];
    if (!a || a.role !== role || a.type !== type) throw new Error(`${boot.name} is not a ${type}-ring ${role} of "${ring}"`);
    let v = attached.get(ring);
    if (!v) {
      // A consumer attaching for the first time takes everything since the box started: the
      // supervisor made the ring empty, and what others wrote before this worker got here
      // (a recorder's segment-opened in control's inbox, say) is meant for it. Later attaches
      // (restarts) resume at their own cursor.
      v = type === 'record'
        ? role === 'producer' ? new RingProducer(a.sab) : new RingConsumer(a.sab, a.index, 'oldest')
        : role === 'producer' ? new SlotProducer(a.sab) : new SlotConsumer(a.sab, a.index);
      attached.set(ring, v);
    }
    return v as T;
  }

  const ctx: WorkerContext = {
    name: boot.name, incarnation: boot.incarnation, config: boot.config, clock, log, health, boot,
    producer: (r) => attach(r, 'producer', 'record'),
    slotProducer: (r) => attach(r, 'producer', 'slot'),
    consumer: (r) => attach(r, 'consumer', 'record'),
    slotConsumer: (r) => attach(r, 'consumer', 'slot'),
    rings: (role, prefix = '') => Object.entries(boot.rings).filter(([n, a]) => a.role === role && n.startsWith(prefix)).map(([n]) => n),
    emit: (event) => port.postMessage({ type: 'event', event } satisfies ToSupervisor),
    send: (to, msg) => port.postMessage({ type: 'send', to, msg } satisfies ToSupervisor),
    post: (msg) => port.postMessage(msg),
    get running() { return running; },
  };

  const beat = () => health.beat(boot.name);
  beat();
  const heartbeat = setInterval(beat, boot.config.guard.heartbeatMs);

  async function inboxLoop(): Promise<void> {
    const inbox = ctx.consumer(`inbox.${boot.name}`);
    const buf = new Uint8Array(inbox.maxPayload);
    const text = new TextDecoder();
    while (!exiting) {
      const n = inbox.readInto(buf);
      if (n === READ_EMPTY) { await inbox.wait(); continue; }
      if (inbox.meta.kind !== INBOX_KIND_JSON) continue;
      let msg: InboxMessage;
      try {
        msg = JSON.parse(text.decode(buf.subarray(0, n)));
      } catch (err) {
        log.warn({ err }, 'unreadable inbox record skipped');
        continue;
      }
      await handle(msg);
    }
  }

  async function handle(msg: InboxMessage): Promise<void> {
    switch (msg.type) {
      case 'ping':
        ctx.emit({ type: 'pong', id: msg.id, worker: boot.name, incarnation: boot.incarnation });
        return;
      case 'fault':
        if (!boot.config.debug.faultInjection) { log.warn({ mode: msg.mode }, 'fault injection refused: debug.faultInjection is off'); return; }
        log.warn({ mode: msg.mode }, 'injecting fault');
        if (msg.mode === 'exit') process.exit(70);
        if (msg.mode === 'throw') setImmediate(() => { throw new Error(`injected fault in ${boot.name}`); });
        if (msg.mode === 'hang') for (;;) { /* a hung event loop: no heartbeat, no messages */ }
        return;
      default:
        try {
          await mod.onMessage?.(msg);
        } catch (err) {
          log.error({ err, msg: msg.type }, 'message handler failed');
        }
    }
  }

  port.on('message', async (m: FromSupervisor) => {
    if (m.type !== 'stop' || !running) return;
    running = false;
    health.setState(boot.name, WorkerState.Stopping);
    // Loops over this worker's rings wait without a timeout; this is how they see `running`.
    for (const v of attached.values()) if (v instanceof RingConsumer || v instanceof SlotConsumer) v.wake();
    const deadline = Math.max(10, m.deadlineMs - 50);
    try {
      await Promise.race([mod.stop(deadline), sleep(deadline)]);
    } catch (err) {
      log.error({ err }, 'stop failed');
    }
    clearInterval(heartbeat);
    exiting = true;
    process.exit(0);
  });

  (async () => {
    // Attach every ring up front: a producer pads over a record its previous incarnation
    // left half-written, and each consumer claims its cursor before any work begins.
    for (const [ring, a] of Object.entries(boot.rings)) attach(ring, a.role, a.type);
    await mod.start(ctx);
    port.postMessage({ type: 'ready' } satisfies ToSupervisor);
    log.debug({ incarnation: boot.incarnation }, 'ready');
    await inboxLoop();
  })().catch((err) => {
    log.fatal({ err }, 'worker failed');
    process.exitCode = 1;
    throw err;
  });
}

/**
 * Drains a record ring until the worker stops, calling `onRecord` for each record. The
 * callback gets a view valid only until it returns.
 */
export async function pumpRecords(ctx: WorkerContext, ring: string, onRecord: (payload: Uint8Array, c: RingConsumer) => void | Promise<void>): Promise<void> {
  const c = ctx.consumer(ring);
  const buf = new Uint8Array(c.maxPayload);
  while (ctx.running) {
    const n = c.readInto(buf);
    if (n === READ_EMPTY) { await c.wait(); continue; }
    await onRecord(buf.subarray(0, n), c);
  }
}

/** Drains a slot ring until the worker stops; each frame is released after `onFrame` returns. */
export async function pumpFrames(ctx: WorkerContext, ring: string, onFrame: (f: NonNullable<ReturnType<SlotConsumer['acquire']>>) => void | Promise<void>): Promise<void> {
  const c = ctx.slotConsumer(ring);
  while (ctx.running) {
    const f = c.acquire();
    if (!f) { await c.wait(); continue; }
    try { await onFrame(f); } finally { c.release(f); }
  }
}

/**
 * Consumes every input ring of this worker except its inbox, handing each record or frame
 * to `handlers[ringPrefix]` when one matches and otherwise just keeping the cursor moving
 * (so the ring's counters show a live consumer). A record's handler also gets the ring's name
 * and the record's metadata (kind, capture time), valid only until it returns. Resolves when
 * the worker stops.
 */
export function drainInputs(ctx: WorkerContext, handlers: Record<string, (payload: Uint8Array, meta?: RecordMeta, ring?: string) => void> = {}): Promise<void[]> {
  const loops = ctx.rings('consumer').filter((r) => !r.startsWith('inbox.')).map((ring) => {
    const handler = Object.entries(handlers).find(([p]) => ring.startsWith(p))?.[1];
    return ctx.boot.rings[ring].type === 'slot'
      ? pumpFrames(ctx, ring, (f) => handler?.(f.bytes))
      : pumpRecords(ctx, ring, (p, c) => handler?.(p, c.meta, ring));
  });
  return Promise.all(loops);
}
