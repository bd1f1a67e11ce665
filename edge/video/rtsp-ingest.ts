/**
 * One passthrough channel: an IP camera's H.264 over RTSP, depayloaded and parsed but never
 * decoded or re-encoded, straight into the channel's encoded hq ring (`video.<channel>.hq`).
 *
 * Contract
 * - Owns: the channel's GstPipeline `rtspsrc ! rtph264depay ! h264parse config-interval=-1 !
 *   appsink` (SPS/PPS that a camera sends only in its SDP are put in-band before each IDR),
 *   the stall watchdog and the retry timer (and with decode, the slate timer). Writes into its
 *   hq ring (and with decode, `raw.<channel>`: see Decode below): records of kind
 *   RECORD_KIND_H264_AU, one Annex B access unit each, FLAG_SYNC on IDRs, as the encoder's
 *   au-drain.ts writes them, so the RTSP server, the uplink and the recorder read a
 *   passthrough channel like any other.
 * - Time: each access unit is stamped with its capture time on the box clock. The camera's
 *   RTCP sender reports are not read yet (the binding exposes no reference-timestamp meta), so
 *   the time is the arrival time as rtspsrc's jitterbuffer smooths it with the RTP timestamps
 *   (running time + base time), and `stats().clock` says `arrival`. Strictly increasing, also
 *   across reconnects.
 * - Credentials: read from `credentialsFile` (first line `user:password`) at each connection
 *   and set as element properties, never put in the pipeline description, a log line, an
 *   event or an error. The URL in the config cannot hold them (schema).
 * - Refused: a camera that sends H.265 or MJPEG (or anything but H.264): the error names the
 *   camera and the codec it found (an RTP probe of the stream's caps, after linking failed
 *   with an error; a codec that fails silently is reported as a stall).
 * - Known limit: closing the pipeline is a synchronous native call; on a server that streams
 *   an endless reply it returns only when GStreamer's RTSP reader gives up (about 6-8 s
 *   measured), and this worker's thread waits that long (test: hostile RTSP servers).
 * - A lost camera (error, end of stream, no access unit for `stallMs`) is closed at once and
 *   reconnected after capped exponential backoff with jitter (default 250 ms doubling to 1 s,
 *   so a camera that is back is reconnected within about 1 s, and its stream is in the ring
 *   from its next IDR: a passthrough cannot force one). Until the first IDR after a (re)connect
 *   nothing is written (a decoder cannot start on a delta frame).
 * - "No signal" for a passthrough channel: the channel is marked `no-signal` (state, the
 *   `source-lost` event, status) and nothing is written; the consumers keep their mounts and
 *   sessions open and resume at the camera's next IDR. An encoded slate was not chosen: it
 *   would have to match the camera's SPS (size, profile, level) for players to switch to it
 *   and back without renegotiation, which a box cannot know before the camera has ever been seen.
 * - An `onvif` source: before each connection (the first, and after every failure) the device
 *   is asked for its RTSP URI (edge/onvif: GetCapabilities -> GetProfiles -> GetStreamUri,
 *   the configured profile or the first H.264 one), with the same credentials file; a device
 *   that fails to answer is a failure like a camera that does not, retried with the backoff.
 * - Decode (`decode: true` and a `raw` slot ring): the same pipeline tees the parsed H.264
 *   into the H.264 decoder (`decoder`, default avdec_h264; a board's hardware decoder by name)
 *   -> videoconvert -> videoscale to the source's nominal size in the ring's raw format ->
 *   `raw.<channel>`, which video-encode reads as it reads a captured channel's frames, for the
 *   lq stream and the stills (the hq stays the camera's own). A decoded frame carries the
 *   capture time of its access unit (the same PTS mapping). The decode branch has a leaky
 *   queue of 60 access units: a decoder that falls behind that far loses access units (and
 *   pictures until the next IDR), never the passthrough. While the camera is lost (and before
 *   it is first seen) the raw ring gets the "no signal" slate at the source's rate (flag
 *   FRAME_FLAG_SLATE, capture.ts's slate), so the lq and the stills show it; the first decoded
 *   frame after the camera returns ends it.
 * - Lifecycle: constructor validates; start(); close() (idempotent). State: new -> live |
 *   no-signal (alternating) -> closed.
 * - Errors: the constructor throws RangeError for a channel that is not an `rtsp` source.
 *   Camera errors are never thrown: they are counted, kept as `lastLoss` (AuthError,
 *   CodecRefusedError messages name the camera) and reported through `onEvent`.
 * Runs on: video-capture.
 */
