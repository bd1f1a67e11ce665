/**
 * Uploads closed segments to the hospital's S3-compatible store outside real time (issue #20),
 * part by part, resumable across a cut link, a restart or a power cut, verified before anything
 * local is deleted.
 *
 * For each closed segment the catalog lists (`candidates()`), once: a journal row (journal.ts),
 * a multipart upload under `<prefix><path below the recordings root>`, its parts (`partBytes`,
 * default 8 MiB; S3's minimum is 5 MiB but for the last) each recorded in the journal as the
 * store acknowledges it, the Complete, then the check: HeadObject must give the segment's size
 * and the ETag S3 computes from the parts' MD5s (or, for a store that gives whole-object MD5s,
 * the file's; a store that encrypts with KMS gives neither, and is not supported yet). Only then is the segment `verified`; the
 * retention policy may delete a verified segment's local file (older than `keepLocalHours`
 * since it verified, or sooner while the disk has less than `minFreeBytes` free), never an
 * unverified one: while the disk stays short with nothing verified left, an alarm is raised
 * (status, `onEvent`), and the oldest unuploaded go only with `deleteUnuploadedWhenFull`. `gate()`
 * holds uploads back (time windows, an expert on the live uplink). One segment at a time, oldest first; `maxKbps` paces the parts so the live
 * uplink keeps its share of the link.
 *
 * Failures: a network error, a timeout or a 5xx is retried after a capped backoff with jitter
 * (lib/backoff.ts), per segment; `NoSuchUpload` (the store dropped the upload), a failed check,
 * or START_OVER_AFTER refusals in a row with no part stored start that segment over; a file that is gone or no longer the size the catalog closed it at
 * is marked and skipped (reported in status, nothing else stops). What happened goes to
 * `onEvent` (control records it in the audit log).
 *
 * Lifecycle: new Uploader(opts) validates; start() opens the journal and runs the loop; poke()
 * after a segment closed; close() stops the loop (an in-flight part is abandoned: its bytes are
 * sent again on the next start) and closes the journal; idempotent.
 * Runs on the control worker (it owns the catalog).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat, unlink } from 'node:fs/promises';
import { relative, sep } from 'node:path';
import { backoffDelay, type BackoffOptions } from '../lib/backoff.js';
import type { Logger } from '../lib/log.js';
import { UploadJournal, type UploadRow } from './journal.js';
import { S3Client, S3Error, multipartEtag, type S3Target } from './s3.js';

export const MIN_PART_BYTES = 5 * 1024 * 1024;
/** Refusals by the store in a row, no part stored in between, after which an upload starts over. */
export const START_OVER_AFTER = 3;

export interface UploadCandidate {
  path: string;
  bytes: number;
}

export type UploadEvent =
  | { type: 'verified'; path: string; key: string; bytes: number }
  | { type: 'deleted'; path: string; key: string; reason: string }
  | { type: 'failed'; path: string; key: string; error: string; attempts: number }
  | { type: 'skipped'; path: string; key: string; reason: string }
  | { type: 'alarm'; reason: string };

export interface UploaderOptions {
  target: S3Target;
  /** Key prefix, e.g. `<box id>/`. */
  prefix: string;
  /** Segments live below it; keys keep the path below it. */
  recordingsRoot: string;
  journalPath: string;
  candidates: () => UploadCandidate[];
  partBytes?: number;
  /** 0: unpaced. */
  maxKbps?: number;
  keepLocalHours?: number;
  minFreeBytes?: number;
  freeBytes?: () => Promise<number>;
  retry?: BackoffOptions;
  /** Why uploads must wait now (outside the time windows, an expert on the live uplink), or null. */
  gate?: () => string | null;
  /** When the disk is short and nothing verified is left to delete: delete the oldest not yet
   *  uploaded (with an alarm) instead of only raising the alarm. Default false. */
  deleteUnuploadedWhenFull?: boolean;
  onEvent?: (e: UploadEvent) => void;
  log?: Logger;
  now?: () => Date;
}

