/**
 * SrtpInterceptor as unit 0 of an InterceptorChain: the box and a receiver, each with the other's
 * keys, pass RTP and RTCP both ways; what fails is dropped and counted, never thrown.
 */
import t from 'tap';
import { HOLD_PACKETS, InterceptorChain, type PacketSink, type StreamInfo } from '../../rtp/interceptor.js';
import { writeFixedHeader } from '../../rtp/header.js';
import { SrtpInterceptor } from '../interceptor.js';
import { generateKeying } from '../sdes.js';
import { AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80, type SrtpSuite } from '../suites.js';

const info: StreamInfo = { name: 'or1/hq', kind: 'video', ssrc: 0xabc, payloadType: 96, clockRate: 90000, rtx: { ssrc: 0xabd, payloadType: 97 } };
const seeded = (seed: number) => (n: number) => Uint8Array.from({ length: n }, (_, i) => (seed * 31 + i * 17) & 0xff);

function rtp(seq: number, ssrc = info.ssrc, size = 1200): Buffer {
  const b = Buffer.alloc(size);
  writeFixedHeader(b, seq % 10 === 0, 96, seq, seq * 3000, ssrc);
  for (let i = 12; i < size; i++) b[i] = (seq * 7 + i) & 0xff;
  return b;
}
const sr = (ssrc: number) => { const b = Buffer.alloc(28); b[0] = 0x80; b[1] = 200; b.writeUInt16BE(6, 2); b.writeUInt32BE(ssrc, 4); b.fill(0x5a, 8); return b; };
const collect = (into: Buffer[]): PacketSink => (p, n) => into.push(Buffer.from(p.subarray(0, n)));

for (const suite of [AES_CM_128_HMAC_SHA1_80, AEAD_AES_128_GCM] as SrtpSuite[]) {
  t.test(`${suite.name}: box -> receiver and back through two chains, bytes exact, stats counted`, async (t) => {
    const boxKeys = generateKeying(suite, seeded(1));
    const rxKeys = generateKeying(suite, seeded(2));
    const box = new SrtpInterceptor({ local: boxKeys, remote: rxKeys });
    const recv = new SrtpInterceptor({ local: rxKeys, remote: boxKeys, maxRemoteStreams: 2 });
    const boxChain = new InterceptorChain([box]);
    const rxChain = new InterceptorChain([recv]);

    const wire: Buffer[] = [];
    const app: Buffer[] = [];
    const send = boxChain.bindLocalStream(info, collect(wire));
    const deliver = rxChain.bindRemoteStream(info, collect(app));
    const plain = [65534, 65535, 0, 1].map((s) => rtp(s));
    plain.push(rtp(500, 0xabd, 300)); // the RTX stream, same sink
    for (const p of plain) {
      const before = Buffer.from(p);
      send(p, p.length);
      t.same(p, before, 'the input (the packetiser history) is not modified');
    }
    t.equal(wire.length, 5);
    t.equal(wire[0]!.length, 1200 + suite.rtpOverhead);
    t.not(wire[0]!.subarray(12, 1200).toString('hex'), plain[0]!.subarray(12).toString('hex'), 'payload encrypted');
    for (const w of wire) deliver(w, w.length);
    t.same(app, plain, 'receiver gets the plain packets, across the wrap, RTX included');

    // Replay, tamper, garbage, runts: dropped and counted.
    deliver(wire[1]!, wire[1]!.length);
    send(rtp(2), 1200);
    const bad = Buffer.from(wire[5]!); bad[40] ^= 1;
    deliver(bad, bad.length);
    deliver(Buffer.alloc(5), 5);
    deliver(Buffer.alloc(2000), 2000);
    t.equal(app.length, 5);
    t.same(recv.stats.inboundDropped, { ...recv.stats.inboundDropped, REPLAYED: 1, AUTH_FAILED: 1, TOO_SHORT: 1, TOO_LONG: 1 });
    t.equal(recv.stats.rtpUnprotected, 5);
    // A third SSRC beyond the bound of 2.
    send(rtp(9, 0xdef), 1200);
    deliver(wire[6]!, wire[6]!.length);
    t.equal(recv.stats.inboundDropped.CONTEXTS_FULL, 1);

    // RTCP both ways.
    const rtcpWire: Buffer[] = [];
    const rtcpApp: Buffer[] = [];
    boxChain.bindRtcpWriter(collect(rtcpWire))(sr(info.ssrc), 28);
    rxChain.bindRtcpReader(collect(rtcpApp))(rtcpWire[0]!, rtcpWire[0]!.length);
    const back: Buffer[] = [];
    const backApp: Buffer[] = [];
    rxChain.bindRtcpWriter(collect(back))(sr(0x7777), 28);
    boxChain.bindRtcpReader(collect(backApp))(back[0]!, back[0]!.length);
    t.same([rtcpApp, backApp], [[sr(info.ssrc)], [sr(0x7777)]]);
    t.same([box.stats.rtcpProtected, recv.stats.rtcpUnprotected, recv.stats.rtcpProtected, box.stats.rtcpUnprotected], [1, 1, 1, 1]);

    // The sending side refuses a resent sequence number; a restarted box resumes above its state.
    send(plain[3]!, 1200);
    t.equal(box.stats.outboundDropped.INDEX_NOT_ABOVE, 1);
    const state = box.exportSenderState();
    t.same(state.find((s) => s.ssrc === info.ssrc), { ssrc: info.ssrc, roc: 1, lastSeq: 2, rtcpIndex: 1 });
    const box2 = new SrtpInterceptor({ local: boxKeys, remote: rxKeys, senderState: state });
    const wire2: Buffer[] = [];
    const send2 = box2.bindLocalStream(info, collect(wire2));
    send2(rtp(2), 1200);
    send2(rtp(3), 1200);
    t.equal(box2.stats.outboundDropped.INDEX_NOT_ABOVE, 1);
    t.equal(wire2.length, 1);
    deliver(wire2[0]!, wire2[0]!.length);
    t.same(app[app.length - 1], rtp(3), 'the receiver takes the resumed stream (same ROC)');

    // Too long for the ring, then closed.
    send(rtp(4, info.ssrc, 1500 - suite.rtpOverhead + 1), 1500 - suite.rtpOverhead + 1);
    t.equal(box.stats.outboundDropped.TOO_LONG, 1);
    boxChain.close();
    box.close();
    send(rtp(5), 1200);
    t.equal(box.stats.outboundDropped.CLOSED, 1);
  });
}

t.test('output buffers come from a ring: a packet stays intact for HOLD_PACKETS later packets', async (t) => {
  const k = generateKeying(AES_CM_128_HMAC_SHA1_80, seeded(3));
  const box = new SrtpInterceptor({ local: k, remote: k, ringDepth: HOLD_PACKETS });
  const held: { buf: Uint8Array; copy: Buffer }[] = [];
  const send = box.bindLocalStream(info, (p, n) => held.push({ buf: p, copy: Buffer.from(p.subarray(0, n)) }));
  for (let s = 0; s < HOLD_PACKETS + 1; s++) send(rtp(s, info.ssrc, 200), 200);
  t.equal(held[HOLD_PACKETS]!.buf, held[0]!.buf, 'the buffer is reused exactly depth packets later');
  for (let i = 1; i < HOLD_PACKETS; i++) {
    if (!Buffer.from(held[i]!.buf.subarray(0, 210)).equals(held[i]!.copy)) t.fail(`packet ${i} overwritten`);
  }
  t.pass('packets 1..HOLD_PACKETS-1 unchanged');
});
