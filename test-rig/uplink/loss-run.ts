/**
 * One run of the uplink across a lossy link, for the loss tests and benches: the box's sending
 * side (an UplinkPairSender with the real units: SRTP, index reservations, SMPTE 2022-1 FEC,
 * the NACK responder) fed a pre-encoded H.264 stream at its frame rate, through a LossyLink
 * (seeded loss both ways, delay), into the receiving end (a ReceiveSession: SRTP, RTX, FEC,
 * NACK generator, reorder buffer). The link and the receiver each run on a worker thread of
 * their own (loss-run-worker.ts), so neither's event loop delays the others' packets.
 *
 * What it measures, from what the receiver hands its player (over every packet but those of the
 * last 500 ms, whose loss nothing after them reveals):
 *  - residual loss: media packets sent that never came out of the reorder buffer;
 *  - impaired frames: a frame is impaired when one of its packets is missing or a frame before
 *    it in its GOP is impaired (until the next IDR);
 *  - overhead: every byte the sender put on the wire (media + RTX + FEC, SRTP included) over
 *    the media bytes (RTP packets before SRTP), against what loss alone forces, 1/(1-p);
 *  - latency: from a media packet's send to its exit from the reorder buffer (p50, p95), the
 *    one-way link delay included.
 * Frame boundaries and keyframes are known from the sending side (a test unit in the chain
 * records each media packet's sequence number, RTP timestamp and whether it opens an IDR).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { BoxClock } from '../../edge/lib/clock.js';
import { UplinkConfigSchema, uplinkPairs } from '../../edge/config/uplink.js';
import {
  IndexJournal, UplinkPairSender, buildUplinkSdp, type ChannelKeys, type ReceiveSessionStats, type UplinkUnits,
} from '../../edge/net/uplink/index.js';
import { defaultUplinkUnits } from '../../edge/net/uplink/units.js';
import { NAL_AUD, NalSpans, Unwrapper, nalType, splitAnnexB, type PacketSink } from '../../edge/rtp/index.js';
import { quantile, sortedCopy } from '../../edge/lib/stats.js';
import { startWorker } from './loss-run-worker.js';
import type { LossyLinkStats } from '../net/lossy-link.js';

export interface LossRunOptions {
  /** Annex B file of the stream (x264 with aud=1: one access unit per AUD). */
  h264File: string;
  fps: number;
  seconds: number;
  /** Forward and reverse loss, 0..1; `burst`: mean burst length (Gilbert), null: random. */
  loss: number;
  burst?: number | null;
  /** One-way delay, ms (RTT = 2x). */
  delayMs: number;
  /** The receiver's buffer, ms. */
  latencyMs: number;
  fec: { columns: number; rows: number; rowFec: boolean } | null;
  rtx: boolean;
  seed?: number;
  /** Base ports (10 each): sender, link, receiver. */
  ports: { sender: number; link: number; receiver: number };
}

export interface LossRunResult {
  mediaPackets: number;
  lostBeforeRepair: number;
  residualLost: number;
  residualRate: number;
  frames: number;
  impairedFrames: number;
  impairedPerMinute: number;
  overhead: number;
  /** 1 / (1 - p): what the loss alone forces any scheme to send. */
  lossFloor: number;
  latencyMs: { p50: number; p95: number; max: number };
  rtxPackets: number;
  fecRepairs: number;
  nacksSent: number;
  /** The sender's side of repair: NACK packets it read, repairs refused by the cap or too old. */
  nacksAtSender: number;
  rtxRateLimited: number;
  rtxNotInHistory: number;
  /** The receiver's: RTX-restored packets, packets that came after their turn. */
  rtxRepairs: number;
  late: number;
}

/** Access units of an Annex B file split at each AUD (x264enc aud=true). */
export function readAccessUnits(file: string): { au: Buffer; key: boolean }[] {
  const buf = readFileSync(file);
  const spans = new NalSpans(1 << 16);
  splitAnnexB(buf, spans);
  const out: { au: Buffer; key: boolean }[] = [];
  let start = -1, key = false;
  for (let i = 0; i < spans.count; i++) {
    const off = spans.offsets[i]!;
    const t = nalType(buf[off]!);
    if (t === NAL_AUD) {
      if (start >= 0) out.push({ au: buf.subarray(start, startCodeStart(buf, off)), key });
      start = startCodeStart(buf, off);
      key = false;
    } else if (t === 5) key = true;
  }
  if (start >= 0) out.push({ au: buf.subarray(start), key });
  return out;
}