export interface UploaderStatus {
  queued: number;
  current: { path: string; partsDone: number; parts: number } | null;
  verified: number;
  deletedLocal: number;
  bytesSent: number;
  lastError: string | null;
  /** Why uploads wait (the gate's reason), or null while they may run. */
  paused: string | null;
  /** The disk is short and nothing verified is left to delete (or unuploaded segments were). */
  alarm: string | null;
}

const sleep = (ms: number, signal: { closed: boolean; wake?: () => void }) => new Promise<void>((r) => {
  const t = setTimeout(r, ms);
  signal.wake = () => { clearTimeout(t); r(); };
});

export class Uploader {
  private readonly journal: UploadJournal;
  private readonly s3: S3Client;
  private readonly partBytes: number;
  private readonly sig: { closed: boolean; wake?: () => void } = { closed: false };
  private loop: Promise<void> | undefined;
  private current: UploaderStatus['current'] = null;
  private bytesSent = 0;
  private lastError: string | null = null;
  private paused: string | null = null;
  private alarm: string | null = null;
  private readonly retry: BackoffOptions;

  constructor(private readonly o: UploaderOptions) {
    this.partBytes = o.partBytes ?? 8 * 1024 * 1024;
    if (!Number.isInteger(this.partBytes) || this.partBytes < MIN_PART_BYTES) throw new RangeError(`upload partBytes ${this.partBytes}: at least ${MIN_PART_BYTES} (S3's smallest part)`);
    if ((o.maxKbps ?? 0) < 0) throw new RangeError(`upload maxKbps ${o.maxKbps}: 0 (unpaced) or more`);
    this.retry = o.retry ?? { minMs: 2000, maxMs: 300_000, jitter: 0.5 };
    this.journal = new UploadJournal(o.journalPath, o.now);
    this.s3 = new S3Client(o.target);
  }

  start(): void {
    if (this.loop) return;
    this.journal.open();
    this.loop = this.run();
  }

  /** A segment closed (or space is short): look again now instead of at the next period. */
  poke(): void {
    this.sig.wake?.();
  }

  status(): UploaderStatus {
    const c = this.journal.isOpen ? this.journal.counts() : { queued: 0, uploading: 0, verified: 0, deleted: 0, skipped: 0 };
    return {
      queued: c.queued + c.uploading,
      current: this.current,
      verified: c.verified,
      deletedLocal: c.deleted,
      bytesSent: this.bytesSent,
      lastError: this.lastError,
      paused: this.paused,
      alarm: this.alarm,
    };
  }

  /** Where each segment's upload stands (tests, status details). */
  rows(): UploadRow[] { return this.journal.all(); }

  async close(): Promise<void> {
    if (this.sig.closed) return;
    this.sig.closed = true;
    this.sig.wake?.();
    this.s3.close();
    await this.loop;
    this.journal.close();
  }

  keyOf(path: string): string {
    const rel = relative(this.o.recordingsRoot, path);
    const inside = rel && !rel.startsWith('..') ? rel : path.split(sep).slice(-3).join('/');
    return `${this.o.prefix}${inside.split(sep).join('/')}`;
  }

  private async run(): Promise<void> {
    while (!this.sig.closed) {
      let idle = true;
      try {
        for (const c of this.o.candidates()) {
          if (c.bytes <= 0 || this.queued.has(c.path)) continue;
          this.journal.queue(c.path, this.keyOf(c.path), c.bytes, this.partBytes);
          this.queued.add(c.path);
        }
        this.paused = this.o.gate?.() ?? null;
        for (const row of this.paused ? [] : this.journal.pending()) {
          if (this.sig.closed || (this.paused = this.o.gate?.() ?? null)) break;
          const wait = this.dueIn(row);
          if (wait > 0) continue;
          idle = false;
          await this.uploadOne(row);
        }
        await this.retention();
      } catch (err) {
        if (!this.sig.closed) this.noteError(`upload loop: ${(err as Error).message}`);
      }
      if (!this.sig.closed) await sleep(idle ? this.nextWakeMs() : 0, this.sig);
    }
  }

  private readonly lastTry = new Map<string, number>();
  /** Store answers that refused a segment's upload since its last stored part. */
  private readonly refusals = new Map<string, number>();
  /** Paths already in the journal (a candidate list is re-read every pass). */
  private readonly queued = new Set<string>();

