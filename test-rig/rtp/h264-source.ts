/**
 * Test H.264 material for the RTP tests and bench: encodes a test pattern with a real
 * GStreamer encoder (gst-launch-1.0 child process) into an Annex B file, and splits such a file
 * into access units the way an encoder ring would hand them to net-send.
 *
 * Access-unit boundaries follow H.264 §7.4.1.2.3: a new AU starts at an AUD, SPS, PPS, SEI or
 * types 14..18 after a VCL NAL unit, or at a VCL NAL unit whose first_mb_in_slice is 0 (its
 * first slice-header bit is 1) after a VCL NAL unit.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { NalSpans, splitAnnexB } from '../../edge/rtp/annexb.js';
import { isVcl, nalType, NAL_IDR } from '../../edge/rtp/h264.js';

export interface AccessUnit {
  /** Annex B bytes of the AU (4-byte start codes), a copy. */
  data: Buffer;
  /** NAL units (header included), views into `data`. */
  nals: Buffer[];
  keyframe: boolean;
}

export interface EncodeOptions {
  frames: number;
  width: number;
  height: number;
  framerate?: number;
  /** kbit/s */
  bitrate?: number;
  keyIntMax?: number;
  pattern?: string;
  speedPreset?: string;
  timeoutMs?: number;
}

/** Runs a gst-launch-1.0 pipeline to completion; rejects with its stderr on failure or timeout. */
export function gstRun(args: string[], timeoutMs = 120_000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('gst-launch-1.0', ['-q', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    p.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`gst-launch timed out: ${args.join(' ')}`)); }, timeoutMs);
    p.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`gst-launch exited ${code}: ${stderr.slice(-2000)}`));
    });
  });
}

/** Encodes a videotestsrc pattern with x264enc into an Annex B file at `path`. */
export async function encodeTestStream(path: string, o: EncodeOptions): Promise<void> {
  const fr = o.framerate ?? 30;
  const enc = ['x264enc', 'tune=zerolatency', `key-int-max=${o.keyIntMax ?? 30}`, `speed-preset=${o.speedPreset ?? 'ultrafast'}`];
  if (o.bitrate) enc.push(`bitrate=${o.bitrate}`);
  await gstRun([
    'videotestsrc', `num-buffers=${o.frames}`, `pattern=${o.pattern ?? 'smpte'}`, '!',
    `video/x-raw,format=I420,width=${o.width},height=${o.height},framerate=${fr}/1`, '!',
    ...enc, '!',
    'video/x-h264,stream-format=byte-stream,alignment=au', '!',
    'filesink', `location=${path}`,
  ], o.timeoutMs);
}

/** Splits an Annex B buffer into access units (§7.4.1.2.3). */
export function splitAccessUnits(stream: Buffer): AccessUnit[] {
  const spans = new NalSpans();
  splitAnnexB(stream, spans);
  const aus: AccessUnit[] = [];
  let cur: Buffer[] = [];
  let hasVcl = false;
  const flush = (): void => {
    if (cur.length === 0) return;
    const data = Buffer.concat(cur.flatMap((n) => [Buffer.from([0, 0, 0, 1]), n]));
    const nals: Buffer[] = [];
    let o = 0;
    for (const n of cur) { o += 4; nals.push(data.subarray(o, o + n.length)); o += n.length; }
    aus.push({ data, nals, keyframe: nals.some((n) => nalType(n[0]) === NAL_IDR) });
    cur = [];
    hasVcl = false;
  };
  for (let i = 0; i < spans.count; i++) {
    const nal = stream.subarray(spans.offsets[i], spans.offsets[i] + spans.lengths[i]);
    const t = nalType(nal[0]);
    const startsAu = hasVcl && (((t >= 6 && t <= 9) || (t >= 14 && t <= 18)) || (isVcl(t) && nal.length > 1 && (nal[1] & 0x80) !== 0));
    if (startsAu) flush();
    cur.push(nal);
    if (isVcl(t)) hasVcl = true;
  }
  flush();
  return aus;
}

export function readAccessUnits(path: string): AccessUnit[] {
  return splitAccessUnits(readFileSync(path));
}
