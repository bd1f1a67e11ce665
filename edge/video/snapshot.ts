/**
 * Snapshots (JPEG stills) of a channel: their size, their rate, the records that carry them
 * from video-encode to control, and the ring that holds those records.
 *
 * - A still is a JPEG of one raw frame, taken every `intervalS` seconds (the channel's
 *   `snapshot.intervalS`, else the board profile's), at `snapshot.width` (default: the source's
 *   full width, what a surgeon wants in the patient record) and the source's aspect ratio.
 * - With every still comes a thumbnail of the same frame, at most THUMBNAIL_WIDTH wide: the
 *   fleet console gets the thumbnail in a command result, whose size is bounded (see
 *   edge/control/stills.ts); the full still stays on the box.
 * - Both travel in the record ring `snap.<channel>` (video-encode -> control), one record each,
 *   flagged SYNC (each stands alone), stamped with the capture time of the frame they show:
 *   the same wall/mono times the hq/lq access units of that frame carry.
 *
 * Pure; runs on: supervisor (ring plan), video-encode, control.
 */
import type { ChannelConfig } from '../config/index.js';

/**
 * Width of thumbnails, px. Measured with the profiles' jpegenc quality 85: 320x180 is 2-8 KB
 * for a scope or room picture and 38 KB for pure noise, the worst case, which keeps a fleet
 * result under its 64 KiB cap (edge/control/stills.ts).
 */
export const THUMBNAIL_WIDTH = 320;

export interface PictureSize {
  readonly width: number;
  readonly height: number;
}

export interface SnapshotGeometry {
  readonly still: PictureSize;
  readonly thumbnail: PictureSize;
}

const KiB = 1024;

/** `width` scaled to the source's aspect ratio, heights rounded to even (4:2:0 chroma). */
function fit(width: number, src: PictureSize): PictureSize {
  const height = Math.max(2, Math.round((width * src.height) / src.width / 2) * 2);
  return { width, height };
}

/** The sizes of a channel's stills and thumbnails (the configuration is already validated). */
export function snapshotGeometry(ch: ChannelConfig): SnapshotGeometry {
  const src = { width: ch.source.width, height: ch.source.height };
  const w = ch.snapshot.width ?? src.width - (src.width % 2);
  const still = fit(w, src);
  const tw = Math.min(THUMBNAIL_WIDTH, still.width);
  return { still, thumbnail: fit(tw - (tw % 2), src) };
}

/** Seconds between stills: the channel's setting, else the board profile's. */
export function snapshotIntervalS(ch: ChannelConfig, profileIntervalS: number): number {
  return ch.snapshot.intervalS ?? profileIntervalS;
}

/**
 * Data bytes of `snap.<channel>`: a power of two of at least one raw frame of the still's
 * size (and 256 KiB). A JPEG of a scope or room picture is a tenth of the raw frame or less;
 * pure noise, the worst case measured (1080p at quality 85: 1.33 MB of a 3.1 MB frame), is
 * under half, so the ring holds two worst-case stills with their thumbnails and usually ten
 * or more. Control keeps only the latest; a still larger than the ring is counted and dropped
 * by the encoder (RecordTooLargeError), never written torn.
 */
export function snapshotRingBytes(ch: ChannelConfig): number {
  const { still } = snapshotGeometry(ch);
  const raw = still.width * still.height + 2 * Math.ceil(still.width / 2) * Math.ceil(still.height / 2);
  let n = 256 * KiB;
  while (n < raw) n *= 2;
  return n;
}
