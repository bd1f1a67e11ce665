/**
 * Stills in the control worker: the latest JPEG still and thumbnail of every channel, handed
 * out on request (CLI / local API `snapshot`, fleet command `snapshot`), and kept on request
 * ("capture still", `save: true`): written next to the channel's segments and catalogued with
 * the case being recorded.
 *
 * Owns: the latest still and thumbnail per channel (copies of the records video-encode writes
 * into `snap.<channel>`, see edge/video/snapshot.ts), the requests waiting for a newer one,
 * and the still files it writes. The catalog itself belongs to Recordings.
 *
 * - Time: a still's `captureNs` is the capture time of its frame (the record's wall time, box
 *   clock), the same time that frame's hq/lq access units carry.
 * - Waiting: a request with `fresh` waits for a still captured after the request arrived; a
 *   request when the channel has no still yet waits for the first. Both are bounded (`waitMs`,
 *   default two intervals + 3 s, at most 60 s) and end in a StillError naming the channel and
 *   the interval.
 * - Fleet results carry a thumbnail, never the full still: an ack goes through the box's
 *   on-disk outbox and the broker, whose packet limit (1 MiB in the rig, often less in a
 *   hospital) would make a full 1080p still (130 KB to 1.3 MB, 4/3 more in base64) either
 *   refused or a reason to disconnect. FLEET_THUMBNAIL_MAX_BYTES bounds it.
 * - Errors: StillError (unknown channel, stills off, nothing in time, too large); file and
 *   catalog errors as thrown by node / the Catalog.
 *
 * Lifecycle: new Stills(opts); onRecord()/onEvent() from control's ring and inbox loops;
 * close() fails every waiting request. Runs on: control.
 */
import type { BoxClock } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import type { RecordMeta } from '../lib/ring/index.js';
import type { ChannelConfig } from '../config/index.js';
import { RECORD_KIND_JPEG_STILL, RECORD_KIND_JPEG_THUMBNAIL } from '../lib/record-kinds.js';
import { readJpegInfo } from '../video/index.js';
import { stillPath, utcStamp, writeStillFile, type StillRecord } from '../recording/index.js';
import type { WorkerEvent } from '../runtime/index.js';

/**
 * Largest thumbnail put into a fleet command result, bytes of JPEG (base64 makes it 87 KiB in
 * the ack). The same bound as the largest command the box accepts (MAX_COMMAND_BYTES): the
 * link stays a small-message link in both directions. Thumbnails are 320 px wide (38 KB for
 * pure noise, the worst case measured), so it is reached only by a profile with a very high
 * JPEG quality.
 */
export const FLEET_THUMBNAIL_MAX_BYTES = 64 * 1024;

/** Upper bound of any wait for a still, ms (the fleet's command timeout is 70 s). */
export const MAX_STILL_WAIT_MS = 60_000;

export type StillKind = 'still' | 'thumbnail';

/** Why a still could not be had: the first two are the asker's mistake, the others not. */
export type StillErrorReason = 'unknown-channel' | 'stills-off' | 'timeout' | 'stopping';

export class StillError extends Error {
  override name = 'StillError';
  constructor(readonly channel: string, readonly reason: StillErrorReason, message: string) {
    super(message);
  }
}

/** One JPEG of one frame. */
export interface Still {
  readonly channel: string;
  readonly kind: StillKind;
  /** Capture time of the frame, ns since the epoch (box clock). */
  readonly captureNs: bigint;
  readonly jpeg: Buffer;
  readonly width: number;
  readonly height: number;
}

/** What the catalog side does with a written still (Recordings.catalogStill). */
export type CatalogStill = (s: { channel: string; captureNs: bigint; path: string; bytes: number; width: number; height: number; savedNs: bigint; requestedBy: string }) => { record: StillRecord; caseUid: string | null };