import { readFileSync } from 'node:fs';
import { GstPipeline } from '../gst/index.js';
import { OnvifClient } from '../onvif/index.js';
import { Backoff } from '../lib/backoff.js';
import type { BoxClock } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import { FRAME_KIND_RAW, RECORD_KIND_H264_AU } from '../lib/record-kinds.js';
import { FLAG_SYNC, copyIntoShared, type RingProducer, type SlotProducer } from '../lib/ring/index.js';
import { frameBytes, type Yuv420Format } from './overlay.js';
import type { ChannelConfig } from '../config/index.js';
import { FRAME_FLAG_SLATE, slateFrame, type CaptureEvent } from './capture.js';

export type IngestState = 'new' | 'live' | 'no-signal' | 'closed';

/** The camera refused the credentials (RTSP 401/403). */
export class AuthError extends Error {
  constructor(readonly channel: string, readonly camera: string, readonly status: number, detail: string) {
    super(`channel ${channel}: camera ${camera} refused ${detail} (RTSP ${status})`);
    this.name = 'AuthError';
  }
}

/** The camera sends a codec a passthrough channel does not take. */
export class CodecRefusedError extends Error {
  constructor(readonly channel: string, readonly camera: string, readonly codec: string) {
    super(`channel ${channel}: camera ${camera} sends ${codec}; a passthrough channel takes H.264 only (configure the camera for H.264)`);
    this.name = 'CodecRefusedError';
  }
}

export interface IngestOptions {
  channel: ChannelConfig;
  ring: RingProducer;
  clock: BoxClock;
  log?: Logger;
  onEvent?: (e: CaptureEvent) => void;
  /** First retry delay and cap, ms. Defaults 250 and 1000. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** No access unit for this long means the camera is lost. Default max(1500, 10 frame intervals). */
  stallMs?: number;
  /** A connection that ran this long resets the backoff. Default 10 000. */
  stableMs?: number;
  /** rtspsrc jitterbuffer latency, ms. Default 100. */
  latencyMs?: number;
  random?: () => number;
  /** `raw.<channel>`, for a source with `decode: true`: the camera's frames, decoded. */
  raw?: SlotProducer;
  /** The raw ring's pixel format (the board profile's). Default NV12. */
  format?: Yuv420Format;
  /** The H.264 decoder element. Default avdec_h264 (software; on a board, its hardware
   *  decoder: mppvideodec, v4l2h264dec, ...). */
  decoder?: string;
}

export interface IngestStats {
  state: IngestState;
  /** Where capture times come from: `arrival` (see the module contract). */
  clock: 'arrival';
  aus: number;
  keyframes: number;
  bytes: number;
  /** Access units before the first IDR of a connection (not written). */
  skippedBeforeIdr: number;
  /** Access units larger than the ring's records (not written). */
  tooLarge: number;
  sourceStarts: number;
  losses: number;
  /** Decoded frames written to `raw.<channel>` (0 without decode); those the ring had no free slot for. */
  decodedFrames: number;
  decodeDropped: number;
  /** Slate frames written to `raw.<channel>` while the camera was away (decode only). */
  slateFrames: number;
  lastLoss?: string;
}

