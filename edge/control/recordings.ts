/**
 * The recording catalog in the control worker, and the video part of the box status.
 *
 * Owns: the Catalog (SQLite, `<dataDir>/catalog.db`). At start it recovers segments a crash
 * left open (scanned from disk) and adopts segment files the catalog never heard of; then it
 * applies the recorders' transitions as their events arrive: `segment-opened` -> an open row,
 * `segment-closed` -> closed with end, bytes and the frames counted in the file by frame-scan
 * (a close whose open was never seen, e.g.
 * sent while control restarted, is recorded as an open + close), `segment-discarded` (a
 * failed recorder deleted a segment that got no frame) -> its row removed. A transition the
 * database cannot write because its disk is full (SQLITE_FULL, SQLITE_IOERR) is kept, in order,
 * and replayed every 2 s until it goes in (the recorders go on without the catalog); status
 * says how many wait (`catalogDeferred`). Each channel's latest `recording-state` (recording,
 * or why not: "recording stopped: disk full on <root>, N B free") is in the status. Cases: startCase/endCase
 * (from the fleet's recordingStart/Stop, or the local API); segments opened during a case
 * belong to it, and so do stills saved while it runs (catalogStill, from stills.ts).
 *
 * Also keeps the latest video facts reported by the workers (probed profile, capture, encode
 * and RTSP stats) for `orbox status`.
 *
 * Lifecycle: new Recordings(opts); start() opens and recovers; onEvent(from, event) for every
 * event in control's inbox (ignores what is not its own); stop(deadlineMs) waits, bounded, for
 * the segments still open to be closed by their recorders (they finalise at stop), then
 * closes the database. Errors in a transition are logged, never thrown to the inbox loop.
 * Runs on: control.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { Catalog, scanSegment, type AddStill, type CaseRecord, type SegmentRecord, type StillRecord } from '../recording/index.js';
import type { Logger } from '../lib/log.js';
import type { WorkerEvent } from '../runtime/index.js';

export interface RecordingsOptions {
  dataDir: string;
  log?: Logger;
}

export interface VideoStatus {
  profile: { id: string; encoder: string; board: string } | null;
  recordingRoot: string;
  openSegments: number;
  segmentsClosed: number;
  /** Per channel: the recorder's state and why it is stopped (null reason while it records). */
  recording: Record<string, { state: string; reason: string | null; freeBytes: number | null }>;
  /** Catalog transitions waiting for the database to have room again. */
  catalogDeferred: number;
  capture?: unknown;
  encode?: unknown;
  net?: unknown;
}

/** Errors of a database whose disk is full: the transition is kept and replayed. */
const DISK_FULL_CODES = new Set(['SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_IOERR_WRITE', 'SQLITE_IOERR_FSYNC', 'SQLITE_IOERR_SHMSIZE', 'SQLITE_CANTOPEN']);
const SEGMENT_EVENTS = new Set(['segment-opened', 'segment-closed', 'segment-discarded']);

const big = (v: unknown): bigint => BigInt(String(v));

export class Recordings {
  catalog: Catalog;
  readonly root: string;
  private profile: VideoStatus['profile'] = null;
  private readonly openPaths = new Set<string>();
  private closed = 0;
  private latest: { capture?: unknown; encode?: unknown; net?: unknown; uplink?: unknown } = {};
  private waiters: (() => void)[] = [];
  private ready = false;
  private readonly queued: WorkerEvent[] = [];
  /** Segment transitions the database had no room for, in order (replayed by a timer). */
  private readonly deferred: WorkerEvent[] = [];
  private replayTimer: NodeJS.Timeout | undefined;
  private deferring = false;
  private readonly recording: VideoStatus['recording'] = {};
  /** The case being recorded: segments opened while it runs belong to it. */
  private current: CaseRecord | null = null;

  constructor(private readonly opts: RecordingsOptions) {
    this.root = join(opts.dataDir, 'recordings');
    this.catalog = this.newCatalog();
  }

