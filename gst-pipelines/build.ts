/**
 * Builds the gst-launch description of one channel's encode pipeline from a profile.
 *
 * Owns: the shape of the pipeline the video-encode worker runs per channel:
 *
 *   input: appsrc with caps (its own queue and thread) | source description -> queue
 *     -> tee <ch>-raw
 *     <ch>-raw -> queue -> [videorate] -> convert/scale -> caps -> encoder -> [caps] ->
 *       h264parse -> video/x-h264,stream-format=byte-stream,alignment=au ->
 *         hq:        appsink <ch>-hq-sink   (encoded ring; the recording is its own
 *                    pipeline per segment, buildSegmentPipeline, fed from that ring)
 *         lq:        appsink <ch>-lq-sink
 *     <ch>-raw -> queue -> videorate (1 per intervalS) -> convert/scale -> jpegenc -> appsink <ch>-snapshot-sink
 *       with a thumbnail: videorate -> tee <ch>-snapshot-t -> queue -> convert/scale -> jpegenc -> appsink <ch>-snapshot-sink
 *                                                         -> queue -> convert/scale (thumbnail size) -> jpegenc -> appsink <ch>-thumbnail-sink
 *
 * Element names are prefixed by the channel so that several channels can share a pipeline
 * and bus messages say which channel they are from.
 *
 * Why these settings:
 * - appsinks: `sync=false` (live, never wait on the clock), `drop=true` with a bound (a slow
 *   JS consumer loses its oldest samples, never stalls the encoder or the recording),
 *   `wait-on-eos=false` (EOS finishes the pipeline even if nobody drains the sink).
 * - SPS/PPS are repeated before every IDR (`h264parse config-interval=-1`) for RTP joiners.
 * - snapshot: `videorate drop-only=true` passes the chosen frame with its own PTS (measured:
 *   the JPEG's PTS is always one of the pushed frames', never a rewritten grid time, which
 *   `max-rate` would give), so a still carries the capture time of the frame it shows. Its
 *   input queue leaks (one frame): a slow JPEG encoder never holds up the video branches.
 *   Still and thumbnail come from the same frame (a tee after videorate), same PTS.
 *
 * Errors: `BuildError` for options that cannot be built (bad channel name, unknown role,
 * odd thumbnail size). Runs on: video-encode (builds), tests.
 */
import type { ElementSpec, H264Role, Profile, Role } from './schema.js';
import { ROLES } from './schema.js';
import { renderCaps, renderElement } from './launch.js';

export class BuildError extends Error {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'BuildError';
  }
}

interface InputBase {
  /** Raw frame size and rate the input delivers. */
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  /** Raw pixel format; default the profile's `rawFormat`. */
  readonly format?: string;
}

/** Frames pushed from the raw ring through an appsrc (the box). */
export interface AppsrcInput extends InputBase { readonly kind: 'appsrc' }

/** Frames from a GStreamer source description that yields raw video (tests, labs). */
export interface DescriptionInput extends InputBase {
  readonly kind: 'description';
  /** e.g. `videotestsrc is-live=true pattern=ball`; the builder adds the caps. */
  readonly description: string;
}

/** The recording's audio track (edge/audio/record-feed.ts feeds it). */
export interface RecordingAudio {
  /** Interleaved S16LE at this rate and channel count. */
  readonly rate: number;
  readonly channels: number;
  /** AAC-LC encoder factory. Default avenc_aac. */
  readonly encoder?: 'avenc_aac' | 'voaacenc';
  /** bit/s. Default 64 000 per channel. */
  readonly bitrate?: number;
}

export interface ChannelPipelineOptions {
  /** Channel name: lower-case letters, digits, `-`; prefixes every element name. */
  readonly channel: string;
  readonly input: AppsrcInput | DescriptionInput;
  /** Roles to build; default all three. */
  readonly roles?: readonly Role[];
  /** Factories to render as a caps-agnostic stand-in (parse checks of profiles for other boards; see launch.ts STAND_IN). */
  readonly standIn?: ReadonlySet<string>;
  /** Encoded samples each appsink keeps before dropping the oldest. Default 120. */
  readonly sinkMaxBuffers?: number;
  /** With the snapshot role: also a thumbnail JPEG of each still's frame, at this size. */
  readonly thumbnail?: { readonly width: number; readonly height: number };
}

