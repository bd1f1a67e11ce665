/**
 * The recording catalog: cases (recording sessions), the segments that belong to them, and
 * the stills (JPEG snapshots a surgeon or the fleet asked to keep) taken during them.
 *
 * Owns: one SQLite database (better-sqlite3, WAL). Owned by the control worker; recorders
 * (video-encode, audio-encode, device-data) report segment open/close transitions to control
 * as messages, and control applies them here. Nothing else writes the file.
 *
 * Times are box-clock ns since the epoch (bigint; SQLite INTEGER is 64-bit). A segment's
 * start is the capture time of its first frame, its end the capture time just after its last
 * frame (start + duration). A still's time is the capture time of the frame it shows.
 *
 * Schema versions (`user_version`, MIGRATIONS below): 1 cases + segments; 2 adds `stills`.
 * open() migrates an older database in place, one transaction per step.
 *
 * Rollback (an OTA update that the box boots back from, issue #22): the firmware before may meet
 * a database a newer one migrated. Each migration says the lowest schema version that can still
 * use the database after it (`minReader`); the database keeps the highest of those in
 * `catalog_meta.min_reader`. open() of a database newer than this code proceeds, unmigrated,
 * when min_reader <= CATALOG_VERSION, and refuses (`too-new`, naming both versions) otherwise.
 * So a migration that only adds tables, indexes or columns that are NULL-able or defaulted keeps
 * minReader where it is (an older version reads around what it does not know and its INSERTs
 * name their columns); anything else raises it, and the release that carries it becomes the
 * floor below which the fleet must not roll back.
 *
 * Durability: `synchronous=FULL` in WAL mode, so a transition acknowledged to a recorder
 * survives a power cut. Transitions are rare (one open and one close per segment per
 * channel per minute), so the fsync per commit costs nothing that matters.
 *
 * Crash recovery (`recover()`, at start, before new transitions): every segment still
 * `open` was being written when the box died. Its file is stat'ed and scanned
 * (frame-scan.ts: frames and last PTS, without a decoder): it becomes `recovered` with bytes,
 * frames and an end time; when the container cannot be read, `frames` stays null and
 * `framesUnknown` is set; a missing file makes it `lost`. Segment files on disk that the
 * catalog never heard of (the recorder died between creating a file and control recording
 * it) can be adopted with `adoptOrphans(root)`. Cases left `recording` are reported, not
 * ended: whether the case resumes is control's decision.
 *
 * Lifecycle: constructor validates options; `open()`; `recover()`; transitions and queries;
 * `close()` (idempotent). Errors: `CatalogError` with a `code`.
 */
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { scanSegment, type FrameScan } from './frame-scan.js';
import { parseSegmentPath } from './naming.js';

export type CatalogErrorCode =
  | 'not-open' | 'closed' | 'unknown-case' | 'case-not-recording' | 'segment-exists' | 'unknown-segment' | 'segment-not-open' | 'bad-argument'
  | 'still-conflict' | 'too-new';

export class CatalogError extends Error {
  constructor(readonly code: CatalogErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'CatalogError';
  }
}

export type CaseState = 'recording' | 'ended';
export type SegmentState = 'open' | 'closed' | 'recovered' | 'lost';

export interface CaseRecord {
  readonly id: number;
  readonly uid: string;
  readonly label: string | null;
  readonly state: CaseState;
  readonly startNs: bigint;
  readonly endNs: bigint | null;
}

export interface SegmentRecord {
  readonly id: number;
  readonly channel: string;
  readonly caseId: number | null;
  readonly seq: number;
  readonly path: string;
  readonly state: SegmentState;
  readonly startNs: bigint;
  readonly endNs: bigint | null;
  readonly bytes: number | null;
  readonly frames: number | null;
  /** Frames could not be counted (recovered from an unreadable container). */
  readonly framesUnknown: boolean;
}

/** A JPEG still kept on the box (next to the segments of its channel). */
export interface StillRecord {
  readonly kind: 'still';
  readonly id: number;
  readonly channel: string;
  readonly caseId: number | null;
  /** Capture time of the frame it shows, ns since the epoch. */
  readonly captureNs: bigint;
  readonly path: string;
  readonly bytes: number;
  readonly width: number;
  readonly height: number;
  /** When it was saved, ns since the epoch. */
  readonly savedNs: bigint;
  /** Who asked: `local` (the CLI / local API) or `fleet:<issuer>`. */
  readonly requestedBy: string;
}

