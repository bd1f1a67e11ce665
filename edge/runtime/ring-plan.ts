/**
 * The ring plan: which rings a configuration needs, who produces into each and who consumes
 * it, following the design's worker table. Pure: the supervisor allocates what it returns.
 *
 *   inbox.<worker>        supervisor   -> <worker>              commands and events (JSON)
 *   raw.<channel>         video-capture -> video-encode         slot ring, raw frames (an rtsp/onvif source's
 *                                          only with `decode`: its lq and stills)
 *   video.<channel>.hq|lq video-encode -> net-send              encoded access units
 *                         (an rtsp/onvif source's hq: video-capture -> net-send, video-encode)
 *   snap.<channel>        video-encode -> control               JPEG stills + thumbnails
 *   pcm.<input>           audio-capture -> audio-encode, duplex-voice, and video-encode when a
 *                                          recorded channel names the input (it records AAC)
 *   audio.<input>         audio-encode -> net-send              Opus (RTSP audio tracks, uplink)
 *   vitals                device-data  -> net-send, control     normalised samples
 *
 * A consumer's index in a ring is its position in `consumers`, fixed for the life of the
 * box, so a restarted worker attaches to the same cursor.
 */
import { recordsVitals, type BoxConfig } from '../config/index.js';
import { WORKER_NAMES, type WorkerName } from '../lib/health.js';
import { snapshotRingBytes } from '../video/snapshot.js';

export type Producer = WorkerName | 'supervisor';

export interface RingSpec {
  name: string;
  type: 'record' | 'slot';
  producer: Producer;
  consumers: WorkerName[];
  /** record rings: data bytes; slot rings: bytes per slot. */
  bytes: number;
  /** slot rings only. */
  slots?: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** Raw frame size (I420/NV12: 12 bits per pixel). */
export const rawFrameBytes = (w: number, h: number): number => w * h + 2 * Math.ceil(w / 2) * Math.ceil(h / 2);

/** Holds about `seconds` of a stream of `kbps`, as a power of two of at least 256 KiB. */
function sizeFor(kbps: number, seconds: number): number {
  const want = (kbps * 1000 / 8) * seconds;
  let n = 256 * KiB;
  while (n < want) n *= 2;
  return n;
}

export function planRings(cfg: BoxConfig): RingSpec[] {
  const rings: RingSpec[] = WORKER_NAMES.map((w) => ({ name: `inbox.${w}`, type: 'record', producer: 'supervisor', consumers: [w], bytes: 256 * KiB }));
  for (const ch of cfg.channels) {
    // A passthrough channel (an rtsp camera's own H.264) has no raw frames: video-capture
    // writes its hq ring, and video-encode reads it back to record it.
    // With `decode`, it also writes the camera's decoded frames into a raw ring, for the lq
    // encode and the stills.
    const passthrough = ch.source.type === 'rtsp' || ch.source.type === 'onvif';
    const decoded = (ch.source.type === 'rtsp' || ch.source.type === 'onvif') && ch.source.decode;
    if (!passthrough || decoded) rings.push({ name: `raw.${ch.name}`, type: 'slot', producer: 'video-capture', consumers: ['video-encode'], bytes: rawFrameBytes(ch.source.width, ch.source.height), slots: 6 });
    // Encoded rings hold a few seconds, so a consumer stalled by a short hiccup catches up
    // instead of skipping to the next keyframe.
    rings.push(passthrough
      ? { name: `video.${ch.name}.hq`, type: 'record', producer: 'video-capture', consumers: ['net-send', 'video-encode'], bytes: sizeFor(ch.hq.bitrateKbps * 2, 3) }
      : { name: `video.${ch.name}.hq`, type: 'record', producer: 'video-encode', consumers: ['net-send'], bytes: sizeFor(ch.hq.bitrateKbps * 2, 3) });
    rings.push({ name: `video.${ch.name}.lq`, type: 'record', producer: 'video-encode', consumers: ['net-send'], bytes: sizeFor(ch.lq.bitrateKbps * 2, 3) });
    // Control keeps the latest still of each channel; see snapshotRingBytes for the size.
    if (ch.snapshot.enabled) rings.push({ name: `snap.${ch.name}`, type: 'record', producer: 'video-encode', consumers: ['control'], bytes: snapshotRingBytes(ch) });
  }
  for (const a of cfg.audio.inputs) {
    // video-encode comes last: the consumers before it keep their indexes whatever is recorded.
    const recorded = cfg.channels.some((c) => c.audio === a.name && c.record);
    const consumers: WorkerName[] = recorded ? ['audio-encode', 'duplex-voice', 'video-encode'] : ['audio-encode', 'duplex-voice'];
    rings.push({ name: `pcm.${a.name}`, type: 'record', producer: 'audio-capture', consumers, bytes: sizeFor((a.rate * a.channels * 16) / 1000, 4) });
    rings.push({ name: `audio.${a.name}`, type: 'record', producer: 'audio-encode', consumers: ['net-send'], bytes: 256 * KiB });
  }
  // video-encode last, as for pcm: it reads the vitals only for recordings' text tracks.
  const vitalsConsumers: WorkerName[] = cfg.channels.some((c) => recordsVitals(cfg, c)) ? ['net-send', 'control', 'video-encode'] : ['net-send', 'control'];
  rings.push({ name: 'vitals', type: 'record', producer: 'device-data', consumers: vitalsConsumers, bytes: 1 * MiB });
  return rings;
}