function startCodeStart(buf: Buffer, nalOff: number): number {
  return nalOff >= 4 && buf[nalOff - 4] === 0 && buf[nalOff - 3] === 0 && buf[nalOff - 2] === 0 && buf[nalOff - 1] === 1 ? nalOff - 4 : nalOff - 3;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function lossRun(o: LossRunOptions): Promise<LossRunResult> {
  const aus = readAccessUnits(o.h264File);
  if (aus.length === 0 || !aus[0]!.key) throw new Error(`${o.h264File}: no access units starting with an IDR (encode with aud=true)`);
  const dir = mkdtempSync(join(tmpdir(), 'orbox-loss-'));
  const uplink = UplinkConfigSchema.parse({
    portStart: o.ports.sender,
    receivers: [{
      name: 'bench', host: '127.0.0.1', port: o.ports.link, channels: ['bench'], stream: 'hq', latencyMs: o.latencyMs, rtx: o.rtx,
      fec: o.fec ? { enabled: true, ...o.fec } : { enabled: false }, maxRepairShare: 1,
    }],
  });
  const pair = uplinkPairs(uplink)[0]!;
  const key = () => randomBytes(30).toString('base64');
  const keys: ChannelKeys = { media: key(), fecColumns: key(), fecRows: key(), mediaSsrc: o.fec ? 0 : randomBytes(4).readUInt32BE(0) || 1, rtxSsrc: (randomBytes(4).readUInt32BE(0) | 1) >>> 0 };
  const clock = new BoxClock();
  // Absolute ms, comparable across threads.
  const now = () => performance.timeOrigin + performance.now();

  // The media packets as sent: seq -> send time, frame (RTP timestamp), keyframe start.
  const sentAt = new Map<number, number>();
  const sentSeq = new Unwrapper(16);
  let firstRaw = -1;
  /** Whether the access unit being packetised is an IDR (its packets are written during the call). */
  let feedingKey = false;
  const frames: { ts: number; key: boolean; seqs: number[] }[] = [];
  let mediaBytes = 0, wireBytes = 0;
  const units: UplinkUnits = {
    ...defaultUplinkUnits,
    srtp(p) {
      const u = defaultUplinkUnits.srtp(p);
      const media = p.label.endsWith(' media');
      return {
        ...u,
        bindLocalStream: (info, next) => {
          const counted: PacketSink = (pkt, len) => { wireBytes += len; next(pkt, len); };
          const inner = u.bindLocalStream!(info, counted);
          return (pkt, len) => {
            if (media && (pkt[1]! & 0x7f) === 96) {
              const raw = (pkt[2]! << 8) | pkt[3]!;
              if (firstRaw < 0) firstRaw = raw; // both sides unwrap from the same first packet
              const seq = sentSeq.unwrap(raw);
              const ts = ((pkt[4]! << 24) | (pkt[5]! << 16) | (pkt[6]! << 8) | pkt[7]!) >>> 0;
              let f = frames[frames.length - 1];
              if (!f || f.ts !== ts) { f = { ts, key: feedingKey, seqs: [] }; frames.push(f); }
              f.seqs.push(seq);
              sentAt.set(seq, now());
              mediaBytes += len;
            }
            inner(pkt, len);
          };
        },
        bindRtcpWriter: (next) => u.bindRtcpWriter!((pkt, len) => { wireBytes += len; next(pkt, len); }),
      };
    },
  };
  const sender = new UplinkPairSender({
    pair, boxId: 'bench', fps: o.fps, hqKbps: 8000, keys, suite: 'AES_CM_128_HMAC_SHA1_80',
    journal: new IndexJournal(join(dir, 'srtp-index.json')), units, clock, now,
    requestKeyframe: () => {}, onKeyframeRequest: () => {},
  });
  const sdp = buildUplinkSdp({ boxId: 'bench', receiver: pair.receiver, keys: { receiver: 'bench', suite: 'AES_CM_128_HMAC_SHA1_80', createdAt: '', channels: { bench: keys } } });
  const imp = { loss: o.loss, burst: o.burst ?? null, delayMs: o.delayMs };
  const link = await startWorker({
    role: 'link', options: { ports: [0, 1, 2, 4].map((off) => ({ listen: o.ports.link + off, to: { host: '127.0.0.1', port: o.ports.receiver + off } })), forward: imp, reverse: imp, seed: o.seed ?? 1 },
  });
  const receiver = await startWorker({ role: 'receiver', sdp, basePort: o.ports.receiver, latencyMs: o.latencyMs, retryMs: Math.max(10, o.delayMs * 2 + 5) });
  await sender.start();
  const timer = setInterval(() => sender.tick(now()), 5);
  try {
    // Frames at their rate, scheduled against the clock (no drift); the stream loops from its IDR.
    const total = Math.round(o.seconds * o.fps);
    const t0 = now();
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / o.fps;
      const wait = due - now();
      if (wait > 1) await sleep(wait);
      const { au, key } = aus[i % aus.length]!;
      feedingKey = key;
      sender.onAccessUnit('hq', au, key, clock.wallNs(), clock.monoNs());
    }
    await sleep(o.latencyMs + 4 * o.delayMs + 300); // the last repairs and the reorder deadline
    sender.tick(now());
  } finally {
    clearInterval(timer);
  }
  const sst = sender.stats();
  await sender.close();
  const rx = (await receiver.stop()) as { emitted: [number, number][]; stats: ReceiveSessionStats };
  await link.stop();
  const rst = rx.stats;
  const outSeq = new Unwrapper(16);
  outSeq.unwrap(firstRaw);
  const emitted = new Map<number, number>();
  for (const [raw, at] of rx.emitted) emitted.set(outSeq.unwrap(raw), at);
  const j = judgeRun(frames, sentAt, emitted);
  return {
    ...j,
    lostBeforeRepair: Math.round(rst.lossBeforeRepair * j.mediaPackets),
    impairedPerMinute: j.impairedFrames / (o.seconds / 60),
    overhead: wireBytes / Math.max(1, mediaBytes),
    lossFloor: 1 / (1 - o.loss),
    rtxPackets: sst.rtxPackets,
    fecRepairs: rst.fecRepairs,
    nacksSent: rst.nacksSent,
    nacksAtSender: sst.nacks, rtxRateLimited: sst.rtxRateLimited, rtxNotInHistory: sst.rtxNotInHistory,
    rtxRepairs: rst.rtxRepairs, late: rst.late,
  };
}