/** The host and path of a camera URL, for messages (it holds no credentials: schema). */
function cameraLabel(url: string): string {
  return url.replace(/^rtsp:\/\//, '');
}

/** rtspsrc's bound on one read of the RTSP connection, µs (see ingestDescription). */
const TCP_TIMEOUT_US = 2_000_000;

/** The decode branch of a decoding channel's pipeline (see the module contract). */
export interface DecodeBranch { decoder: string; format: Yuv420Format; width: number; height: number }

/** The pipeline of one connection; credentials are set as properties, not here. */
export function ingestDescription(url: string, transport: 'tcp' | 'udp', latencyMs: number, decode?: DecodeBranch): string {
  if (decode && !/^[a-z0-9_]+$/.test(decode.decoder)) throw new RangeError(`decoder "${decode.decoder}" is not a GStreamer element name`);
  const au = 'appsink name=au sync=false async=false emit-signals=false max-buffers=60 drop=false wait-on-eos=false';
  const tail = decode
    ? `tee name=t t. ! queue max-size-buffers=60 max-size-bytes=0 max-size-time=0 ! ${au} ` +
      `t. ! queue name=decq leaky=downstream max-size-buffers=60 max-size-bytes=0 max-size-time=0 ! ${decode.decoder} ! videoconvert ! videoscale ` +
      `! video/x-raw,format=${decode.format},width=${decode.width},height=${decode.height} ` +
      `! appsink name=raw sync=false async=false emit-signals=false max-buffers=2 drop=true wait-on-eos=false`
    : au;
  // tcp-timeout (µs) bounds each read of the RTSP connection: rtspsrc's state changes (and so
  // GstPipeline.start()/close(), synchronous on this thread) wait for a pending read, 20 s by
  // default, which a server that sends endless bytes without a reply turns into 20 s of this
  // worker's event loop stopped.
  return `rtspsrc name=cam location="${url}" protocols=${transport} latency=${latencyMs} do-retransmission=false tcp-timeout=${TCP_TIMEOUT_US} ` +
    `! rtph264depay ! h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au ! ${tail}`;
}

/** Access units whose capture time is kept for their decoded frame: two seconds at 60 fps,
 *  more than the decode queue (60) holds. */
const AU_TIMES_KEPT = 120;

export class RtspIngest {
  readonly name: string;
  readonly camera: string;
  private stateValue: IngestState = 'new';
  private pipeline: GstPipeline | undefined;
  private gen = 0;
  private startedMono = 0n;
  private lastAuMono = 0n;
  private lastStampMono = 0n;
  private lastRawMono = 0n;
  private slate: Uint8Array | undefined;
  private slateTimer: NodeJS.Timeout | undefined;
  private readonly decode: DecodeBranch | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private probing: GstPipeline | undefined;
  private readonly retry: Backoff;
  private readonly stallMs: number;
  private readonly stableMs: number;
  private readonly src: Extract<ChannelConfig['source'], { type: 'rtsp' | 'onvif' }>;
  /** The camera's RTSP URL: the config's, or the one the ONVIF device gave last. */
  private url: string | undefined;
  private readonly st = { aus: 0, keyframes: 0, bytes: 0, skippedBeforeIdr: 0, tooLarge: 0, sourceStarts: 0, losses: 0, decodedFrames: 0, decodeDropped: 0, slateFrames: 0, lastLoss: undefined as string | undefined };

  constructor(private readonly opts: IngestOptions) {
    const ch = opts.channel;
    if (ch.source.type !== 'rtsp' && ch.source.type !== 'onvif') throw new RangeError(`channel ${ch.name}: RtspIngest takes an rtsp or onvif source, got ${ch.source.type}`);
    this.src = ch.source;
    this.name = ch.name;
    this.url = ch.source.type === 'rtsp' ? ch.source.url : undefined;
    this.camera = ch.source.type === 'rtsp' ? cameraLabel(ch.source.url) : ch.source.device.replace(/^http:\/\//, '');
    this.stallMs = opts.stallMs ?? Math.max(1500, 10_000 / this.src.fps);
    this.retry = new Backoff({ minMs: opts.retryInitialMs ?? 250, maxMs: opts.retryMaxMs ?? 1000, jitter: 0.5 }, opts.random);
    this.stableMs = opts.stableMs ?? 10_000;
    if (this.src.decode && !opts.raw) throw new RangeError(`channel ${ch.name}: decode is on but no raw ring was given`);
    if (opts.raw && this.src.decode) {
      const fb = frameBytes({ width: this.src.width, height: this.src.height });
      if (fb > opts.raw.slotBytes) throw new RangeError(`channel ${ch.name}: a ${fb}-byte decoded frame does not fit a ${opts.raw.slotBytes}-byte slot`);
      this.decode = { decoder: opts.decoder ?? 'avdec_h264', format: opts.format ?? 'NV12', width: this.src.width, height: this.src.height };
    }
  }

  get state(): IngestState { return this.stateValue; }

  stats(): IngestStats {
    return { state: this.stateValue, clock: 'arrival', ...this.st };
  }

  start(): void {
    if (this.stateValue !== 'new') return;
    this.stateValue = 'no-signal';
    this.connect();
    this.watchdog = setInterval(() => this.checkStall(), 200);
    this.slateOn();
  }

  close(): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    this.gen++;
    clearTimeout(this.retryTimer);
    clearInterval(this.watchdog);
    clearInterval(this.slateTimer);
    this.slateTimer = undefined;
    this.pipeline?.close();
    this.pipeline = undefined;
    this.probing?.close();
    this.probing = undefined;
  }

  // ---- connection ----

  private credentials(): { user: string; password: string } | undefined {
    const file = this.src.credentialsFile;
    if (!file) return undefined;
    let line: string;
    try {
      line = readFileSync(file, 'utf8').split('\n')[0].trim();
    } catch (e) {
      throw new Error(`channel ${this.name}: credentials file ${file} for camera ${this.camera}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    }
    const i = line.indexOf(':');
    if (i <= 0) throw new Error(`channel ${this.name}: credentials file ${file} for camera ${this.camera}: the first line is not user:password`);
    return { user: line.slice(0, i), password: line.slice(i + 1) };
  }

  /**
   * An onvif source's RTSP URI, asked of the device at start and after every failure (a
   * camera may move its stream, or get a new address by DHCP behind the same device service).
   */
  private async resolve(gen: number): Promise<void> {
    const src = this.src;
    if (src.type !== 'onvif') return;
    try {
      const c = new OnvifClient(src.device, { credentials: this.credentials() });
      const media = await c.mediaUrl();
      const profiles = await c.profiles(media);
      const p = src.profile ? profiles.find((x) => x.token === src.profile) : profiles.find((x) => (x.encoding ?? '').toUpperCase() === 'H264');
      if (!p) {
        const have = profiles.map((x) => `${x.token} (${x.encoding ?? '?'})`).join(', ');
        throw new Error(src.profile ? `channel ${this.name}: camera ${this.camera} has no profile ${src.profile} (it has ${have})` : new CodecRefusedError(this.name, this.camera, `no H.264 profile (it has ${have})`).message);
      }
      // Credentials never ride in the URL (rtspsrc properties carry them).
      const uri = new URL(await c.streamUri(p.token, media));
      uri.username = ''; uri.password = '';
      if (gen !== this.gen) return;
      this.url = uri.toString();
      this.connect(gen);
    } catch (e) {
      this.lost(gen, (e as Error).message.startsWith('channel ') ? (e as Error).message : `channel ${this.name}: ${(e as Error).message}`);
    }
  }

  private connect(resolvedGen?: number): void {
    if (this.stateValue === 'closed') return;
    if (resolvedGen === undefined && this.src.type === 'onvif') {
      const g = ++this.gen;
      this.st.sourceStarts++;
      void this.resolve(g);
      return;
    }
    const gen = resolvedGen ?? ++this.gen;
    if (resolvedGen === undefined) this.st.sourceStarts++;
    let p: GstPipeline;
    try {
      const cred = this.credentials();
      p = new GstPipeline(ingestDescription(this.url!, this.src.transport, this.opts.latencyMs ?? 100, this.decode), { label: `camera ${this.name}` });
      if (cred) {
        p.set('cam', 'user-id', cred.user);
        p.set('cam', 'user-pw', cred.password);
      }
    } catch (e) {
      this.lost(gen, (e as Error).message);
      return;
    }
    this.pipeline = p;
    p.on('error', (e) => this.onPipelineError(gen, e.message));
    p.on('eos', () => this.lost(gen, `camera ${this.camera}: end of stream`));
    p.on('warning', (w) => this.opts.log?.debug({ channel: this.name, warning: w.message }, 'camera warning'));
    this.startedMono = process.hrtime.bigint();
    this.lastAuMono = this.startedMono;
    try {
      p.start();
    } catch (e) {
      this.lost(gen, `camera ${this.camera}: start: ${(e as Error).message}`);
      return;
    }
    // The capture time each access unit was given, by PTS, for its decoded frame: both must
    // carry the same one, and captureMono's plausibility check, made twice at different
    // arrival times, could decide differently for the same PTS (measured: 17-22 of 119 frames
    // while the jitterbuffer's skew estimate settles and put early PTSs in the future).
    const auTimes = new Map<number, bigint>();
    void this.pullLoop(gen, p, this.decode ? auTimes : undefined);
    if (this.decode) void this.rawLoop(gen, p, auTimes);
  }

  private onPipelineError(gen: number, message: string): void {
    if (gen !== this.gen) return;
    const m = /\((401|403)\)/.exec(message) ?? /(Unauthorized|Forbidden)/i.exec(message);
    if (m) {
      const status = m[1] === '403' || /Forbidden/i.test(m[1]) ? 403 : 401;
      const what = this.src.credentialsFile ? `the credentials in ${this.src.credentialsFile}` : 'access without credentials (no credentialsFile configured)';
      this.lost(gen, new AuthError(this.name, this.camera, status, what).message);
      return;
    }
    // Linking rtph264depay failed (H.265: an error; MJPEG through some servers: only silence,
    // reported as a stall).
    if (/not-linked|not-negotiated|could not link|Internal data stream error/i.test(message)) {
      this.probeThenLose(gen, `camera ${this.camera}: ${message}`);
      return;
    }
    this.lost(gen, `camera ${this.camera}: ${message}`);
  }

  /** Asks the stream what codec it carries, to say so; else loses with `fallback`. */
  private probeThenLose(gen: number, fallback: string): void {
    if (this.probing) return;
    void this.probeCodec(gen).then((codec) => {
      const named = codec?.toUpperCase();
      this.lost(gen, named && named !== 'H264' ? new CodecRefusedError(this.name, this.camera, named === 'JPEG' ? 'MJPEG' : named).message : fallback);
    });
  }

  /** The RTP encoding name of the camera's video (one packet's caps), or undefined in 1.5 s. */
  private async probeCodec(gen: number): Promise<string | undefined> {
    this.pipeline?.close();
    this.pipeline = undefined;
    let p: GstPipeline;
    try {
      p = new GstPipeline(`rtspsrc name=cam location="${this.url}" protocols=${this.src.transport} tcp-timeout=${TCP_TIMEOUT_US} ! appsink name=rtp sync=false max-buffers=1 drop=true`, { label: `camera ${this.name} probe` });
      const cred = this.credentials();
      if (cred) { p.set('cam', 'user-id', cred.user); p.set('cam', 'user-pw', cred.password); }
      p.on('error', () => undefined);
      p.start();
    } catch {
      return undefined;
    }
    this.probing = p;
    const timer = setTimeout(() => p.close(), 1500);
    try {
      const s = await p.appsink('rtp').pull();
      const enc = s?.caps?.['encoding-name'];
      return gen === this.gen && typeof enc === 'string' ? enc : undefined;
    } finally {
      clearTimeout(timer);
      p.close();
      if (this.probing === p) this.probing = undefined;
    }
  }

  private async pullLoop(gen: number, p: GstPipeline, auTimes?: Map<number, bigint>): Promise<void> {
    const sink = p.appsink('au');
    const ring = this.opts.ring;
    // One buffer for every access unit of this connection; nothing allocated per AU.
    const scratch = new Uint8Array(ring.maxPayload);
    let sawIdr = false;
    for (;;) {
      const s = await sink.pullInto(scratch);
      if (gen !== this.gen) return;
      if (!s) {
        const reason = `camera ${this.camera}: stream closed`;
        // Closed before any access unit: maybe a codec the H.264 depayloader refused.
        if (this.lastAuMono === this.startedMono) this.probeThenLose(gen, reason); else this.lost(gen, reason);
        return;
      }
      const arrival = process.hrtime.bigint();
      this.lastAuMono = arrival;
      if (!sawIdr && !s.keyframe) { this.st.skippedBeforeIdr++; continue; }
      sawIdr = true;
      if (s.size > scratch.length) { this.st.tooLarge++; continue; }
      this.up(arrival);
      let mono = this.captureMono(p, s.ptsNs, arrival);
      if (mono <= this.lastStampMono) mono = this.lastStampMono + 1000n;
      this.lastStampMono = mono;
      if (auTimes && s.ptsNs !== null) {
        auTimes.set(s.ptsNs, mono);
        if (auTimes.size > AU_TIMES_KEPT) auTimes.delete(auTimes.keys().next().value!);
      }
      ring.write(RECORD_KIND_H264_AU, s.keyframe ? FLAG_SYNC : 0, this.opts.clock.toWall(mono), mono, scratch.subarray(0, s.size));
      this.st.aus++;
      this.st.bytes += s.size;
      if (s.keyframe) this.st.keyframes++;
    }
  }

  /**
   * Decoded frames -> raw.<channel>, each copied by the binding straight into a claimed slot
   * (as capture.ts does), stamped with the capture time its access unit was given (looked up
   * by PTS; computed the same way when the access unit was not seen).
   */
  private async rawLoop(gen: number, p: GstPipeline, auTimes: Map<number, bigint>): Promise<void> {
    const sink = p.appsink('raw');
    const ring = this.opts.raw!;
    const len = frameBytes(this.decode!);
    let scratch: Uint8Array | undefined;
    for (;;) {
      const claim = ring.claim();
      const into = claim ? claim.bytes.subarray(0, len) : (scratch ??= new Uint8Array(len));
      const got = await sink.pullInto(into);
      if (gen !== this.gen || !got) {
        if (claim) ring.abandon(claim);
        return; // the access-unit loop reports the loss
      }
      const arrival = process.hrtime.bigint();
      if (!claim) { this.st.decodeDropped++; continue; }
      this.slateOff();
      if (got.size < len) into.fill(0, got.size);
      let mono = (got.ptsNs !== null ? auTimes.get(got.ptsNs) : undefined) ?? this.captureMono(p, got.ptsNs, arrival);
      if (mono <= this.lastRawMono) mono = this.lastRawMono + 1000n;
      this.lastRawMono = mono;
      ring.publish(claim, len, { kind: FRAME_KIND_RAW, flags: 0, wallNs: this.opts.clock.toWall(mono), monoNs: mono, user0: this.decode!.width, user1: this.decode!.height });
      this.st.decodedFrames++;
    }
  }

  /** The slate into raw.<channel> at the source's rate, until a decoded frame comes (decode only). */
  private slateOn(): void {
    if (!this.decode || this.slateTimer || this.stateValue === 'closed') return;
    this.slate ??= slateFrame(this.decode, this.name);
    const ring = this.opts.raw!;
    const len = this.slate.length;
    this.slateTimer = setInterval(() => {
      const claim = ring.claim();
      if (!claim) { this.st.decodeDropped++; return; }
      copyIntoShared(claim.bytes, this.slate!);
      let mono = process.hrtime.bigint();
      if (mono <= this.lastRawMono) mono = this.lastRawMono + 1000n;
      this.lastRawMono = mono;
      ring.publish(claim, len, { kind: FRAME_KIND_RAW, flags: FRAME_FLAG_SLATE, wallNs: this.opts.clock.toWall(mono), monoNs: mono, user0: this.decode!.width, user1: this.decode!.height });
      this.st.slateFrames++;
    }, 1000 / this.src.fps);
  }

  private slateOff(): void {
    clearInterval(this.slateTimer);
    this.slateTimer = undefined;
  }

  /** Running time + base time when plausible (not in the future, not older than the stall limit). */
  private captureMono(p: GstPipeline, ptsNs: number | null, arrival: bigint): bigint {
    const base = p.baseTimeNs();
    if (ptsNs === null || base === null) return arrival;
    const t = BigInt(Math.round(base + ptsNs));
    const ageMs = Number(arrival - t) / 1e6;
    return ageMs >= 0 && ageMs < this.stallMs ? t : arrival;
  }

  private up(mono: bigint): void {
    if (this.stateValue === 'no-signal') {
      this.stateValue = 'live';
      this.opts.log?.info({ channel: this.name, camera: this.camera, attempt: this.retry.attempts }, 'camera up');
      this.opts.onEvent?.({ type: 'source-up', channel: this.name, attempt: this.retry.attempts });
    }
    if (this.retry.attempts > 0 && Number(mono - this.startedMono) / 1e6 > this.stableMs) this.retry.reset();
  }

  private checkStall(): void {
    if (!this.pipeline || this.stateValue === 'closed') return;
    const ageMs = Number(process.hrtime.bigint() - this.lastAuMono) / 1e6;
    if (ageMs <= this.stallMs) return;
    const reason = `camera ${this.camera}: no access unit for ${Math.round(ageMs)} ms`;
    // Not probed for its codec (as an error is): a stalled server may be one that never ends
    // a reply, and each pipeline closed on it stops this thread for seconds (see the test).
    this.lost(this.gen, reason);
  }

  private lost(gen: number, reason: string): void {
    if (gen !== this.gen || this.stateValue === 'closed') return;
    this.gen++;
    const p = this.pipeline;
    this.pipeline = undefined;
    // close() releases at once; stop() would wait for a camera that may never answer.
    setImmediate(() => p?.close());
    this.st.losses++;
    this.st.lastLoss = reason;
    const wasLive = this.stateValue === 'live';
    this.stateValue = 'no-signal';
    this.slateOn();
    const delay = this.retry.next();
    if (wasLive || this.retry.attempts === 1) this.opts.log?.warn({ channel: this.name, reason, retryMs: delay }, 'camera lost; no signal');
    else this.opts.log?.info({ channel: this.name, reason, retryMs: delay }, 'camera lost; no signal');
    this.opts.onEvent?.({ type: 'source-lost', channel: this.name, reason, attempt: this.retry.attempts });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}