  /** ms until a failed segment may be tried again (0: now). */
  private dueIn(row: UploadRow): number {
    if (row.attempts === 0) return 0;
    const last = this.lastTry.get(row.path);
    if (last === undefined) return 0; // failed before this start: try once now
    return last + backoffDelay(row.attempts - 1, this.retry) - Date.now();
  }

  private nextWakeMs(): number {
    let next = 5000;
    for (const row of this.journal.pending()) next = Math.min(next, Math.max(50, this.dueIn(row)));
    return next;
  }

  private async uploadOne(row: UploadRow): Promise<void> {
    const { path, key } = row;
    try {
      const st = await stat(path).catch(() => null);
      if (!st || st.size !== row.bytes) {
        const reason = st ? `the file is ${st.size} bytes, the catalog closed it at ${row.bytes}` : 'the file is gone';
        this.journal.skipped(path, reason);
        this.o.onEvent?.({ type: 'skipped', path, key, reason });
        return;
      }
      let uploadId = row.uploadId;
      if (!uploadId) {
        uploadId = await this.s3.createMultipartUpload(key, contentType(path));
        this.journal.started(path, uploadId);
      }
      const parts = Math.max(1, Math.ceil(row.bytes / row.partBytes));
      const done = new Map(this.journal.parts(path).map((p) => [p.n, p]));
      this.current = { path, partsDone: done.size, parts };
      const fh = await open(path, 'r');
      try {
        for (let n = 1; n <= parts && !this.sig.closed; n++) {
          if (done.has(n)) continue;
          const from = (n - 1) * row.partBytes;
          const len = Math.min(row.partBytes, row.bytes - from);
          const buf = Buffer.alloc(len);
          const { bytesRead } = await fh.read(buf, 0, len, from);
          if (bytesRead !== len) throw new Error(`${path}: read ${bytesRead} of ${len} bytes at ${from}`);
          const t0 = Date.now();
          const etag = await this.s3.uploadPart(key, uploadId, n, buf);
          const md5 = createHash('md5').update(buf).digest('hex');
          // A part's ETag is its MD5 at S3 and every store that follows it: compare (a store that
          // encrypts with KMS answers something else, not hex of 32, and is taken on Content-MD5 alone).
          const told = etag.replace(/"/g, '');
          if (/^[0-9a-f]{32}$/.test(told) && told !== md5) throw new S3Error('PartChecksumMismatch', 0, 'UploadPart', `part ${n}: the store's ETag ${told} is not the part's MD5 ${md5}`);
          this.journal.partDone(path, { n, etag, md5 });
          this.refusals.delete(path);
          done.set(n, { n, etag, md5 });
          this.bytesSent += len;
          this.current = { path, partsDone: done.size, parts };
          await this.pace(len, Date.now() - t0);
        }
      } finally {
        await fh.close();
      }
      if (this.sig.closed) return;
      const list = [...done.values()].sort((a, b) => a.n - b.n);
      await this.s3.completeMultipartUpload(key, uploadId, list.map((p) => ({ partNumber: p.n, etag: p.etag })));
      const head = await this.s3.headObject(key);
      // S3, MinIO and Ceph give a multipart object the MD5 of its parts' MD5s and "-N"; some
      // stores (s3rver among them) the MD5 of the whole object: either matches what was sent.
      const want = /-\d+"$/.test(head?.etag ?? '') ? multipartEtag(list.map((p) => Buffer.from(p.md5, 'hex'))) : await fileMd5Etag(path);
      if (!head || head.bytes !== row.bytes || head.etag !== want) {
        const why = head ? `the store holds ${head.bytes} bytes, ETag ${head.etag}; expected ${row.bytes} bytes, ETag ${want}` : 'the store has no object after Complete';
        this.journal.restart(path, `check failed: ${why}`);
        this.journal.failed(path, `check failed: ${why}`);
        this.lastTry.set(path, Date.now());
        this.o.onEvent?.({ type: 'failed', path, key, error: `check failed: ${why}`, attempts: row.attempts + 1 });
        this.noteError(`${key}: ${why}`);
        return;
      }
      this.journal.verified(path);
      this.lastTry.delete(path);
      this.o.onEvent?.({ type: 'verified', path, key, bytes: row.bytes });
    } catch (err) {
      if (this.sig.closed) return;
      const e = err as Error;
      const attempts = (this.journal.get(path)?.attempts ?? row.attempts) + 1;
      if (e instanceof S3Error && e.code === 'NoSuchUpload') {
        this.journal.restart(path, e.message);
      } else {
        this.journal.failed(path, e.message);
        this.lastTry.set(path, Date.now());
        this.o.onEvent?.({ type: 'failed', path, key, error: e.message, attempts });
        // A store that lost the upload without saying NoSuchUpload (some answer 500 or
        // InvalidPart): after START_OVER_AFTER refusals in a row with no part stored, a new
        // upload. A store that does not answer at all (down, link cut) is only waited for.
        const refused = e instanceof S3Error && e.status > 0 ? (this.refusals.get(path) ?? 0) + 1 : 0;
        this.refusals.set(path, refused);
        if (refused >= START_OVER_AFTER && this.journal.get(path)?.uploadId) {
          this.journal.restart(path, `${refused} refusals in a row: starting over (${e.message})`);
          this.refusals.delete(path);
        }
      }
      this.noteError(`${key}: ${e.message}`);
    } finally {
      this.current = null;
    }
  }

  private async pace(bytes: number, tookMs: number): Promise<void> {
    const kbps = this.o.maxKbps ?? 0;
    if (kbps <= 0) return;
    const wantMs = (bytes * 8) / kbps;
    if (wantMs > tookMs) await sleep(wantMs - tookMs, this.sig);
  }

  private async retention(): Promise<void> {
    const keepMs = (this.o.keepLocalHours ?? 24) * 3_600_000;
    const now = (this.o.now ?? (() => new Date()))().getTime();
    const isShort = async () => (this.o.minFreeBytes !== undefined && this.o.freeBytes ? (await this.o.freeBytes()) < this.o.minFreeBytes : false);
    let short = await isShort();
    // Oldest verified first.
    for (const row of this.journal.verifiedLocal()) {
      if (this.sig.closed) return;
      const old = now - Date.parse(row.verifiedAt ?? '') >= keepMs;
      if (!old && !short) continue;
      await this.remove(row.path);
      this.journal.deleted(row.path);
      this.o.onEvent?.({ type: 'deleted', path: row.path, key: row.key, reason: old ? `kept ${this.o.keepLocalHours ?? 24} h after its upload verified` : `disk below ${this.o.minFreeBytes} bytes free` });
      if (short) short = await isShort();
    }
    if (!short) { this.alarm = null; return; }
    // Still short with nothing verified left: the alarm; unuploaded segments go only if configured.
    const waiting = this.journal.pending();
    const reason = `disk below ${this.o.minFreeBytes} bytes free with ${waiting.length} segments not uploaded yet`;
    if (this.alarm !== reason) this.o.onEvent?.({ type: 'alarm', reason });
    this.alarm = reason;
    if (!this.o.deleteUnuploadedWhenFull) return;
    for (const row of waiting) {
      if (this.sig.closed || !short) return;
      await this.remove(row.path);
      this.journal.skipped(row.path, 'deleted before upload: disk full (deleteUnuploadedWhenFull)');
      this.o.onEvent?.({ type: 'deleted', path: row.path, key: row.key, reason: `NOT UPLOADED, deleted: disk below ${this.o.minFreeBytes} bytes free (deleteUnuploadedWhenFull)` });
      short = await isShort();
    }
  }

  private async remove(path: string): Promise<void> {
    await unlink(path).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') throw e; });
  }

  private noteError(msg: string): void {
    this.lastError = msg;
    this.o.log?.warn({ err: msg }, 'segment upload');
  }
}

async function fileMd5Etag(path: string): Promise<string> {
  const h = createHash('md5');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return `"${h.digest('hex')}"`;
}

function contentType(path: string): string {
  if (path.endsWith('.mkv')) return 'video/x-matroska';
  if (path.endsWith('.ts')) return 'video/mp2t';
  if (path.endsWith('.mp4')) return 'video/mp4';
  return 'application/octet-stream';
}