  /**
   * Opens the catalog and recovers it right after control is ready, not before: a control
   * restarted after a crash may wait on SQLite's lock (busy_timeout) until its previous
   * incarnation's connection is gone, and control must answer the guard before that.
   * Events that arrive meanwhile are queued and applied in order.
   */
  start(attempt = 0): void {
    setTimeout(() => {
      try {
        mkdirSync(this.opts.dataDir, { recursive: true });
        this.catalog.open();
        const rep = this.catalog.recover();
        // A case still recording when the box (or control) died goes on: the recorders never stopped.
        this.current = rep.openCases.at(-1) ?? null;
        const adopted = this.catalog.adoptOrphans(this.root);
        if (rep.recovered.length || rep.lost.length || adopted.length) {
          this.opts.log?.warn({ recovered: rep.recovered.length, lost: rep.lost.length, adopted: adopted.length }, 'catalog recovered segments left open by a crash');
        }
      } catch (err) {
        // SQLITE_BUSY: the previous incarnation's connection (same process) still holds its
        // lock until its thread is torn down. Retry without blocking the thread.
        this.catalog.close();
        this.catalog = this.newCatalog();
        if (attempt < 100 && (err as { code?: string }).code === 'SQLITE_BUSY') { this.start(attempt + 1); return; }
        this.opts.log?.error({ err }, 'recording catalog unavailable');
        return;
      }
      this.ready = true;
      for (const e of this.queued.splice(0)) this.onEvent(e);
    }, attempt === 0 ? 0 : 100);
  }

  private newCatalog(): Catalog {
    return new Catalog({ path: join(this.opts.dataDir, 'catalog.db'), busyTimeoutMs: 20 });
  }

  /** Handles one worker event; returns true when it was a video/recording event. */
  onEvent(event: WorkerEvent): boolean {
    if (!this.ready && SEGMENT_EVENTS.has(event.type)) { this.queued.push(event); return true; }
    if (SEGMENT_EVENTS.has(event.type)) {
      this.track(event);
      // Behind a deferred transition, later ones of the same segments wait too (order matters).
      if (this.deferred.length > 0) { this.deferred.push(event); return true; }
      this.applySegment(event);
      return true;
    }
    try {
      switch (event.type) {
        case 'recording-state':
          this.recording[String(event.channel)] = {
            state: String(event.state), reason: event.reason == null ? null : String(event.reason),
            freeBytes: typeof event.freeBytes === 'number' ? event.freeBytes : null,
          };
          return true;
        case 'video-profile':
          this.profile = { id: String(event.profile), encoder: String(event.encoder), board: String(event.board) };
          return true;
        case 'capture-stats': this.latest.capture = event.channels; return true;
        case 'encode-stats': this.latest.encode = event.channels; return true;
        case 'net-stats': this.latest.net = event.streams; this.latest.uplink = event.uplink; return true;
        default: return false;
      }
    } catch (err) {
      this.opts.log?.error({ err, event: event.type }, 'recording event not applied');
      return true;
    }
  }

  /**
   * Starts a case (a recording session, named by the caller: the console's case id). The
   * channels record continuously; a case tags the segments opened while it runs and spans
   * its time range in the catalog. Throws when a case is already recording.
   */
  startCase(uid: string, startNs: bigint): CaseRecord {
    if (!this.ready) throw new Error('the recording catalog is not open yet');
    if (this.current) throw new Error(`case "${this.current.uid}" is already recording`);
    this.current = this.catalog.startCase({ uid, label: uid, startNs });
    for (const path of this.openPaths) this.catalog.assignCase(path, this.current.id);
    return this.current;
  }

  /** Ends the case `uid`. Throws when it is not the case being recorded. */
  endCase(uid: string, endNs: bigint): CaseRecord {
    if (!this.current || this.current.uid !== uid) throw new Error(`case "${uid}" is not recording${this.current ? ` (case "${this.current.uid}" is)` : ''}`);
    const ended = this.catalog.endCase(this.current.id, endNs);
    this.current = null;
    return ended;
  }

  get currentCase(): CaseRecord | null {
    return this.current;
  }

