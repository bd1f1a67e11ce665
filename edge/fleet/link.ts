/**
 * FleetLink: the box's side of the fleet link (MQTT 5 over mutual TLS, protobuf payloads).
 *
 * The facade the control worker uses, and the connection it owns for one box: its own reconnect
 * loop (capped exponential backoff with jitter; the mqtt.js reconnect is off because it has
 * neither) and ONE state enum, LinkState; death as the MQTT last will (QoS 1, not retained) with
 * the bd_seq of the connection attempt, which the birth sent on CONNACK carries too; on close()
 * the death is published by the box itself because a normal DISCONNECT suppresses the will.
 * The other jobs are parts this class composes and feeds (client, store, timers, clock):
 *  - telemetry.ts: birth on every connect, telemetry by exception (MetricSet);
 *  - commands.ts: commands on orbox/v1/<box>/cmd, one at a time, at most once per command id,
 *    each answered with an Ack;
 *  - outbox.ts: acks and events go to disk first and are sent in order when online;
 *  - events.ts: the box's events and their seq.
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
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { BoxClock, nsToMs } from '../lib/clock.js';
import { Backoff } from '../lib/backoff.js';
import { type Ack, type FleetCommand, type MetricValue, encodeDeath } from './codec.js';
import { CommandRunner, type CommandRejection, type FleetLinkHandlers, type Timers } from './commands.js';
import type { LogSink } from '../lib/log.js';
import { type FleetLinkConfig, type FleetLinkConfigInput, parseFleetLinkConfig } from './config.js';
import { FleetBrokerError, FleetClosedError, FleetError, FleetStateError, FleetTimeoutError, reasonCodeOf } from './errors.js';
import { type EventOptions, EventQueue } from './events.js';
import type { MetricDefinition } from './metrics.js';
import { disableNagle } from './nagle.js';
import { Outbox } from './outbox.js';
import { nextSeq } from './seq.js';
import { FleetStore } from './store.js';
import { TelemetryPublisher } from './telemetry.js';
import { topicFor } from './topics.js';

/**
 * idle -> connecting -> online -> waiting (backoff) -> connecting ...; any -> closing -> closed.
 * `waiting` is also where the box sits, fully working, while the broker is unreachable.
 */
export type LinkState = 'idle' | 'connecting' | 'online' | 'waiting' | 'closing' | 'closed';

export interface FleetLinkDeps {
  clock?: BoxClock;
  timers?: Timers;
  /** Random source of the backoff jitter, [0, 1). */
  random?: () => number;
  /** mqtt.connect or a stand-in. */
  connect?: (url: string, opts: IClientOptions) => MqttClient;
  log?: LogSink;
  /** Metrics known at start (see standardMetrics()). */
  metrics?: readonly MetricDefinition[];
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

const NOOP_LOG: LogSink = { info() {}, warn() {}, error() {}, debug() {} };
const REAL_TIMERS: Timers = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };

/** How long close() waits for the running command and for the death PUBACK. */
const CLOSE_GRACE_MS = 2_000;

function pemOf(v: string | Uint8Array): Buffer {
  if (typeof v !== 'string') return Buffer.from(v);
  return v.includes('-----BEGIN') ? Buffer.from(v) : readFileSync(v);
}

export class FleetLink extends EventEmitter<FleetLinkEvents> {
  readonly config: FleetLinkConfig;
  private readonly store: FleetStore;
  private readonly backoff: Backoff;
  private readonly clock: BoxClock;
  private readonly timers: Timers;
  private readonly connectFn: (url: string, opts: IClientOptions) => MqttClient;
  private readonly log: LogSink;
  private readonly topics;
  private readonly abort = new AbortController();
  private readonly publisher: TelemetryPublisher;
  private readonly outbox: Outbox;
  private readonly events: EventQueue;
  private readonly commands: CommandRunner;

  private st: LinkState = 'idle';
  private client: MqttClient | undefined;
  private clientClosed: Promise<void> | undefined;
  private reconnectTimer: unknown;
  private tls: { ca: Buffer; cert: Buffer; key: Buffer } | undefined;
  private bdSeq = 0;
  private connects = 0;
  private closing: Promise<void> | undefined;

