/**
 * Glass-to-glass latency through the box, against plain GStreamer on the same frames in the
 * same run, measured in pixels (pixel-clock.ts).
 *
 *                                  +-> queue -> shmsink ==shm==> the box (`orbox run`, a child process):
 *   MovingPicture + stamp (glass)  |     channel source `gst`: shmsrc ... -> capture -> encode -> net-send
 *   -> appsrc -> tee --------------+     -> RTSP server child -> rtspsrc latency=0 -> depay -> avdec_h264 -> appsink  "box"
 *                                  +-> queue -> x264enc zerolatency ultrafast -> rtph264pay -> udpsink
 *                                        -> udpsrc -> depay -> avdec_h264 -> appsink                                  "plain"
 *                                  (+-> a replica of the box's capture source, with hops: see below)
 *
 * The stamp is CLOCK_MONOTONIC (process.hrtime: one clock for every process on the host) read
 * just before the frame is handed to the appsrc; each receiver reads it from the decoded
 * frame as its appsink hands it over, `now - stamp` is that frame's latency. Both receivers
 * have the same shape (depay -> tee -> queue -> decoder -> appsink, the tee's other side an
 * appsink of access units: when the frame was depayloaded) and run in this process, so what
 * differs is the path between tee and depayloader: the box, or one encoder and a UDP hop.
 * Only frames stamped inside the measuring window count, for both alike.
 *
 * Hops (`hops: true`): where the box's time goes, as medians from glass: a replica of the
 * box's own capture source (edge/video/capture.ts sourceDescription, same description) on the
 * same shm socket gives glass -> capture stamp (its PTS + base time, what the box stamps) and
 * glass -> capture appsink; the box's status gives capture stamp -> encoded ring (encode-stats)
 * and capture stamp -> first RTP packet sent (net-stats); the receiver gives glass ->
 * depayloaded and glass -> decoded.
 *
 * Uplink (`uplink: true`): the box also pushes the channel's hq over its resilient uplink (SRTP,
 * RTX, 2022-1 FEC) to a receiver on this host, keyed by the SDP the box's local API gives (what
 * `orbox uplink sdp` prints): udpsrc -> srtpdec -> rtpjitterbuffer (the receive buffer) -> the
 * same depay/decode tail. At 0 % loss frames leave the jitterbuffer as they arrive (the appsink
 * does not sync), so the figure is the path without the buffer; the buffer is paid only on a gap
 * and is reported apart as the configured receive latency.
 *
 * Runs in: test-rig processes (g2g bench, latency test). The box's CPU and this process's
 * (source, plain encoder, two decoders) share the machine: compare box and plain within one run.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { validateConfig, type ChannelConfig } from '../../edge/config/index.js';
import { callLocalApi } from '../../edge/control/local-api.js';
import { GstPipeline } from '../../edge/gst/index.js';
import { quantile, sortedCopy } from '../../edge/lib/stats.js';
import { sourceDescription } from '../../edge/video/index.js';
import { probeProfile } from '../../gst-pipelines/index.js';
import { H264_RTP_CAPS, freeTcpPort, freeUdpPortPair, testRtpPortStart } from '../rtp/gst-peers.js';
import { MovingPicture, type Yuv420 } from './moving-picture.js';
import { readStamp, stampBytes, writeStamp, type StampGeometry } from './pixel-clock.js';

const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const now = (): bigint => process.hrtime.bigint();
const bin = fileURLToPath(new URL('../../../bin/orbox.js', import.meta.url));

export interface LatencySummary {
  /** Frames read in the window. */
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** Decoded frames in the window whose stamp did not read (damaged), and frames stamped in the window never seen. */
  unreadable: number;
  missing: number;
}

export function summarize(ms: readonly number[], unreadable = 0, missing = 0): LatencySummary {
  const a = sortedCopy(ms);
  const r = (x: number): number => Math.round(x * 10) / 10;
  return { n: a.length, p50: r(quantile(a, 0.5)), p95: r(quantile(a, 0.95)), p99: r(quantile(a, 0.99)), max: r(a[a.length - 1] ?? 0), unreadable, missing };
}