/** A frame as sent: its RTP timestamp, whether it opens an IDR, its packets' unwrapped sequence numbers. */
interface SentFrame { ts: number; key: boolean; seqs: number[] }

/**
 * What a run's player saw, from the packets sent (unwrapped sequence -> send ms) and those handed
 * out (same numbering -> ms). The stream's last packets have no later packet to reveal their
 * loss (a gap is seen when the next packet arrives): only packets sent 500 ms before the last one
 * are judged. Shared by the box's run and the stock-GStreamer baseline, so both are judged alike.
 */
function judgeRun(frames: readonly SentFrame[], sentAt: ReadonlyMap<number, number>, emitted: ReadonlyMap<number, number>):
  Pick<LossRunResult, 'mediaPackets' | 'residualLost' | 'residualRate' | 'frames' | 'impairedFrames' | 'latencyMs'> {
  let lastSent = 0;
  for (const at of sentAt.values()) if (at > lastSent) lastSent = at;
  let residual = 0, judged = 0;
  const lat: number[] = [];
  for (const [seq, at] of sentAt) {
    if (at > lastSent - 500) continue;
    judged++;
    const out = emitted.get(seq);
    if (out === undefined) residual++;
    else lat.push(out - at);
  }
  let impaired = 0, broken = false, framesJudged = 0;
  for (const f of frames) {
    if ((sentAt.get(f.seqs[f.seqs.length - 1]!) ?? 0) > lastSent - 500) break;
    framesJudged++;
    if (f.key) broken = false;
    if (f.seqs.some((s) => !emitted.has(s))) broken = true;
    if (broken) impaired++;
  }
  const sorted = sortedCopy(lat);
  return {
    mediaPackets: judged,
    residualLost: residual,
    residualRate: residual / Math.max(1, judged),
    frames: framesJudged,
    impairedFrames: impaired,
    latencyMs: { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), max: sorted[sorted.length - 1] ?? 0 },
  };
}

export interface BaselineResult extends Pick<LossRunResult, 'mediaPackets' | 'residualLost' | 'residualRate' | 'frames' | 'impairedFrames' | 'impairedPerMinute' | 'overhead' | 'lossFloor' | 'latencyMs'> {
  lostBeforeRepair: number;
  /** GStreamer's own counters (rtprtxsend, rtprtxreceive, the jitterbuffer's stats). */
  gst: Record<string, number | null>;
}

const BASELINE_SCRIPT = fileURLToPath(new URL('../../../test-rig/uplink/gst-baseline.py', import.meta.url));

/**
 * The same run with stock GStreamer on both ends (gst-baseline.py: rtph264pay + rtprtxsend +
 * rtpst2022-1-fecenc into rtpbin; rtpbin with rtprtxreceive, rtpst2022-1-fecdec and tuned RTCP),
 * through the same lossy link on its own thread. No SRTP on this path (stock rtpbin keys SRTP by
 * MIKEY only): the box's overhead includes SRTP's 10 bytes per packet (~0.9 % at 1200-byte packets).
 * Debian's python3 with python3-gi runs it (not a virtualenv's).
 */
