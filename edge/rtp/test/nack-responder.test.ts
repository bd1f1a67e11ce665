import t from 'tap';
import { NackResponder } from '../nack-responder.js';
import { encodeNack, encodePli } from '../rtcp-feedback.js';
import { decodeRtx } from '../rtx.js';
import { writeFixedHeader } from '../header.js';
import { seqAdd } from '../seq.js';
import type { PacketSink, StreamInfo } from '../interceptor.js';
import { mulberry32 } from '../../demo/prng.js';

const MEDIA_SSRC = 0x01020304;
const info: StreamInfo = { name: 'or1/hq', kind: 'video', ssrc: MEDIA_SSRC, payloadType: 96, clockRate: 90000, rtx: { ssrc: 0x0a0b0c0d, payloadType: 97 } };

/** An original packet: seq, timestamp seq*3000, payload bytes derived from seq. */
function packet(seq: number, size = 200): Buffer {
  const b = Buffer.alloc(size);
  writeFixedHeader(b, seq % 7 === 0, 96, seq, seq * 3000, MEDIA_SSRC);
  for (let i = 12; i < size; i++) b[i] = (seq * 31 + i) & 0xff;
  return b;
}

function rig(opts: Partial<ConstructorParameters<typeof NackResponder>[0]> = {}) {
  const clock = { ms: 1000 };
  const wire: Buffer[] = [];
  const rtcpPassed: number[] = [];
  const r = new NackResponder({ now: () => clock.ms, random: () => 65534, ...opts });
  const send = r.bindLocalStream(info, (p, n) => wire.push(Buffer.from(p.subarray(0, n))));
  const rtcp = r.bindRtcpReader((_p, n) => rtcpPassed.push(n));
  const nack = (seqs: number[], media = MEDIA_SSRC): void => {
    const b = Buffer.alloc(12 + 4 * seqs.length);
    rtcp(b, encodeNack(0x5555, media, seqs, seqs.length, b));
  };
  return { r, clock, wire, send, rtcp, nack, rtcpPassed };
}

const rtxOf = (wire: Buffer[]): Buffer[] => wire.filter((p) => (p[1] & 0x7f) === 97);

t.test('a NACK is answered for packets in history with RTX that decodes to the original; others are counted', async (t) => {
  const { r, clock, wire, send, nack, rtcpPassed } = rig();
  for (let s = 0; s < 2000; s++) { const p = packet(s); send(p, p.length); }
  t.equal(wire.length, 2000, 'media passes through to the wire');
  wire.length = 0;
  nack([500, 1990, 1995]); // 500 was overwritten (1024-packet history)
  const rtx = rtxOf(wire);
  t.equal(rtx.length, 2);
  t.same(rtx.map((p) => p.readUInt16BE(2)), [65534, 65535], 'RTX seq from the injected random, +1 per packet');
  t.same(rtx.map((p) => p.readUInt32BE(8)), [0x0a0b0c0d, 0x0a0b0c0d], 'RTX SSRC');
  for (const [i, seq] of [1990, 1995].entries()) {
    const back = Buffer.alloc(300);
    const n = decodeRtx(rtx[i], rtx[i].length, MEDIA_SSRC, 96, back);
    t.same(back.subarray(0, n), packet(seq), `RTX ${i} carries packet ${seq} bit-exact`);
  }
  nack([1999]);
  t.equal(rtxOf(wire)[2].readUInt16BE(2), 0, 'the RTX sequence wraps 65535 -> 0');
  t.same(rtcpPassed, [20, 16], 'the RTCP is passed on to the next unit');
  // Too old: past maxAgeMs (1000) nothing is resent even if the slot still holds it.
  clock.ms += 1001;
  nack([1980]);
  t.same(r.statsOf('or1/hq'), {
    stream: 'or1/hq', nacksReceived: 3, packetsAsked: 5, rtxSent: 3, rtxBytes: 3 * 202, notInHistory: 2,
    rateLimited: 0, duplicatesSuppressed: 0, resendLimit: 0, tooLarge: 0,
  });
});

t.test('a packet is resent at most once per minResendIntervalMs and at most maxResends times', async (t) => {
  const { r, clock, wire, send, nack } = rig({ minResendIntervalMs: 8, maxResends: 3 });
  for (let s = 0; s < 10; s++) { const p = packet(s); send(p, p.length); }
  wire.length = 0;
  nack([5]); nack([5]); // the generator's repeat, 0 ms later
  clock.ms += 7; nack([5]);
  t.equal(rtxOf(wire).length, 1, 'repeats within 8 ms are duplicates');
  clock.ms += 1; nack([5]);
  clock.ms += 8; nack([5]);
  clock.ms += 8; nack([5]);
  clock.ms += 8; nack([5]);
  t.equal(rtxOf(wire).length, 3, 'three resends, then the limit');
  const s = r.statsOf('or1/hq')!;
  t.equal(s.duplicatesSuppressed, 2);
  t.equal(s.resendLimit, 2);
  t.equal(s.packetsAsked, 7);
  // A newer packet in the same slot starts over.
  for (let q = 10; q < 1024 + 6; q++) { const p = packet(q); send(p, p.length); }
  wire.length = 0;
  nack([1024 + 5]);
  t.equal(rtxOf(wire).length, 1, 'the slot reused by seq 1029 has its own count');
});