const median = (xs: readonly number[]): number => Math.round(quantile(sortedCopy(xs), 0.5) * 10) / 10;

/**
 * Decoded frames -> stamps: a receiver pipeline whose head ends in RTP depayloaded H.264.
 * Records, per frame stamped inside the window, glass -> depayloaded and glass -> decoded (ms).
 */
export class StampReceiver {
  readonly decodedMs: number[] = [];
  readonly depayMs: number[] = [];
  /** Stamps of the window's frames seen (for counting the missing). */
  readonly seen = new Set<bigint>();
  unreadable = 0;
  frames = 0;
  private readonly pipeline: GstPipeline;
  private readonly auArrival = new Map<number, bigint>();
  private window: { from: bigint; to: bigint } = { from: -1n, to: -1n };
  private loops: Promise<void>[] = [];

  constructor(readonly label: string, head: string, private readonly g: StampGeometry) {
    this.pipeline = new GstPipeline(
      // The depayloader's own output format (avc): forcing byte-stream/au here made avdec_h264
      // smear the plain pipeline's pictures (x264 sliced threads, several slices per frame).
      `${head} ! rtph264depay ! tee name=t ` +
        `t. ! queue max-size-buffers=4 max-size-bytes=0 max-size-time=0 ! avdec_h264 ! video/x-raw,format=I420 ` +
        `! appsink name=decoded sync=false async=false max-buffers=4 drop=true ` +
        `t. ! queue max-size-buffers=4 max-size-bytes=0 max-size-time=0 ! appsink name=au sync=false async=false max-buffers=8 drop=true`,
      { label },
    );
    this.pipeline.on('error', (e) => { this.error = e.message; });
  }

  error: string | null = null;

  /** Frames whose stamp lies in [from, to] (monotonic ns) count. */
  measure(from: bigint, to: bigint): void { this.window = { from, to }; }

  start(): void {
    this.pipeline.start();
    this.loops.push(this.pullAus(), this.pullDecoded());
  }

  private async pullAus(): Promise<void> {
    const sink = this.pipeline.appsink('au');
    const scratch = new Uint8Array(16);
    for (;;) {
      const s = await sink.pullInto(scratch);
      if (!s) return;
      if (s.ptsNs === null) continue;
      this.auArrival.set(s.ptsNs, now());
      if (this.auArrival.size > 120) this.auArrival.delete(this.auArrival.keys().next().value!);
    }
  }

  private async pullDecoded(): Promise<void> {
    const sink = this.pipeline.appsink('decoded');
    const top = new Uint8Array(stampBytes(this.g));
    for (;;) {
      const s = await sink.pullInto(top);
      const t = now();
      if (!s) return;
      this.frames++;
      const r = readStamp(top, this.g);
      const w = this.window;
      if (!r.ok) { if (w.from > 0n && t >= w.from && t <= w.to + 1_000_000_000n) this.unreadable++; continue; }
      if (w.from < 0n || r.stamp < w.from || r.stamp > w.to) continue;
      this.seen.add(r.stamp);
      this.decodedMs.push(Number(t - r.stamp) / 1e6);
      const d = s.ptsNs === null ? undefined : this.auArrival.get(s.ptsNs);
      if (d !== undefined) this.depayMs.push(Number(d - r.stamp) / 1e6);
    }
  }

  summary(stamped: readonly bigint[]): LatencySummary {
    return summarize(this.decodedMs, this.unreadable, stamped.filter((s) => !this.seen.has(s)).length);
  }

  close(): void {
    this.pipeline.close();
  }
}

/** The receiver of the plain pipeline's RTP. */
export function plainReceiver(port: number, g: StampGeometry): StampReceiver {
  return new StampReceiver('plain receiver', `udpsrc port=${port} address=127.0.0.1 buffer-size=4194304 caps="${H264_RTP_CAPS}"`, g);
}

