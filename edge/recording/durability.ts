/**
 * The fsync policy of the recording volume: what makes "a power cut loses at most the last
 * second" true.
 *
 * Why: the recorder's filesink write()s into the page cache. A kill -9 of the process loses
 * only what was still inside GStreamer (queues, the muxer, filesink's 64 KiB buffer), but a
 * power cut also loses every dirty page the kernel had not written back yet, by default up
 * to 30 s of them (dirty_expire_centisecs). So the recorder itself makes the open segment
 * durable on a short period:
 *
 *   every `periodMs` (default 250 ms), for each open segment: fstat (size S) then fdatasync.
 *   When fdatasync returns, the first S bytes are on the medium (fdatasync also writes the
 *   size, the one piece of metadata needed to read them back).
 *   On segment open: fsync the folder (the new directory entry). On close: a last fdatasync.
 *
 * Worst case after a power cut: period + one fdatasync + what GStreamer still held (filesink
 * buffer ~64 ms at 8 Mb/s, queues and encoder ~100 ms with zero-latency settings) — about
 * 0.45 s with the default, under the one-second budget with margin for a slow card.
 * Alternatives measured and rejected: filesink `o-sync=true` (a synchronous write per 64 KiB
 * buffer, on the streaming thread: a slow medium stalls the encoder), and short segments
 * (a new file per second costs more than syncing one).
 *
 * fdatasync runs on the libuv threadpool: one short call per open segment per period. The
 * GStreamer binding keeps off that pool (edge/gst), so the syncs share it only with the
 * worker's other file I/O; a sync that waits shows up in `stats()`.
 *
 * Lifecycle: constructor validates; `start()` starts the loop; `segmentOpened/Closed` follow
 * the recorder's cuts (edge/video/segments.ts); `close()` (idempotent) syncs and
 * closes everything. Runs on: video-encode (the recorder of the channel).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { quantile, sortedCopy } from '../lib/stats.js';
import { fsyncDir } from './naming.js';

export interface SyncPoint {
  readonly path: string;
  /** Bytes known durable after this sync. */
  readonly bytes: number;
  /** Box time (ns) when the sync completed. */
  readonly atNs: bigint;
  /** How long the fdatasync took, ns. */
  readonly durationNs: bigint;
}

export interface SyncerOptions {
  /** Sync period in ms (default 250). */
  readonly periodMs?: number;
  /** Clock in ns (default process.hrtime.bigint; pass BoxClock.wallNs for wall times). */
  readonly now?: () => bigint;
  /** Called on a failed sync (the recorder reports it to guard); the loop continues. */
  readonly onError?: (err: Error, path: string) => void;
  /** Called after each successful sync. */
  readonly onSync?: (p: SyncPoint) => void;
}

export interface SyncStats {
  readonly syncs: number;
  readonly failures: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

type State = 'new' | 'running' | 'closed';

export class SegmentSyncer {
  private readonly periodMs: number;
  private readonly now: () => bigint;
  private readonly open = new Map<string, FileHandle | null>();
  private readonly last = new Map<string, SyncPoint>();
  private readonly durations: number[] = [];
  private failures = 0;
  private state: State = 'new';
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly opts: SyncerOptions = {}) {
    this.periodMs = opts.periodMs ?? 250;
    if (!Number.isFinite(this.periodMs) || this.periodMs < 10 || this.periodMs > 1000) {
      throw new RangeError(`periodMs ${this.periodMs}: 10..1000 (the power-cut budget is 1 s)`);
    }
    this.now = opts.now ?? (() => process.hrtime.bigint());
  }

  start(): void {
    if (this.state !== 'new') return;
    this.state = 'running';
    const tick = (): void => {
      this.running = this.syncAll().finally(() => {
        if (this.state === 'running') this.timer = setTimeout(tick, this.periodMs);
      });
    };
    this.timer = setTimeout(tick, this.periodMs);
  }

  /** A segment file was opened by the muxer: track it and make its directory entry durable. */
  async segmentOpened(path: string): Promise<void> {
    if (this.state === 'closed') return;
    this.open.set(path, null);
    await this.attach(path);
    await fsyncDir(dirname(path)).catch((e: Error) => this.fail(e, path));
  }

  /** A segment was finalised: last sync, stop tracking. Returns the final sync point. */
  async segmentClosed(path: string): Promise<SyncPoint | undefined> {
    await this.running;
    if (!this.open.has(path)) await this.attach(path);
    const fh = this.open.get(path) ?? null;
    this.open.delete(path);
    if (fh) {
      await this.syncOne(path, fh);
      await fh.close().catch(() => undefined);
    }
    return this.last.get(path);
  }

  /** Last durable point of a segment (open or closed). */
  lastSync(path: string): SyncPoint | undefined {
    return this.last.get(path);
  }

  stats(): SyncStats {
    const d = sortedCopy(this.durations);
    return { syncs: d.length, failures: this.failures, p50Ms: quantile(d, 0.5), p99Ms: quantile(d, 0.99), maxMs: d.length ? d[d.length - 1] : 0 };
  }

  /** Syncs every open segment now. */
  async syncAll(): Promise<void> {
    for (const path of [...this.open.keys()]) {
      let fh = this.open.get(path) ?? null;
      if (!fh) fh = await this.attach(path);
      if (fh) await this.syncOne(path, fh);
    }
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    await this.syncAll();
    for (const fh of this.open.values()) await fh?.close().catch(() => undefined);
    this.open.clear();
  }

  private async attach(path: string): Promise<FileHandle | null> {
    try {
      // Read-only is enough: fdatasync flushes the file's dirty pages whatever the fd's mode.
      const fh = await open(path, 'r');
      if (this.open.has(path) && this.open.get(path) === null) this.open.set(path, fh);
      else if (!this.open.has(path)) this.open.set(path, fh);
      return fh;
    } catch (e) {
      // ENOENT: the muxer has not created it yet; the next tick retries.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.fail(e as Error, path);
      return null;
    }
  }

  private async syncOne(path: string, fh: FileHandle): Promise<void> {
    try {
      const { size } = await fh.stat();
      const t0 = process.hrtime.bigint();
      await fh.datasync();
      const dt = process.hrtime.bigint() - t0;
      this.durations.push(Number(dt) / 1e6);
      if (this.durations.length > 100_000) this.durations.splice(0, 50_000);
      const p: SyncPoint = { path, bytes: size, atNs: this.now(), durationNs: dt };
      this.last.set(path, p);
      this.opts.onSync?.(p);
    } catch (e) {
      this.fail(e as Error, path);
    }
  }

  private fail(e: Error, path: string): void {
    this.failures++;
    this.opts.onError?.(e, path);
  }
}
