/**
 * What the link publishes about the box (Sparkplug B style): a birth on every connect
 * (retained, QoS 1, every metric with name, alias and value, seq 0) and telemetry by exception
 * (QoS 0, changed metrics only, seq 1..255,0.. after each birth).
 *
 * Owns the MetricSet, including the link's own counters (fleet/outbox_dropped,
 * fleet/commands_rejected, fleet/connects, read through `counters()` before each publish), the
 * telemetry seq and the boot id. The link owns the connection and bd_seq and passes them to each
 * call; nothing here waits for the broker.
 *
 * Errors: the constructor, define() and set() throw what MetricSet throws for a bad definition or
 * value; a birth the broker does not acknowledge is logged.
 */
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { type MetricValue, encodeBirth, encodeTelemetry } from './codec.js';
import type { LogSink } from '../lib/log.js';
import { type MetricDefinition, MetricSet } from './metrics.js';
import { nextSeq } from './seq.js';

export interface LinkCounters {
  outboxDropped: number;
  commandsRejected: number;
  connects: number;
}

export interface TelemetryPublisherDeps {
  topics: { birth: string; telemetry: string };
  firmwareVersion: string;
  now: () => number;
  log: LogSink;
  counters: () => LinkCounters;
}

export class TelemetryPublisher {
  private readonly metrics: MetricSet;
  private readonly bootId = randomBytes(8).readBigUInt64BE();
  private telemetrySeq = 0;

  constructor(defs: readonly MetricDefinition[], private readonly deps: TelemetryPublisherDeps) {
    this.metrics = new MetricSet(defs);
    for (const name of ['fleet/outbox_dropped', 'fleet/commands_rejected', 'fleet/connects']) this.metrics.define({ name, type: 'int' });
  }

  /** Seq of the last telemetry sent (0 right after a birth). */
  get seq(): number {
    return this.telemetrySeq;
  }

  define(defs: readonly MetricDefinition[]): void {
    for (const d of defs) this.metrics.define(d);
  }

  set(values: Readonly<Record<string, MetricValue>>): void {
    this.metrics.set(values);
  }

  private refreshCounters(): void {
    const c = this.deps.counters();
    this.metrics.set({
      'fleet/outbox_dropped': BigInt(c.outboxDropped),
      'fleet/commands_rejected': BigInt(c.commandsRejected),
      'fleet/connects': BigInt(c.connects),
    });
  }

  /** Publishes a birth with every metric and restarts the telemetry seq. */
  birth(client: MqttClient, bdSeq: number): void {
    this.refreshCounters();
    this.telemetrySeq = 0;
    const birth = encodeBirth({
      timestampMs: this.deps.now(),
      bdSeq,
      seq: 0,
      metrics: this.metrics.takeBirth(),
      firmwareVersion: this.deps.firmwareVersion,
      bootId: this.bootId,
    });
    client.publish(this.deps.topics.birth, Buffer.from(birth), { qos: 1, retain: true }, (err) => {
      if (err) this.deps.log.warn({ err: err.message }, 'birth not acknowledged');
    });
  }

  /**
   * Publishes changed metrics and returns the seq used; a birth instead (returning 0) when
   * metrics were defined since the last one; undefined when nothing changed.
   */
  publish(client: MqttClient, bdSeq: number): number | undefined {
    this.refreshCounters();
    if (this.metrics.birthNeeded) {
      this.birth(client, bdSeq);
      return 0;
    }
    const changes = this.metrics.takeChanges();
    if (changes.length === 0) return undefined;
    this.telemetrySeq = nextSeq(this.telemetrySeq);
    const payload = encodeTelemetry({ timestampMs: this.deps.now(), seq: this.telemetrySeq, metrics: changes });
    client.publish(this.deps.topics.telemetry, Buffer.from(payload), { qos: 0 });
    return this.telemetrySeq;
  }
}