export async function baselineRun(o: LossRunOptions): Promise<BaselineResult> {
  const dir = mkdtempSync(join(tmpdir(), 'orbox-baseline-'));
  const out = join(dir, 'result.json');
  const imp = { loss: o.loss, burst: o.burst ?? null, delayMs: o.delayMs };
  const offsets = [0, 1, 2, 4];
  const linkReturn = o.ports.link + 100;
  const link = await startWorker({
    role: 'link',
    options: {
      ports: offsets.map((off) => ({ listen: o.ports.link + off, to: { host: '127.0.0.1', port: o.ports.receiver + off }, receiverSidePort: linkReturn + off })),
      forward: imp, reverse: imp, seed: o.seed ?? 1,
    },
  });
  const fec = o.fec ? `${o.fec.columns}x${o.fec.rows}${o.fec.rowFec ? '+rows' : ''}` : 'none';
  const args = [BASELINE_SCRIPT, '--h264', o.h264File, '--fps', String(o.fps), '--seconds', String(o.seconds),
    '--sender-port', String(o.ports.sender), '--link-port', String(o.ports.link), '--link-return-port', String(linkReturn),
    '--receiver-port', String(o.ports.receiver), '--latency-ms', String(o.latencyMs), '--delay-ms', String(o.delayMs),
    '--fec', fec, '--out', out, ...(o.rtx ? [] : ['--no-rtx'])];
  let stderr = '';
  const code = await new Promise<number | null>((resolve, reject) => {
    const p = spawn('/usr/bin/python3', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr.on('data', (d: Buffer) => { if (stderr.length < 8192) stderr += d.toString(); });
    p.on('error', reject);
    p.on('exit', (c, sig) => resolve(sig ? -1 : c));
  });
  const linkStats = (await link.stop()) as LossyLinkStats;
  if (code !== 0) throw new Error(`gst-baseline.py exited ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
  const r = JSON.parse(readFileSync(out, 'utf8')) as {
    sent: [number, number, number, number][]; keys: boolean[]; emitted: [number, number][]; wire_bytes: number; stats: Record<string, number | null>;
  };
  if (r.sent.length === 0) throw new Error('gst-baseline.py sent nothing');
  const sentSeq = new Unwrapper(16), outSeq = new Unwrapper(16);
  outSeq.unwrap(r.sent[0]![0]);
  const sentAt = new Map<number, number>();
  const frames: SentFrame[] = [];
  let mediaBytes = 0;
  for (const [raw, ts, at, len] of r.sent) {
    const seq = sentSeq.unwrap(raw);
    let f = frames[frames.length - 1];
    if (!f || f.ts !== ts) { f = { ts, key: r.keys[frames.length] ?? false, seqs: [] }; frames.push(f); }
    f.seqs.push(seq);
    sentAt.set(seq, at);
    mediaBytes += len;
  }
  const emitted = new Map<number, number>();
  for (const [raw, at] of r.emitted) emitted.set(outSeq.unwrap(raw), at);
  const j = judgeRun(frames, sentAt, emitted);
  const fw = linkStats.forward;
  return {
    ...j,
    lostBeforeRepair: Math.round((fw.dropped / Math.max(1, fw.seen)) * j.mediaPackets),
    impairedPerMinute: j.impairedFrames / (o.seconds / 60),
    overhead: r.wire_bytes / Math.max(1, mediaBytes),
    lossFloor: 1 / (1 - o.loss),
    gst: r.stats,
  };
}

/**
 * Encodes a test stream with x264 (one AUD per access unit, as readAccessUnits needs): `snow`
 * keeps every frame near the bitrate, so packets per frame are what a detailed scene gives.
 */
export async function encodeTestStream(file: string, o: { width: number; height: number; fps: number; kbps: number; seconds: number; gop: number }): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const p = spawn('gst-launch-1.0', ['-q', 'videotestsrc', 'pattern=snow', `num-buffers=${o.fps * o.seconds}`, '!',
      `video/x-raw,width=${o.width},height=${o.height},framerate=${o.fps}/1`, '!',
      'x264enc', 'tune=zerolatency', 'speed-preset=ultrafast', `bitrate=${o.kbps}`, `key-int-max=${o.gop}`, 'aud=true', '!',
      'video/x-h264,stream-format=byte-stream,alignment=au', '!', 'filesink', `location=${file}`], { stdio: 'ignore' });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`gst-launch-1.0 exited ${code} encoding ${file}`))));
  });
}