  /** Catalogues a still already written to `path`, with the case being recorded (if any). */
  catalogStill(s: Omit<AddStill, 'caseId'>): { record: StillRecord; caseUid: string | null } {
    if (!this.ready) throw new Error('the recording catalog is not open yet');
    const c = this.current;
    return { record: this.catalog.addStill({ ...s, caseId: c?.id ?? null }), caseUid: c?.uid ?? null };
  }

  status(): VideoStatus {
    return {
      profile: this.profile, recordingRoot: this.root, openSegments: this.openPaths.size, segmentsClosed: this.closed,
      recording: { ...this.recording }, catalogDeferred: this.deferred.length, ...this.latest,
    };
  }

  /** Segments of a channel whose capture span overlaps [fromNs, toNs). */
  segments(fromNs: bigint, toNs: bigint, channel?: string): SegmentRecord[] {
    return this.catalog.segmentsInRange(fromNs, toNs, channel);
  }

  async stop(deadlineMs: number): Promise<void> {
    if (this.openPaths.size > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, deadlineMs);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
    clearTimeout(this.replayTimer);
    this.replay();
    if (this.deferred.length > 0) this.opts.log?.error({ deferred: this.deferred.length }, 'catalog transitions lost at stop: the database had no room (the next start adopts the files)');
    this.catalog.close();
  }

  /** Which segments are open, whatever the database could write. */
  private track(e: WorkerEvent): void {
    const path = String(e.path);
    if (e.type === 'segment-opened') { this.openPaths.add(path); return; }
    if (e.type === 'segment-closed') this.closed++;
    this.openPaths.delete(path);
    if (this.openPaths.size === 0) for (const w of this.waiters.splice(0)) w();
  }

  /** Writes one transition; false (and kept for a replay) when the disk has no room. */
  private applySegment(e: WorkerEvent): boolean {
    try {
      if (e.type === 'segment-opened') this.opened(e);
      else if (e.type === 'segment-closed') this.closedSeg(e);
      else this.catalog.discardSegment(String(e.path));
      return true;
    } catch (err) {
      const code = String((err as { code?: string }).code ?? '');
      if (!DISK_FULL_CODES.has(code)) {
        this.opts.log?.error({ err, event: e.type }, 'recording event not applied');
        return true;
      }
      // One warning per episode (the replays that fail again say nothing more).
      if (!this.deferring) this.opts.log?.warn({ err, code }, 'recording catalog cannot write (disk full): transitions kept and replayed');
      this.deferring = true;
      this.deferred.unshift(e);
      this.replayTimer ??= setTimeout(() => { this.replayTimer = undefined; this.replay(); }, 2000);
      return false;
    }
  }

  /** Replays the deferred transitions in order until one fails again. */
  private replay(): void {
    const todo = this.deferred.splice(0);
    for (let i = 0; i < todo.length; i++) {
      if (!this.applySegment(todo[i])) {
        // applySegment put todo[i] back in front; the rest follow it.
        this.deferred.push(...todo.slice(i + 1));
        return;
      }
    }
    this.deferring = false;
    if (todo.length > 0) this.opts.log?.info({ replayed: todo.length }, 'recording catalog writes again: deferred transitions applied');
  }

  private opened(e: WorkerEvent): void {
    const path = String(e.path);
    if (!this.catalog.getSegment(path)) {
      this.catalog.openSegment({ channel: String(e.channel), caseId: this.current?.id ?? null, seq: Number(e.seq), path, startNs: big(e.startNs) });
    }
  }

  private closedSeg(e: WorkerEvent): void {
    const path = String(e.path);
    const cur = this.catalog.getSegment(path);
    if (!cur) this.catalog.openSegment({ channel: String(e.channel), caseId: null, seq: Number(e.seq), path, startNs: big(e.startNs) });
    if (!cur || cur.state === 'open') {
      // Recorders do not count frames; the closed file is scanned (headers only, no decoder).
      const frames = e.frames === null || e.frames === undefined ? scanSegment(path)?.frames ?? null : Number(e.frames);
      this.catalog.closeSegment(path, { endNs: big(e.endNs), bytes: Number(e.bytes), frames });
    }
  }
}
