/**
 * GStreamer peers for the RTP/RTSP tests: receivers that depayload and decode what the box
 * sends, and count decoded frames and decoder complaints. Each peer is a gst-launch-1.0 child
 * process; `stop()` ends it (EOS on SIGINT, SIGKILL after a deadline) and always reaps it.
 *
 * Frame counting: `fakesink silent=false` under `-v` prints one `last-message = chain` line per
 * decoded frame. Decoder complaints: GST_DEBUG=*:2 prints WARN/ERROR lines (libav's "error
 * while decoding MB", depayloader warnings); a clean stream prints none from these categories.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

export const H264_RTP_CAPS = 'application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96';
const COMPLAINT = /\b(ERROR|WARN)\b/;
// Categories whose warnings mean the stream was damaged or not understood.
const DECODE_CATEGORIES = /\b(libav|videodecoder|rtph264depay|rtpbasedepayload|h264parse|rtspsrc|rtpjitterbuffer)\b/;

export interface PeerResult {
  frames: number;
  /** WARN/ERROR lines from decode-relevant categories. */
  complaints: string[];
  /** Every WARN/ERROR line (for diagnostics). */
  allWarnings: string[];
  exitCode: number | null;
  stderrTail: string;
}

export class GstPeer {
  private readonly proc: ChildProcess;
  private frames = 0;
  private out = '';
  private err = '';
  private readonly warnings: string[] = [];
  private readonly exited: Promise<number | null>;
  private readonly playing: Promise<void>;
  private onFrame: ((n: number) => void) | null = null;

  constructor(pipeline: string[]) {
    this.proc = spawn('gst-launch-1.0', ['-e', '-v', ...pipeline], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, GST_DEBUG: '*:2', GST_DEBUG_NO_COLOR: '1' },
    });
    let resolvePlaying!: () => void;
    this.playing = new Promise((r) => { resolvePlaying = r; });
    const scan = (chunk: string, isErr: boolean): void => {
      const acc = (isErr ? this.err : this.out) + chunk;
      const lines = acc.split('\n');
      const rest = lines.pop() ?? '';
      if (isErr) this.err = rest; else this.out = rest;
      for (const l of lines) {
        if (l.includes('last-message = chain')) { this.frames++; this.onFrame?.(this.frames); }
        else if (l.includes('Setting pipeline to PLAYING')) resolvePlaying();
        else if (COMPLAINT.test(l)) this.warnings.push(l);
      }
    };
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => scan(d, false));
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => scan(d, true));
    this.exited = new Promise((resolve) => this.proc.on('close', (code) => { resolvePlaying(); resolve(code); }));
  }

  /** Resolves once the pipeline is going to PLAYING (sockets bound), or the process ended. */
  async ready(): Promise<void> { await this.playing; }

  get frameCount(): number { return this.frames; }

  /** Whether the process is still running (it has not ended by itself or been stopped). */
  get running(): boolean { return this.proc.exitCode === null && this.proc.signalCode === null; }

  /** Resolves with the exit code once the process ends (by itself, or after stop()). */
  ended(): Promise<number | null> { return this.exited; }

  /** Resolves when at least `n` frames were decoded, or rejects after `timeoutMs`. */
  waitFrames(n: number, timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.frames >= n) { resolve(this.frames); return; }
      const timer = setTimeout(() => { this.onFrame = null; reject(new Error(`only ${this.frames} of ${n} frames in ${timeoutMs} ms`)); }, timeoutMs);
      this.onFrame = (k) => { if (k >= n) { clearTimeout(timer); this.onFrame = null; resolve(k); } };
    });
  }

  /** Waits for the process to end by itself (finite pipelines). */
  async done(timeoutMs = 60_000): Promise<PeerResult> {
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return this.result(code);
  }

  /** Sends EOS (SIGINT under -e), waits up to `graceMs`, then SIGKILL. */
  async stop(graceMs = 5000): Promise<PeerResult> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGINT');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return this.result(code);
  }

  private result(code: number | null): PeerResult {
    return {
      frames: this.frames,
      complaints: this.warnings.filter((l) => DECODE_CATEGORIES.test(l)),
      allWarnings: this.warnings,
      exitCode: code,
      stderrTail: this.err.slice(-2000),
    };
  }
}