export interface ChannelPipeline {
  readonly channel: string;
  readonly profileId: string;
  /** The gst-launch description (for `new Pipeline(...)` or gst-launch-1.0 after toLaunchArgv). */
  readonly description: string;
  readonly roles: readonly Role[];
  /** Element names the worker looks up with findChild. */
  readonly names: {
    readonly source: string;
    readonly sinks: Readonly<Partial<Record<Role, string>>>;
    /** The thumbnail appsink (snapshot role with `thumbnail`). */
    readonly thumbnail?: string;
  };
}

const CHANNEL_RE = /^[a-z0-9][a-z0-9-]{0,31}$/;
const H264_CAPS = 'video/x-h264,stream-format=byte-stream,alignment=au';

function rawCaps(format: string, width: number, height: number, fps: number): string {
  return `video/x-raw,format=${format},width=${width},height=${height},framerate=${fps}/1`;
}

/** Every factory a profile's encode pipeline uses (the probe checks they exist). */
export function profileFactories(p: Profile, withCapture = true): string[] {
  const specs: ElementSpec[] = [
    ...p.encode.convert,
    p.roles.hq.encoder,
    p.roles.lq.encoder,
    ...p.roles.snapshot.convert,
    p.roles.snapshot.encoder,
    ...(withCapture ? [p.capture.source, ...p.capture.convert] : []),
  ];
  const fixed = ['appsrc', 'appsink', 'tee', 'queue', 'capsfilter', 'videorate', 'h264parse', p.recording.muxer, 'filesink'];
  return [...new Set([...specs.map((s) => s.factory), ...fixed])];
}

