import t from 'tap';
import { KeyframeLimiter, KeyframeRequests } from '../keyframe-request.js';
import { encodeFir, encodeNack, encodePli } from '../rtcp-feedback.js';
import type { StreamInfo } from '../interceptor.js';

const hq: StreamInfo = { name: 'or1/hq', kind: 'video', ssrc: 0x1000, payloadType: 96, clockRate: 90000 };
const lq: StreamInfo = { name: 'or1/lq', kind: 'video', ssrc: 0x2000, payloadType: 96, clockRate: 90000 };

function unit(limiter?: KeyframeLimiter) {
  const clock = { ms: 0 };
  const calls: string[] = [];
  const k = new KeyframeRequests({ now: () => clock.ms, onKeyframeRequest: (name, kind) => calls.push(`${clock.ms} ${name} ${kind}`), limiter });
  k.bindLocalStream(hq, () => {});
  k.bindLocalStream(lq, () => {});
  let passed = 0;
  const rtcp = k.bindRtcpReader(() => { passed++; });
  const buf = Buffer.alloc(64);
  return {
    k, clock, calls, passed: () => passed,
    pli: (sender: number, media: number) => rtcp(buf, encodePli(sender, media, buf)),
    fir: (sender: number, target: number, seqNr: number) => rtcp(buf, encodeFir(sender, target, seqNr, buf)),
    raw: (b: Uint8Array) => rtcp(b, b.length),
  };
}

t.test('PLI and FIR call back per stream name, at most once per minimum interval', async (t) => {
  const u = unit(new KeyframeLimiter(500));
  u.pli(1, 0x1000);
  u.pli(1, 0x1000);
  u.fir(2, 0x2000, 0);
  u.clock.ms = 499; u.pli(3, 0x1000);
  u.clock.ms = 500; u.pli(3, 0x1000);
  u.pli(1, 0x3000); // not ours
  t.same(u.calls, ['0 or1/hq pli', '0 or1/lq fir', '500 or1/hq pli']);
  t.same(u.k.stats, { plis: 5, firs: 1, firRepeats: 0, requested: 3, rateLimited: 2, unknownStream: 1, malformedRtcp: 0 });
  t.equal(u.passed(), 6, 'RTCP is passed on');
});

t.test('FIR: a repeated Seq nr from the same requester is the same request (RFC 5104 §4.3.1.2)', async (t) => {
  const u = unit(new KeyframeLimiter(0));
  u.fir(7, 0x1000, 4);
  u.clock.ms = 100; u.fir(7, 0x1000, 4);
  u.clock.ms = 200; u.fir(7, 0x1000, 5);
  u.clock.ms = 300; u.fir(8, 0x1000, 5); // another requester with the same number: its own request
  t.same(u.calls, ['0 or1/hq fir', '200 or1/hq fir', '300 or1/hq fir']);
  t.equal(u.k.stats.firRepeats, 1);
});

t.test('a limiter shared across receivers makes ten viewers\' PLIs one keyframe', async (t) => {
  const shared = new KeyframeLimiter(500);
  const units = Array.from({ length: 10 }, () => unit(shared));
  units.forEach((u, i) => u.pli(100 + i, 0x1000));
  t.equal(units.reduce((a, u) => a + u.calls.length, 0), 1);
  t.equal(units.reduce((a, u) => a + u.k.stats.rateLimited, 0), 9);
});

t.test('NACKs and garbage are not keyframe requests; the sink never throws', async (t) => {
  const u = unit();
  const b = Buffer.alloc(16);
  u.raw(b.subarray(0, encodeNack(1, 0x1000, [5], 1, b)));
  u.raw(Uint8Array.of(0x81, 206, 0, 9, 0, 0));
  u.raw(Uint8Array.of(0x81, 206, 0, 0));
  t.same(u.calls, []);
  t.equal(u.k.stats.malformedRtcp, 1);
  t.throws(() => new KeyframeLimiter(-1), { name: 'RtpOptionError' });
});
