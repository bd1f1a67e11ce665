/**
 * The fleet link's on-disk state: the outbox (events and command acknowledgements waiting for the
 * broker), the command-id ledger that makes commands exactly-once, and a few counters.
 *
 * One SQLite file (better-sqlite3, synchronous calls) in the link's queueDir:
 *   outbox(id INTEGER PRIMARY KEY AUTOINCREMENT, topic, payload, created_ms)
 *     FIFO; ids only grow, so "ORDER BY id" is send order. Bounded by record count and payload
 *     bytes; on overflow the OLDEST records are dropped (an old "finished" ack matters less than
 *     the newest state) and counted, so the link can report the loss.
 *   commands(id TEXT PRIMARY KEY, state 'executing'|'done', ack BLOB, updated_ms)
 *     A command id is inserted BEFORE the command runs (and before the PUBACK that lets the broker
 *     forget it leaves the box); a crash while it runs leaves 'executing', which the next start
 *     turns into a FAILED ack instead of running it again. Bounded to `ledgerMax` newest ids.
 *   meta(key TEXT PRIMARY KEY, value TEXT): bd_seq, event_seq.
 *
 * Durability (WAL): with 'full' (default) only the write that exactly-once depends on, the
 * ledger row inserted before the PUBACK, is committed with synchronous=FULL (one fsync per
 * command): a power cut after the PUBACK cannot make the box forget it saw the id. Everything
 * else commits with synchronous=NORMAL (survives a process crash; a power cut may lose the last
 * moments): a lost outbox delete means a record is sent twice (receivers dedup), a lost final
 * answer means the next start reports the command FAILED "interrupted" instead of re-running it.
 * 'normal' also skips the ledger fsync (tests, benches on slow disks).
 *
 * Lifecycle: constructor validates; open() creates/opens the file; close() is idempotent.
 * Runs on: the control worker (one writer; the file is not shared across processes).
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { FleetStateError } from './errors.js';

export interface FleetStoreOptions {
  /** Directory of the database file (created if missing). */
  dir: string;
  /** Outbox bound in payload bytes. */
  maxBytes: number;
  /** Outbox bound in records. */
  maxRecords: number;
  /** Command ids remembered for deduplication. */
  ledgerMax: number;
  durability?: 'full' | 'normal';
}

export interface OutboxRecord {
  id: number;
  topic: string;
  payload: Buffer;
}

export type LedgerEntry = { state: 'executing'; ack?: undefined } | { state: 'done'; ack: Buffer };

export const STORE_FILE = 'fleet.sqlite';

export class FleetStore {
  private db: Database.Database | undefined;
  private bytes = 0;
  private records = 0;
  private droppedTotal = 0;
  private ledgerInserts = 0;
  private stmts!: ReturnType<FleetStore['prepare']>;

  constructor(private readonly opts: FleetStoreOptions) {
    if (!(opts.maxBytes > 0 && opts.maxRecords > 0 && opts.ledgerMax > 0)) throw new RangeError('fleet store: bounds must be > 0');
  }

  open(): void {
    if (this.db) return;
    mkdirSync(this.opts.dir, { recursive: true });
    const db = new Database(join(this.opts.dir, STORE_FILE));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(`
      CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL, created_ms INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS commands (id TEXT PRIMARY KEY, state TEXT NOT NULL, ack BLOB, updated_ms INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `);
    this.db = db;
    this.stmts = this.prepare(db);
    const row = this.stmts.totals.get() as { n: number; b: number | null };
    this.records = row.n;
    this.bytes = row.b ?? 0;
  }

  private prepare(db: Database.Database) {
    return {
      totals: db.prepare('SELECT count(*) AS n, sum(length(payload)) AS b FROM outbox'),
      insert: db.prepare('INSERT INTO outbox (topic, payload, created_ms) VALUES (?, ?, ?)'),
      oldest: db.prepare('SELECT id, length(payload) AS b FROM outbox ORDER BY id LIMIT ?'),
      peek: db.prepare('SELECT id, topic, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?'),
      del: db.prepare('DELETE FROM outbox WHERE id = ? RETURNING length(payload) AS b'),
      ledgerGet: db.prepare('SELECT state, ack FROM commands WHERE id = ?'),
      ledgerBegin: db.prepare("INSERT OR IGNORE INTO commands (id, state, updated_ms) VALUES (?, 'executing', ?)"),
      ledgerDone: db.prepare("UPDATE commands SET state = 'done', ack = ?, updated_ms = ? WHERE id = ?"),
      ledgerExecuting: db.prepare("SELECT id FROM commands WHERE state = 'executing' ORDER BY rowid"),
      ledgerPrune: db.prepare('DELETE FROM commands WHERE rowid <= (SELECT max(rowid) FROM commands) - ?'),
      metaGet: db.prepare('SELECT value FROM meta WHERE key = ?'),
      metaSet: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
    };
  }

