/**
 * Interop with GStreamer as the oracle for RFC 4588 and RFC 4585 (neither has official vectors,
 * shared reference rtp-resilience.md):
 * - `rtprtxreceive` turns our RTX packets back into exactly the originals;
 * - our RTX decoder restores the RTX packets `rtprtxsend` sends when GStreamer's `rtpsession`
 *   gets our Generic NACK (so our NACK encoder is checked by GStreamer's parser too);
 * - a GStreamer receiver (`rtpjitterbuffer do-retransmission=true` in an `rtpsession`) losing
 *   packets sends NACKs that our decoder parses and our responder answers.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSocket, type Socket } from 'node:dgram';
import { decodeRtx, encodeRtx } from '../rtx.js';
import { encodeNack, forEachFeedback, forEachNackedSeq } from '../rtcp-feedback.js';
import { NackResponder } from '../nack-responder.js';
import { writeFixedHeader } from '../header.js';
import { GstPeer, frameRtpStream, freeUdpPortPair, sleep, unframeRtpStream } from '../../../test-rig/rtp/gst-peers.js';

const MEDIA_SSRC = 0x01020304; // 16909060
const RTX_SSRC = 0x0a0b0c0d; // 168496141
const PT_MAP = 'payload-type-map=application/x-rtp-pt-map,96=(uint)97';
const SSRC_MAP = `ssrc-map=application/x-rtp-ssrc-map,${MEDIA_SSRC}=(uint)${RTX_SSRC}`;
const CAPS = 'application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96';

const dir = mkdtempSync(join(tmpdir(), 'orbox-rtx-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** Original packet `seq`: timestamp and payload derived from it (marker on every 5th). */
function original(seq: number, size = 300): Buffer {
  const b = Buffer.alloc(size);
  writeFixedHeader(b, seq % 5 === 4, 96, seq, 90_000 + seq * 3000, MEDIA_SSRC);
  for (let i = 12; i < size; i++) b[i] = (seq * 7 + i) & 0xff;
  return b;
}


function bindUdp(port = 0): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(port, '127.0.0.1', () => resolve(s));
  });
}

t.test('rtprtxreceive turns our RTX packets back into the originals, byte for byte', async (t) => {
  const lost = new Set([3, 10, 11, 29]);
  const packets: Buffer[] = [];
  for (let s = 65_520; s < 65_520 + 40; s++) if (!lost.has(s - 65_520)) packets.push(original(s & 0xffff));
  let rtxSeq = 65_534; // the RTX stream wraps too
  for (const k of lost) {
    const o = original((65_520 + k) & 0xffff);
    const r = Buffer.alloc(o.length + 2);
    encodeRtx(o, o.length, RTX_SSRC, 97, rtxSeq, r);
    rtxSeq = (rtxSeq + 1) & 0xffff;
    packets.push(r);
  }
  writeFileSync(join(dir, 'rtx-in.rtps'), frameRtpStream(packets));
  const peer = new GstPeer([
    'filesrc', `location=${join(dir, 'rtx-in.rtps')}`, '!', 'application/x-rtp-stream,media=video,clock-rate=90000,encoding-name=H264', '!',
    'rtpstreamdepay', '!', 'rtprtxreceive', PT_MAP, SSRC_MAP, '!', 'rtpstreampay', '!', 'filesink', `location=${join(dir, 'rtx-out.rtps')}`,
  ]);
  const res = await peer.done(20_000);
  t.equal(res.exitCode, 0, `gst-launch exit (${res.stderrTail.slice(-300)})`);
  const out = unframeRtpStream(readFileSync(join(dir, 'rtx-out.rtps')));
  t.equal(out.length, 40, 'every packet comes out: 36 originals and 4 restored');
  const restored = out.slice(36);
  for (const [i, k] of [...lost].entries()) {
    t.same(restored[i], original((65_520 + k) & 0xffff), `RTX of seq ${(65_520 + k) & 0xffff} restored bit-exact by GStreamer`);
  }
  t.same(out.slice(0, 36), packets.slice(0, 36), 'originals pass through untouched');
});

