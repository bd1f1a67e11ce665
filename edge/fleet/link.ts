/**
 * FleetLink: the box's side of the fleet link (MQTT 5 over mutual TLS, protobuf payloads).
 *
 * Owns, for one box:
 *  - the connection, with its own reconnect loop (capped exponential backoff with jitter; the
 *    mqtt.js reconnect is off because it has neither) and ONE state enum, LinkState;
 *  - birth on every connect (retained, QoS 1, every metric with name, alias and value) and death
 *    as the MQTT last will (QoS 1, not retained) with the same bd_seq; on close() the death is
 *    published by the box itself because a normal DISCONNECT suppresses the will;
 *  - telemetry by exception (MetricSet), seq 1..255,0.. after each birth (seq 0);
 *  - commands on orbox/v1/<box>/cmd, executed one at a time, in arrival order, at most once per
 *    command id (FleetStore ledger, written synchronously before mqtt.js sends the PUBACK), each
 *    answered with an Ack; a duplicate id gets the stored answer again, flagged `duplicate`;
 *  - the outbox: acks and events go to disk first and are sent in order when online, each
 *    removed on its PUBACK (at-least-once; the console dedups by command id / event seq).
 *
 * Commands while offline: a persistent session (clean=false, sessionExpiryInterval, fixed client
 * id = box id, QoS 1 subscription). Chosen over a jobs-style queue because the broker we already
 * run stores them (across its restarts, with persistence on) and needs no extra service; MQTT 5
 * message expiry plus the command's own expires_at_ms keep a stale "start recording" from running
 * a day late. A jobs service would be the choice for multi-step OTA rollouts (ota/), not here.
 *
 * Lifecycle: constructor validates (FleetConfigError); start() opens the store and begins
 * connecting but does not wait for the broker (the box runs without one); close() is idempotent,
 * cancels queued commands, waits briefly for the running one, says death, ends the connection
 * and the drain loop, and closes the store.
 *
 * Errors: broker refusals surface as FleetBrokerError (reason code) through the `connectError`
 * event; malformed or oversize commands through `commandRejected` (and an INVALID ack when the
 * command id can be read). Nothing received from the network can throw out of the link.
 *
 * Runs on: the control worker (wrapped thinly: it feeds metrics and executes commands).
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { BoxClock, nsToMs } from '../lib/clock.js';
import { Backoff } from '../lib/backoff.js';
import {
  type Ack,
  type AckState,
  type FleetCommand,
  type MetricValue,
  TERMINAL_ACK_STATES,
  decodeAck,
  decodeCommand,
  encodeAck,
  encodeBirth,
  encodeDeath,
  encodeEvent,
  encodeTelemetry,
  salvageCommandId,
  type Severity,
  MAX_ACK_BYTES,
} from './codec.js';
import { type FleetLinkConfig, type FleetLinkConfigInput, parseFleetLinkConfig } from './config.js';
import { FleetBrokerError, FleetClosedError, FleetError, FleetStateError, FleetTimeoutError, reasonCodeOf } from './errors.js';
import { type MetricDefinition, MetricSet } from './metrics.js';
import { disableNagle } from './nagle.js';
import { nextSeq } from './seq.js';
import { FleetStore } from './store.js';
import { topicFor } from './topics.js';

/**
 * idle -> connecting -> online -> waiting (backoff) -> connecting ...; any -> closing -> closed.
 * `waiting` is also where the box sits, fully working, while the broker is unreachable.
 */
export type LinkState = 'idle' | 'connecting' | 'online' | 'waiting' | 'closing' | 'closed';

/** Terminal answer of a command handler. */
export interface CommandResult {
  state: Exclude<AckState, 'waiting' | 'started'>;
  message?: string;
  details?: Record<string, string>;
}

export interface CommandContext {
  /** Sends an intermediate acknowledgement (e.g. a device command that is waiting, then started). */
  progress(state: 'waiting' | 'started', message?: string, details?: Record<string, string>): void;
  /** Aborted on close() or when the command times out. */
  signal: AbortSignal;
}

