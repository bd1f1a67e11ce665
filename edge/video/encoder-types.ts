/**
 * The shapes ChannelEncoder (encode.ts) and the parts it composes share: its options, events
 * and stats. Apart from encode.ts so that the parts can name them without importing the
 * encoder that imports them. Types only.
 */
import type { H264Role, Profile } from '../../gst-pipelines/index.js';
import type { BoxClock } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import type { RingProducer, SlotConsumer } from '../lib/ring/index.js';
import type { RecordingAudioStats } from '../audio/index.js';
import type { RecordFanout } from '../lib/ring/index.js';
import type { VitalSample } from '../devices/index.js';
import type { ChannelConfig } from '../config/index.js';

export interface EncoderRecording {
  /** Root folder of recordings (segments go to <root>/<channel>/<yyyymmdd>/). */
  root: string;
  segmentNs: bigint;
  fsyncMs: number;
}

export interface EncoderEvent {
  /** `recording-audio-gap`: {channel, input, startNs, endNs, filled}: the recording's audio is silence there (the source was away, or no PCM came and the recorder filled it). */
  type: 'segment-opened' | 'segment-closed' | 'segment-discarded' | 'recording-state' | 'encoder-started' | 'recording-audio-gap';
  [k: string]: unknown;
}

export interface EncoderOptions {
  channel: ChannelConfig;
  /** The board profile (not yet fitted to the channel). */
  profile: Profile;
  input: SlotConsumer;
  /** Without `hq` (a decoded passthrough channel, `decodedCamera`), the hq stays the camera's own. */
  out: { hq?: RingProducer; lq: RingProducer };
  /** A camera channel's decode (rtsp/onvif with `decode: true`): lq and stills only; no hq
   *  encoder, no recording here (the passthrough recorder records the camera's hq). */
  decodedCamera?: boolean;
  /** `snap.<channel>`: stills and thumbnails. Without it (or with the channel's snapshots
   *  off) the pipeline has no snapshot branch. */
  snapshot?: RingProducer;
  clock: BoxClock;
  recording?: EncoderRecording;
  /** The channel's audio input (`channels[].audio`), recorded as AAC-LC next to the video: its
   *  PCM records come from the worker's RecordFanout of `pcm.<input>`. */
  audio?: { input: string; pcm: RecordFanout; rate: number; channels: number };
  /** The monitors' samples, recorded as the segments' text track (record-vitals.ts). */
  vitals?: VitalsFeed;
  log?: Logger;
  onEvent?: (e: EncoderEvent) => void;
  onError?: (e: Error) => void;
  /** Recorder tuning (tests): free space needed to resume after a full disk, poll period. */
  recorder?: { resumeFreeBytes?: number; pollMs?: number };
}

export interface EncoderStats {
  framesIn: number;
  /** Of framesIn, those handed to GStreamer in their ring slot, without a copy (the rest were copied). */
  framesLent: number;
  pushRefused: number;
  /** Per stream; `keyframesRequested`: IDRs forced by requestKeyframe (receivers' PLI/FIR, uplink switches). */
  out: Record<H264Role, { aus: number; keyframes: number; keyframesRequested: number; bytes: number }>;
  segmentsClosed: number;
  /** Encode latency (capture -> access unit in the ring), ms, last few seconds: p50/p99. */
  latencyMs: Record<H264Role, { p50: number; p99: number }>;
  /** The encoders' target bitrate as read back from the elements, kbit/s (null before the
   *  pipeline runs, or where the encoder keeps it inside a structure). */
  bitrateKbps: Record<H264Role, number | null>;
  /** JPEG stills (null when the channel takes none). */
  snapshot: SnapshotStats | null;
  /** The channel's recording (recorder.ts), null when it does not record. */
  recording: RecordingStatus | null;
  /** The recording's audio track (null when the channel records none). */
  recordingAudio: RecordingAudioStats | null;
}

export interface SnapshotStats {
  intervalS: number;
  width: number;
  height: number;
  stills: number;
  thumbnails: number;
  /** Bytes of the last still. */
  lastBytes: number;
  /** Capture time of the last still, ns since the epoch (decimal string: stats travel as JSON). */
  lastCaptureNs: string | null;
  /** Stills (or thumbnails) larger than the ring could hold, dropped. */
  tooLarge: number;
}

/** A channel recorder's state (edge/video/recorder.ts). */
export type RecorderState = 'off' | 'armed' | 'opening' | 'recording' | 'stopped' | 'closed';

/** What `orbox status`, telemetry and the console show of a channel's recording. */
export interface RecordingStatus {
  state: RecorderState;
  /** Why it is stopped ("recording stopped: disk full on <root>, N B free"); null while fine. */
  reason: string | null;
  /** Free bytes under the recording root at the last check (null before one). */
  freeBytes: number | null;
  /** Recordings begun (1 + restarts after failures). */
  starts: number;
  failures: number;
  /** Segments deleted because they got no frame. */
  discarded: number;
  /** Access units not recorded while stopped/armed/queue full. */
  skipped: number;
}


/** The worker's patient-monitor samples (the `vitals` ring, decoded once), for recordings' text tracks. */
export interface VitalsFeed {
  subscribe(fn: (s: VitalSample) => void): () => void;
}
