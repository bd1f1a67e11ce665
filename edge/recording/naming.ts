/**
 * Segment file naming by capture time.
 *
 *   <root>/<channel>/<yyyymmdd>/<channel>-<yyyymmddTHHMMSS.mmmZ>-<seq:05>.<ext>
 *
 * The day folder and the time stamp are the UTC capture time of the recording's first frame
 * (the box clock, see edge/lib/clock.ts); `seq` is the segment's index in its recording
 * (from 0, edge/video/recorder.ts). Every
 * segment of one recording therefore shares its stamp and sorts by name in capture order; a
 * recording that crosses midnight stays in the folder of the day it started (its segments
 * are found through the catalog, which holds each segment's exact start and end).
 * The stamp has no colons so the names are valid on FAT/exFAT export media too.
 *
 * Runs on: video-encode (names), control (parses, adopts orphans). Pure except
 * `prepareRecordingDir`, which creates the folders and makes their entries durable.
 */
import { mkdir, open } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';

export const CHANNEL_RE = /^[a-z0-9][a-z0-9-]{0,31}$/;
/** Video segment containers, and `ovt` for vitals tracks (edge/devices/track.ts). */
export type SegmentExtension = 'mkv' | 'ts' | 'ovt';

/** `20250131T235959.123Z` for a ns time since the epoch (UTC, ms precision). */
export function utcStamp(ns: bigint): string {
  const d = new Date(Number(ns / 1_000_000n));
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}T${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}Z`;
}

/** Parses `utcStamp` output back to ns (ms precision); null when malformed. */
export function parseUtcStamp(s: string): bigint | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z$/.exec(s);
  if (!m) return null;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], +m[7]);
  if (Number.isNaN(ms)) return null;
  const ns = BigInt(ms) * 1_000_000n;
  // Date.UTC rolls month 13 into next year: only a stamp that formats back to itself is valid.
  return utcStamp(ns) === s ? ns : null;
}

export interface RecordingLocation {
  /** Folder of this recording's segments (create it with prepareRecordingDir). */
  readonly dir: string;
  /** Path of segment `seq`. */
  pathOf(seq: number): string;
}

/** Where one recording of a channel, started at `startNs` (capture time), puts its segments. */
export function recordingLocation(root: string, channel: string, startNs: bigint, ext: SegmentExtension): RecordingLocation {
  if (!CHANNEL_RE.test(channel)) throw new RangeError(`channel "${channel}" must match ${CHANNEL_RE}`);
  if (root.includes('%')) throw new RangeError('recording root must not contain %');
  const stamp = utcStamp(startNs);
  const dir = join(root, channel, stamp.slice(0, 8));
  const prefix = join(dir, `${channel}-${stamp}-`);
  return {
    dir,
    pathOf: (seq: number) => `${prefix}${String(seq).padStart(5, '0')}.${ext}`,
  };
}

export interface SegmentName {
  readonly channel: string;
  /** Recording start (ms precision) encoded in the name. */
  readonly recordingStartNs: bigint;
  readonly seq: number;
  readonly ext: SegmentExtension;
}

/** Reads channel, recording start and index back from a segment path; null if not ours. */
export function parseSegmentPath(path: string): SegmentName | null {
  const m = /^([a-z0-9][a-z0-9-]{0,31})-(\d{8}T\d{6}\.\d{3}Z)-(\d{5,})\.(mkv|ts)$/.exec(basename(path));
  if (!m) return null;
  const start = parseUtcStamp(m[2]);
  if (start === null) return null;
  return { channel: m[1], recordingStartNs: start, seq: Number(m[3]), ext: m[4] as SegmentExtension };
}

/**
 * Creates the segment folder and fsyncs it and its parent, so that after a power cut the
 * folder exists: a file's data being durable is no use if the directory entry leading to it
 * is not.
 */
export async function prepareRecordingDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const d of [dir, dirname(dir), dirname(dirname(dir))]) await fsyncDir(d);
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
