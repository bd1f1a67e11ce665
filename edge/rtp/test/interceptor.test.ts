import t from 'tap';
import { HOLD_PACKETS, InterceptorChain, PacketRing, type Interceptor, type PacketSink, type StreamInfo } from '../interceptor.js';

const info: StreamInfo = { name: 'or1/hq', kind: 'video', ssrc: 1, payloadType: 96, clockRate: 90000 };

/** A unit that appends its tag byte to every packet it passes, in both directions. */
function tagger(tag: number, seen: string[]): Interceptor {
  const wrap = (dir: string, next: PacketSink): PacketSink => (pkt, len) => {
    seen.push(`${dir}${tag}`);
    const out = new Uint8Array(len + 1);
    out.set(pkt.subarray(0, len));
    out[len] = tag;
    next(out, len + 1);
  };
  return {
    bindLocalStream: (_i, next) => wrap('out', next),
    bindRemoteStream: (_i, next) => wrap('in', next),
    bindRtcpWriter: (next) => wrap('rtcp-out', next),
    bindRtcpReader: (next) => wrap('rtcp-in', next),
  };
}

t.test('outbound runs from the last unit to unit 0 (the wire), inbound from unit 0 inward', async (t) => {
  const seen: string[] = [];
  const chain = new InterceptorChain([tagger(0, seen), {}, tagger(2, seen)]);
  const got: number[][] = [];
  const sink: PacketSink = (p, n) => got.push([...p.subarray(0, n)]);
  chain.bindLocalStream(info, sink)(Uint8Array.of(9), 1);
  chain.bindRemoteStream(info, sink)(Uint8Array.of(8), 1);
  chain.bindRtcpWriter(sink)(Uint8Array.of(7), 1);
  chain.bindRtcpReader(sink)(Uint8Array.of(6), 1);
  t.same(got, [[9, 2, 0], [8, 0, 2], [7, 2, 0], [6, 0, 2]]);
  t.same(seen, ['out2', 'out0', 'in0', 'in2', 'rtcp-out2', 'rtcp-out0', 'rtcp-in0', 'rtcp-in2']);
});

t.test('tick and close reach every unit that has them', async (t) => {
  const ticks: number[] = [];
  let closed = 0;
  const chain = new InterceptorChain([{ tick: (n) => ticks.push(n) }, { close: () => closed++ }, {}]);
  chain.tick(5);
  chain.close();
  t.same(ticks, [5]);
  t.equal(closed, 1);
});

t.test('PacketRing reuses a buffer exactly depth takes later, and refuses a depth below HOLD_PACKETS', async (t) => {
  const r = new PacketRing(1500, HOLD_PACKETS);
  const first = r.take();
  first[0] = 42;
  for (let i = 1; i < HOLD_PACKETS; i++) t.not(r.take(), first);
  t.equal(r.take(), first);
  t.equal(first.length, 1500);
  t.throws(() => new PacketRing(1500, HOLD_PACKETS - 1), /depth must be an integer >= 256/);
  t.throws(() => new PacketRing(0), /size must be a positive integer/);
});