export interface FleetLinkHandlers {
  /**
   * Executes one command (never two at once, never the same id twice). `rebirth` is handled by
   * the link itself. Throwing answers FAILED with the error's message.
   */
  onCommand(cmd: FleetCommand, ctx: CommandContext): Promise<CommandResult>;
}

export interface FleetLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface FleetLinkDeps {
  clock?: BoxClock;
  timers?: Timers;
  /** Random source of the backoff jitter, [0, 1). */
  random?: () => number;
  /** mqtt.connect or a stand-in. */
  connect?: (url: string, opts: IClientOptions) => MqttClient;
  log?: FleetLogger;
  /** Metrics known at start (see standardMetrics()). */
  metrics?: readonly MetricDefinition[];
}

export interface CommandRejection {
  reason: string;
  /** Read from the payload when possible; an INVALID ack was queued for it. */
  commandId?: string;
  bytes: number;
}

export interface FleetLinkEvents {
  state: [state: LinkState, previous: LinkState];
  connectError: [err: FleetError];
  commandRejected: [rejection: CommandRejection];
  commandDone: [cmd: FleetCommand, ack: Ack];
  duplicateCommand: [commandId: string];
  outboxDropped: [count: number];
}

export interface FleetLinkStats {
  outboxRecords: number;
  outboxBytes: number;
  outboxDropped: number;
  commandsExecuted: number;
  commandsRejected: number;
  duplicates: number;
  connects: number;
  bdSeq: number;
  telemetrySeq: number;
}

const NOOP_LOG: FleetLogger = { info() {}, warn() {}, error() {}, debug() {} };
const REAL_TIMERS: Timers = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };

/** Outbox records published per batch (QoS 1 in flight at once; mosquitto's default max_inflight is 20 outgoing, unlimited incoming). */
const DRAIN_BATCH = 32;
/** How long close() waits for the running command and for the death PUBACK. */
const CLOSE_GRACE_MS = 2_000;
/** At most one "command.rejected" event per this interval (a flood must not fill the outbox). */
const REJECT_EVENT_INTERVAL_MS = 1_000;

function pemOf(v: string | Uint8Array): Buffer {
  if (typeof v !== 'string') return Buffer.from(v);
  return v.includes('-----BEGIN') ? Buffer.from(v) : readFileSync(v);
}

export class FleetLink extends EventEmitter<FleetLinkEvents> {
  readonly config: FleetLinkConfig;
  private readonly metrics: MetricSet;
  private readonly store: FleetStore;
  private readonly backoff: Backoff;
  private readonly clock: BoxClock;
  private readonly timers: Timers;
  private readonly connectFn: (url: string, opts: IClientOptions) => MqttClient;
  private readonly log: FleetLogger;
  private readonly topics;
  private readonly bootId = randomBytes(8).readBigUInt64BE();
  private readonly abort = new AbortController();

  private st: LinkState = 'idle';
  private client: MqttClient | undefined;
  private clientClosed: Promise<void> | undefined;
  private reconnectTimer: unknown;
  private tls: { ca: Buffer; cert: Buffer; key: Buffer } | undefined;
  private bdSeq = 0;
  private seq = 0;
  private eventSeq = 0n;
  private execChain: Promise<void> = Promise.resolve();
  private readonly queued = new Map<string, FleetCommand>();
  private running: Promise<void> | undefined;
  private drainActive = false;
  private drainAgain = false;
  private drainPromise: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;
  private counters = { executed: 0, rejected: 0, duplicates: 0, connects: 0 };
  private rejectWindow = { count: 0, timer: undefined as unknown, lastReason: '' };