  constructor(config: FleetLinkConfigInput, handlers: FleetLinkHandlers, deps: FleetLinkDeps = {}) {
    super();
    this.config = parseFleetLinkConfig(config);
    if (typeof handlers?.onCommand !== 'function') throw new TypeError('FleetLink: handlers.onCommand is required');
    this.clock = deps.clock ?? new BoxClock();
    this.timers = deps.timers ?? REAL_TIMERS;
    this.connectFn = deps.connect ?? ((url, opts) => mqtt.connect(url, opts));
    this.log = deps.log ?? NOOP_LOG;
    this.backoff = new Backoff(this.config.reconnect, deps.random);
    const id = this.config.boxId;
    this.topics = {
      birth: topicFor(id, 'birth'),
      death: topicFor(id, 'death'),
      telemetry: topicFor(id, 'telemetry'),
      cmd: topicFor(id, 'cmd'),
      ack: topicFor(id, 'ack'),
      event: topicFor(id, 'event'),
    };
    const now = () => this.nowMs();
    this.publisher = new TelemetryPublisher(deps.metrics ?? [], {
      topics: this.topics,
      firmwareVersion: this.config.firmwareVersion,
      now,
      log: this.log,
      counters: () => ({ outboxDropped: this.store.outboxDropped, commandsRejected: this.commands.rejected, connects: this.connects }),
    });
    this.store = new FleetStore({
      dir: this.config.queueDir,
      maxBytes: this.config.queueMaxBytes,
      maxRecords: this.config.queueMaxRecords,
      ledgerMax: this.config.dedupMaxRecords,
      durability: this.config.durability,
    });
    const closed = () => this.st === 'closed';
    this.outbox = new Outbox({
      store: this.store,
      online: () => (this.st === 'online' && this.client && this.clientClosed ? { client: this.client, closed: this.clientClosed } : undefined),
      closed,
      log: this.log,
      onDropped: (count) => this.emit('outboxDropped', count),
    });
    this.events = new EventQueue(this.store, this.outbox, this.topics.event, now);
    this.commands = new CommandRunner({
      handlers,
      store: this.store,
      outbox: this.outbox,
      events: this.events,
      ackTopic: this.topics.ack,
      maxBytes: this.config.commandMaxBytes,
      timeoutMs: this.config.commandTimeoutMs,
      timers: this.timers,
      now,
      log: this.log,
      closeSignal: this.abort.signal,
      closed,
      rebirth: () => this.rebirth(),
      on: {
        rejected: (rejection) => this.emit('commandRejected', rejection),
        done: (cmd, ack) => this.emit('commandDone', cmd, ack),
        duplicate: (commandId) => this.emit('duplicateCommand', commandId),
      },
    });
  }

  get state(): LinkState {
    return this.st;
  }

  get stats(): FleetLinkStats {
    return {
      outboxRecords: this.st === 'closed' ? 0 : this.store.outboxRecords,
      outboxBytes: this.st === 'closed' ? 0 : this.store.outboxBytes,
      outboxDropped: this.store.outboxDropped,
      commandsExecuted: this.commands.executed,
      commandsRejected: this.commands.rejected,
      duplicates: this.commands.duplicates,
      connects: this.connects,
      bdSeq: this.bdSeq,
      telemetrySeq: this.publisher.seq,
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
    this.events.open();
    this.commands.answerInterrupted();
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
      this.commands.cancelQueued();
      const running = this.commands.running;
      if (running) await this.withTimeout(running, CLOSE_GRACE_MS).catch(() => undefined);
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
    await this.outbox.idle;
    this.commands.stop();
    if (wasStarted) {
      this.events.save();
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
      this.connects++;
      this.publisher.birth(client, this.bdSeq);
      this.backoff.reset();
      this.setState('online');
      this.log.info({ bdSeq: this.bdSeq }, 'fleet link online');
      this.outbox.kick();
    } catch (err) {
      this.reportConnectError(err);
      if (this.client === client) client.end(true); // 'close' schedules the retry
    }
  }

  // ---- birth and telemetry -------------------------------------------------------------------

  /** The `rebirth` command: a birth now, if online. */
  private rebirth(): void {
    if (this.client && this.st === 'online') this.publisher.birth(this.client, this.bdSeq);
  }

  /** Adds metric definitions; a new one makes the next publishTelemetry() a birth. */
  defineMetrics(defs: readonly MetricDefinition[]): void {
    this.publisher.define(defs);
  }

  /**
   * Records current metric values (unknown names are defined from the value's type). Nothing is
   * sent until publishTelemetry(); while offline the latest values go into the next birth.
   */
  setMetrics(values: Readonly<Record<string, MetricValue>>): void {
    this.publisher.set(values);
  }

  /**
   * Publishes changed metrics (QoS 0) and returns the telemetry seq used; publishes a birth
   * instead (returning 0) when metrics were defined since the last one; undefined when offline
   * or when nothing changed.
   */
  publishTelemetry(): number | undefined {
    const client = this.client;
    if (this.st !== 'online' || !client) return undefined;
    return this.publisher.publish(client, this.bdSeq);
  }

  // ---- events and commands -------------------------------------------------------------------

  /** Queues an event (on disk, sent in order when online). Returns its 64-bit seq. */
  publishEvent(kind: string, message: string, opts: EventOptions = {}): bigint {
    if (this.st === 'idle' || this.st === 'closed') throw new FleetStateError('publishEvent', this.st);
    return this.events.publish(kind, message, opts);
  }

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
    this.commands.accept(payload);
  }
}