  private get d(): Database.Database {
    if (!this.db) throw new FleetStateError('fleet store access', 'closed');
    return this.db;
  }

  // ---- outbox ------------------------------------------------------------------------------

  /** Appends a record; drops the oldest records when a bound is passed. Returns how many were dropped. */
  enqueue(topic: string, payload: Uint8Array, nowMs: number): number {
    const db = this.d;
    let dropped = 0;
    db.transaction(() => {
      this.stmts.insert.run(topic, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), nowMs);
      this.records++;
      this.bytes += payload.byteLength;
      dropped = this.trim();
    })();
    return dropped;
  }

  private trim(): number {
    let dropped = 0;
    while (this.records > this.opts.maxRecords || (this.bytes > this.opts.maxBytes && this.records > 1)) {
      const batch = this.stmts.oldest.all(Math.max(1, Math.min(256, this.records - this.opts.maxRecords))) as { id: number; b: number }[];
      for (const r of batch) {
        if (this.records <= this.opts.maxRecords && (this.bytes <= this.opts.maxBytes || this.records <= 1)) break;
        this.stmts.del.run(r.id);
        this.records--;
        this.bytes -= r.b;
        dropped++;
      }
    }
    this.droppedTotal += dropped;
    return dropped;
  }

  /** Up to `limit` records with id > afterId, oldest first. */
  peek(limit: number, afterId = 0): OutboxRecord[] {
    void this.d;
    return this.stmts.peek.all(afterId, limit) as OutboxRecord[];
  }

  /** Removes a sent record (no-op if already gone, e.g. dropped on overflow). */
  remove(id: number): void {
    const r = this.d && (this.stmts.del.get(id) as { b: number } | undefined);
    if (r) {
      this.records--;
      this.bytes -= r.b;
    }
  }

  get outboxRecords(): number {
    return this.records;
  }

  get outboxBytes(): number {
    return this.bytes;
  }

  /** Records dropped on overflow since open(). */
  get outboxDropped(): number {
    return this.droppedTotal;
  }

  // ---- command ledger ----------------------------------------------------------------------

  ledger(commandId: string): LedgerEntry | undefined {
    return this.d && (this.stmts.ledgerGet.get(commandId) as LedgerEntry | undefined);
  }

  /** Records that `commandId` is about to run. False when the id is already known (a duplicate). */
  beginCommand(commandId: string, nowMs: number): boolean {
    const db = this.d;
    const durable = this.opts.durability !== 'normal';
    if (durable) db.pragma('synchronous = FULL');
    let inserted: boolean;
    try {
      inserted = this.stmts.ledgerBegin.run(commandId, nowMs).changes === 1;
    } finally {
      if (durable) db.pragma('synchronous = NORMAL');
    }
    if (inserted && ++this.ledgerInserts % 256 === 0) this.stmts.ledgerPrune.run(this.opts.ledgerMax);
    return inserted;
  }

  /** Marks the command done and queues its final acknowledgement, atomically. */
  finishCommand(commandId: string, ackTopic: string, ack: Uint8Array, nowMs: number): number {
    let dropped = 0;
    this.d.transaction(() => {
      this.stmts.ledgerDone.run(Buffer.from(ack), nowMs, commandId);
      dropped = this.enqueue(ackTopic, ack, nowMs);
    })();
    return dropped;
  }

  /** Ids left 'executing' by a previous run that died while running them. */
  interruptedCommands(): string[] {
    return (this.stmts.ledgerExecuting.all() as { id: string }[]).map((r) => r.id);
  }

  // ---- meta --------------------------------------------------------------------------------

  getMeta(key: string): string | undefined {
    return (this.d && (this.stmts.metaGet.get(key) as { value: string } | undefined))?.value;
  }

  setMeta(key: string, value: string): void {
    this.d && this.stmts.metaSet.run(key, value);
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
  }
}