/** A still to catalogue: everything its record holds but what the catalog assigns. */
export type AddStill = Omit<StillRecord, 'kind' | 'id'>;

export interface RecoveryReport {
  /** Segments left open by a crash, now closed from what is on disk. */
  readonly recovered: readonly SegmentRecord[];
  /** Segments left open whose file is gone. */
  readonly lost: readonly SegmentRecord[];
  /** Cases still `recording` (control decides whether to resume or end them). */
  readonly openCases: readonly CaseRecord[];
}

export interface CatalogOptions {
  /** Database file. */
  readonly path: string;
  /** Frame scanner (default frame-scan.ts; tests may inject). */
  readonly scan?: (path: string) => FrameScan | null;
  /** How long a statement waits for another connection's lock before SQLITE_BUSY, ms
   *  (default 2000). The wait blocks the calling thread. */
  readonly busyTimeoutMs?: number;
}

export interface OpenSegment {
  readonly channel: string;
  readonly caseId: number | null;
  readonly seq: number;
  readonly path: string;
  readonly startNs: bigint;
}

export interface CloseSegment {
  readonly endNs: bigint;
  readonly bytes: number;
  /** Frames the recorder wrote; null if it does not know. */
  readonly frames: number | null;
}

const MIGRATIONS: readonly { sql: string; minReader: number }[] = [
  { minReader: 1, sql: `CREATE TABLE cases (
     id INTEGER PRIMARY KEY,
     uid TEXT NOT NULL UNIQUE,
     label TEXT,
     state TEXT NOT NULL CHECK (state IN ('recording', 'ended')),
     start_ns INTEGER NOT NULL,
     end_ns INTEGER
   );
   CREATE TABLE segments (
     id INTEGER PRIMARY KEY,
     channel TEXT NOT NULL,
     case_id INTEGER REFERENCES cases(id),
     seq INTEGER NOT NULL,
     path TEXT NOT NULL UNIQUE,
     state TEXT NOT NULL CHECK (state IN ('open', 'closed', 'recovered', 'lost')),
     start_ns INTEGER NOT NULL,
     end_ns INTEGER,
     bytes INTEGER,
     frames INTEGER,
     frames_unknown INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX segments_by_case ON segments(case_id, start_ns);
   CREATE INDEX segments_by_time ON segments(channel, start_ns);
   CREATE INDEX segments_open ON segments(state) WHERE state = 'open';` },
  // 2: stills (JPEGs kept on request), tied to a case the way segments are. A version-1 reader
  // ignores the table.
  { minReader: 1, sql: `CREATE TABLE stills (
     id INTEGER PRIMARY KEY,
     channel TEXT NOT NULL,
     case_id INTEGER REFERENCES cases(id),
     capture_ns INTEGER NOT NULL,
     path TEXT NOT NULL UNIQUE,
     bytes INTEGER NOT NULL,
     width INTEGER NOT NULL,
     height INTEGER NOT NULL,
     saved_ns INTEGER NOT NULL,
     requested_by TEXT NOT NULL
   );
   CREATE INDEX stills_by_case ON stills(case_id, capture_ns);
   CREATE INDEX stills_by_time ON stills(channel, capture_ns);` },
];

/** Schema version this code writes (`PRAGMA user_version` after open()). */
export const CATALOG_VERSION = MIGRATIONS.length;

interface CaseRow { id: bigint; uid: string; label: string | null; state: CaseState; start_ns: bigint; end_ns: bigint | null }
interface SegRow {
  id: bigint; channel: string; case_id: bigint | null; seq: bigint; path: string; state: SegmentState;
  start_ns: bigint; end_ns: bigint | null; bytes: bigint | null; frames: bigint | null; frames_unknown: bigint;
}