/** A viewer of the box's RTSP stream, tuned for latency (`latency=0`: no jitterbuffer wait). */
export function rtspReceiver(url: string, g: StampGeometry): StampReceiver {
  return new StampReceiver('rtsp receiver', `rtspsrc location=${url} protocols=udp latency=0`, g);
}

/** A receiver of the box's SRTP uplink (media port only: nothing is lost on loopback), keyed from its SDP. */
export function uplinkReceiver(sdp: string, port: number, latencyMs: number, g: StampGeometry): StampReceiver {
  const key = /a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:([A-Za-z0-9+/=]+)/.exec(sdp)?.[1];
  if (!key) throw new Error('uplink SDP has no AES_CM_128_HMAC_SHA1_80 a=crypto line');
  const hex = Buffer.from(key, 'base64').toString('hex');
  // srtpdec keys a stream by its SSRC: the media SSRC is the first a=ssrc of the video m-line.
  const ssrc = /a=ssrc:(\d+) cname/.exec(sdp)?.[1];
  if (!ssrc) throw new Error('uplink SDP has no a=ssrc line');
  const sc = 'srtp-cipher=(string)aes-128-icm,srtp-auth=(string)hmac-sha1-80,srtcp-cipher=(string)aes-128-icm,srtcp-auth=(string)hmac-sha1-80';
  return new StampReceiver('uplink receiver',
    `udpsrc port=${port} address=127.0.0.1 buffer-size=4194304 caps="application/x-srtp,media=(string)video,clock-rate=(int)90000,encoding-name=(string)H264,payload=(int)96,ssrc=(uint)${ssrc},srtp-key=(buffer)${hex},${sc}" ` +
      `! srtpdec ! rtpjitterbuffer latency=${latencyMs}`, g);
}

export interface StampedSourceOptions {
  width: number;
  height: number;
  fps: number;
  format: Yuv420;
  /** shmsink socket path for the box's channel source. */
  socket: string;
  /** With a plain pipeline: RTP to 127.0.0.1:port, x264enc at this bitrate (kbit/s). */
  plain?: { port: number; kbps: number; keyIntMax: number };
}

/**
 * Stamped frames at a steady rate into a tee: the shm socket for the box, and the plain
 * pipeline. `stamps` lists every frame's stamp (monotonic ns) in order.
 */
export class StampedSource {
  readonly stamps: bigint[] = [];
  private readonly pipeline: GstPipeline;
  private readonly picture: MovingPicture;
  private readonly frame: Uint8Array;
  private timer: NodeJS.Timeout | undefined;
  private k = 0;
  private next = 0;
  error: string | null = null;
  late = 0;

  constructor(private readonly o: StampedSourceOptions) {
    const caps = `video/x-raw,format=${o.format},width=${o.width},height=${o.height},framerate=${o.fps}/1`;
    this.picture = new MovingPicture(o.width, o.height, o.format);
    this.frame = new Uint8Array(this.picture.frameBytes);
    const q = 'queue max-size-buffers=2 max-size-bytes=0 max-size-time=0 leaky=downstream';
    const plain = o.plain
      ? ` t. ! ${q} ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=${o.plain.kbps} key-int-max=${o.plain.keyIntMax} ` +
        `! rtph264pay mtu=1400 config-interval=-1 ! udpsink host=127.0.0.1 port=${o.plain.port} sync=false async=false`
      : '';
    this.pipeline = new GstPipeline(
      `appsrc name=src is-live=true format=time do-timestamp=false max-bytes=0 max-buffers=4 leaky-type=downstream caps="${caps}" ! tee name=t ` +
        `t. ! ${q} ! shmsink socket-path=${o.socket} wait-for-connection=false sync=false async=false shm-size=${this.picture.frameBytes * 10}${plain}`,
      { label: 'stamped source' },
    );
    this.pipeline.on('error', (e) => { this.error = e.message; });
  }

