/**
 * The supervisor: the main thread of `orbox run`.
 *
 * Owns: the validated configuration, every ring (allocated here, so they outlive any worker),
 * the health table, the nine worker threads and their incarnations, message routing between
 * workers (events to control's inbox, commands to a worker's inbox), restarts (when the
 * guard asks; the guard itself is watched here), the systemd protocol, the CPU wake-up
 * latency request (cpu-latency.ts), held from start() to the end of stop(), and the RTSP
 * server child process (RtspServerHost, when there are channels): forked and reaped here,
 * so it and its viewers' sessions outlive every net-send incarnation; each incarnation gets
 * its own MessagePort to it in its boot (`rtspServer`), the previous one's closed.
 *
 * Lifecycle: new Supervisor(config) validates nothing further and allocates nothing;
 * start() allocates rings, starts all workers, resolves once every one is ready (or rejects
 * on the start deadline, after stopping what did start); stop() asks every worker to stop
 * within guard.stopTimeoutMs, terminates those that did not, and is idempotent.
 *
 * Events (EventEmitter): 'worker-ready' (name, incarnation), 'worker-exit' (name, code,
 * fault), 'worker-event' (name, event), 'restart' (name, fault, delayMs).
 */
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { rtspRealm, type BoxConfig } from '../config/index.js';
import { BoxClock, takeAnchor, type ClockAnchor } from '../lib/clock.js';
import { Fault, HealthTable, WORKER_NAMES, WorkerState, createHealthTable, type WorkerName } from '../lib/health.js';
import { createLogger, type Logger } from '../lib/log.js';
import { RingProducer, createRing, createSlotRing, FLAG_SYNC } from '../lib/ring/index.js';
import { INBOX_KIND_JSON } from '../lib/record-kinds.js';
import { countFailure, planRings, type InboxMessage, type RingAttachment, type RingSpec, type ToSupervisor, type WorkerBoot } from '../runtime/index.js';
import { requestCpuWakeLatency, type CpuLatencyRequest } from '../lib/cpu-latency.js';
import { systemdNotifier, type Notifier } from './sd-notify.js';
import { RtspServerHost } from '../net/rtsp/index.js';

interface Slot {
  worker: Worker | undefined;
  incarnation: number;
  ready: boolean;
  restartTimer?: NodeJS.Timeout;
}

export interface SupervisorOptions {
  notifier?: Notifier;
  log?: Logger;
  /** Worker entry module, by name (tests may substitute). */
  entry?: (name: WorkerName) => URL;
  /** The PM QoS device (tests point it elsewhere to see a box that cannot make the request). */
  cpuLatencyDevice?: string;
}

const SPARES = 3;
const defaultEntry = (name: WorkerName) => new URL(`../workers/${name}.js`, import.meta.url);

export class Supervisor extends EventEmitter {
  readonly health: HealthTable;
  readonly anchor: ClockAnchor;
  private readonly clock: BoxClock;
  readonly rings = new Map<string, { spec: RingSpec; sab: SharedArrayBuffer }>();
  private readonly inboxes = new Map<WorkerName, RingProducer>();
  private readonly slots = new Map<WorkerName, Slot>();
  private readonly log: Logger;
  private readonly notifier: Notifier;
  private readonly entry: (name: WorkerName) => URL;
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  private timers: NodeJS.Timeout[] = [];
  private stopping: Promise<void> | undefined;
  private readonly encoder = new TextEncoder();
  /** Pre-booted standby threads (workers/standby.ts): three, so failures in quick succession all restart fast. */
  private readonly spares: Worker[] = [];
  private readonly spareReady = new Set<Worker>();
  private readonly spareDetach = new Map<Worker, () => void>();
  private readonly cpuLatencyDevice: string | undefined;
  private cpuLatency: CpuLatencyRequest | undefined;
  private rtspHost: RtspServerHost | undefined;

