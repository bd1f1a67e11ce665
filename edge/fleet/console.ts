/**
 * FleetConsole: the operator's side of the fleet link (library behind `orbox fleet`).
 *
 * Owns: one MQTT 5 connection with the console's own certificate (its CN is the ACL user that
 * may read and write every box's topics); the view of every box built from births, deaths and
 * telemetry (Sparkplug-style host application); sending commands and waiting for their
 * acknowledgements.
 *
 * Box state: a live birth -> online; a death whose bd_seq matches the box's last birth ->
 * offline (a will of an older connection, delivered late, is ignored); a retained birth seen at
 * subscribe time -> unknown until the box answers a rebirth request (probe()), because births
 * are retained but deaths are not. Telemetry whose aliases are unknown or whose seq skips
 * triggers a rebirth request (at most one per box per REBIRTH_INTERVAL_MS).
 *
 * Lifecycle: constructor validates; start() connects (rejects on TLS/CONNACK refusal with
 * FleetBrokerError or FleetError) and subscribes; close() is idempotent and fails pending waits
 * with FleetClosedError. No reconnect loop: a console is an interactive tool or a test; a
 * supervisor that wants one restarts it.
 *
 * Runs on: an operator's machine or the test process, never on the box.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { z } from 'zod';
import {
  type Ack,
  type Birth,
  type CommandBody,
  type Death,
  type FleetEvent,
  type MetricType,
  type MetricValue,
  TERMINAL_ACK_STATES,
  decodeAck,
  decodeBirth,
  decodeDeath,
  decodeEvent,
  decodeTelemetry,
  encodeCommand,
} from './codec.js';
import { FleetBrokerError, FleetClosedError, FleetConfigError, FleetError, FleetStateError, FleetTimeoutError, reasonCodeOf } from './errors.js';
import { disableNagle } from './nagle.js';
import { nextSeq } from './seq.js';
import { filterAllBoxes, parseTopic, topicFor } from './topics.js';

const pem = z.union([z.string().min(1), z.instanceof(Uint8Array)]);

export const FleetConsoleConfigSchema = z.object({
  url: z.string().regex(/^(mqtts|wss):\/\/[^\s/]+/, 'must be an mqtts:// or wss:// URL'),
  ca: pem,
  cert: pem,
  key: pem,
  /** MQTT client id prefix; a random suffix lets several consoles run at once. */
  clientIdPrefix: z.string().regex(/^[A-Za-z0-9._-]{1,40}$/).default('fleet-console'),
  /**
   * A persistent session: fixed client id, clean=false, so acknowledgements and events published
   * while this console was away are delivered when it comes back (a console service, or a test
   * that restarts the broker). Omitted: a fresh session per start (interactive CLI).
   */
  sessionId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).optional(),
  /** Session lifetime while disconnected, seconds (persistent sessions only). */
  sessionExpiryS: z.number().int().min(1).max(0xffffffff).default(3600),
  connectTimeoutMs: z.number().int().positive().default(10_000),
  checkServerIdentity: z.boolean().default(true),
});
export type FleetConsoleConfigInput = z.input<typeof FleetConsoleConfigSchema>;

export type BoxLiveness = 'online' | 'offline' | 'unknown';

export interface BoxMetric {
  name: string;
  type: MetricType;
  unit?: string;
  value: MetricValue;
}

export interface BoxStatus {
  boxId: string;
  state: BoxLiveness;
  bdSeq: number;
  bootId: bigint;
  firmwareVersion: string;
  /** Box time of its last birth, ms. */
  birthMs: number;
  /** Console time of the last message from the box, ms. */
  lastSeenMs: number;
  /** Telemetry seq last seen (0 right after a birth). */
  seq: number;
  metrics: Map<string, BoxMetric>;
  aliases: Map<number, string>;
}

export interface TelemetryUpdate {
  boxId: string;
  seq: number;
  timestampMs: number;
  values: Record<string, MetricValue>;
}