const toCase = (r: CaseRow): CaseRecord => ({
  id: Number(r.id), uid: r.uid, label: r.label, state: r.state, startNs: r.start_ns, endNs: r.end_ns,
});
const toSeg = (r: SegRow): SegmentRecord => ({
  id: Number(r.id), channel: r.channel, caseId: r.case_id === null ? null : Number(r.case_id), seq: Number(r.seq),
  path: r.path, state: r.state, startNs: r.start_ns, endNs: r.end_ns,
  bytes: r.bytes === null ? null : Number(r.bytes), frames: r.frames === null ? null : Number(r.frames),
  framesUnknown: r.frames_unknown !== 0n,
});

interface StillRow {
  id: bigint; channel: string; case_id: bigint | null; capture_ns: bigint; path: string; bytes: bigint;
  width: bigint; height: bigint; saved_ns: bigint; requested_by: string;
}
const toStill = (r: StillRow): StillRecord => ({
  kind: 'still', id: Number(r.id), channel: r.channel, caseId: r.case_id === null ? null : Number(r.case_id), captureNs: r.capture_ns,
  path: r.path, bytes: Number(r.bytes), width: Number(r.width), height: Number(r.height), savedNs: r.saved_ns, requestedBy: r.requested_by,
});

/** End time of a scanned segment: start + (last - first) plus one frame interval. */
function scannedEnd(startNs: bigint, s: FrameScan): bigint {
  if (s.frames === 0 || s.firstPtsNs === null || s.lastPtsNs === null) return startNs;
  const span = s.lastPtsNs - s.firstPtsNs;
  const frameNs = s.frames > 1 ? span / BigInt(s.frames - 1) : 0n;
  return startNs + span + frameNs;
}

export class Catalog {
  private db: Database.Database | null = null;
  private state: 'new' | 'open' | 'closed' = 'new';
  private readonly scan: (path: string) => FrameScan | null;

  constructor(private readonly opts: CatalogOptions) {
    if (typeof opts.path !== 'string' || opts.path.length === 0) throw new CatalogError('bad-argument', 'path is required');
    this.scan = opts.scan ?? scanSegment;
  }

