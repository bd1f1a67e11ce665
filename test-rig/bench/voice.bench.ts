/**
 * Mouth-to-ear latency of the talk session, both ways on loopback, against a plain GStreamer
 * Opus send/receive of the same audio in the same run (issue #16: goal <= 1.25x the baseline and
 * < 150 ms absolute).
 *
 *   expert -> room:  clicks (1 ms at 0.9 FS, every 500 ms) pushed live into an in-process
 *     opusenc ! rtpopuspay; ours: SRTP -> the session (jitter buffer 60 ms, opusdec, AEC path)
 *     -> the moment a block is handed to the speaker; baseline: plain RTP -> udpsrc !
 *     rtpjitterbuffer latency=60 ! rtpopusdepay ! opusdec ! appsink sync=true -> the moment it is
 *     rendered (pulled).
 *   room -> expert:  the same clicks as the room mic (pcm ring, box clock); ours: the session
 *     (webrtcdsp, opusenc, SRTP) -> udpsrc ! srtpdec ! rtpopusdepay ! opusdec ! appsink;
 *     baseline: appsrc ! opusenc ! rtpopuspay ! udpsink -> the same receiver without srtpdec.
 * Mouth = the click's capture instant; ear = when its decoded sample reaches the sink, both on
 * the monotonic clock. CPU: this process's CPU time per second of each phase (the peers run in
 * it too, so it is an upper bound of the audio path's cost for one input).
 *   BENCH voice <dir> ours_ms=<median> baseline_ms=<median> ratio=<r> goal_met=<bool>
 */
import { createSocket } from 'node:dgram';
import { GstPipeline } from '../../edge/gst/index.js';
import { RingConsumer, RingProducer, createRing } from '../../edge/lib/ring/index.js';
import { AES_CM_128_HMAC_SHA1_80, SrtpSender, generateKeying } from '../../edge/srtp/index.js';
import { TalkSession, buildVoiceAnswer, parseVoiceAnswer } from '../../edge/audio/voice/index.js';
import { micStandIn, testPorts } from '../audio/voice-peer.js';

const R = 48000;
const RUN_S = Number(process.env.VOICE_BENCH_S ?? 8);
const PERIOD = R / 2;
const PCM48 = 'audio/x-raw,format=S16LE,layout=interleaved,rate=48000,channels=1';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const now = (): bigint => process.hrtime.bigint();
const click = (i: number): number => (i % PERIOD < 48 ? 29000 : 0);
const keyHex = (k: ReturnType<typeof generateKeying>) => Buffer.concat([k.masterKey, k.masterSalt]).toString('hex');

/** Click onsets in blocks whose first sample reached the sink at `atNs`; latency to the click's mouth instant. */
class Ear {
  readonly lat: number[] = [];
  private quietUntil = 0n;
  constructor(public t0: bigint) {}
  block(x: Int16Array, atNs: bigint): void {
    for (let i = 0; i < x.length; i++) {
      if (Math.abs(x[i]) < 12000) continue;
      const at = atNs + BigInt(Math.round((i * 1e9) / R));
      if (at > this.quietUntil) {
        const sinceStart = Number(at - this.t0) / 1e9;
        const k = Math.floor(sinceStart * 2);
        const ms = (sinceStart - k / 2) * 1000;
        if (ms >= 0 && ms < 450) this.lat.push(ms);
        if (process.env.VOICE_BENCH_DEBUG) process.stdout.write(`onset at ${sinceStart.toFixed(3)} s\n`);
      }
      this.quietUntil = at + 100_000_000n;
    }
  }
  median(): number { const s = [...this.lat].sort((a, b) => a - b); return s.length ? Math.round(s[s.length >> 1] * 10) / 10 : NaN; }
}

/** Pushes live clicks into an appsrc, 20 ms blocks on time from t0. Returns stop(). */
function pushClicks(p: GstPipeline, name: string, t0: bigint): () => void {
  const src = p.appsrc(name);
  let next = 0;
  const b = new Int16Array(960);
  const base = BigInt(p.baseTimeNs() ?? 0);
  const timer = setInterval(() => {
    const due = (Number(now() - t0) / 1e9) * R;
    while (next + 960 <= due) {
      for (let i = 0; i < 960; i++) b[i] = click(next + i);
      src.push(new Uint8Array(b.buffer.slice(0)), { ptsNs: Number(t0 - base) + Math.round((next * 1e9) / R), durationNs: 20_000_000 });
      next += 960;
    }
  }, 5);
  return () => clearInterval(timer);
}

async function pullEar(p: GstPipeline, sinkName: string, ear: Ear): Promise<void> {
  const sink = p.appsink(sinkName);
  const buf = new Uint8Array(64 * 1024);
  for (;;) {
    const s = await sink.pullInto(buf);
    if (!s) return;
    ear.block(new Int16Array(buf.slice(0, s.size).buffer), now());
  }
}

const cpuMsPerS = (u: NodeJS.CpuUsage, s: number) => Math.round((u.user + u.system) / 1000 / s);