  /**
   * Resolves once the standby threads have booted: from then on a restart costs only the
   * worker's own start. (A box is usable before; restarts are just slower until then.)
   */
  async settled(): Promise<void> {
    while (this.state === 'running' && !this.customEntry && this.spareReady.size < SPARES) {
      await new Promise((r) => this.once('standby-ready', r));
    }
  }

  constructor(readonly config: BoxConfig, opts: SupervisorOptions = {}) {
    super();
    this.health = new HealthTable(createHealthTable());
    this.anchor = takeAnchor();
    this.clock = new BoxClock(this.anchor);
    this.log = opts.log ?? createLogger('supervisor', { level: config.log.level });
    this.notifier = opts.notifier ?? systemdNotifier();
    this.entry = opts.entry ?? defaultEntry;
    this.customEntry = opts.entry !== undefined;
    this.cpuLatencyDevice = opts.cpuLatencyDevice;
  }

  private readonly customEntry: boolean;
  // Test runners' module hooks (--import) would slow every thread start; workers need none.
  private readonly execArgv = process.execArgv.filter((a) => a === '--enable-source-maps');

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`start() in state ${this.state}`);
    this.state = 'starting';
    this.cpuLatency = requestCpuWakeLatency(this.config.cpu.wakeLatencyUs, this.cpuLatencyDevice);
    if (this.cpuLatency.state.error) this.log.warn({ error: this.cpuLatency.state.error }, 'running without the CPU wake-up latency request: ring hops wait on deep CPU idle states');
    if (this.config.channels.length > 0) {
      const r = this.config.rtsp;
      const auth = r.auth.required
        ? { realm: rtspRealm(this.config), accountsFile: join(this.config.box.dataDir, 'access', 'accounts.json'), streams: r.auth.streams }
        : undefined;
      this.rtspHost = new RtspServerHost({ host: r.host, port: r.port, rtpPortStart: r.rtpPortStart, rtpPortCount: r.rtpPortCount, log: this.log, ...(auth ? { auth } : {}) });
      this.rtspHost.run(); // net-send waits for it to listen; a taken port is retried
    }
    for (const spec of planRings(this.config)) {
      const sab = spec.type === 'slot'
        ? createSlotRing(spec.slots!, spec.bytes, spec.consumers.length)
        : createRing(spec.bytes, spec.consumers.length);
      this.rings.set(spec.name, { spec, sab });
      if (spec.producer === 'supervisor') this.inboxes.set(spec.consumers[0], new RingProducer(sab));
    }
    const ready = WORKER_NAMES.map((name) => new Promise<void>((resolve) => {
      const onReady = (n: WorkerName) => { if (n === name) { this.off('worker-ready', onReady); resolve(); } };
      this.on('worker-ready', onReady);
    }));
    for (const name of WORKER_NAMES) this.spawn(name);
    const deadline = new Promise<never>((_, reject) => {
      const t = setTimeout(() => reject(new Error(`workers not ready within ${this.config.guard.startTimeoutMs} ms: ${WORKER_NAMES.filter((n) => !this.slots.get(n)?.ready).join(', ')}`)), this.config.guard.startTimeoutMs);
      this.timers.push(t);
    });
    try {
      await Promise.race([Promise.all(ready), deadline]);
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.state = 'running';
    this.bootSpare();
    this.timers.push(setInterval(() => this.watchGuard(), this.config.guard.heartbeatMs));
    this.notifier.notify('READY=1');
    if (this.notifier.watchdogMs > 0) {
      this.timers.push(setInterval(() => { if (this.health.healthy) this.notifier.notify('WATCHDOG=1'); }, Math.max(100, this.notifier.watchdogMs / 3)));
    }
    this.log.info({ workers: WORKER_NAMES.length, rings: this.rings.size }, 'box running');
  }

  private attachments(name: WorkerName): Record<string, RingAttachment> {
    const out: Record<string, RingAttachment> = {};
    for (const { spec, sab } of this.rings.values()) {
      if (spec.producer === name) out[spec.name] = { sab, type: spec.type, role: 'producer', index: 0 };
      const i = spec.consumers.indexOf(name);
      if (i >= 0) out[spec.name] = { sab, type: spec.type, role: 'consumer', index: i };
    }
    return out;
  }

  private spawn(name: WorkerName): void {
    const prev = this.slots.get(name);
    const slot: Slot = { worker: undefined, incarnation: (prev?.incarnation ?? 0) + 1, ready: false };
    this.slots.set(name, slot);
    const boot: WorkerBoot = {
      name, incarnation: slot.incarnation, config: this.config, anchor: this.anchor, health: this.health.sab,
      rings: this.attachments(name),
      observe: name === 'control' ? [...this.rings.values()] : undefined,
      cpuLatency: name === 'control' ? this.cpuLatency?.state : undefined,
      rtspServer: name === 'net-send' ? this.rtspHost?.attach() : undefined,
    };
    const transfer = boot.rtspServer ? [boot.rtspServer] : [];
    this.health.markStarting(name);
    let w: Worker;
    // Only a standby that has finished loading is faster than a fresh thread.
    const i = this.state === 'running' && !this.customEntry ? this.spares.findIndex((x) => this.spareReady.has(x)) : -1;
    const spare = i >= 0 ? this.spares.splice(i, 1)[0] : undefined;
    if (spare) {
      w = spare;
      this.spareDetach.get(w)?.();
      this.spareDetach.delete(w);
      w.postMessage({ type: 'become', boot }, transfer);
      setImmediate(() => this.bootSpare());
    } else {
      w = new Worker(this.entry(name), { workerData: boot, transferList: transfer, execArgv: this.execArgv, name: `orbox-${name}` });
    }
    slot.worker = w;
    const current = () => this.slots.get(name) === slot && this.state !== 'stopped';
    let threw = false;
    w.on('message', (m: ToSupervisor) => { if (current()) this.onMessage(name, slot, m); });
    w.on('error', (err) => {
      threw = true;
      if (current()) this.log.error({ target: name, err }, 'worker threw');
    });
    w.on('exit', (code) => {
      if (!current() || slot.worker !== w) return;
      slot.worker = undefined;
      slot.ready = false;
      if (this.state === 'stopping') return;
      const fault = threw ? Fault.Threw : Fault.Exited;
      this.health.markExited(name, code, fault);
      this.log.warn({ target: name, code, fault: Fault[fault].toLowerCase() }, 'worker exited');
      this.emit('worker-exit', name, code, fault);
      if (name === 'guard') this.watchGuard(); // nobody else will notice

    });
  }

  /** Boots the standby thread that the next restart will use (see workers/standby.ts). */
  private bootSpare(): void {
    // One at a time: a standby loads every heavy library, and two loading at once compete
    // for the CPU with the worker that is being restarted right then.
    if (this.spares.length >= SPARES || this.state !== 'running' || this.customEntry) return;
    if (this.spares.some((x) => !this.spareReady.has(x))) return;
    {
      const w = new Worker(new URL('../workers/standby.js', import.meta.url), { execArgv: this.execArgv, name: 'orbox-standby' });
      const onReady = () => { this.spareReady.add(w); this.emit('standby-ready', this.spareReady.size); this.bootSpare(); };
      const onError = (err: Error) => this.log.error({ err }, 'standby thread failed');
      const onExit = () => {
        const i = this.spares.indexOf(w);
        if (i < 0) return;
        this.spareReady.delete(w);
        this.spares.splice(i, 1);
        setTimeout(() => this.bootSpare(), 1000);
      };
      w.once('message', onReady);
      w.on('error', onError);
      w.on('exit', onExit);
      // Taking a spare removes exactly these listeners: removeAllListeners() would also drop
      // the ones Node uses to keep the worker's message port referenced.
      this.spareDetach.set(w, () => {
        w.off('message', onReady);
        w.off('error', onError);
        w.off('exit', onExit);
        this.spareReady.delete(w);
      });
      this.spares.push(w);
    }
  }

  private onMessage(name: WorkerName, slot: Slot, m: ToSupervisor): void {
    switch (m.type) {
      case 'ready':
        slot.ready = true;
        this.health.markReady(name);
        this.emit('worker-ready', name, slot.incarnation);
        return;
      case 'event':
        this.emit('worker-event', name, m.event);
        if (name !== 'control') this.send('control', { type: 'event', from: name, event: m.event });
        return;
      case 'send':
        this.send(m.to, m.msg);
        return;
      case 'restart':
        // The guard restarts what failed; control restarts what an operator asked for.
        if (name === 'guard' || (name === 'control' && m.worker !== 'control')) this.restart(m.worker, m.fault, m.delayMs);
        return;
    }
  }

  /** Puts a message into a worker's inbox ring; it waits there while the worker restarts. */
  send(to: WorkerName, msg: InboxMessage): void {
    const inbox = this.inboxes.get(to);
    if (!inbox) throw new Error(`no inbox for ${to}`);
    const t = this.clock.now();
    inbox.write(INBOX_KIND_JSON, FLAG_SYNC, t.wallNs, t.monoNs, this.encoder.encode(JSON.stringify(msg)));
  }

  /** Restarts a worker after `delayMs`, terminating its current incarnation if it still runs. */
  restart(name: WorkerName, fault: number, delayMs = 0): void {
    if (this.state !== 'running') return;
    const slot = this.slots.get(name);
    if (!slot || slot.restartTimer) return;
    this.health.setState(name, WorkerState.Backoff);
    this.emit('restart', name, fault, delayMs);
    const old = slot.worker;
    slot.worker = undefined;
    slot.ready = false;
    // A hung thread is stopped by terminate() (V8 interrupts running JavaScript).
    const gone = old ? old.terminate().catch(() => 0) : Promise.resolve(0);
    slot.restartTimer = setTimeout(async () => {
      await gone;
      if (this.state !== 'running') return;
      this.health.countRestart(name);
      this.log.info({ target: name, fault: Fault[fault]?.toLowerCase(), delayMs }, 'restarting worker');
      this.spawn(name);
    }, delayMs);
  }

  /** The guard cannot watch itself: the supervisor restarts it when it dies or hangs. */
  private watchGuard(): void {
    const st = this.health.state('guard');
    const hung = st === WorkerState.Ready && this.health.heartbeatAgeMs('guard') > this.config.guard.hangMs;
    if (st !== WorkerState.Dead && !hung) return;
    if (hung) this.health.setFault('guard', Fault.Hung);
    this.restart('guard', hung ? Fault.Hung : Fault.Exited, countFailure(this.health, 'guard', this.config.guard).delayMs);
  }

  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.state = 'stopping';
    this.notifier.notify('STOPPING=1');
    for (const t of this.timers) clearTimeout(t);
    await Promise.all(this.spares.splice(0).map((w) => w.terminate()));
    const deadline = this.config.guard.stopTimeoutMs;
    await Promise.all(WORKER_NAMES.map(async (name) => {
      const slot = this.slots.get(name);
      if (!slot) return;
      clearTimeout(slot.restartTimer);
      const w = slot.worker;
      if (!w) return;
      const exited = new Promise<void>((r) => w.once('exit', () => r()));
      w.postMessage({ type: 'stop', deadlineMs: deadline });
      const t = setTimeout(() => { this.log.warn({ target: name }, 'did not stop in time; terminating'); void w.terminate(); }, deadline);
      await exited;
      clearTimeout(t);
      this.health.setState(name, WorkerState.Stopped);
    }));
    await this.rtspHost?.close(); // after net-send: its streams' viewers got their BYE
    this.cpuLatency?.release();
    this.state = 'stopped';
    this.log.info('box stopped');
  }
}