/** Builds the description of one channel. Throws BuildError. */
export function buildChannelPipeline(profile: Profile, opts: ChannelPipelineOptions): ChannelPipeline {
  const ch = opts.channel;
  if (!CHANNEL_RE.test(ch)) throw new BuildError('channel', `"${ch}" must match ${CHANNEL_RE}`);
  const roles = [...new Set(opts.roles ?? ROLES)];
  for (const r of roles) if (!ROLES.includes(r)) throw new BuildError('roles', `unknown role "${r}"`);
  if (roles.length === 0) throw new BuildError('roles', 'at least one role');
  if (opts.thumbnail && !roles.includes('snapshot')) throw new BuildError('thumbnail', 'a thumbnail needs the snapshot role');
  if (opts.thumbnail) {
    for (const k of ['width', 'height'] as const) {
      const v = opts.thumbnail[k];
      if (!Number.isInteger(v) || v <= 0 || v % 2 !== 0) throw new BuildError(`thumbnail.${k}`, `positive even integer, got ${v}`);
    }
  }
  const inp = opts.input;
  for (const k of ['width', 'height', 'fps'] as const) {
    if (!Number.isInteger(inp[k]) || inp[k] <= 0) throw new BuildError(`input.${k}`, 'positive integer');
  }
  const standIn = opts.standIn;
  const maxBuffers = opts.sinkMaxBuffers ?? 120;
  const format = inp.format ?? profile.rawFormat;
  const inCaps = rawCaps(format, inp.width, inp.height, inp.fps);
  const el = (spec: ElementSpec | string, name?: string, extra?: Record<string, string | number | boolean | undefined>): string =>
    renderElement(spec, { name, extra, standIn });

  const lines: string[] = [];
  // With a source description the named element is the capsfilter after it (the description
  // may be a chain, and naming its last element would be a guess).
  const source = inp.kind === 'appsrc' ? `${ch}-src` : `${ch}-in-caps`;
  if (inp.kind === 'appsrc') {
    // format=time + is-live: the worker stamps each buffer with its capture time (PTS).
    // The queue holds one second of frames; it fills only if its own thread is held up (the
    // branch queues behind the tee leak; the recorded role's holds that role's second). Past
    // that it drops the oldest frames (live wins), never grows memory. max-bytes must be lifted too: its
    // default (200 000) is less than one 640x360 frame, which made every frame pushed while
    // the previous one was still queued drop it. No queue after it: appsrc's own streaming
    // thread already decouples the pusher from the branches, and a queue there was one more
    // thread hand-off per frame (measured: 33 wake-ups a second at 30 fps, for nothing).
    lines.push(
      `appsrc name=${source} is-live=true format=time do-timestamp=false max-buffers=${Math.max(2, inp.fps)} max-bytes=0 max-time=0 leaky-type=downstream caps="${inCaps}"` +
        ` ! tee name=${ch}-raw`,
    );
  } else {
    lines.push(`${inp.description} ! ${renderCaps(inCaps, source)} ! queue name=${ch}-in-q max-size-buffers=2 max-size-bytes=0 max-size-time=0 ! tee name=${ch}-raw`);
  }

  const sinks: Partial<Record<Role, string>> = {};
  const appsink = (name: string, max: number): string =>
    `appsink name=${name} sync=false async=false emit-signals=false max-buffers=${max} drop=true wait-on-eos=false`;

  let thumbnailSink: string | undefined;
  for (const role of roles) {
    if (role === 'snapshot') {
      const s = profile.roles.snapshot;
      const sink = `${ch}-snapshot-sink`;
      sinks.snapshot = sink;
      const head = [
        `${ch}-raw. ! queue name=${ch}-snapshot-q leaky=downstream max-size-buffers=1 max-size-bytes=0 max-size-time=0`,
        `videorate name=${ch}-snapshot-rate drop-only=true`,
        renderCaps(`video/x-raw,framerate=1/${s.intervalS}`),
      ];
      // One JPEG branch: convert/scale to `size`, encode, hand to an appsink that keeps the latest.
      const jpeg = (tag: string, size: { width: number; height: number }, sinkName: string): string[] => [
        ...s.convert.map((c, i) => el(c, `${ch}-${tag}-conv${i}`)),
        renderCaps(`video/x-raw,format=${s.format},width=${size.width},height=${size.height}`),
        el(s.encoder, `${ch}-${tag}-enc`),
        appsink(sinkName, 1),
      ];
      if (!opts.thumbnail) {
        lines.push([...head, ...jpeg('snapshot', s, sink)].join(' ! '));
        continue;
      }
      thumbnailSink = `${ch}-thumbnail-sink`;
      const t = `${ch}-snapshot-t`;
      const q = (name: string): string => `${t}. ! queue name=${name} max-size-buffers=2 max-size-bytes=0 max-size-time=0`;
      lines.push([...head, `tee name=${t}`].join(' ! '));
      lines.push([q(`${ch}-still-q`), ...jpeg('snapshot', s, sink)].join(' ! '));
      lines.push([q(`${ch}-thumbnail-q`), ...jpeg('thumbnail', opts.thumbnail, thumbnailSink)].join(' ! '));
      continue;
    }
    const r = profile.roles[role as H264Role];
    // Behind the box's appsrc every branch's queue leaks, so no branch can block the tee and
    // hold up the others: a non-leaky hq queue that filled (an encoder behind) stopped the tee, and lq, the
    // low-latency stream, then ran at hq's pace with its frames waiting in the appsrc's second
    // of queue (test/live-branches.test.ts: 18 of 60 lq frames, 300 ms late, behind a 5 fps
    // hq encoder). A recorded (non-leaky) role's queue holds one second, as the appsrc did for
    // it: a short stall loses no frame of the recording; past that its oldest frames go.
    // From a source description the recorded role's queue still blocks: the description may
    // be a source that is not live (a file, a test pattern run flat out), which only
    // back-pressure paces, and a leaking queue would drop its frames.
    const queue = r.leaky ? 'leaky=downstream max-size-buffers=2'
      : inp.kind === 'appsrc' ? `leaky=downstream max-size-buffers=${Math.max(6, inp.fps)}` : 'max-size-buffers=6';
    const chain: string[] = [
      `${ch}-raw. ! queue name=${ch}-${role}-q ${queue} max-size-bytes=0 max-size-time=0`,
    ];
    if (r.fps < inp.fps) {
      chain.push(`videorate name=${ch}-${role}-rate drop-only=true`, renderCaps(`video/x-raw,framerate=${r.fps}/1`));
    }
    chain.push(...profile.encode.convert.map((c, i) => el(c, `${ch}-${role}-conv${i}`)));
    const feat = profile.encode.memory ? `(${profile.encode.memory})` : '';
    const scaling = profile.encode.scaling;
    if (scaling.by === 'caps') {
      chain.push(renderCaps(`video/x-raw${feat},format=${profile.encode.format},width=${r.width},height=${r.height}`));
      chain.push(el(r.encoder, `${ch}-${role}-enc`));
    } else {
      chain.push(renderCaps(`video/x-raw${feat},format=${profile.encode.format}`));
      chain.push(el(r.encoder, `${ch}-${role}-enc`, { [scaling.widthProp]: r.width, [scaling.heightProp]: r.height }));
    }
    if (r.outputCaps) chain.push(renderCaps(r.outputCaps));
    chain.push(`h264parse name=${ch}-${role}-parse config-interval=-1`, renderCaps(H264_CAPS));
    const sink = `${ch}-${role}-sink`;
    sinks[role] = sink;
    chain.push(appsink(sink, maxBuffers));
    lines.push(chain.join(' ! '));
  }
  return {
    channel: ch,
    profileId: profile.id,
    description: lines.join('  '),
    roles,
    names: {
      source, sinks, ...(thumbnailSink ? { thumbnail: thumbnailSink } : {}),
    },
  };
}