  start(): void {
    this.pipeline.start();
    this.next = performance.now();
    this.tick();
  }

  private tick(): void {
    const o = this.o;
    this.picture.render(this.k, this.frame);
    // Glass: the stamp is taken as the frame is handed over.
    const stamp = now();
    writeStamp(this.frame, o, stamp);
    this.pipeline.appsrc('src').push(this.frame, { ptsNs: Math.round((this.k * 1e9) / o.fps), durationNs: Math.round(1e9 / o.fps) });
    this.stamps.push(stamp);
    this.k++;
    // Drift-free pacing from the first deadline; a stalled loop does not burst.
    this.next += 1000 / o.fps;
    const t = performance.now();
    if (this.next < t - 1000 / o.fps) { this.late++; this.next = t; }
    this.timer = setTimeout(() => this.tick(), Math.max(0, this.next - t));
  }

  close(): void {
    clearTimeout(this.timer);
    this.pipeline.close();
  }
}

/**
 * A replica of the box's capture source on the same shm socket: glass -> the capture stamp the
 * box takes (a live source's PTS + base time) and glass -> its appsink (after the source
 * pipeline's converters).
 */
export class CaptureReplica {
  readonly toStampMs: number[] = [];
  readonly toAppsinkMs: number[] = [];
  private readonly pipeline: GstPipeline;
  private window: { from: bigint; to: bigint } = { from: -1n, to: -1n };
  private loop: Promise<void> | undefined;

  constructor(readonly description: string, private readonly g: StampGeometry) {
    this.pipeline = new GstPipeline(description, { label: 'capture replica' });
  }

  measure(from: bigint, to: bigint): void { this.window = { from, to }; }

  start(): void {
    this.pipeline.start();
    this.loop = this.pull();
  }

  private async pull(): Promise<void> {
    const sink = this.pipeline.appsink('capture-sink');
    const top = new Uint8Array(stampBytes(this.g));
    for (;;) {
      const s = await sink.pullInto(top);
      const t = now();
      if (!s) return;
      const r = readStamp(top, this.g);
      if (!r.ok || r.stamp < this.window.from || r.stamp > this.window.to) continue;
      this.toAppsinkMs.push(Number(t - r.stamp) / 1e6);
      const base = this.pipeline.baseTimeNs();
      if (s.ptsNs !== null && base !== null) this.toStampMs.push((base + s.ptsNs - Number(r.stamp)) / 1e6);
    }
  }

  close(): void { this.pipeline.close(); }
}

export interface G2gOptions {
  width: number;
  height: number;
  fps: number;
  hqKbps: number;
  gop: number;
  lq: { width: number; height: number; kbps: number };
  /** Raw format of the stamped frames. Default I420. */
  format?: Yuv420;
  /** Seconds measured, after `warmupS` of frames reaching both receivers. */
  durationS: number;
  warmupS?: number;
  /** Record the channel (as a box in the room does). Default true. */
  record?: boolean;
  /** Also measure where the box's time goes (see the module header). */
  hops?: boolean;
  /** Also read the box's lq stream (a third receiver, at the lq size). */
  lqToo?: boolean;
  /** Also push hq over the uplink and read it from the SDP (see the module header). */
  uplink?: boolean;
  /** Progress notes (default none). */
  note?: (msg: string) => void;
}

/** Medians from glass (ms); box-internal ones from the capture stamp. */
export interface Hops {
  glassToCaptureStamp: number;
  glassToCaptureAppsink: number;
  captureToEncodedRing: number;
  captureToRtpSent: number;
  boxGlassToDepay: number;
  boxGlassToDecoded: number;
  plainGlassToDepay: number;
  plainGlassToDecoded: number;
}