  constructor(config: FleetLinkConfigInput, private readonly handlers: FleetLinkHandlers, deps: FleetLinkDeps = {}) {
    super();
    this.config = parseFleetLinkConfig(config);
    if (typeof handlers?.onCommand !== 'function') throw new TypeError('FleetLink: handlers.onCommand is required');
    this.clock = deps.clock ?? new BoxClock();
    this.timers = deps.timers ?? REAL_TIMERS;
    this.connectFn = deps.connect ?? ((url, opts) => mqtt.connect(url, opts));
    this.log = deps.log ?? NOOP_LOG;
    this.backoff = new Backoff(this.config.reconnect, deps.random);
    this.metrics = new MetricSet(deps.metrics ?? []);
    for (const name of ['fleet/outbox_dropped', 'fleet/commands_rejected', 'fleet/connects']) this.metrics.define({ name, type: 'int' });
    this.store = new FleetStore({
      dir: this.config.queueDir,
      maxBytes: this.config.queueMaxBytes,
      maxRecords: this.config.queueMaxRecords,
      ledgerMax: this.config.dedupMaxRecords,
      durability: this.config.durability,
    });
    const id = this.config.boxId;
    this.topics = {
      birth: topicFor(id, 'birth'),
      death: topicFor(id, 'death'),
      telemetry: topicFor(id, 'telemetry'),
      cmd: topicFor(id, 'cmd'),
      ack: topicFor(id, 'ack'),
      event: topicFor(id, 'event'),
    };
  }

  get state(): LinkState {
    return this.st;
  }

  get stats(): FleetLinkStats {
    return {
      outboxRecords: this.st === 'closed' ? 0 : this.store.outboxRecords,
      outboxBytes: this.st === 'closed' ? 0 : this.store.outboxBytes,
      outboxDropped: this.store.outboxDropped,
      commandsExecuted: this.counters.executed,
      commandsRejected: this.counters.rejected,
      duplicates: this.counters.duplicates,
      connects: this.counters.connects,
      bdSeq: this.bdSeq,
      telemetrySeq: this.seq,
    };
  }

  private nowMs(): number {
    return nsToMs(this.clock.wallNs());
  }