export interface StillsOptions {
  channels: readonly ChannelConfig[];
  /** Root folder of recordings (stills go next to the segments). */
  root: string;
  clock: BoxClock;
  catalog: CatalogStill;
  log?: Logger;
}

export interface GetOptions {
  kind?: StillKind;
  /** Only a still captured after this call. */
  fresh?: boolean;
  /** How long to wait for a fresh (or a first) still, ms; default two intervals + 3 s. */
  waitMs?: number;
}

export interface SavedStill {
  still: Still;
  record: StillRecord;
  /** Uid of the case it belongs to, null when no case was recording. */
  caseUid: string | null;
}

export interface ChannelStillStatus {
  intervalS: number | null;
  captureNs: string | null;
  ageMs: number | null;
  width: number | null;
  height: number | null;
  bytes: number | null;
  received: number;
  malformed: number;
}

interface Waiter {
  channel: string;
  kind: StillKind;
  afterNs: bigint;
  resolve: (s: Still) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

const KIND_OF_RECORD: Record<number, StillKind> = { [RECORD_KIND_JPEG_STILL]: 'still', [RECORD_KIND_JPEG_THUMBNAIL]: 'thumbnail' };

export class Stills {
  private readonly latest = new Map<string, Still>();
  private readonly waiters = new Set<Waiter>();
  /** Interval per channel as the encoder reported it (the profile's default applied). */
  private readonly intervals = new Map<string, number>();
  private readonly counts = new Map<string, { received: number; malformed: number }>();
  private warnedMalformed = false;

  constructor(private readonly opts: StillsOptions) {}

  /** A record of `snap.<channel>` (the payload is only valid during the call). */
  onRecord(channel: string, payload: Uint8Array, meta: RecordMeta): void {
    const kind = KIND_OF_RECORD[meta.kind];
    if (!kind) return;
    const c = this.counts.get(channel) ?? { received: 0, malformed: 0 };
    this.counts.set(channel, c);
    const info = readJpegInfo(payload);
    if (!info) {
      c.malformed++;
      if (!this.warnedMalformed) {
        this.warnedMalformed = true;
        this.opts.log?.warn({ channel, kind, bytes: payload.length }, 'a still from video-encode is not a readable JPEG; dropped');
      }
      return;
    }
    c.received++;
    const still: Still = { channel, kind, captureNs: meta.wallNs, jpeg: Buffer.from(payload), width: info.width, height: info.height };
    this.latest.set(`${channel}/${kind}`, still);
    for (const w of this.waiters) {
      if (w.channel === channel && w.kind === kind && still.captureNs > w.afterNs) {
        clearTimeout(w.timer);
        this.waiters.delete(w);
        w.resolve(still);
      }
    }
  }

  /** Learns each channel's interval from video-encode's `encoder-started`. */
  onEvent(e: WorkerEvent): void {
    if (e.type !== 'encoder-started') return;
    const snap = e.snapshot as { intervalS?: number } | null | undefined;
    if (snap?.intervalS) this.intervals.set(String(e.channel), snap.intervalS);
  }

  /** The channel's configuration; StillError when unknown or when it takes no stills. */
  private channel(name: string): ChannelConfig {
    const ch = this.opts.channels.find((c) => c.name === name);
    if (!ch) throw new StillError(name, 'unknown-channel', `unknown channel "${name}"; channels: ${this.opts.channels.map((c) => c.name).join(', ') || 'none'}`);
    if (!ch.snapshot.enabled) {
      const i = this.opts.channels.indexOf(ch);
      throw new StillError(name, 'stills-off', `channel "${name}" takes no stills (channels[${i}].snapshot.enabled is false in the configuration)`);
    }
    return ch;
  }

  /** Seconds between stills of a channel: as the encoder reported, else as configured, else 1 (every profile's default). */
  intervalS(name: string): number {
    return this.intervals.get(name) ?? this.opts.channels.find((c) => c.name === name)?.snapshot.intervalS ?? 1;
  }