/** One recording segment as a pipeline of its own (see buildSegmentPipeline). */
export interface SegmentPipeline {
  readonly description: string;
  /** The appsrc the hq access units are pushed into, the muxer, and (with `audio`) the
   *  appsrc the recording's PCM is pushed into, and (with `vitals`) the text track's appsrc. */
  readonly names: { readonly source: string; readonly muxer: string; readonly audio?: string; readonly vitals?: string };
}

export interface SegmentTarget {
  /** The segment file (edge/recording naming: `recordingLocation(...).path(seq)`). */
  readonly path: string;
  /** An audio track: PCM pushed into the appsrc `<ch>-rec-audio-src`, AAC-LC encoded, muxed with the video. */
  readonly audio?: RecordingAudio;
  /** A text track (Matroska S_TEXT/UTF8): UTF-8 cues pushed into the appsrc `<ch>-rec-vitals-src`
   *  (edge/video/record-vitals.ts feeds one per frame). Matroska only: MPEG-TS carries no text. */
  readonly vitals?: boolean;
}

/**
 * One segment of a channel's recording as a pipeline of its own, fed from JavaScript with the
 * hq access units (Annex B, one per buffer, PTS = running time since the recording's first
 * frame) by edge/video/recorder.ts, which decides the cuts and makes one of these per segment:
 *
 *   appsrc <ch>-rec-src -> h264parse -> caps -> <muxer> <ch>-rec-mux -> filesink (unbuffered)
 *   [audio] appsrc <ch>-rec-audio-src -> queue -> audioconvert -> AAC-LC -> aacparse -> <ch>-rec-mux
 *   [vitals] appsrc <ch>-rec-vitals-src (text/x-raw utf8) -> <ch>-rec-mux.subtitle_%u
 *
 * Why no splitmuxsink: it holds the open GOP in memory until the next keyframe (it must know
 * whether the GOP still fits the segment), so a crash lost a whole GOP. Here every access unit
 * goes through the muxer to the file as it comes: matroskamux writes each frame as a
 * SimpleBlock at once (a cluster per keyframe), mpegtsmux its packets; filesink is unbuffered
 * (`buffer-mode=2`: its default 64 KiB buffer held seconds of a low-bitrate picture), so each
 * frame is in the page cache (survives kill -9) when the muxer has it, and the recorder's
 * fsync loop makes it durable. Why Matroska stays non-streamable: a segment closed normally
 * gets its cues and duration (seekable in every player); one cut short by a crash ends in a
 * cluster of unknown size, which ffprobe, GStreamer and VLC read up to its last whole block
 * (test-rig/video/crash.test.ts). Fragmented MP4 would need a fragment per frame for the
 * same loss, and MPEG-TS cannot carry the text tracks the recording is to have.
 *
 * Why apart from the encode pipeline: a write error (a full disk) ends only this pipeline. The
 * appsrc holds up to 3 s and past that drops the newest (`leaky-type=upstream`): a stalled disk
 * costs recording, never the live streams.
 */
