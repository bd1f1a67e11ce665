/**
 * video-encode worker: per channel, raw frames from `raw.<channel>` through the board's H.264
 * encoder (the probed gst-pipelines profile) into `video.<channel>.hq|lq`, the channel's
 * hq recording into crash-safe segments (with the channel's audio input as AAC-LC, read from
 * `pcm.<input>`, and the monitors' numerics as a text track, read from `vitals`: one reader
 * each, fanned out to the channels), and JPEG stills with thumbnails into
 * `snap.<channel>` when the channel takes them (edge/video/encode.ts, snapshot.ts). A
 * passthrough (rtsp) channel has no encoder: its hq ring, written by video-capture, is
 * recorded as it is (edge/video/passthrough-recorder.ts); with `decode` its decoded frames
 * (raw.<channel>) get the lq encode and the stills of a captured channel (ChannelEncoder
 * `decodedCamera`), else it has no lq and no stills; no recorded audio yet.
 *
 * Lifecycle: start() probes the profile (cached in the data folder) and starts one
 * ChannelEncoder per channel; each builds its pipeline when its first frame arrives. stop()
 * finalises every open segment (end-of-stream) within the stop deadline. An encode pipeline
 * error ends the thread (exit code 1): the supervisor restarts the worker, which starts fresh
 * pipelines and a fresh recording (capture and RTSP keep running). A recording error (a full
 * disk) does not: the channel's recorder stops, says why and retries (edge/video/recorder.ts).
 *
 * Events to control: `video-profile` (which profile and encoder, for `orbox status`),
 * `encoder-started`, `segment-opened`, `segment-closed`, `segment-discarded`, `recording-state`,
 * `recording-audio-gap`,
 * `encode-stats` (every 2 s).
 * Inbox `keyframe {channel, role, reason}` (from net-send: a receiver's PLI/FIR, an uplink
 * switching streams) forces an IDR on that stream.
 * Commands (inbox `command`): `set-bitrate {channel, role, kbps}`, answered with the bitrate
 * the encoder reads back, or refused with a reason naming the channel, role and value.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { probeProfile, type H264Role, type Profile } from '../../gst-pipelines/index.js';
import { ChannelEncoder } from '../video/encode.js';
import { PassthroughRecorder } from '../video/passthrough-recorder.js';
import { RecordFanout } from '../lib/ring/index.js';
import { recordsVitals } from '../config/index.js';
import { decodeVitalSample, type VitalSample } from '../devices/index.js';
import type { VitalsFeed } from '../video/encoder-types.js';
import { runWorker, type WorkerContext } from '../runtime/index.js';

const encoders = new Map<string, ChannelEncoder>();
/** Passthrough (rtsp) channels: no encoder, their camera's H.264 recorded from the hq ring. */
const recorders = new Map<string, PassthroughRecorder>();
let statsTimer: NodeJS.Timeout | undefined;
let context: WorkerContext | undefined;
/** pcm.<input> read once here, for every recorded channel that names the input. */
const pcmFanouts = new Map<string, RecordFanout>();
const fanoutLoops: Promise<unknown>[] = [];
/** The `vitals` ring, read and decoded once here for every recording's text track. */
let vitalsFanout: RecordFanout | undefined;
const vitalsSubs = new Set<(s: VitalSample) => void>();

function pcmFanout(ctx: WorkerContext, input: string): RecordFanout {
  let f = pcmFanouts.get(input);
  if (!f) {
    f = new RecordFanout(`pcm.${input}`, ctx.consumer(`pcm.${input}`), ctx.log);
    pcmFanouts.set(input, f);
    fanoutLoops.push(f.run());
  }
  return f;
}

function vitalsOf(ctx: WorkerContext, ch: WorkerContext['config']['channels'][number]): VitalsFeed | undefined {
  if (!recordsVitals(ctx.config, ch)) return undefined;
  if (!vitalsFanout) {
    const f = vitalsFanout = new RecordFanout('vitals', ctx.consumer('vitals'), ctx.log);
    f.subscribe((payload) => {
      let s: VitalSample;
      try { s = decodeVitalSample(payload); } catch (err) { ctx.log.debug({ err: String(err) }, 'vitals record not decoded'); return; }
      if (s.kind === 'wave') return;
      for (const fn of vitalsSubs) fn(s);
    });
    fanoutLoops.push(f.run());
  }
  return { subscribe: (fn) => { vitalsSubs.add(fn); return () => vitalsSubs.delete(fn); } };
}

/** Probes the profile and starts the encoders; runs right after the worker is ready (a
 *  restarted worker is ready at once; its encoders follow within the probe's time). */