export interface FleetConsoleEvents {
  birth: [status: BoxStatus, birth: Birth, retained: boolean];
  death: [status: BoxStatus | undefined, death: Death, boxId: string];
  telemetry: [update: TelemetryUpdate];
  ack: [boxId: string, ack: Ack];
  event: [boxId: string, event: FleetEvent];
  seqGap: [boxId: string, expected: number, got: number];
  decodeError: [boxId: string, kind: string, err: FleetError];
}

export interface SendOptions {
  /** Default a random UUID. Re-sending the same id never runs the command twice. */
  commandId?: string;
  /** The command is dropped (broker) or answered EXPIRED (box) after this long, ms. Default: never. */
  expiresInMs?: number;
  /** Wait for a terminal acknowledgement. Default true. */
  wait?: boolean;
  /** How long to wait, ms. Default 30 000. */
  timeoutMs?: number;
  /** Called with each intermediate acknowledgement (waiting, started). */
  onProgress?: (ack: Ack) => void;
}

/** Sparkplug hosts rate-limit rebirth requests; one per box per this interval. */
const REBIRTH_INTERVAL_MS = 5_000;

function pemOf(v: string | Uint8Array): Buffer {
  if (typeof v !== 'string') return Buffer.from(v);
  return v.includes('-----BEGIN') ? Buffer.from(v) : readFileSync(v);
}

interface Waiter {
  resolve(ack: Ack): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  onProgress?: (ack: Ack) => void;
}

