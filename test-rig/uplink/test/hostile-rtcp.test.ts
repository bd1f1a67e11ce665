/**
 * A hostile or broken receiver against the box's uplink: garbage datagrams, authenticated but
 * malformed RTCP (truncated, lengths past the end, a NACK claiming 10 000 entries), and a NACK
 * storm asking for the last 1024 packets every millisecond. The box must drop and count what is
 * bad, keep every worker alive, keep streaming, and keep its retransmissions under the
 * configured share of the media (maxRepairShare) plus one burst.
 */
import t from 'tap';
import { createSocket, type Socket } from 'node:dgram';
import { callLocalApi } from '../../../edge/control/local-api.js';
import { keyingOf } from '../../../edge/net/uplink/index.js';
import { encodeNack } from '../../../edge/rtp/index.js';
import { SrtpSender } from '../../../edge/srtp/index.js';
import { Supervisor } from '../../../edge/supervisor/supervisor.js';
import { mulberry32 } from '../../../edge/demo/prng.js';
import { freeTcpPort } from '../../rtp/gst-peers.js';
import { sleep, videoConfig } from '../../video/helpers.js';

const portBase = () => 40_000 + 20 * Math.floor(Math.random() * 1000);

t.test('garbage, malformed RTCP and a NACK storm: dropped and counted, the box streams on with its repair bandwidth capped', async (t) => {
  const rx = portBase(), boxPort = portBase();
  const share = 0.3;
  const cfg = videoConfig(await freeTcpPort(), [{ name: 'endoscope', width: 640, height: 360, source: { type: 'test-pattern', pattern: 'snow', width: 640, height: 360, fps: 30 } }], {
    uplink: { portStart: boxPort, receivers: [{ name: 'evil', host: '127.0.0.1', port: rx, channels: ['endoscope'], stream: 'hq', fec: { enabled: false }, maxRepairShare: share }] },
  });
  const sup = new Supervisor(cfg);
  t.teardown(() => sup.stop());
  await sup.start();
  const { sdp } = (await callLocalApi(cfg.api.socket, 'uplinkSdp', { receiver: 'evil' }, 15_000)) as { sdp: string };
  const m = /a=crypto:1 (\S+) inline:(\S+)/.exec(sdp)!;
  const fid = /a=ssrc-group:FID (\d+) (\d+)/.exec(sdp)!;
  const mediaSsrc = Number(fid[1]), rtxSsrc = Number(fid[2]);
  const srtp = new SrtpSender(keyingOf(m[1]!, m[2]!));

  // The capture: media and RTX bytes per second, and the latest media sequence numbers to ask for.
  let media = 0, rtx = 0, lastSeq = -1;
  const sock: Socket = createSocket('udp4');
  sock.on('message', (msg) => {
    if (msg.length < 12) return;
    const ssrc = msg.readUInt32BE(8);
    if (ssrc === rtxSsrc) rtx += msg.length;
    else if (ssrc === mediaSsrc) { media += msg.length; lastSeq = msg.readUInt16BE(2); }
  });
  await new Promise<void>((r) => sock.bind(rx, '127.0.0.1', () => r()));
  t.teardown(() => sock.close());
  const send = (b: Uint8Array, n = b.length) => new Promise<void>((r) => sock.send(b, 0, n, boxPort + 1, '127.0.0.1', () => r()));
  const protect = (plain: Uint8Array) => { const out = new Uint8Array(plain.length + 64); const n = srtp.protectRtcp(plain, plain.length, out); return out.subarray(0, n); };
  await sleep(3000);
  t.ok(media > 10_000, `the box streams (${media} bytes in 3 s)`);

  // 1. Garbage: random datagrams (they fail SRTCP authentication).
  const rnd = mulberry32(7);
  for (let i = 0; i < 2000; i++) {
    const b = new Uint8Array(1 + Math.floor(rnd() * 1400));
    for (let k = 0; k < b.length; k++) b[k] = Math.floor(rnd() * 256);
    if (i % 2) { b[0] = 0x81; b[1] = 205; } // some look like RTCP feedback
    await send(b);
    if (i % 20 === 19) await sleep(1); // paced: the kernel's socket buffer must not be what drops them
  }
  // 2. Authenticated but malformed: truncated, a length past the end, a NACK claiming 10 000 FCIs.
  const nackHead = (words: number) => Uint8Array.from([0x81, 205, words >> 8, words & 0xff, 1, 2, 3, 4, 0, 0, 0, 0]);
  for (const plain of [Uint8Array.from([0x81, 205, 0, 9, 1, 2, 3, 4]), nackHead(0xffff), nackHead(10_002), Uint8Array.from([0x81, 206, 0, 5, 1, 2, 3, 4])]) await send(protect(plain));

  // 3. The storm: every ms, a NACK for the last 1024 packets, for 4 s.
  const seqs = new Uint16Array(1024);
  const nack = new Uint8Array(4096);
  const m0 = media, r0 = rtx;
  const stormEnd = Date.now() + 4000;
  while (Date.now() < stormEnd) {
    if (lastSeq >= 0) {
      for (let i = 0; i < 1024; i++) seqs[i] = (lastSeq - 1023 + i) & 0xffff;
      const n = encodeNack(0x5eed, mediaSsrc, seqs, 1024, nack);
      await send(protect(nack.subarray(0, n)));
    }
    await sleep(1);
  }
  const mediaDuring = media - m0, rtxDuring = rtx - r0;
  // The token bucket holds a quarter second of the hq rate (at least 64 kB) as its burst.
  const burst = Math.max(64_000, (cfg.channels[0]!.hq.bitrateKbps * 1000) / 8 / 4);
  t.ok(rtxDuring > 0, `the storm got answers (${rtxDuring} RTX bytes)`);
  t.ok(rtxDuring <= share * mediaDuring * 1.15 + burst, `RTX ${rtxDuring} bytes <= ${share} x media ${mediaDuring} + burst ${burst} (ratio ${(rtxDuring / mediaDuring).toFixed(2)})`);

  await sleep(2500); // a net-stats period
  const st = (await callLocalApi(cfg.api.socket, 'status', {}, 15_000)) as { workers: { name: string; restarts: number }[]; video: { uplink: { nacks: number; rtxRateLimited: number; srtpDrops: Record<string, number>; packets: number }[] } };
  t.same(st.workers.filter((w) => w.restarts > 0).map((w) => w.name), [], 'no worker restarted');
  const u = st.video.uplink[0]!;
  const inDrops = Object.entries(u.srtpDrops).filter(([k]) => k.startsWith('in:')).reduce((n, [, v]) => n + v, 0);
  t.equal(inDrops, 2000, `every garbage datagram dropped by SRTCP and counted: ${JSON.stringify(u.srtpDrops)}`);
  t.ok(u.rtxRateLimited > 0, `${u.rtxRateLimited} repairs refused by the cap`);
  const before = media;
  await sleep(1000);
  t.ok(media - before > 5000, 'and the stream goes on');
});