/** A live UDP receiver: udpsrc -> rtph264depay -> avdec_h264 -> counting fakesink. */
export function udpH264Receiver(port: number): GstPeer {
  return new GstPeer([
    'udpsrc', `port=${port}`, 'address=127.0.0.1', `caps=${H264_RTP_CAPS}`, 'buffer-size=4194304', '!',
    'rtph264depay', '!', 'avdec_h264', '!', 'fakesink', 'silent=false', 'sync=false',
  ]);
}

/**
 * An RTSP viewer: rtspsrc -> rtph264depay -> avdec_h264 -> counting fakesink, over UDP or with
 * RTP interleaved on the RTSP connection (`protocols=tcp`).
 */
export function rtspH264Viewer(url: string, latencyMs = 200, protocols: 'udp' | 'tcp' = 'udp'): GstPeer {
  return new GstPeer([
    'rtspsrc', `location=${url}`, `protocols=${protocols}`, `latency=${latencyMs}`, '!',
    'rtph264depay', '!', 'avdec_h264', '!', 'fakesink', 'silent=false', 'sync=false',
  ]);
}

/** Decodes an RFC 4571-framed RTP file (see `frameRtpStream`) and counts frames. */
export function rtpStreamFileDecoder(path: string): GstPeer {
  return new GstPeer([
    'filesrc', `location=${path}`, '!', 'application/x-rtp-stream,media=video,clock-rate=90000,encoding-name=H264', '!',
    'rtpstreamdepay', '!', 'rtph264depay', '!', 'avdec_h264', '!', 'fakesink', 'silent=false', 'sync=false',
  ]);
}

/** Depayloads an RFC 4571-framed RTP file into an Annex B file, one AU per buffer. */
export function rtpStreamFileToAnnexB(path: string, outPath: string): GstPeer {
  return new GstPeer([
    'filesrc', `location=${path}`, '!', 'application/x-rtp-stream,media=video,clock-rate=90000,encoding-name=H264', '!',
    'rtpstreamdepay', '!', 'rtph264depay', '!', 'video/x-h264,stream-format=byte-stream,alignment=au', '!',
    'filesink', `location=${outPath}`,
  ]);
}

/** Splits an RFC 4571 stream (what rtpstreampay writes: a 16-bit length before each packet). */
export function unframeRtpStream(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o + 2 <= buf.length;) {
    const n = buf.readUInt16BE(o);
    out.push(buf.subarray(o + 2, o + 2 + n));
    o += 2 + n;
  }
  return out;
}

/** RFC 4571 framing (16-bit length before each packet), what rtpstreamdepay reads. */
export function frameRtpStream(packets: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const p of packets) {
    const len = Buffer.alloc(2);
    len.writeUInt16BE(p.length);
    parts.push(len, p);
  }
  return Buffer.concat(parts);
}

/** A UDP port free on 127.0.0.1 right now (even, so port+1 can carry RTCP). */
export async function freeUdpPortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const s = createSocket('udp4');
    const port = await new Promise<number>((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, '127.0.0.1', () => resolve(s.address().port));
    });
    s.close();
    if (port % 2 === 0 && port < 65534) return port;
  }
  throw new Error('no even UDP port found');
}

/**
 * Where a test box's RTSP relay takes its UDP ports (`rtsp.rtpPortStart`, 200 of them): a
 * random even start in 22000..31798, clear of the box's default range (20000-21999: a demo box
 * running on the same bench) and of the kernel's ephemeral ports (32768 up, where the test's
 * own players and ffmpeg bind).
 */
export function testRtpPortStart(): number {
  return 22_000 + 2 * Math.floor(Math.random() * 4_900);
}

/** A TCP port free on 127.0.0.1 right now. */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