  /** Opens (creating or migrating) the database. */
  open(): void {
    if (this.state === 'open') return;
    if (this.state === 'closed') throw new CatalogError('closed', 'a closed catalog cannot be reopened; make a new one');
    const db = new Database(this.opts.path);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(this.opts.busyTimeoutMs ?? 2000))}`);
      db.defaultSafeIntegers(true);
      const version = Number(db.pragma('user_version', { simple: true }) as bigint);
      if (version > MIGRATIONS.length) {
        const meta = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'catalog_meta'`).get();
        const row = meta ? db.prepare(`SELECT value FROM catalog_meta WHERE key = 'min_reader'`).get() as { value: string } | undefined : undefined;
        const minReader = Number(row?.value ?? version);
        if (minReader > MIGRATIONS.length) {
          throw new CatalogError('too-new', `${this.opts.path} is at schema ${version}, which needs a reader of schema ${minReader} or later; this firmware reads up to ${MIGRATIONS.length}`);
        }
      }
      for (let v = version; v < MIGRATIONS.length; v++) {
        db.transaction(() => {
          db.exec(MIGRATIONS[v]!.sql);
          // Kept beside the migrations, not one of them: a database of any version may lack it.
          db.exec('CREATE TABLE IF NOT EXISTS catalog_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
          const was = Number((db.prepare(`SELECT value FROM catalog_meta WHERE key = 'min_reader'`).get() as { value: string } | undefined)?.value ?? 1);
          db.prepare(`INSERT OR REPLACE INTO catalog_meta (key, value) VALUES ('min_reader', ?)`).run(String(Math.max(was, MIGRATIONS[v]!.minReader)));
          db.pragma(`user_version = ${v + 1}`);
        })();
      }
    } catch (e) {
      db.close();
      throw e;
    }
    this.db = db;
    this.state = 'open';
  }

  /** Closes the database (checkpointing the WAL). Idempotent. */
  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.db?.close();
    this.db = null;
  }

  private get d(): Database.Database {
    if (this.db) return this.db;
    throw new CatalogError(this.state === 'closed' ? 'closed' : 'not-open', 'catalog is not open');
  }

  // ---- cases ----

  /** Starts a case (recording session). */
  startCase(c: { startNs: bigint; label?: string; uid?: string }): CaseRecord {
    const uid = c.uid ?? randomUUID();
    const row = this.d
      .prepare(`INSERT INTO cases (uid, label, state, start_ns) VALUES (?, ?, 'recording', ?) RETURNING *`)
      .get(uid, c.label ?? null, c.startNs) as CaseRow;
    return toCase(row);
  }

  /**
   * Gives a segment that belongs to no case to `caseId` (a case that starts while a segment
   * is being written includes that segment). Returns false when the segment already had a
   * case or does not exist.
   */
  assignCase(path: string, caseId: number): boolean {
    return this.d.prepare(`UPDATE segments SET case_id = ? WHERE path = ? AND case_id IS NULL`).run(caseId, path).changes === 1;
  }

  /** Ends a recording case. Throws unknown-case / case-not-recording. */
  endCase(caseId: number, endNs: bigint): CaseRecord {
    const c = this.getCase(caseId);
    if (!c) throw new CatalogError('unknown-case', `case ${caseId}`);
    if (c.state !== 'recording') throw new CatalogError('case-not-recording', `case ${caseId} is ${c.state}`);
    return toCase(this.d.prepare(`UPDATE cases SET state = 'ended', end_ns = ? WHERE id = ? RETURNING *`).get(endNs, caseId) as CaseRow);
  }

  getCase(caseId: number): CaseRecord | null {
    const r = this.d.prepare(`SELECT * FROM cases WHERE id = ?`).get(caseId) as CaseRow | undefined;
    return r ? toCase(r) : null;
  }

  /** Cases overlapping [fromNs, toNs), oldest first. */
  listCases(fromNs: bigint, toNs: bigint): CaseRecord[] {
    return (this.d
      .prepare(`SELECT * FROM cases WHERE start_ns < ? AND (end_ns IS NULL OR end_ns > ?) ORDER BY start_ns`)
      .all(toNs, fromNs) as CaseRow[]).map(toCase);
  }

  // ---- segment transitions ----

  /** A recorder opened a segment. Throws segment-exists, unknown-case, case-not-recording. */
  openSegment(s: OpenSegment): SegmentRecord {
    if (!Number.isInteger(s.seq) || s.seq < 0) throw new CatalogError('bad-argument', `seq ${s.seq}`);
    const d = this.d;
    return d.transaction(() => {
      if (s.caseId !== null) {
        const c = this.getCase(s.caseId);
        if (!c) throw new CatalogError('unknown-case', `case ${s.caseId}`);
        if (c.state !== 'recording') throw new CatalogError('case-not-recording', `case ${s.caseId} is ${c.state}`);
      }
      if (d.prepare(`SELECT 1 FROM segments WHERE path = ?`).get(s.path)) throw new CatalogError('segment-exists', s.path);
      return toSeg(d
        .prepare(`INSERT INTO segments (channel, case_id, seq, path, state, start_ns) VALUES (?, ?, ?, ?, 'open', ?) RETURNING *`)
        .get(s.channel, s.caseId, s.seq, s.path, s.startNs) as SegRow);
    })();
  }

  /** A recorder finalised a segment. Throws unknown-segment, segment-not-open. */
  closeSegment(path: string, c: CloseSegment): SegmentRecord {
    const d = this.d;
    return d.transaction(() => {
      const cur = d.prepare(`SELECT * FROM segments WHERE path = ?`).get(path) as SegRow | undefined;
      if (!cur) throw new CatalogError('unknown-segment', path);
      if (cur.state !== 'open') throw new CatalogError('segment-not-open', `${path} is ${cur.state}`);
      if (c.endNs < cur.start_ns) throw new CatalogError('bad-argument', `end ${c.endNs} before start ${cur.start_ns}`);
      return toSeg(d
        .prepare(`UPDATE segments SET state = 'closed', end_ns = ?, bytes = ?, frames = ?, frames_unknown = ? WHERE id = ? RETURNING *`)
        .get(c.endNs, c.bytes, c.frames, c.frames === null ? 1 : 0, cur.id) as SegRow);
    })();
  }

  /** A recorder deleted a segment that got no frame (its pipeline failed: a full disk).
   *  Removes its row while still open; returns whether there was one. */
  discardSegment(path: string): boolean {
    return this.d.prepare(`DELETE FROM segments WHERE path = ? AND state = 'open'`).run(path).changes === 1;
  }

  // ---- queries ----

  getSegment(path: string): SegmentRecord | null {
    const r = this.d.prepare(`SELECT * FROM segments WHERE path = ?`).get(path) as SegRow | undefined;
    return r ? toSeg(r) : null;
  }

  /** Segments of a case in capture order (optionally one channel). */
  segmentsOfCase(caseId: number, channel?: string): SegmentRecord[] {
    const rows = channel === undefined
      ? this.d.prepare(`SELECT * FROM segments WHERE case_id = ? ORDER BY start_ns, channel, seq`).all(caseId)
      : this.d.prepare(`SELECT * FROM segments WHERE case_id = ? AND channel = ? ORDER BY start_ns, seq`).all(caseId, channel);
    return (rows as SegRow[]).map(toSeg);
  }

  /**
   * Segments overlapping [fromNs, toNs) in capture order (optionally one channel). An open
   * segment counts as reaching into the future.
   */
  segmentsInRange(fromNs: bigint, toNs: bigint, channel?: string): SegmentRecord[] {
    if (toNs < fromNs) throw new CatalogError('bad-argument', 'toNs before fromNs');
    const cond = `start_ns < ? AND (end_ns IS NULL OR end_ns > ?)`;
    const rows = channel === undefined
      ? this.d.prepare(`SELECT * FROM segments WHERE ${cond} ORDER BY start_ns, channel, seq`).all(toNs, fromNs)
      : this.d.prepare(`SELECT * FROM segments WHERE ${cond} AND channel = ? ORDER BY start_ns, seq`).all(toNs, fromNs, channel);
    return (rows as SegRow[]).map(toSeg);
  }

  openSegments(): SegmentRecord[] {
    return (this.d.prepare(`SELECT * FROM segments WHERE state = 'open' ORDER BY start_ns`).all() as SegRow[]).map(toSeg);
  }

  // ---- stills ----

  /**
   * Catalogues a still whose file is already written. Saving the same still again (same path:
   * same channel and capture time) returns the row already there, so a retried request does
   * not duplicate it; the same path with different contents is `still-conflict`. Throws
   * unknown-case / case-not-recording for a case that is not recording.
   */
  addStill(s: AddStill): StillRecord {
    if (!Number.isInteger(s.bytes) || s.bytes <= 0) throw new CatalogError('bad-argument', `bytes ${s.bytes}`);
    if (!Number.isInteger(s.width) || s.width <= 0 || !Number.isInteger(s.height) || s.height <= 0) throw new CatalogError('bad-argument', `size ${s.width}x${s.height}`);
    const d = this.d;
    return d.transaction(() => {
      const cur = d.prepare(`SELECT * FROM stills WHERE path = ?`).get(s.path) as StillRow | undefined;
      if (cur) {
        const same = cur.channel === s.channel && cur.capture_ns === s.captureNs && Number(cur.bytes) === s.bytes;
        if (!same) throw new CatalogError('still-conflict', `${s.path} is catalogued with other contents`);
        return toStill(cur);
      }
      if (s.caseId !== null) {
        const c = this.getCase(s.caseId);
        if (!c) throw new CatalogError('unknown-case', `case ${s.caseId}`);
        if (c.state !== 'recording') throw new CatalogError('case-not-recording', `case ${s.caseId} is ${c.state}`);
      }
      return toStill(d
        .prepare(`INSERT INTO stills (channel, case_id, capture_ns, path, bytes, width, height, saved_ns, requested_by)
                  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`)
        .get(s.channel, s.caseId, s.captureNs, s.path, s.bytes, s.width, s.height, s.savedNs, s.requestedBy) as StillRow);
    })();
  }

  getStill(path: string): StillRecord | null {
    const r = this.d.prepare(`SELECT * FROM stills WHERE path = ?`).get(path) as StillRow | undefined;
    return r ? toStill(r) : null;
  }

  /** Stills of a case in capture order (optionally one channel). */
  stillsOfCase(caseId: number, channel?: string): StillRecord[] {
    const rows = channel === undefined
      ? this.d.prepare(`SELECT * FROM stills WHERE case_id = ? ORDER BY capture_ns, channel`).all(caseId)
      : this.d.prepare(`SELECT * FROM stills WHERE case_id = ? AND channel = ? ORDER BY capture_ns`).all(caseId, channel);
    return (rows as StillRow[]).map(toStill);
  }

  /** Stills captured in [fromNs, toNs), in capture order (optionally one channel). */
  stillsInRange(fromNs: bigint, toNs: bigint, channel?: string): StillRecord[] {
    if (toNs < fromNs) throw new CatalogError('bad-argument', 'toNs before fromNs');
    const rows = channel === undefined
      ? this.d.prepare(`SELECT * FROM stills WHERE capture_ns >= ? AND capture_ns < ? ORDER BY capture_ns, channel`).all(fromNs, toNs)
      : this.d.prepare(`SELECT * FROM stills WHERE capture_ns >= ? AND capture_ns < ? AND channel = ? ORDER BY capture_ns`).all(fromNs, toNs, channel);
    return (rows as StillRow[]).map(toStill);
  }

  // ---- recovery ----

  /** Closes every segment a crash left open, from what is on disk. Run once after open(). */
  recover(): RecoveryReport {
    const d = this.d;
    const recovered: SegmentRecord[] = [];
    const lost: SegmentRecord[] = [];
    for (const s of this.openSegments()) {
      let bytes: number | null = null;
      try {
        bytes = statSync(s.path).size;
      } catch {
        bytes = null;
      }
      if (bytes === null) {
        lost.push(toSeg(d.prepare(`UPDATE segments SET state = 'lost', end_ns = start_ns, bytes = 0, frames = 0 WHERE id = ? RETURNING *`).get(s.id) as SegRow));
        continue;
      }
      const sc = this.scan(s.path);
      const endNs = sc ? scannedEnd(s.startNs, sc) : s.startNs;
      recovered.push(toSeg(d
        .prepare(`UPDATE segments SET state = 'recovered', end_ns = ?, bytes = ?, frames = ?, frames_unknown = ? WHERE id = ? RETURNING *`)
        .get(endNs, bytes, sc ? sc.frames : null, sc ? 0 : 1, s.id) as SegRow));
    }
    const openCases = (d.prepare(`SELECT * FROM cases WHERE state = 'recording' ORDER BY start_ns`).all() as CaseRow[]).map(toCase);
    return { recovered, lost, openCases };
  }

  /**
   * Adopts segment files under `root` (named by naming.ts) that the catalog has no row for:
   * each becomes `recovered`, attached to the case that was recording at its start time if
   * exactly one was. Its start is taken from the previous segment of the same recording
   * (its end) when known, else from the recording start in its name. Returns the adopted.
   */
  adoptOrphans(root: string): SegmentRecord[] {
    const d = this.d;
    const out: SegmentRecord[] = [];
    const walk = (dir: string): string[] => {
      let names: string[];
      try { names = readdirSync(dir); } catch { return []; }
      return names.flatMap((n) => {
        const p = join(dir, n);
        try { return statSync(p).isDirectory() ? walk(p) : [p]; } catch { return []; }
      });
    };
    for (const p of walk(root).sort()) {
      const name = parseSegmentPath(p);
      if (!name || this.getSegment(p)) continue;
      const prevPath = p.replace(/-(\d{5,})\.(mkv|ts)$/, (_m, n: string, ext: string) => `-${String(Number(n) - 1).padStart(n.length, '0')}.${ext}`);
      const prev = name.seq > 0 ? this.getSegment(prevPath) : null;
      const startNs = prev?.endNs ?? name.recordingStartNs;
      const cases = d.prepare(`SELECT * FROM cases WHERE start_ns <= ? AND (end_ns IS NULL OR end_ns >= ?)`).all(startNs, startNs) as CaseRow[];
      const caseId = cases.length === 1 ? Number(cases[0].id) : null;
      const sc = this.scan(p);
      const bytes = statSync(p).size;
      out.push(toSeg(d
        .prepare(`INSERT INTO segments (channel, case_id, seq, path, state, start_ns, end_ns, bytes, frames, frames_unknown)
                  VALUES (?, ?, ?, ?, 'recovered', ?, ?, ?, ?, ?) RETURNING *`)
        .get(name.channel, caseId, name.seq, p, startNs, sc ? scannedEnd(startNs, sc) : startNs, bytes, sc ? sc.frames : null, sc ? 0 : 1) as SegRow));
    }
    return out;
  }
}