t.test('NACK storm: everything asked every millisecond for 3 s, RTX bytes stay under the token bucket cap', async (t) => {
  const share = 0.5;
  const burst = 64_000;
  const minRate = 32_000;
  const { r, clock, wire, send, rtcp } = rig({ rtxShare: share, burstBytes: burst, minRtxBytesPerSec: minRate, minResendIntervalMs: 0, maxResends: 1000 });
  // 8 Mb/s of 1200-byte packets: 1 MB/s, one packet every 1.2 ms.
  const start = clock.ms;
  let seq = 0;
  let mediaBytes = 0;
  let nextSendAt = start;
  const nackBuf = Buffer.alloc(12 + 4 * 1024);
  const seqs = new Uint16Array(1024);
  let mediaAt1s = 0;
  let rtxAt1s = 0;
  for (let ms = 0; ms < 3000; ms++) {
    clock.ms = start + ms;
    if (ms === 1000) { mediaAt1s = mediaBytes; rtxAt1s = r.statsOf('or1/hq')!.rtxBytes; }
    while (nextSendAt <= clock.ms) {
      const p = packet(seq & 0xffff, 1200);
      send(p, p.length);
      mediaBytes += p.length;
      seq++;
      nextSendAt += 1.2;
    }
    // The hostile receiver asks for the whole history, every millisecond.
    const k = Math.min(seq, 1024);
    for (let i = 0; i < k; i++) seqs[i] = (seq - k + i) & 0xffff;
    rtcp(nackBuf, encodeNack(0x5555, MEDIA_SSRC, seqs, k, nackBuf));
  }
  const s = r.statsOf('or1/hq')!;
  const seconds = 3;
  const cap = burst + share * mediaBytes + minRate * 0.1; // the floor applies only while the first 100 ms fill the rate window
  t.comment(`media ${mediaBytes} B in ${seconds} s, RTX ${s.rtxBytes} B in ${s.rtxSent} packets (${(s.rtxBytes / mediaBytes * 100).toFixed(1)} % of media), cap ${Math.round(cap)} B, asked ${s.packetsAsked}, rate-limited ${s.rateLimited}`);
  t.ok(s.rtxBytes <= cap, `RTX bytes ${s.rtxBytes} <= cap ${Math.round(cap)}`);
  // Once the rate window holds a full second (and the burst is spent), RTX runs at the share of media.
  const media2 = mediaBytes - mediaAt1s;
  const rtx2 = s.rtxBytes - rtxAt1s;
  t.comment(`from 1 s to 3 s: media ${media2} B, RTX ${rtx2} B (${(rtx2 / media2 * 100).toFixed(1)} %)`);
  t.ok(rtx2 <= share * media2 + 1202 && rtx2 >= share * media2 * 0.97, 'steady state: RTX at 50 % of media, the cap is what limits');
  t.equal(s.rtxBytes, rtxOf(wire).reduce((a, p) => a + p.length, 0), 'stats match the bytes on the wire');
  t.ok(s.rateLimited > 1_000_000, 'nearly every ask was refused');
});

t.test('streams without RTX pass through; garbage RTCP never throws; unknown SSRCs and close', async (t) => {
  const r = new NackResponder({ now: () => 0 });
  const plain: StreamInfo = { ...info, ssrc: 77, rtx: undefined };
  const next: PacketSink = () => {};
  t.equal(r.bindLocalStream(plain, next), next, 'no RTX negotiated: the sink is returned unchanged');
  const { r: r2, send, rtcp, nack, wire } = rig();
  const p = packet(1);
  send(p, p.length);
  nack([1], 0x999);
  t.equal(r2.unknownStreamNacks, 1);
  const pli = Buffer.alloc(12);
  rtcp(pli, encodePli(1, MEDIA_SSRC, pli));
  const rnd = mulberry32(7);
  for (let i = 0; i < 5000; i++) {
    const b = Buffer.alloc(Math.floor(rnd() * 80));
    for (let k = 0; k < b.length; k++) b[k] = Math.floor(rnd() * 256);
    if (b.length > 2 && rnd() < 0.8) { b[0] = 0x81; b[1] = 205; }
    if (b.length > 12 && rnd() < 0.5) b.writeUInt32BE(MEDIA_SSRC, 8);
    rtcp(b, b.length);
  }
  t.ok(r2.malformedRtcp > 100, `garbage counted (${r2.malformedRtcp}), never thrown`);
  r2.close();
  wire.length = 0;
  send(p, p.length);
  t.equal(wire.length, 0, 'after close the sinks drop');
  t.throws(() => new NackResponder({ now: () => 0, historyPackets: 1000 }), { name: 'RtpOptionError', option: 'historyPackets' });
  t.throws(() => new NackResponder({ now: () => 0, maxResends: 0 }), { name: 'RtpOptionError', option: 'maxResends' });
  t.equal(seqAdd(65535, 1), 0);
});
