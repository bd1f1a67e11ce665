/**
 * The NACK generator and the NACK responder end to end over a seeded lossy in-memory link:
 * 1080p30 at 8 Mb/s (1200-byte packets every 1.2 ms), 20 % i.i.d. loss in both directions
 * (media, RTX and NACKs alike), RTT 20 ms, a 200 ms receiver buffer, 10 000 packets, every
 * timer driven by an injected clock. Reports the residual loss after repair.
 */
import t from 'tap';
import { NackGenerator } from '../nack-generator.js';
import { NackResponder } from '../nack-responder.js';
import { InterceptorChain, type PacketSink, type StreamInfo } from '../interceptor.js';
import { decodeRtx } from '../rtx.js';
import { writeFixedHeader } from '../header.js';
import { mulberry32 } from '../../demo/prng.js';

const MEDIA_SSRC = 0x11110000;
const RTX_SSRC = 0x22220000;
const info: StreamInfo = { name: 'or1/hq', kind: 'video', ssrc: MEDIA_SSRC, payloadType: 96, clockRate: 90000, rtx: { ssrc: RTX_SSRC, payloadType: 97 } };

/** Decides per packet whether it is lost. */
type LossModel = () => boolean;
const bernoulli = (rnd: () => number, p: number): LossModel => () => rnd() < p;
/**
 * Gilbert-Elliott with a lossless good state and an all-loss bad state: mean burst `burst`
 * packets, average loss `p` (good -> bad with p / (burst (1 - p)), bad -> good with 1 / burst).
 */
function gilbert(rnd: () => number, p: number, burst: number): LossModel {
  let bad = false;
  const toBad = p / (burst * (1 - p));
  return () => { bad = bad ? rnd() >= 1 / burst : rnd() < toBad; return bad; };
}

/** One direction of the link: loses what `lose` says (seeded), delivers the rest `delayMs` later. */
class LossyPath {
  private readonly queue: { at: number; bytes: Buffer }[] = [];
  sent = 0;
  lost = 0;
  constructor(private readonly lose: LossModel, private readonly delayMs: number, private readonly clock: { ms: number }) {}
  readonly send: PacketSink = (p, n) => {
    this.sent++;
    if (this.lose()) { this.lost++; return; }
    this.queue.push({ at: this.clock.ms + this.delayMs, bytes: Buffer.from(p.subarray(0, n)) }); // copied: the sender's buffer is reused
  };
  deliver(to: (b: Buffer) => void): void {
    while (this.queue.length && this.queue[0].at <= this.clock.ms) to(this.queue.shift()!.bytes);
  }
}

interface RunResult { residual: number; late: number; stats: Record<string, unknown> }

function run(seed: number, loss: number, packets: number, burst = 0): RunResult {
  const clock = { ms: 0 };
  const rnd = mulberry32(seed);
  const model = (): LossModel => (burst > 0 ? gilbert(rnd, loss, burst) : bernoulli(rnd, loss));
  const forward = new LossyPath(model(), 10, clock);
  const backward = new LossyPath(model(), 10, clock);

  // Sender: the responder in a chain; its wire is the forward path, the peer's RTCP comes back.
  const responder = new NackResponder({ now: () => clock.ms, random: () => 1000 });
  const sender = new InterceptorChain([responder]);
  const sendRtp = sender.bindLocalStream(info, forward.send);
  const readRtcp = sender.bindRtcpReader();

  // Receiver: RTX decoding nearer the wire, then the generator, then the application.
  const generator = new NackGenerator({ now: () => clock.ms, senderSsrc: 0x33330000, retryMs: 25, latencyMs: 200 });
  const receiver = new InterceptorChain([generator]);
  receiver.bindRtcpWriter(backward.send);
  const sentAt = new Float64Array(packets);
  const deliveredAt = new Float64Array(packets).fill(-1);
  let ext = 0;
  const app: PacketSink = (p) => {
    const seq = (p[2] << 8) | p[3];
    // The test's packets start at seq 0 and run < 65536 + some: recover the index near `ext`.
    const idx = seq + 65536 * Math.round((ext - seq) / 65536);
    if (idx >= 0 && idx < packets && deliveredAt[idx] < 0) deliveredAt[idx] = clock.ms;
  };
  const media = receiver.bindRemoteStream({ ...info, rtx: undefined }, app);
  const restored = Buffer.alloc(1600);
  const onRtp = (b: Buffer): void => {
    if (b.readUInt32BE(8) === RTX_SSRC) media(restored, decodeRtx(b, b.length, MEDIA_SSRC, 96, restored));
    else media(b, b.length);
  };

  const pkt = Buffer.alloc(1200);
  let seq = 0;
  let nextAt = 0;
  const tailPackets = 300; // keeps gaps detectable after the measured packets
  while (seq < packets + tailPackets || clock.ms < nextAt + 250) {
    while (seq < packets + tailPackets && nextAt <= clock.ms) {
      writeFixedHeader(pkt, false, 96, seq & 0xffff, seq * 3000, MEDIA_SSRC);
      pkt.fill(seq & 0xff, 12);
      if (seq < packets) sentAt[seq] = clock.ms;
      ext = seq;
      sendRtp(pkt, pkt.length);
      seq++;
      nextAt += 1.2;
    }
    forward.deliver(onRtp);
    backward.deliver((b) => readRtcp(b, b.length));
    receiver.tick(clock.ms);
    sender.tick(clock.ms);
    clock.ms++;
  }
  let missing = 0;
  let late = 0;
  for (let i = 0; i < packets; i++) {
    if (deliveredAt[i] < 0) missing++;
    else if (deliveredAt[i] - sentAt[i] > 10 + 200) late++;
  }
  const g = generator.statsOf('or1/hq')!;
  const r = responder.statsOf('or1/hq')!;
  return {
    residual: missing / packets,
    late,
    stats: {
      mediaLost: forward.lost, feedbackLost: backward.lost, generator: g, responder: r,
      rtxOverhead: +(r.rtxBytes / (1200 * (packets + tailPackets))).toFixed(3),
      nacksPerLostPacket: +(g.packetsAsked / g.lostBeforeRepair).toFixed(2),
    },
  };
}