export function buildSegmentPipeline(profile: Profile, channel: string, seg: SegmentTarget): SegmentPipeline {
  if (!CHANNEL_RE.test(channel)) throw new BuildError('channel', `"${channel}" must match ${CHANNEL_RE}`);
  if (typeof seg.path !== 'string' || seg.path === '' || /["\\]/.test(seg.path)) throw new BuildError('segment.path', `a file path without quotes or backslashes, got ${JSON.stringify(seg.path)}`);
  if (seg.audio) checkRecordingAudio(seg.audio);
  const mkv = profile.recording.muxer === 'matroskamux';
  if (seg.vitals && !mkv) throw new BuildError('segment.vitals', `a text track needs Matroska; profile "${profile.id}" records with ${profile.recording.muxer}`);
  const source = `${channel}-rec-src`;
  const muxer = `${channel}-rec-mux`;
  const muxProps = Object.entries(profile.recording.muxerProps).map(([k, v]) => ` ${k}=${String(v)}`).join('');
  const video = [
    `appsrc name=${source} format=time is-live=true do-timestamp=false block=false max-bytes=0 max-buffers=0 max-time=3000000000 leaky-type=upstream caps="${H264_CAPS}"`,
    `h264parse name=${channel}-rec-parse`,
    // Matroska stores AVC (length-prefixed NALs + codec private data); MPEG-TS stores Annex B.
    renderCaps(`video/x-h264,stream-format=${mkv ? 'avc' : 'byte-stream'},alignment=au`),
    `${profile.recording.muxer} name=${muxer}${muxProps}`,
    `filesink name=${channel}-rec-file location="${seg.path}" buffer-mode=2 sync=false async=false`,
  ].join(' ! ');
  const lines = [video];
  if (seg.audio) lines.push(recordingAudioBranch(channel, seg.audio, `${muxer}.`));
  const vitals = `${channel}-rec-vitals-src`;
  // The pad is named: linking by caps alone fails to negotiate (matroskamux offers its
  // subtitle template only on request by name).
  if (seg.vitals) lines.push(`appsrc name=${vitals} format=time is-live=true do-timestamp=false block=false max-bytes=0 max-buffers=0 max-time=3000000000 leaky-type=upstream caps="text/x-raw,format=utf8" ! ${muxer}.subtitle_%u`);
  return {
    description: lines.join('  '),
    names: { source, muxer, ...(seg.audio ? { audio: `${channel}-rec-audio-src` } : {}), ...(seg.vitals ? { vitals } : {}) },
  };
}

/**
 * The recording's audio: PCM from the box (stamped on the video's running time, see
 * edge/audio/record-feed.ts) -> AAC-LC -> aacparse (raw AAC with codec data for Matroska, ADTS
 * for MPEG-TS: it converts to what the muxer takes) -> the segment's muxer. The queue
 * holds 3 s, as the video's does, so a slow disk write does not hold up the feed.
 */
function checkRecordingAudio(ra: RecordingAudio): void {
  if (![8000, 16000, 24000, 48000].includes(ra.rate)) throw new BuildError('recording.audio.rate', `8000, 16000, 24000 or 48000, got ${ra.rate}`);
  if (ra.channels !== 1 && ra.channels !== 2) throw new BuildError('recording.audio.channels', `1 or 2, got ${ra.channels}`);
  if (ra.encoder !== undefined && ra.encoder !== 'avenc_aac' && ra.encoder !== 'voaacenc') throw new BuildError('recording.audio.encoder', `avenc_aac or voaacenc, got ${String(ra.encoder)}`);
}

function recordingAudioBranch(ch: string, a: RecordingAudio, into: string): string {
  const caps = `audio/x-raw,format=S16LE,layout=interleaved,rate=${a.rate},channels=${a.channels}`;
  const enc = a.encoder ?? 'avenc_aac';
  const bitrate = a.bitrate ?? 64_000 * a.channels;
  return [
    `appsrc name=${ch}-rec-audio-src is-live=true format=time do-timestamp=false block=false max-bytes=0 caps="${caps}"`,
    `queue name=${ch}-rec-audio-q max-size-buffers=0 max-size-bytes=0 max-size-time=3000000000`,
    // avenc_aac takes planar float only.
    `audioconvert name=${ch}-rec-audio-conv`,
    `${enc} name=${ch}-rec-aac bitrate=${bitrate}`,
    `aacparse name=${ch}-rec-aacparse`,
    into,
  ].join(' ! ');
}