  private setState(next: LinkState): void {
    const prev = this.st;
    if (prev === next) return;
    this.st = next;
    this.emit('state', next, prev);
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  /**
   * Opens the store (reports commands a previous run died in as FAILED), reads the TLS material
   * and starts connecting. Resolves without waiting for the broker. Throws on unreadable
   * certificates or an unusable queueDir.
   */
  async start(): Promise<void> {
    if (this.st !== 'idle') throw new FleetStateError('start', this.st);
    this.tls = { ca: pemOf(this.config.ca), cert: pemOf(this.config.cert), key: pemOf(this.config.key) };
    this.store.open();
    this.bdSeq = Number(this.store.getMeta('bd_seq') ?? 255);
    this.eventSeq = BigInt(this.store.getMeta('event_seq') ?? '0');
    for (const id of this.store.interruptedCommands()) {
      this.finish(id, { state: 'failed', message: 'interrupted by a box restart; not run again' });
    }
    this.connect();
  }

  /** Resolves when the link is online (birth sent); rejects on timeout or close. */
  waitOnline(timeoutMs: number): Promise<void> {
    if (this.st === 'online') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onState = (s: LinkState) => {
        if (s === 'online') done(undefined);
        else if (s === 'closing' || s === 'closed') done(new FleetClosedError('waitOnline'));
      };
      const timer = this.timers.setTimeout(() => done(new FleetTimeoutError('waitOnline', timeoutMs)), timeoutMs);
      const done = (err: Error | undefined) => {
        this.timers.clearTimeout(timer);
        this.off('state', onState);
        if (err) reject(err);
        else resolve();
      };
      this.on('state', onState);
    });
  }

  /** Idempotent; see the module header for what it waits for. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    const wasOnline = this.st === 'online';
    const wasStarted = this.st !== 'idle';
    this.setState('closing');
    if (this.reconnectTimer !== undefined) this.timers.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.abort.abort(new FleetClosedError('command'));
    if (wasStarted) {
      // Queued commands have not started: answer them now rather than leave them to the ledger.
      for (const [id] of this.queued) this.finish(id, { state: 'cancelled', message: 'box link closing' });
      this.queued.clear();
      if (this.running) await this.withTimeout(this.running, CLOSE_GRACE_MS).catch(() => undefined);
    }
    const client = this.client;
    if (client) {
      if (wasOnline) {
        const death = encodeDeath({ timestampMs: this.nowMs(), bdSeq: this.bdSeq, reason: 'close' });
        await this.withTimeout(client.publishAsync(this.topics.death, Buffer.from(death), { qos: 1, retain: false }), CLOSE_GRACE_MS).catch(() => undefined);
        await this.withTimeout(client.endAsync(false), CLOSE_GRACE_MS).catch(() => client.end(true));
      } else {
        client.end(true);
      }
      this.client = undefined;
    }
    await this.drainPromise.catch(() => undefined);
    if (this.rejectWindow.timer !== undefined) this.timers.clearTimeout(this.rejectWindow.timer);
    if (wasStarted) {
      this.store.setMeta('event_seq', this.eventSeq.toString());
      this.store.close();
    }
    this.setState('closed');
  }

  private withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const t = this.timers.setTimeout(() => reject(new FleetTimeoutError('close', ms)), ms);
      p.then(
        (v) => { this.timers.clearTimeout(t); resolve(v); },
        (e) => { this.timers.clearTimeout(t); reject(e); },
      );
    });
  }

  // ---- connection ----------------------------------------------------------------------------

  private connect(): void {
    if (this.st === 'closing' || this.st === 'closed') return;
    this.reconnectTimer = undefined;
    this.setState('connecting');
    // A new bd_seq per connection attempt: the will registered now and the birth sent on
    // CONNACK carry it, so a console can tell this session's death from an older one's.
    this.bdSeq = nextSeq(this.bdSeq);
    this.store.setMeta('bd_seq', String(this.bdSeq));
    const will = encodeDeath({ timestampMs: 0, bdSeq: this.bdSeq, reason: '' });
    const tls = this.tls!;
    const opts: IClientOptions = {
      protocolVersion: 5,
      clientId: this.config.boxId,
      clean: false,
      properties: { sessionExpiryInterval: this.config.sessionExpiryS },
      keepalive: this.config.keepaliveS,
      reconnectPeriod: 0, // our own loop: backoff with jitter
      connectTimeout: this.config.connectTimeoutMs,
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      rejectUnauthorized: true,
      will: { topic: this.topics.death, payload: Buffer.from(will), qos: 1, retain: false },
    };
    if (!this.config.checkServerIdentity) (opts as { checkServerIdentity?: () => undefined }).checkServerIdentity = () => undefined;
    let client: MqttClient;
    try {
      client = this.connectFn(this.config.url, opts);
    } catch (err) {
      this.reportConnectError(err);
      this.scheduleReconnect();
      return;
    }
    disableNagle(client);
    this.client = client;
    let markClosed!: () => void;
    this.clientClosed = new Promise<void>((r) => (markClosed = r));
    client.on('connect', () => void this.onConnected(client));
    client.on('message', (topic, payload) => this.onMessage(client, topic, payload));
    client.on('error', (err) => this.reportConnectError(err));
    client.on('disconnect', (packet) => {
      const rc = packet.reasonCode ?? 0;
      if (rc >= 0x80) this.reportConnectError(new FleetBrokerError('broker disconnected the box', rc));
    });
    client.on('close', () => {
      markClosed();
      if (this.client !== client) return;
      this.client = undefined;
      client.removeAllListeners('connect');
      client.end(true);
      this.scheduleReconnect();
    });
  }

  private reportConnectError(err: unknown): void {
    const rc = reasonCodeOf(err);
    const e = err instanceof FleetError ? err : rc !== undefined && rc >= 0x80 ? new FleetBrokerError('broker refused the connection', rc, { cause: err }) : new FleetError(`connection failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    this.log.warn({ err: e.message }, 'fleet link connection error');
    if (this.listenerCount('connectError') > 0) this.emit('connectError', e);
  }

  private scheduleReconnect(): void {
    if (this.st === 'closing' || this.st === 'closed' || this.reconnectTimer !== undefined) return;
    this.setState('waiting');
    const delay = this.backoff.next();
    this.log.debug({ delay, attempt: this.backoff.attempts }, 'fleet link reconnect scheduled');
    this.reconnectTimer = this.timers.setTimeout(() => this.connect(), delay);
  }

  private async onConnected(client: MqttClient): Promise<void> {
    if (this.client !== client || this.st !== 'connecting') return;
    try {
      const granted = await client.subscribeAsync(this.topics.cmd, { qos: 1 });
      const rc = granted[0]?.qos ?? 0x80;
      if (rc >= 0x80) throw new FleetBrokerError(`subscription to ${this.topics.cmd} refused`, rc);
      if (this.client !== client) return;
      this.counters.connects++;
      this.publishBirthOn(client);
      this.backoff.reset();
      this.setState('online');
      this.log.info({ bdSeq: this.bdSeq }, 'fleet link online');
      this.kickDrain();
    } catch (err) {
      this.reportConnectError(err);
      if (this.client === client) client.end(true); // 'close' schedules the retry
    }
  }

  // ---- birth and telemetry -------------------------------------------------------------------

  private refreshOwnMetrics(): void {
    this.metrics.set({
      'fleet/outbox_dropped': BigInt(this.store.outboxDropped),
      'fleet/commands_rejected': BigInt(this.counters.rejected),
      'fleet/connects': BigInt(this.counters.connects),
    });
  }

  private publishBirthOn(client: MqttClient): void {
    this.refreshOwnMetrics();
    this.seq = 0;
    const birth = encodeBirth({
      timestampMs: this.nowMs(),
      bdSeq: this.bdSeq,
      seq: 0,
      metrics: this.metrics.takeBirth(),
      firmwareVersion: this.config.firmwareVersion,
      bootId: this.bootId,
    });
    client.publish(this.topics.birth, Buffer.from(birth), { qos: 1, retain: true }, (err) => {
      if (err) this.log.warn({ err: err.message }, 'birth not acknowledged');
    });
  }

  /** Adds metric definitions; a new one makes the next publishTelemetry() a birth. */
  defineMetrics(defs: readonly MetricDefinition[]): void {
    for (const d of defs) this.metrics.define(d);
  }

  /**
   * Records current metric values (unknown names are defined from the value's type). Nothing is
   * sent until publishTelemetry(); while offline the latest values go into the next birth.
   */
  setMetrics(values: Readonly<Record<string, MetricValue>>): void {
    this.metrics.set(values);
  }

  /**
   * Publishes changed metrics (QoS 0) and returns the telemetry seq used; publishes a birth
   * instead (returning 0) when metrics were defined since the last one; undefined when offline
   * or when nothing changed.
   */
  publishTelemetry(): number | undefined {
    const client = this.client;
    if (this.st !== 'online' || !client) return undefined;
    this.refreshOwnMetrics();
    if (this.metrics.birthNeeded) {
      this.publishBirthOn(client);
      return 0;
    }
    const changes = this.metrics.takeChanges();
    if (changes.length === 0) return undefined;
    this.seq = nextSeq(this.seq);
    const payload = encodeTelemetry({ timestampMs: this.nowMs(), seq: this.seq, metrics: changes });
    client.publish(this.topics.telemetry, Buffer.from(payload), { qos: 0 });
    return this.seq;
  }

  // ---- events and the outbox -----------------------------------------------------------------

  /** Queues an event (on disk, sent in order when online). Returns its 64-bit seq. */
  publishEvent(kind: string, message: string, opts: { severity?: Severity; fields?: Record<string, string> } = {}): bigint {
    if (this.st === 'idle' || this.st === 'closed') throw new FleetStateError('publishEvent', this.st);
    const seq = ++this.eventSeq;
    const payload = encodeEvent({ seq, timestampMs: this.nowMs(), kind, severity: opts.severity ?? 'info', message, fields: opts.fields ?? {} });
    this.afterEnqueue(this.store.enqueue(this.topics.event, payload, this.nowMs()));
    // Persist the counter now and then; after a crash the seq restarts a little lower, which the
    // console reads as a restart of the box (boot id in the birth tells it so anyway).
    if (seq % 64n === 0n) this.store.setMeta('event_seq', seq.toString());
    return seq;
  }

  private afterEnqueue(dropped: number): void {
    if (dropped > 0) {
      this.log.warn({ dropped }, 'fleet outbox full: oldest records dropped');
      this.emit('outboxDropped', dropped);
    }
    this.kickDrain();
  }

  private kickDrain(): void {
    if (this.st !== 'online') return;
    if (this.drainActive) {
      this.drainAgain = true;
      return;
    }
    const client = this.client;
    const closed = this.clientClosed;
    if (!client || !closed) return;
    this.drainActive = true;
    this.drainPromise = this.drain(client, closed);
  }

  /**
   * Sends the outbox in id order, DRAIN_BATCH in flight at once, deleting each record on its
   * PUBACK. Stops when the outbox is empty or the connection is gone; whatever was not
   * acknowledged is sent again (from the oldest) on the next connection.
   */
  private async drain(client: MqttClient, closed: Promise<void>): Promise<void> {
    try {
      for (;;) {
        this.drainAgain = false;
        if (this.st !== 'online' || this.client !== client) return;
        const batch = this.store.peek(DRAIN_BATCH);
        if (batch.length === 0) {
          if (this.drainAgain) continue;
          return;
        }
        const sends = batch.map(
          (rec) =>
            new Promise<boolean>((resolve) => {
              client.publish(rec.topic, rec.payload, { qos: 1 }, (err) => {
                if (!err && this.st !== 'closed') this.store.remove(rec.id);
                resolve(!err);
              });
            }),
        );
        const ok = await Promise.race([Promise.all(sends).then((r) => r.every(Boolean)), closed.then(() => false)]);
        if (!ok) return;
      }
    } finally {
      // Cleared synchronously with the last check above, so a kick after it starts a new loop.
      this.drainActive = false;
    }
  }

  // ---- commands ------------------------------------------------------------------------------

  /** Runs synchronously inside mqtt.js's 'message' dispatch, i.e. before the PUBACK is sent. */
  private onMessage(client: MqttClient, topic: string, payload: Buffer): void {
    if (client !== this.client || topic !== this.topics.cmd) return;
    try {
      this.acceptCommand(payload);
    } catch (err) {
      // Only a store failure can land here (disk full, closed); the command stays unacked by us.
      this.log.error({ err: (err as Error).message }, 'command handling failed');
    }
  }

  /** Handles one command payload (exposed for tests that bypass the broker). */
  acceptCommand(payload: Uint8Array): void {
    if (this.st === 'closing' || this.st === 'closed' || this.st === 'idle') return;
    let cmd: FleetCommand;
    try {
      cmd = decodeCommand(payload, this.config.commandMaxBytes);
    } catch (err) {
      this.reject(payload, (err as Error).message);
      return;
    }
    const id = cmd.commandId;
    const known = this.store.ledger(id);
    if (known) {
      this.counters.duplicates++;
      this.emit('duplicateCommand', id);
      if (known.state === 'done') {
        // The console may have missed the answer: send it again, flagged, without re-running.
        const ack = { ...decodeAck(known.ack), duplicate: true, timestampMs: this.nowMs() };
        this.afterEnqueue(this.store.enqueue(this.topics.ack, encodeAck(ack), this.nowMs()));
      }
      return;
    }
    this.store.beginCommand(id, this.nowMs());
    if (cmd.expiresAtMs !== 0 && this.nowMs() > cmd.expiresAtMs) {
      this.finish(id, { state: 'expired', message: `expired at ${new Date(cmd.expiresAtMs).toISOString()}` }, cmd);
      return;
    }
    this.queued.set(id, cmd);
    this.execChain = this.execChain.then(() => this.execute(cmd));
  }

  private reject(payload: Uint8Array, reason: string): void {
    this.counters.rejected++;
    const commandId = salvageCommandId(payload);
    if (commandId !== undefined && this.store.beginCommand(commandId, this.nowMs())) {
      this.finish(commandId, { state: 'invalid', message: reason });
    }
    this.emit('commandRejected', commandId !== undefined ? { reason, commandId, bytes: payload.length } : { reason, bytes: payload.length });
    // One event per interval with a count: a flood of garbage must not flood the outbox.
    const w = this.rejectWindow;
    w.count++;
    w.lastReason = reason;
    if (w.timer === undefined) {
      w.timer = this.timers.setTimeout(() => {
        w.timer = undefined;
        if (this.st === 'closing' || this.st === 'closed') return;
        this.publishEvent('command.rejected', `${w.count} command payload(s) rejected; last: ${w.lastReason}`, {
          severity: 'warning',
          fields: { count: String(w.count) },
        });
        w.count = 0;
      }, REJECT_EVENT_INTERVAL_MS);
    }
  }

  private async execute(cmd: FleetCommand): Promise<void> {
    if (!this.queued.delete(cmd.commandId)) return; // cancelled by close()
    const run = this.runHandler(cmd).then((result) => this.finish(cmd.commandId, result, cmd));
    this.running = run;
    await run;
    this.running = undefined;
  }

  private async runHandler(cmd: FleetCommand): Promise<CommandResult> {
    if (cmd.body.kind === 'rebirth') {
      if (this.client && this.st === 'online') this.publishBirthOn(this.client);
      return { state: 'finished', message: 'birth published' };
    }
    const ac = new AbortController();
    const onClose = () => ac.abort(this.abort.signal.reason);
    this.abort.signal.addEventListener('abort', onClose, { once: true });
    const ctx: CommandContext = {
      signal: ac.signal,
      progress: (state, message = '', details = {}) => {
        if (this.st === 'closed') return;
        const ack: Ack = { commandId: cmd.commandId, state, message, timestampMs: this.nowMs(), details, duplicate: false };
        this.afterEnqueue(this.store.enqueue(this.topics.ack, encodeAck(ack), this.nowMs()));
      },
    };
    let timer: unknown;
    const timeout = new Promise<CommandResult>((resolve) => {
      timer = this.timers.setTimeout(() => {
        ac.abort(new FleetTimeoutError('command', this.config.commandTimeoutMs));
        resolve({ state: 'failed', message: `timeout after ${this.config.commandTimeoutMs} ms` });
      }, this.config.commandTimeoutMs);
    });
    // Once the link closes, the ledger answers a command that did not finish in the grace
    // period (next start: FAILED, interrupted); its timer must not keep the process alive.
    const dropTimer = () => this.timers.clearTimeout(timer);
    this.abort.signal.addEventListener('abort', dropTimer, { once: true });
    try {
      const result = await Promise.race([this.handlers.onCommand(cmd, ctx), timeout]);
      if (!result || !TERMINAL_ACK_STATES.has(result.state)) {
        return { state: 'failed', message: `handler returned a non-terminal state: ${String(result?.state)}` };
      }
      return result;
    } catch (err) {
      return { state: 'failed', message: (err as Error)?.message ?? String(err) };
    } finally {
      this.timers.clearTimeout(timer);
      this.abort.signal.removeEventListener('abort', onClose);
      this.abort.signal.removeEventListener('abort', dropTimer);
    }
  }

  /** Stores the final answer in the ledger and queues it, in one transaction. */
  private finish(commandId: string, result: CommandResult, cmd?: FleetCommand): void {
    if (this.st === 'closed') return; // the ledger keeps 'executing': next start answers FAILED
    const ack: Ack = {
      commandId,
      state: result.state,
      message: result.message ?? '',
      timestampMs: this.nowMs(),
      details: result.details ?? {},
      duplicate: false,
    };
    let bytes = encodeAck(ack);
    if (bytes.length > MAX_ACK_BYTES) {
      // Never queue what the broker may refuse: it would be re-sent on every connection.
      this.log.warn({ commandId, bytes: bytes.length }, 'command result too large for the fleet link');
      ack.state = 'failed';
      ack.message = `result of ${bytes.length} bytes exceeds the fleet link's limit of ${MAX_ACK_BYTES} bytes`;
      ack.details = {};
      bytes = encodeAck(ack);
    }
    this.afterEnqueue(this.store.finishCommand(commandId, this.topics.ack, bytes, this.nowMs()));
    if (cmd) {
      if (result.state !== 'expired') this.counters.executed++;
      this.emit('commandDone', cmd, ack);
    }
  }
}