export interface G2gResult {
  box: LatencySummary;
  plain: LatencySummary;
  /** The box's lq stream, with `lqToo`. */
  boxLq?: LatencySummary;
  /** The box's hq over the uplink at 0 % loss, with `uplink` (its receive buffer apart: `uplinkBufferMs`). */
  uplink?: LatencySummary;
  uplinkBufferMs?: number;
  /** Frames stamped in the window. */
  stamped: number;
  /** Source ticks that ran a frame late (a loaded machine). */
  sourceLate: number;
  hops?: Hops;
  /** The box's own figures (status JSON), hq stream. */
  boxStatus: { encodeP50: number; encodeP99: number; rtpP50: number; rtpP99: number };
}

interface BoxStatus {
  video?: {
    net?: { url: string; mounted?: boolean; latencyMs: { p50: number; p99: number } }[];
    encode?: Record<string, { latencyMs: Record<'hq' | 'lq', { p50: number; p99: number }> }>;
  };
}

async function boxStatus(socket: string): Promise<BoxStatus> {
  const { stdout } = await run(process.execPath, [bin, 'status', '--json', '--socket', socket], { maxBuffer: 16 << 20 });
  return JSON.parse(stdout) as BoxStatus;
}

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise((r) => c.once('exit', r));
  c.kill('SIGINT');
  const t = setTimeout(() => c.kill('SIGKILL'), 8000);
  await gone;
  clearTimeout(t);
}