export class FleetConsole extends EventEmitter<FleetConsoleEvents> {
  private readonly cfg: z.output<typeof FleetConsoleConfigSchema>;
  private client: MqttClient | undefined;
  private readonly statuses = new Map<string, BoxStatus>();
  private readonly waiters = new Map<string, Waiter>();
  private readonly lastRebirth = new Map<string, number>();
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(config: FleetConsoleConfigInput) {
    super();
    const r = FleetConsoleConfigSchema.safeParse(config);
    if (!r.success) throw new FleetConfigError(r.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })));
    this.cfg = r.data;
  }

  /** Connects and subscribes to every box's birth, death, telemetry, ack and event topics. */
  async start(): Promise<void> {
    if (this.client || this.closed) throw new FleetStateError('start', this.closed ? 'closed' : 'started');
    const opts: IClientOptions = {
      protocolVersion: 5,
      clientId: this.cfg.sessionId ?? `${this.cfg.clientIdPrefix}-${randomBytes(4).toString('hex')}`,
      clean: this.cfg.sessionId === undefined,
      ...(this.cfg.sessionId !== undefined ? { properties: { sessionExpiryInterval: this.cfg.sessionExpiryS } } : {}),
      reconnectPeriod: 0,
      connectTimeout: this.cfg.connectTimeoutMs,
      ca: pemOf(this.cfg.ca),
      cert: pemOf(this.cfg.cert),
      key: pemOf(this.cfg.key),
      rejectUnauthorized: true,
    };
    if (!this.cfg.checkServerIdentity) (opts as { checkServerIdentity?: () => undefined }).checkServerIdentity = () => undefined;
    const client = mqtt.connect(this.cfg.url, opts);
    disableNagle(client);
    this.client = client;
    client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet.retain));
    try {
      await new Promise<void>((resolve, reject) => {
        const fail = (err: unknown) => {
          const rc = reasonCodeOf(err);
          reject(rc !== undefined && rc >= 0x80 ? new FleetBrokerError('broker refused the console', rc, { cause: err }) : new FleetError(`console connection failed: ${(err as Error)?.message ?? 'closed'}`, { cause: err }));
        };
        client.once('connect', () => resolve());
        client.once('error', fail);
        client.once('close', () => fail(new Error('connection closed before CONNACK')));
      });
      const granted = await client.subscribeAsync(
        (['birth', 'death', 'telemetry', 'ack', 'event'] as const).map((k) => filterAllBoxes(k)),
        { qos: 1 },
      );
      const refused = granted.find((g) => g.qos >= 0x80);
      if (refused) throw new FleetBrokerError(`subscription to ${refused.topic} refused`, refused.qos);
    } catch (err) {
      client.end(true);
      this.client = undefined;
      this.closed = true;
      throw err;
    }
    client.removeAllListeners('error');
    client.on('error', () => undefined); // after start, failures show as 'close'
    client.on('close', () => this.failWaiters(new FleetClosedError('console connection')));
  }

  /** Every box seen, sorted by id. */
  boxes(): BoxStatus[] {
    return [...this.statuses.values()].sort((a, b) => a.boxId.localeCompare(b.boxId));
  }

  box(boxId: string): BoxStatus | undefined {
    return this.statuses.get(boxId);
  }

  /**
   * Publishes a command (QoS 1; waits in the broker while the box is offline) and, unless
   * `wait: false`, resolves with its terminal acknowledgement. Rejects with FleetTimeoutError,
   * FleetBrokerError (publish refused, e.g. reason 135) or FleetClosedError.
   */
  async send(boxId: string, body: CommandBody, opts: SendOptions = {}): Promise<Ack | undefined> {
    const client = this.client;
    if (!client || this.closed) throw new FleetStateError('send', 'not started');
    const commandId = opts.commandId ?? randomUUID();
    const now = Date.now();
    const payload = encodeCommand({
      commandId,
      issuedAtMs: now,
      expiresAtMs: opts.expiresInMs ? now + opts.expiresInMs : 0,
      issuer: this.cfg.clientIdPrefix,
      body,
    });
    const wait = opts.wait ?? true;
    const timeoutMs = opts.timeoutMs ?? 30_000;
    let acked: Promise<Ack> | undefined;
    // Keyed by box and id: an ack only counts from the box the command went to.
    const key = `${boxId}\n${commandId}`;
    if (wait) {
      if (this.waiters.has(key)) throw new FleetStateError(`send ${commandId}`, 'already waiting for this id');
      acked = new Promise<Ack>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.waiters.delete(key);
          reject(new FleetTimeoutError(`acknowledgement of ${commandId}`, timeoutMs));
        }, timeoutMs);
        this.waiters.set(key, { resolve, reject, timer, onProgress: opts.onProgress });
      });
      acked.catch(() => undefined); // observed below; avoid an unhandled rejection if publish fails first
    }
    const properties = opts.expiresInMs ? { messageExpiryInterval: Math.max(1, Math.ceil(opts.expiresInMs / 1000)) } : undefined;
    try {
      await client.publishAsync(topicFor(boxId, 'cmd'), Buffer.from(payload), properties ? { qos: 1, properties } : { qos: 1 });
    } catch (err) {
      const w = this.waiters.get(key);
      if (w) { clearTimeout(w.timer); this.waiters.delete(key); }
      const rc = reasonCodeOf(err);
      throw rc !== undefined ? new FleetBrokerError(`command to ${boxId} refused`, rc, { cause: err }) : err;
    }
    return acked;
  }

  /** Asks one box to publish its birth again (rate-limited unless `force`). */
  requestRebirth(boxId: string, force = false): void {
    const now = Date.now();
    if (!force && now - (this.lastRebirth.get(boxId) ?? -Infinity) < REBIRTH_INTERVAL_MS) return;
    this.lastRebirth.set(boxId, now);
    // Short expiry: a rebirth request is worthless once the box has been offline for a while.
    this.send(boxId, { kind: 'rebirth' }, { wait: false, expiresInMs: 5_000 }).catch(() => undefined);
  }

  /**
   * Liveness of every known box: boxes known only from a retained birth are asked to re-birth;
   * those that do within `timeoutMs` become online, the others offline.
   */
  async probe(timeoutMs: number): Promise<BoxStatus[]> {
    const unknown = this.boxes().filter((b) => b.state === 'unknown');
    for (const b of unknown) this.requestRebirth(b.boxId, true);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && unknown.some((b) => this.statuses.get(b.boxId)?.state === 'unknown')) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const b of unknown) {
      const s = this.statuses.get(b.boxId);
      if (s?.state === 'unknown') s.state = 'offline';
    }
    return this.boxes();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.failWaiters(new FleetClosedError('console'));
      const c = this.client;
      this.client = undefined;
      if (c) await c.endAsync().catch(() => c.end(true));
    })();
    return this.closing;
  }

  private failWaiters(err: Error): void {
    for (const [id, w] of this.waiters) {
      clearTimeout(w.timer);
      w.reject(err);
      this.waiters.delete(id);
    }
  }

  // ---- inbound -------------------------------------------------------------------------------

  private onMessage(topic: string, payload: Buffer, retained: boolean): void {
    const t = parseTopic(topic);
    if (!t) return;
    try {
      switch (t.kind) {
        case 'birth': return this.onBirth(t.boxId, payload, retained);
        case 'death': return this.onDeath(t.boxId, payload);
        case 'telemetry': return this.onTelemetry(t.boxId, payload);
        case 'ack': return this.onAck(t.boxId, payload);
        case 'event': this.emit('event', t.boxId, decodeEvent(payload)); return;
        default: return;
      }
    } catch (err) {
      const e = err instanceof FleetError ? err : new FleetError(String((err as Error)?.message ?? err), { cause: err });
      if (this.listenerCount('decodeError') > 0) this.emit('decodeError', t.boxId, t.kind, e);
    }
  }

  private onBirth(boxId: string, payload: Buffer, retained: boolean): void {
    if (payload.length === 0) return; // a cleared retained birth
    const birth = decodeBirth(payload);
    const metrics = new Map<string, BoxMetric>();
    const aliases = new Map<number, string>();
    for (const m of birth.metrics) {
      if (!m.name) continue;
      aliases.set(m.alias, m.name);
      const bm: BoxMetric = { name: m.name, type: m.type, value: m.value };
      if (m.unit) bm.unit = m.unit;
      metrics.set(m.name, bm);
    }
    const status: BoxStatus = {
      boxId,
      state: retained ? 'unknown' : 'online',
      bdSeq: birth.bdSeq,
      bootId: birth.bootId,
      firmwareVersion: birth.firmwareVersion,
      birthMs: birth.timestampMs,
      lastSeenMs: Date.now(),
      seq: birth.seq,
      metrics,
      aliases,
    };
    this.statuses.set(boxId, status);
    this.emit('birth', status, birth, retained);
  }

  private onDeath(boxId: string, payload: Buffer): void {
    const death = decodeDeath(payload);
    const s = this.statuses.get(boxId);
    if (s && s.bdSeq !== death.bdSeq) return; // the will of an older connection
    if (s) {
      s.state = 'offline';
      s.lastSeenMs = Date.now();
    }
    this.emit('death', s, death, boxId);
  }

  private onTelemetry(boxId: string, payload: Buffer): void {
    const s = this.statuses.get(boxId);
    if (!s) {
      this.requestRebirth(boxId);
      return;
    }
    const types = new Map<number, MetricType>();
    for (const [alias, name] of s.aliases) types.set(alias, s.metrics.get(name)!.type);
    const tel = decodeTelemetry(payload, types);
    const expected = nextSeq(s.seq);
    s.seq = tel.seq;
    s.lastSeenMs = Date.now();
    if (s.state !== 'online') s.state = 'online'; // telemetry proves it is alive
    if (tel.seq !== expected) {
      this.emit('seqGap', boxId, expected, tel.seq);
      this.requestRebirth(boxId);
    }
    const values: Record<string, MetricValue> = {};
    let unknownAlias = false;
    for (const m of tel.metrics) {
      const name = s.aliases.get(m.alias);
      if (name === undefined) { unknownAlias = true; continue; }
      s.metrics.get(name)!.value = m.value;
      values[name] = m.value;
    }
    if (unknownAlias) this.requestRebirth(boxId);
    this.emit('telemetry', { boxId, seq: tel.seq, timestampMs: tel.timestampMs, values });
  }

  private onAck(boxId: string, payload: Buffer): void {
    const ack = decodeAck(payload);
    const s = this.statuses.get(boxId);
    if (s) s.lastSeenMs = Date.now();
    this.emit('ack', boxId, ack);
    const key = `${boxId}\n${ack.commandId}`;
    const w = this.waiters.get(key);
    if (!w) return;
    if (!TERMINAL_ACK_STATES.has(ack.state)) {
      w.onProgress?.(ack);
      return;
    }
    clearTimeout(w.timer);
    this.waiters.delete(key);
    w.resolve(ack);
  }
}
