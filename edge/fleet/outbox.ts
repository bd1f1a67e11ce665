/**
 * The fleet link's outbox sender: acks and events go to the FleetStore first and are sent in
 * id order while the link is online, each removed on its PUBACK (at-least-once; the console
 * dedups by command id / event seq).
 *
 * Owns the drain loop (one at a time) and the report of records the store dropped to stay within
 * its bounds. It owns no connection: `online()` names the client to send on and is asked again
 * before each batch, so a connection that goes away ends the loop; whatever was not acknowledged
 * is sent again, from the oldest, when the link kicks it on the next connection.
 *
 * Lifecycle: created with the link; enqueue() and finishCommand() while the store is open;
 * close() waits for `idle` before it closes the store.
 *
 * Errors: enqueue() and finishCommand() throw what the store throws (disk full, closed); a
 * publish that fails only ends the loop.
 */
import type { MqttClient } from 'mqtt';
import type { LogSink } from '../lib/log.js';
import type { FleetStore } from './store.js';

/** Outbox records published per batch (QoS 1 in flight at once; mosquitto's default max_inflight is 20 outgoing, unlimited incoming). */
const DRAIN_BATCH = 32;

export interface OnlineClient {
  client: MqttClient;
  /** Resolves when this client's connection has closed. */
  closed: Promise<void>;
}

export interface OutboxDeps {
  store: FleetStore;
  /** The connection to send on while the link is online; undefined otherwise. */
  online(): OnlineClient | undefined;
  /** True once the link has closed the store: a late PUBACK must not touch it. */
  closed(): boolean;
  log: LogSink;
  /** Records the store dropped on overflow (oldest first). */
  onDropped(count: number): void;
}

export class Outbox {
  private drainActive = false;
  private drainAgain = false;
  private drainPromise: Promise<void> = Promise.resolve();

  constructor(private readonly deps: OutboxDeps) {}

  /** Queues one record on disk and starts sending it when online. */
  enqueue(topic: string, payload: Uint8Array, nowMs: number): void {
    this.afterEnqueue(this.deps.store.enqueue(topic, payload, nowMs));
  }

  /** Marks the command done in the ledger and queues its final ack, in one store transaction. */
  finishCommand(commandId: string, ackTopic: string, ack: Uint8Array, nowMs: number): void {
    this.afterEnqueue(this.deps.store.finishCommand(commandId, ackTopic, ack, nowMs));
  }

  /** The running drain loop (settled when none runs); never rejects. */
  get idle(): Promise<void> {
    return this.drainPromise.catch(() => undefined);
  }

  private afterEnqueue(dropped: number): void {
    if (dropped > 0) {
      this.deps.log.warn({ dropped }, 'fleet outbox full: oldest records dropped');
      this.deps.onDropped(dropped);
    }
    this.kick();
  }

  /** Starts a drain loop when online and none runs (the running one picks up new records). */
  kick(): void {
    const online = this.deps.online();
    if (!online) return;
    if (this.drainActive) {
      this.drainAgain = true;
      return;
    }
    this.drainActive = true;
    this.drainPromise = this.drain(online.client, online.closed);
  }

  /**
   * Sends the outbox in id order, DRAIN_BATCH in flight at once, deleting each record on its
   * PUBACK. Stops when the outbox is empty or the connection is gone; whatever was not
   * acknowledged is sent again (from the oldest) on the next connection.
   */
  private async drain(client: MqttClient, closed: Promise<void>): Promise<void> {
    const { store } = this.deps;
    try {
      for (;;) {
        this.drainAgain = false;
        if (this.deps.online()?.client !== client) return;
        const batch = store.peek(DRAIN_BATCH);
        if (batch.length === 0) {
          if (this.drainAgain) continue;
          return;
        }
        const sends = batch.map(
          (rec) =>
            new Promise<boolean>((resolve) => {
              client.publish(rec.topic, rec.payload, { qos: 1 }, (err) => {
                if (!err && !this.deps.closed()) store.remove(rec.id);
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
}