/** One run: the box (child process) and the plain pipeline on the same stamped frames. */
export async function measureGlassToGlass(o: G2gOptions): Promise<G2gResult> {
  const note = o.note ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), 'orbox-g2g-'));
  const format = o.format ?? 'I420';
  const g = { width: o.width, height: o.height };
  const socket = join(dir, 'glass.shm');
  const closers: (() => void | Promise<void>)[] = [];
  try {
    const plainPort = await freeUdpPortPair();
    const plain = plainReceiver(plainPort, g);
    closers.push(() => plain.close());
    plain.start();
    const source = new StampedSource({ ...g, fps: o.fps, format, socket, plain: { port: plainPort, kbps: o.hqKbps, keyIntMax: o.gop } });
    closers.push(() => source.close());
    source.start();

    const ch: ChannelConfig = {
      name: 'glass', record: o.record ?? true,
      snapshot: { enabled: true },
      source: {
        type: 'gst', width: o.width, height: o.height, fps: o.fps,
        description: `shmsrc socket-path=${socket} is-live=true do-timestamp=true ! capsfilter caps=video/x-raw,format=${format},width=${o.width},height=${o.height},framerate=${o.fps}/1`,
      },
      hq: { width: o.width, height: o.height, bitrateKbps: o.hqKbps, gop: o.gop },
      lq: { width: o.lq.width, height: o.lq.height, bitrateKbps: o.lq.kbps, gop: Math.max(1, o.fps / 2) },
    } as ChannelConfig;
    const port = await freeTcpPort();
    const uplinkPort = 40_000 + 20 * Math.floor(Math.random() * 1000);
    const uplinkBufferMs = 200;
    const cfg = validateConfig({
      ...(o.uplink ? {
        uplink: {
          portStart: uplinkPort + 10,
          receivers: [{ name: 'g2g', host: '127.0.0.1', port: uplinkPort, channels: ['glass'], stream: 'hq', latencyMs: uplinkBufferMs }],
        },
      } : {}),
      box: { id: 'g2g', dataDir: join(dir, 'box') }, api: { socket: join(dir, 'box.sock') },
      // The plain pipeline's GOP (30) on both sides (a recorded channel may use up to 4 s).
      recording: { maxLossMs: 1500 },
      channels: [ch], rtsp: { host: '127.0.0.1', port, rtpPortStart: testRtpPortStart(), rtpPortCount: 200 }, log: { level: 'error' },
    }, 'g2g');
    const cfgPath = join(dir, 'box.json');
    writeFileSync(cfgPath, JSON.stringify(cfg));
    const box = spawn(process.execPath, [bin, 'run', '--config', cfgPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    closers.push(() => stopChild(box));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      box.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; if (out.includes(' running:')) resolve(); });
      box.once('exit', (c) => reject(new Error(`box exited (${c}) before running`)));
    });
    note('box running; waiting for its hq mount');
    const url = `rtsp://127.0.0.1:${port}/glass/hq`;
    for (let i = 0; ; i++) {
      const s = await boxStatus(cfg.api.socket).catch(() => ({}) as BoxStatus);
      if (s.video?.net?.some((n) => n.url === url && n.mounted)) break;
      if (i > 60) throw new Error(`${url} not mounted within 30 s`);
      await sleep(500);
    }
    const rtsp = rtspReceiver(url, g);
    closers.push(() => rtsp.close());
    rtsp.start();
    let lq: StampReceiver | undefined;
    if (o.lqToo) {
      lq = rtspReceiver(`rtsp://127.0.0.1:${port}/glass/lq`, { width: o.lq.width, height: o.lq.height });
      closers.push(() => lq!.close());
      lq.start();
    }
    let up: StampReceiver | undefined;
    if (o.uplink) {
      const { sdp } = (await callLocalApi(cfg.api.socket, 'uplinkSdp', { receiver: 'g2g' }, 15_000)) as { sdp: string };
      up = uplinkReceiver(sdp, uplinkPort, uplinkBufferMs, g);
      closers.push(() => up!.close());
      up.start();
    }
    let replica: CaptureReplica | undefined;
    if (o.hops) {
      const rawFormat = (await probeProfile()).picked.rawFormat as 'NV12' | 'I420';
      replica = new CaptureReplica(sourceDescription(ch, rawFormat), g);
      closers.push(() => replica!.close());
      replica.start();
    }
    for (let i = 0; rtsp.frames < 10 || plain.frames < 10; i++) {
      if (i > 200) throw new Error(`no frames: box receiver ${rtsp.frames} (${rtsp.error ?? 'no error'}), plain ${plain.frames} (${plain.error ?? 'no error'}), source ${source.error ?? 'ok'}`);
      await sleep(100);
    }
    note('both receivers decode; warming up');
    await sleep((o.warmupS ?? 3) * 1000);
    const from = now();
    const to = from + BigInt(Math.round(o.durationS * 1e9));
    for (const r of [rtsp, plain, replica, lq, up]) r?.measure(from, to);
    await sleep(o.durationS * 1000 + 1500); // the window's last frames still travel
    const st = await boxStatus(cfg.api.socket);
    const enc = st.video?.encode?.glass?.latencyMs.hq ?? { p50: NaN, p99: NaN };
    const net = st.video?.net?.find((n) => n.url === url)?.latencyMs ?? { p50: NaN, p99: NaN };
    const stamped = source.stamps.filter((s) => s >= from && s <= to);
    const result: G2gResult = {
      box: rtsp.summary(stamped),
      plain: plain.summary(stamped),
      stamped: stamped.length,
      sourceLate: source.late,
      ...(lq ? { boxLq: lq.summary(stamped) } : {}),
      ...(up ? { uplink: up.summary(stamped), uplinkBufferMs } : {}),
      boxStatus: { encodeP50: enc.p50, encodeP99: enc.p99, rtpP50: net.p50, rtpP99: net.p99 },
    };
    if (replica) {
      result.hops = {
        glassToCaptureStamp: median(replica.toStampMs),
        glassToCaptureAppsink: median(replica.toAppsinkMs),
        captureToEncodedRing: enc.p50,
        captureToRtpSent: net.p50,
        boxGlassToDepay: median(rtsp.depayMs),
        boxGlassToDecoded: median(rtsp.decodedMs),
        plainGlassToDepay: median(plain.depayMs),
        plainGlassToDecoded: median(plain.decodedMs),
      };
    }
    return result;
  } finally {
    for (const c of closers.reverse()) await c();
    rmSync(dir, { recursive: true, force: true });
  }
}