async function setup(ctx: WorkerContext): Promise<void> {
    mkdirSync(ctx.config.box.dataDir, { recursive: true });
    const rep = await probeProfile({ cacheFile: join(ctx.config.box.dataDir, 'gst-profile.json') });
    const profile = rep.picked;
    ctx.emit({ type: 'video-profile', profile: profile.id, board: profile.board, encoder: profile.roles.hq.encoder.factory, tried: rep.tried.map((t) => t.id) });
    ctx.log.info({ profile: profile.id, encoder: profile.roles.hq.encoder.factory }, 'pipeline profile');
    const rec = ctx.config.recording;
    for (const ch of ctx.config.channels) {
      if (ch.source.type === 'rtsp' || ch.source.type === 'onvif') {
        if (ch.source.decode) startDecodedCamera(ctx, profile, ch);
        if (!ch.record) continue;
        const r = new PassthroughRecorder({
          channel: ch, profile, input: ctx.consumer(`video.${ch.name}.hq`), clock: ctx.clock, log: ctx.log,
          vitals: vitalsOf(ctx, ch),
          recording: { root: join(ctx.config.box.dataDir, 'recordings'), segmentNs: BigInt(rec.segmentS) * 1_000_000_000n, fsyncMs: rec.fsyncMs },
          onEvent: (e) => ctx.emit(e),
          onError: (err) => {
            ctx.log.fatal({ err, channel: ch.name }, 'passthrough recording failed; worker exits for a restart');
            setTimeout(() => process.exit(1), 50);
          },
        });
        if (!ctx.running) return;
        r.start();
        recorders.set(ch.name, r);
        continue;
      }
      const enc = new ChannelEncoder({
        channel: ch, profile,
        input: ctx.slotConsumer(`raw.${ch.name}`),
        out: { hq: ctx.producer(`video.${ch.name}.hq`), lq: ctx.producer(`video.${ch.name}.lq`) },
        snapshot: ch.snapshot.enabled ? ctx.producer(`snap.${ch.name}`) : undefined,
        clock: ctx.clock, log: ctx.log,
        audio: audioOf(ctx, ch),
        vitals: vitalsOf(ctx, ch),
        recording: { root: join(ctx.config.box.dataDir, 'recordings'), segmentNs: BigInt(rec.segmentS) * 1_000_000_000n, fsyncMs: rec.fsyncMs },
        onEvent: (e) => ctx.emit(e),
        onError: (err) => {
          // A broken pipeline is rebuilt by restarting the worker: its rings and the
          // other channels' recordings survive, the supervisor's backoff applies.
          ctx.log.fatal({ err, channel: ch.name }, 'encoder failed; worker exits for a restart');
          setTimeout(() => process.exit(1), 50);
        },
      });
      if (!ctx.running) return;
      enc.start();
      encoders.set(ch.name, enc);
    }
    statsTimer = setInterval(() => {
      ctx.emit({ type: 'encode-stats', channels: Object.fromEntries([...encoders].map(([n, e]) => [n, e.stats()])) });
    }, 2000);
}

/** A decoding camera channel's lq and stills: its decoded frames (raw.<channel>, written by
 *  video-capture's RtspIngest) encoded as a captured channel's are, without hq or recording. */
function startDecodedCamera(ctx: WorkerContext, profile: Profile, ch: WorkerContext['config']['channels'][number]): void {
  const enc = new ChannelEncoder({
    channel: ch, profile, decodedCamera: true,
    input: ctx.slotConsumer(`raw.${ch.name}`),
    out: { lq: ctx.producer(`video.${ch.name}.lq`) },
    snapshot: ch.snapshot.enabled ? ctx.producer(`snap.${ch.name}`) : undefined,
    clock: ctx.clock, log: ctx.log,
    onEvent: (e) => ctx.emit(e),
    onError: (err) => {
      ctx.log.fatal({ err, channel: ch.name }, 'camera decode encoder failed; worker exits for a restart');
      setTimeout(() => process.exit(1), 50);
    },
  });
  if (!ctx.running) return;
  enc.start();
  encoders.set(ch.name, enc);
}

/** The recorded channel's audio input, when it names one. */
function audioOf(ctx: WorkerContext, ch: WorkerContext['config']['channels'][number]) {
  const a = ch.record && ch.audio ? ctx.config.audio.inputs.find((i) => i.name === ch.audio) : undefined;
  return a ? { input: a.name, pcm: pcmFanout(ctx, a.name), rate: a.rate, channels: a.channels } : undefined;
}

let setupDone: Promise<void> | undefined;

runWorker({
  start(ctx) {
    context = ctx;
    if (ctx.config.channels.length === 0) return;
    setupDone = setup(ctx).catch((err) => {
      ctx.log.fatal({ err }, 'video encode setup failed; worker exits for a restart');
      setTimeout(() => process.exit(1), 50);
    });
  },
  async stop(deadlineMs) {
    await setupDone;
    clearInterval(statsTimer);
    await Promise.all([...encoders.values(), ...recorders.values()].map((e) => e.close(Math.max(300, deadlineMs - 300))));
    for (const f of pcmFanouts.values()) f.stop();
    vitalsFanout?.stop();
    await Promise.race([Promise.all(fanoutLoops), new Promise((r) => setTimeout(r, 200))]);
  },
  onMessage(msg) {
    if (msg.type === 'keyframe') {
      // Best effort: a channel not encoding yet starts with a keyframe anyway.
      encoders.get(msg.channel)?.requestKeyframe(msg.role);
      return;
    }
    if (msg.type !== 'command') return;
    if (msg.name === 'set-bitrate') {
      const a = (msg.args ?? {}) as { channel?: string; role?: string; kbps?: number };
      const enc = encoders.get(String(a.channel));
      let result: { state: 'finished' | 'invalid'; reason?: string; details?: Record<string, string> };
      const what = `channel "${a.channel}" ${a.role} bitrate ${a.kbps} kbit/s`;
      try {
        if (!enc) throw new RangeError(`no encoder for this channel (encoding: ${[...encoders.keys()].join(', ') || 'none yet'})`);
        if (a.role !== 'hq' && a.role !== 'lq') throw new RangeError('the role must be hq or lq');
        const back = enc.setBitrate(a.role as H264Role, Number(a.kbps));
        result = { state: 'finished', reason: `channel "${a.channel}" ${a.role} bitrate now ${back} kbit/s`, details: { [`${a.role}BitrateKbps`]: String(back) } };
      } catch (e) {
        result = { state: 'invalid', reason: `${what} refused: ${(e as Error).message}` };
      }
      // The same result shape as every worker's commands (control's CommandRouter reads it).
      context?.emit({ type: 'command-result', id: msg.id, name: msg.name, result });
    }
  },
});