async function ours(): Promise<{ e2r: number; r2e: number; cpu: number }> {
  const [boxPort, expertPort] = testPorts(2);
  const boxKey = generateKeying(AES_CM_128_HMAC_SHA1_80), expertKey = generateKeying(AES_CM_128_HMAC_SHA1_80);
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(boxPort, '127.0.0.1', r));
  const sab = createRing(1 << 18, 1);
  const e2r = new Ear(0n), r2e = new Ear(0n);
  const session = new TalkSession({
    peer: 'bench', answer: parseVoiceAnswer(buildVoiceAnswer('127.0.0.1', expertPort, expertKey)), localKeying: boxKey, socket,
    mic: new RingConsumer(sab, 0, 'live'), output: { kind: 'none' }, echo: { echoDelayMs: 0 },
    onPlayed: (x) => e2r.block(x, now()),
  });
  const srtpCaps = `application/x-srtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=97,ssrc=(uint)${session.ssrc},srtp-key=(buffer)${keyHex(boxKey)},srtp-cipher=(string)aes-128-icm,srtp-auth=(string)hmac-sha1-80,srtcp-cipher=(string)aes-128-icm,srtcp-auth=(string)hmac-sha1-80`;
  const expert = new GstPipeline(
    `appsrc name=mouth is-live=true format=time caps="${PCM48}" ! opusenc frame-size=20 audio-type=restricted-lowdelay ! rtpopuspay pt=97 ! appsink name=rtp sync=false async=false ` +
    `udpsrc port=${expertPort} address=127.0.0.1 caps="${srtpCaps}" ! srtpdec ! rtpopusdepay ! opusdec ! audioconvert ! ${PCM48} ! appsink name=ear sync=false async=false`, { label: 'bench expert' });
  expert.start();
  session.start();
  // The clicks' origin: after both pipelines play (a pts before the base time would be negative).
  const t0 = now() + 200_000_000n;
  e2r.t0 = t0; r2e.t0 = t0;
  const cpu0 = process.cpuUsage();
  await sleep(200);
  const stopMic = micStandIn(new RingProducer(sab), click, t0);
  const stopMouth = pushClicks(expert, 'mouth', t0);
  const tx = new SrtpSender(expertKey);
  const out = Buffer.alloc(1600);
  const sendLoop = (async () => {
    const sink = expert.appsink('rtp');
    const b = new Uint8Array(1500);
    for (;;) {
      const s = await sink.pullInto(b);
      if (!s) return;
      const n = tx.protectRtp(b, s.size, out);
      if (n > 0) socket.send(out.subarray(0, n), boxPort, '127.0.0.1');
    }
  })();
  const earLoop = pullEar(expert, 'ear', r2e);
  await sleep(RUN_S * 1000);
  const cpu = cpuMsPerS(process.cpuUsage(cpu0), RUN_S + 0.2);
  stopMic(); stopMouth();
  const rx = session.stats().rx;
  process.stdout.write(`talk session: ${rx.packets} packets in, ${rx.played} played, ${rx.lost} lost, ${rx.late} late, jitter ${rx.jitterMs} ms\n`);
  await session.close();
  expert.close();
  await Promise.allSettled([sendLoop, earLoop]);
  return { e2r: e2r.median(), r2e: r2e.median(), cpu };
}

async function baseline(): Promise<{ e2r: number; r2e: number; cpu: number }> {
  const [roomPort, expertPort] = testPorts(2);
  const rtpCaps = 'application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=97';
  const e2r = new Ear(0n), r2e = new Ear(0n);
  const p = new GstPipeline(
    `appsrc name=expert-mouth is-live=true format=time caps="${PCM48}" ! opusenc frame-size=20 audio-type=restricted-lowdelay ! rtpopuspay pt=97 ! udpsink host=127.0.0.1 port=${roomPort} sync=false async=false ` +
    `udpsrc port=${roomPort} address=127.0.0.1 caps="${rtpCaps}" ! rtpjitterbuffer latency=60 ! rtpopusdepay ! opusdec plc=true ! audioconvert ! ${PCM48} ! appsink name=room-ear sync=true async=false ` +
    `appsrc name=room-mouth is-live=true format=time caps="${PCM48}" ! opusenc frame-size=20 audio-type=restricted-lowdelay ! rtpopuspay pt=97 ! udpsink host=127.0.0.1 port=${expertPort} sync=false async=false ` +
    `udpsrc port=${expertPort} address=127.0.0.1 caps="${rtpCaps}" ! rtpopusdepay ! opusdec ! audioconvert ! ${PCM48} ! appsink name=expert-ear sync=false async=false`, { label: 'bench baseline' });
  p.start();
  const t0 = now() + 200_000_000n;
  e2r.t0 = t0; r2e.t0 = t0;
  const cpu0 = process.cpuUsage();
  await sleep(200);
  const stops = [pushClicks(p, 'expert-mouth', t0), pushClicks(p, 'room-mouth', t0)];
  const loops = [pullEar(p, 'room-ear', e2r), pullEar(p, 'expert-ear', r2e)];
  await sleep(RUN_S * 1000);
  const cpu = cpuMsPerS(process.cpuUsage(cpu0), RUN_S + 0.2);
  stops.forEach((s) => s());
  p.close();
  await Promise.allSettled(loops);
  return { e2r: e2r.median(), r2e: r2e.median(), cpu };
}

const b = await baseline();
const o = await ours();
for (const [dir, ourMs, baseMs] of [['expert_to_room', o.e2r, b.e2r], ['room_to_expert', o.r2e, b.r2e]] as const) {
  const ratio = Math.round((ourMs / baseMs) * 100) / 100;
  process.stdout.write(`BENCH voice ${dir} ours_ms=${ourMs} baseline_ms=${baseMs} ratio=${ratio} goal_met=${ratio <= 1.25 && ourMs < 150}\n`);
}
process.stdout.write(`BENCH voice cpu ours_ms_per_s=${o.cpu} baseline_ms_per_s=${b.cpu} (one input, peers in-process)\n`);
process.exit(0);