t.test('our NACK makes GStreamer rtpsession + rtprtxsend resend; our decoder restores its RTX packets', async (t) => {
  const inPort = await freeUdpPortPair();
  const rtcpPort = inPort + 1;
  const out = await bindUdp();
  const outPort = out.address().port;
  const got: Buffer[] = [];
  out.on('message', (m) => got.push(Buffer.from(m)));
  const peer = new GstPeer([
    'udpsrc', `port=${inPort}`, 'address=127.0.0.1', `caps=${CAPS}`, '!',
    'rtprtxsend', PT_MAP, SSRC_MAP, 'max-size-packets=500', '!', 's.send_rtp_sink',
    'rtpsession', 'name=s', 'rtp-profile=avpf', 's.send_rtp_src', '!', 'udpsink', 'host=127.0.0.1', `port=${outPort}`, 'sync=false', 'async=false',
    'udpsrc', `port=${rtcpPort}`, 'address=127.0.0.1', 'caps=application/x-rtcp', '!', 's.recv_rtcp_sink',
  ]);
  const tx = await bindUdp();
  try {
    await peer.ready();
    await sleep(300);
    for (let s = 100; s < 160; s++) { tx.send(original(s), inPort, '127.0.0.1'); await sleep(1); }
    await sleep(200);
    t.equal(got.filter((p) => (p[1] & 0x7f) === 96).length, 60, 'GStreamer forwards the 60 originals');
    // A compound RR (no report blocks) + our Generic NACK for 110, 111, 125, 140.
    const rtcp = Buffer.alloc(64);
    rtcp.set([0x80, 201, 0x00, 0x01, 0x0b, 0xad, 0xca, 0xfe]);
    const n = 8 + encodeNack(0x0badcafe, MEDIA_SSRC, [110, 111, 125, 140], 4, rtcp, 8);
    tx.send(rtcp.subarray(0, n), rtcpPort, '127.0.0.1');
    for (let i = 0; i < 40 && got.filter((p) => (p[1] & 0x7f) === 97).length < 4; i++) await sleep(50);
  } finally {
    tx.close();
    await peer.stop();
    out.close();
  }
  const rtx = got.filter((p) => (p[1] & 0x7f) === 97);
  t.equal(rtx.length, 4, 'rtprtxsend answered each NACKed packet once');
  const back = Buffer.alloc(400);
  t.same(rtx.map((p) => p.readUInt32BE(8)), [RTX_SSRC, RTX_SSRC, RTX_SSRC, RTX_SSRC], 'on the mapped RTX SSRC');
  const seqs: number[] = [];
  for (const p of rtx) {
    const m = decodeRtx(p, p.length, MEDIA_SSRC, 96, back);
    const seq = back.readUInt16BE(2);
    seqs.push(seq);
    t.same(back.subarray(0, m), original(seq), `GStreamer's RTX of ${seq} decodes to the original`);
  }
  t.same(seqs.sort((a, b) => a - b), [110, 111, 125, 140]);
});