  /**
   * The latest still (or thumbnail) of `channel`; with `fresh`, the first one captured after
   * this call. Rejects with StillError when none comes within the wait.
   */
  get(channel: string, o: GetOptions = {}): Promise<Still> {
    this.channel(channel);
    const kind = o.kind ?? 'still';
    const have = this.latest.get(`${channel}/${kind}`);
    if (have && !o.fresh) return Promise.resolve(have);
    const interval = this.intervalS(channel);
    const waitMs = Math.min(MAX_STILL_WAIT_MS, Math.max(0, o.waitMs ?? 2 * interval * 1000 + 3000));
    const afterNs = o.fresh ? this.opts.clock.wallNs() : -1n;
    return new Promise<Still>((resolve, reject) => {
      const w: Waiter = {
        channel, kind, afterNs, resolve, reject,
        timer: setTimeout(() => {
          this.waiters.delete(w);
          const what = o.fresh ? `no ${kind} of channel "${channel}" newer than the request` : `no ${kind} of channel "${channel}" yet`;
          reject(new StillError(channel, 'timeout', `${what} within ${(waitMs / 1000).toFixed(1)} s (one every ${interval} s; is its source delivering frames? see \`orbox status\`)`));
        }, waitMs),
      };
      this.waiters.add(w);
    });
  }

  /**
   * Keeps a still: the latest (or, with `fresh`, the next) full still of `channel` is written
   * next to the channel's segments and catalogued with the case being recorded, if any.
   * Saving the same still twice gives the same file and catalog row.
   */
  async save(channel: string, o: Omit<GetOptions, 'kind'> & { requestedBy: string }): Promise<SavedStill> {
    const still = await this.get(channel, { ...o, kind: 'still' });
    const path = stillPath(this.opts.root, channel, still.captureNs);
    await writeStillFile(path, still.jpeg);
    const { record, caseUid } = this.opts.catalog({
      channel, captureNs: still.captureNs, path, bytes: still.jpeg.length, width: still.width, height: still.height, savedNs: this.opts.clock.wallNs(), requestedBy: o.requestedBy,
    });
    this.opts.log?.info({ channel, path, case: caseUid, capture: utcStamp(still.captureNs) }, 'still saved');
    return { still, record, caseUid };
  }

  /** Per channel: the latest still, its age and size, and counters (for `orbox status`). */
  status(): Record<string, ChannelStillStatus> {
    const now = this.opts.clock.wallNs();
    const out: Record<string, ChannelStillStatus> = {};
    for (const ch of this.opts.channels) {
      if (!ch.snapshot.enabled) continue;
      const s = this.latest.get(`${ch.name}/still`);
      const c = this.counts.get(ch.name) ?? { received: 0, malformed: 0 };
      out[ch.name] = {
        intervalS: this.intervals.get(ch.name) ?? ch.snapshot.intervalS ?? null,
        captureNs: s ? String(s.captureNs) : null,
        ageMs: s ? Number((now - s.captureNs) / 1_000_000n) : null,
        width: s?.width ?? null,
        height: s?.height ?? null,
        bytes: s?.jpeg.length ?? null,
        ...c,
      };
    }
    return out;
  }

  /** Fails every waiting request (control is stopping). */
  close(): void {
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new StillError(w.channel, 'stopping', 'the box is stopping'));
    }
    this.waiters.clear();
  }
}

/** The JSON shape of a still for the local API and fleet details (times as strings). */
export function describeStill(s: Still, nowNs: bigint): { channel: string; kind: StillKind; captureNs: string; capturedAt: string; ageMs: number; width: number; height: number; bytes: number } {
  return {
    channel: s.channel, kind: s.kind,
    captureNs: String(s.captureNs),
    capturedAt: new Date(Number(s.captureNs / 1_000_000n)).toISOString(),
    ageMs: Number((nowNs - s.captureNs) / 1_000_000n),
    width: s.width, height: s.height, bytes: s.jpeg.length,
  };
}