t.test('20 % loss both ways, RTT 20 ms, 200 ms buffer, 10 000 packets: residual loss after NACK + RTX', async (t) => {
  const runs = [1, 2, 3].map((seed) => run(seed, 0.2, 10_000));
  for (const [i, r] of runs.entries()) t.comment(`seed ${i + 1}: residual ${r.residual} (late ${r.late}) ${JSON.stringify(r.stats)}`);
  const total = runs.reduce((a, r) => a + r.residual * 10_000, 0);
  t.comment(`residual over 30 000 packets: ${total} (${(total / 30_000).toExponential(1)})`);
  // Without repair the residual would be 0.2; i.i.d. arithmetic (rtp-resilience.md) gives about
  // 0.2 x 0.36^8 = 6e-5 for 8 rounds, so a handful at most over 30 000 packets.
  t.ok(total / 30_000 < 5e-4, `residual ${(total / 30_000).toExponential(1)} < 5e-4`);
  for (const r of runs) {
    const g = r.stats.generator as { lostBeforeRepair: number; repaired: number; givenUp: number };
    t.ok(g.lostBeforeRepair > 1500, 'the link did lose about 20 % of the media');
    t.equal(r.late, 0, 'every repair inside the 200 ms buffer');
    t.equal(g.repaired + g.givenUp, g.lostBeforeRepair, 'every loss ends repaired or given up');
  }
});

t.test('bursts (Gilbert-Elliott, mean 5 packets, 20 % average) both ways: the residual reported', async (t) => {
  const r = run(7, 0.2, 10_000, 5);
  t.comment(`burst loss: residual ${r.residual} (late ${r.late}) ${JSON.stringify(r.stats)}`);
  const g = r.stats.generator as { lostBeforeRepair: number };
  t.ok(g.lostBeforeRepair > 1200, 'the link lost its share in bursts');
  t.ok(r.residual < 5e-3, `residual ${r.residual} < 5e-3 (the reference measured ~5e-3 for GStreamer's RTX under such bursts)`);
});

t.test('the same link without the responder: the generator gives up the raw loss', async (t) => {
  // A control run: same seed, NACKs answered by nobody (loss 20 %, no RTX): residual ~ 0.2.
  const r = run(1, 0.2, 2000);
  t.ok(r.residual < 0.01, 'with the responder');
  const clock = { ms: 0 };
  const g = new NackGenerator({ now: () => clock.ms, senderSsrc: 1, retryMs: 25, latencyMs: 200 });
  g.bindRtcpWriter(() => {});
  const sink = g.bindRemoteStream({ ...info, rtx: undefined }, () => {});
  const rnd = mulberry32(1);
  const pkt = Buffer.alloc(20);
  let dropped = 0;
  for (let s = 0; s < 2000; s++) {
    clock.ms = s;
    g.tick(s);
    if (rnd() < 0.2) { dropped++; continue; }
    writeFixedHeader(pkt, false, 96, s, 0, MEDIA_SSRC);
    sink(pkt, pkt.length);
  }
  for (let s = 2000; s < 2400; s++) g.tick(s);
  const st = g.statsOf('or1/hq')!;
  t.equal(st.givenUp, st.lostBeforeRepair, 'nothing repaired: every loss given up');
  t.ok(Math.abs(st.givenUp - dropped) <= 1, `given up ${st.givenUp} of ${dropped} dropped (the last may be undetected)`);
});