t.test('a GStreamer receiver with do-retransmission NACKs our losses; we parse them and our responder answers', async (t) => {
  const rtpPort = await freeUdpPortPair();
  const rtcpInPort = rtpPort + 1;
  const rtcpOut = await bindUdp();
  const nacks: Buffer[] = [];
  // rtpsession's own RTCP (RR + NACK feedback) goes to our socket; its jitterbuffer asks for
  // retransmissions, which rtpsession turns into Generic NACKs (RFC 4585) on send_rtcp_src.
  const peer = new GstPeer([
    'udpsrc', `port=${rtpPort}`, 'address=127.0.0.1', `caps=${CAPS}`, '!', 's.recv_rtp_sink',
    'rtpsession', 'name=s', 'rtp-profile=avpf', 'rtcp-min-interval=20000000', 'rtcp-rr-bandwidth=1000000',
    // rtpssrcdemux puts the SSRC into the jitterbuffer's requests, as in rtpbin; without it
    // rtpsession cannot tell which source a request is about and sends nothing.
    's.recv_rtp_src', '!', 'rtpssrcdemux', 'name=d', 'd.', '!', 'rtpjitterbuffer', 'latency=300', 'do-retransmission=true', 'rtx-delay=30', '!', 'fakesink', 'sync=false',
    's.send_rtcp_src', '!', 'udpsink', 'host=127.0.0.1', `port=${rtcpOut.address().port}`, 'sync=false', 'async=false',
    'udpsrc', `port=${rtcpInPort}`, 'address=127.0.0.1', 'caps=application/x-rtcp', '!', 's.recv_rtcp_sink',
  ]);
  const responder = new NackResponder({ now: () => Date.now() });
  const wire: Buffer[] = [];
  const send = responder.bindLocalStream({ name: 'or1/hq', kind: 'video', ssrc: MEDIA_SSRC, payloadType: 96, clockRate: 90000, rtx: { ssrc: RTX_SSRC, payloadType: 97 } }, (p, n) => wire.push(Buffer.from(p.subarray(0, n))));
  const readRtcp = responder.bindRtcpReader(() => {});
  // GStreamer's RTCP reaches the responder as it arrives, as on the box.
  rtcpOut.on('message', (m) => {
    try { if (forEachFeedback(m, m.length, {}).nackPackets > 0) nacks.push(Buffer.from(m)); } catch { /* counted by the responder */ }
    readRtcp(m, m.length);
  });
  const tx = await bindUdp();
  // Isolated losses: with two in a row GStreamer 1.22 sometimes never asks for the second (its timers, not our parser).
  const dropped = new Set([220, 250, 275]);
  try {
    await peer.ready();
    await sleep(300);
    const t0 = Date.now();
    for (let s = 200; s < 300; s++) {
      const p = original(s);
      // RTP timestamps follow wall time, as a live sender's do (the jitterbuffer expects packets by them).
      p.writeUInt32BE(90_000 + 90 * (Date.now() - t0), 4);
      send(p, p.length);
      if (!dropped.has(s)) tx.send(p, rtpPort, '127.0.0.1');
      await sleep(10);
    }
    await sleep(600); // the jitterbuffer's retries of the last losses
  } finally {
    tx.close();
    await peer.stop();
    rtcpOut.close();
  }
  const asked = new Set<number>();
  let media = -1;
  for (const b of nacks) {
    forEachFeedback(b, b.length, { onNack: (h, pid, blp) => { media = h.mediaSsrc; forEachNackedSeq(pid, blp, (s) => asked.add(s)); } });
  }
  t.ok(nacks.length > 0, `GStreamer sent ${nacks.length} RTCP packets with NACKs`);
  t.equal(media, MEDIA_SSRC, 'about our SSRC');
  const askedDropped = [...dropped].filter((s) => asked.has(s));
  // GStreamer 1.22's rtpsession lets some NACKs expire before its RTCP goes out (shared reference
  // rtp-resilience.md), so not every loss is always asked: the test needs one, and reports the rest.
  t.comment(`asked: ${[...asked].sort((a, b) => a - b).join(' ')}; dropped but never asked by GStreamer: ${[...dropped].filter((s) => !asked.has(s)).join(' ') || 'none'}`);
  t.ok(askedDropped.length >= 1, 'GStreamer asked for at least one of the packets we dropped');
  // The jitterbuffer also expects the packet after the last one we sent (300): never one we sent.
  t.ok([...asked].every((s) => dropped.has(s) || s >= 300), 'nothing we delivered is asked');
  const st = responder.statsOf('or1/hq')!;
  t.equal(responder.malformedRtcp, 0, 'every RTCP packet GStreamer sent is readable by our walk');
  // GStreamer repeats a NACK after its retry timeout (40 ms here), and each repeat is answered again.
  t.ok(st.rtxSent >= askedDropped.length, `our responder sent ${st.rtxSent} RTX packets for ${st.packetsAsked} asks (${st.duplicatesSuppressed} duplicates suppressed, ${st.notInHistory} not in history)`);
  const back = Buffer.alloc(400);
  const restored = wire.filter((p) => (p[1] & 0x7f) === 97).map((p) => {
    const n = decodeRtx(p, p.length, MEDIA_SSRC, 96, back);
    const seq = back.readUInt16BE(2);
    t.same(back.subarray(0, n).subarray(12), original(seq).subarray(12), `RTX of ${seq}: the original payload`);
    return seq;
  });
  t.same([...new Set(restored)].sort((a, b) => a - b), askedDropped, 'the RTX packets carry exactly the asked packets');
});
