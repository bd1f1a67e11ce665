/**
 * The upload journal: where each closed segment's upload stands, so an upload cut by a lost
 * link, a restart or a power cut goes on from its last stored part instead of from the start.
 *
 * Owns one SQLite file (`<dataDir>/upload/uploads.db`, WAL, synchronous=FULL: a part recorded
 * here was acknowledged by the store, and stays recorded across a power cut).
 *   uploads(path PK, key, bytes, part_bytes, upload_id, state, attempts, last_error, queued_at,
 *           verified_at, deleted_at)
 *   parts(path, n, etag, md5)                 -- PK (path, n)
 * States: queued -> uploading (a multipart upload exists) -> verified (the store's object has
 * the segment's size and the ETag its parts make) -> deleted (the local file removed by the
 * retention policy); skipped: nothing to upload from (the file gone, or not the size it closed at). `restart()` drops a dead upload's parts (the store forgot the upload id).
 *
 * Runs on the control worker. Lifecycle: open(), calls, close() (idempotent).
 * Errors: what better-sqlite3 throws (disk full included): the uploader retries later.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type UploadState = 'queued' | 'uploading' | 'verified' | 'deleted' | 'skipped';

export interface UploadRow {
  path: string;
  key: string;
  bytes: number;
  partBytes: number;
  uploadId: string | null;
  state: UploadState;
  attempts: number;
  lastError: string | null;
  queuedAt: string;
  verifiedAt: string | null;
  deletedAt: string | null;
}

export interface PartRow { n: number; etag: string; md5: string }

const SCHEMA = `
CREATE TABLE IF NOT EXISTS uploads (
  path TEXT PRIMARY KEY, key TEXT NOT NULL, bytes INTEGER NOT NULL, part_bytes INTEGER NOT NULL,
  upload_id TEXT, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
  queued_at TEXT NOT NULL, verified_at TEXT, deleted_at TEXT);
CREATE TABLE IF NOT EXISTS parts (path TEXT NOT NULL, n INTEGER NOT NULL, etag TEXT NOT NULL, md5 TEXT NOT NULL, PRIMARY KEY (path, n));
`;

interface RawRow { path: string; key: string; bytes: number; part_bytes: number; upload_id: string | null; state: UploadState; attempts: number; last_error: string | null; queued_at: string; verified_at: string | null; deleted_at: string | null }

const row = (r: RawRow): UploadRow => ({
  path: r.path, key: r.key, bytes: r.bytes, partBytes: r.part_bytes, uploadId: r.upload_id, state: r.state, attempts: r.attempts,
  lastError: r.last_error, queuedAt: r.queued_at, verifiedAt: r.verified_at, deletedAt: r.deleted_at,
});

export class UploadJournal {
  private db: Database.Database | null = null;

  constructor(readonly path: string, private readonly now: () => Date = () => new Date()) {}

  open(): void {
    if (this.db) return;
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const db = new Database(this.path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(SCHEMA);
    this.db = db;
  }

  get isOpen(): boolean { return this.db !== null; }

  close(): void {
    this.db?.close();
    this.db = null;
  }

  private get d(): Database.Database {
    if (!this.db) throw new Error(`upload journal ${this.path} is not open`);
    return this.db;
  }

  /** Queues a segment once (a second call for the same path changes nothing); returns its row. */
  queue(path: string, key: string, bytes: number, partBytes: number): UploadRow {
    this.d.prepare('INSERT OR IGNORE INTO uploads (path, key, bytes, part_bytes, state, queued_at) VALUES (?, ?, ?, ?, \'queued\', ?)')
      .run(path, key, bytes, partBytes, this.now().toISOString());
    return this.get(path)!;
  }

  get(path: string): UploadRow | null {
    const r = this.d.prepare('SELECT * FROM uploads WHERE path = ?').get(path) as RawRow | undefined;
    return r ? row(r) : null;
  }

  /** Uploads still to do, oldest queued first. */
  pending(): UploadRow[] {
    return (this.d.prepare('SELECT * FROM uploads WHERE state IN (\'queued\', \'uploading\') ORDER BY queued_at, path').all() as RawRow[]).map(row);
  }

  /** Verified uploads whose local file is still there, oldest first. */
  verifiedLocal(): UploadRow[] {
    return (this.d.prepare('SELECT * FROM uploads WHERE state = \'verified\' ORDER BY verified_at, path').all() as RawRow[]).map(row);
  }

  /** Rows per state. */
  counts(): Record<UploadState, number> {
    const c: Record<UploadState, number> = { queued: 0, uploading: 0, verified: 0, deleted: 0, skipped: 0 };
    for (const r of this.d.prepare('SELECT state, COUNT(*) AS n FROM uploads GROUP BY state').all() as { state: UploadState; n: number }[]) c[r.state] = r.n;
    return c;
  }

  all(): UploadRow[] {
    return (this.d.prepare('SELECT * FROM uploads ORDER BY queued_at, path').all() as RawRow[]).map(row);
  }

  started(path: string, uploadId: string): void {
    this.d.prepare('UPDATE uploads SET upload_id = ?, state = \'uploading\' WHERE path = ?').run(uploadId, path);
  }

  parts(path: string): PartRow[] {
    return this.d.prepare('SELECT n, etag, md5 FROM parts WHERE path = ? ORDER BY n').all(path) as PartRow[];
  }

  partDone(path: string, p: PartRow): void {
    // Progress: the failure count (the retry backoff, the start-over rule) begins again.
    this.d.transaction(() => {
      this.d.prepare('INSERT OR REPLACE INTO parts (path, n, etag, md5) VALUES (?, ?, ?, ?)').run(path, p.n, p.etag, p.md5);
      this.d.prepare('UPDATE uploads SET attempts = 0 WHERE path = ?').run(path);
    })();
  }

  /** The store lost the upload (NoSuchUpload) or its object did not verify: start it over. */
  restart(path: string, reason: string): void {
    const tx = this.d.transaction(() => {
      this.d.prepare('DELETE FROM parts WHERE path = ?').run(path);
      this.d.prepare('UPDATE uploads SET upload_id = NULL, state = \'queued\', last_error = ? WHERE path = ?').run(reason, path);
    });
    tx();
  }

  failed(path: string, error: string): void {
    this.d.prepare('UPDATE uploads SET attempts = attempts + 1, last_error = ? WHERE path = ?').run(error, path);
  }

  verified(path: string): void {
    this.d.prepare('UPDATE uploads SET state = \'verified\', verified_at = ?, last_error = NULL WHERE path = ?').run(this.now().toISOString(), path);
  }

  skipped(path: string, reason: string): void {
    this.d.prepare('UPDATE uploads SET state = \'skipped\', last_error = ? WHERE path = ?').run(reason, path);
  }

  deleted(path: string): void {
    this.d.prepare('UPDATE uploads SET state = \'deleted\', deleted_at = ? WHERE path = ?').run(this.now().toISOString(), path);
  }
}
