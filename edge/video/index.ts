/**
 * edge/video: the video path's per-channel pieces, wired into the workers: capture (source ->
 * raw slot ring, slate), encode (raw ring -> hq/lq encoded rings + recording + JPEG stills),
 * send (encoded ring -> RTP/RTSP). Entered through this index.
 */
import { join } from 'node:path';
import type { BoxConfig } from '../config/index.js';

export { ChannelCapture, sourceDescription, FRAME_FLAG_SLATE } from './capture.js';
export type { CaptureOptions, CaptureStats, CaptureEvent, CaptureState } from './capture.js';
export { ChannelEncoder } from './encode.js';
export { RtspIngest, AuthError, CodecRefusedError, ingestDescription } from './rtsp-ingest.js';
export type { IngestOptions, IngestStats, IngestState } from './rtsp-ingest.js';
export { PassthroughRecorder } from './passthrough-recorder.js';
export type { PassthroughRecorderOptions } from './passthrough-recorder.js';
export type { EncoderOptions, EncoderStats, EncoderRecording, EncoderEvent, SnapshotStats } from './encode.js';
export { THUMBNAIL_WIDTH, snapshotGeometry, snapshotIntervalS, snapshotRingBytes } from './snapshot.js';
export type { PictureSize, SnapshotGeometry } from './snapshot.js';
export { readJpegInfo } from './jpeg.js';
export type { JpegInfo } from './jpeg.js';
export { channelProfile, bitrateProperty } from './profile.js';

/** The RTSP URLs of every channel's streams, as a viewer on this host would use them. */
export function rtspUrls(cfg: BoxConfig, host?: string): { channel: string; role: 'hq' | 'lq'; url: string }[] {
  const h = host ?? (cfg.rtsp.host === '0.0.0.0' || cfg.rtsp.host === '::' ? '127.0.0.1' : cfg.rtsp.host);
  return cfg.channels.flatMap((c) => (['hq', 'lq'] as const).map((role) => ({ channel: c.name, role, url: `rtsp://${h}:${cfg.rtsp.port}/${c.name}/${role}` })));
}

/** Where the recordings of this configuration go. */
export function recordingRoot(cfg: BoxConfig): string {
  return join(cfg.box.dataDir, 'recordings');
}

/** Lines for `orbox run`'s banner: stream URLs and the recording folder. */
export function videoBanner(cfg: BoxConfig): string {
  if (cfg.channels.length === 0) return '';
  const urls = rtspUrls(cfg).map((u) => `  rtsp:     ${u.url}\n`).join('');
  return `${urls}  recording: ${recordingRoot(cfg)}/<channel>/<yyyymmdd>/ (catalog ${join(cfg.box.dataDir, 'catalog.db')})\n`;
}
