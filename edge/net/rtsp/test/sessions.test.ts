/**
 * RTSP sessions an attacker cannot exhaust, and viewers only the server can name (issue #17),
 * against RtspOut and its real server child, with raw RTSP/UDP clients bound to distinct
 * loopback addresses (127.0.0.2 and up: Linux routes all of 127/8 to lo) and GStreamer rtspsrc.
 *  - 64 SETUPs without PLAY (half from one address, the rest from 32 others), connections
 *    closed: a new rtspsrc viewer plays within 2 s; the abandoned sessions are reaped within
 *    seconds; the per-address cap is answered 453 to the address that floods.
 *  - 453 only when real (playing) viewers fill the box: with maxSessions 3 and three viewers
 *    playing, a fourth gets 453; with two playing and one never-played, the fourth gets in.
 *  - RTCP from a viewer carrying its own APP 'ORBX' label: the box's viewer list names the
 *    viewer by its transport address, never by the forged label.
 */
import t from 'tap';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RtspOut, type RtspStreamHandle } from '../rtsp-out.js';
import { nalType, NAL_SPS, NAL_PPS } from '../../../rtp/h264.js';
import { ReceiverReports, appendViewerLabel } from '../../../rtp/receiver-reports.js';
import { encodeTestStream, readAccessUnits, type AccessUnit } from '../../../../test-rig/rtp/h264-source.js';
import { rtspH264Viewer, freeTcpPort } from '../../../../test-rig/rtp/gst-peers.js';
import { RawTcpViewer } from '../../../../test-rig/rtp/rtsp-hostile-client.js';
import { sleep } from '../../../../test-rig/rtp/box-sender.js';
import { H264Packetizer } from '../../../rtp/h264-packetizer.js';
import { encodeSenderReportCompound } from '../../../rtp/rtcp.js';

const dir = mkdtempSync(join(tmpdir(), 'orbox-rtsp-sessions-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let aus: AccessUnit[] = [];
let sps: Buffer;
let pps: Buffer;
let portBase = 44000 + 2 * (process.pid % 1500);
const ranges = (): number => { portBase += 200; return portBase; };
const mkOut = async (extra: Partial<ConstructorParameters<typeof RtspOut>[0]> = {}): Promise<RtspOut> =>
  new RtspOut({ host: '127.0.0.1', port: await freeTcpPort(), rtpPortStart: ranges(), rtpPortCount: 100, ...extra });

t.before(async () => {
  await encodeTestStream(join(dir, 'in.h264'), { frames: 90, width: 320, height: 180, keyIntMax: 15 });
  aus = readAccessUnits(join(dir, 'in.h264'));
  sps = aus[0].nals.find((n) => nalType(n[0]) === NAL_SPS)!;
  pps = aus[0].nals.find((n) => nalType(n[0]) === NAL_PPS)!;
});

/** One RTSP request on a fresh connection from `from`; resolves with the answer's head. */
function request(port: number, from: string, lines: string[]): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, localAddress: from });
    let buf = '';
    const done = (): void => { s.destroy(); resolve(buf.split('\r\n\r\n')[0]); };
    s.setTimeout(3000, done);
    s.on('error', done);
    s.on('data', (d: Buffer) => { buf += d.toString('latin1'); if (buf.includes('\r\n\r\n')) done(); });
    s.write([...lines, '', ''].join('\r\n'));
  });
}

const setupUdp = (port: number, from: string, path: string, clientPort: number): Promise<string> =>
  request(port, from, [`SETUP rtsp://127.0.0.1:${port}${path}/streamid=0 RTSP/1.0`, 'CSeq: 1', `Transport: RTP/AVP;unicast;client_port=${clientPort}-${clientPort + 1}`]);

/** Keeps a box stream going until stop() (one AU per 33 ms, one packetiser: time and
 *  sequence numbers go on, as the box's do). */
function feed(h: RtspStreamHandle): { stop(): Promise<void> } {
  let on = true;
  const pz = new H264Packetizer({});
  const rtcp = Buffer.alloc(256);
  const loop = (async () => {
    for (let i = 0; on; i++) {
      const au = aus[i % aus.length];
      const ns = 1_700_000_000_000_000_000n + BigInt(i) * 33_333_333n;
      const b = pz.packetize(au.data, ns, au.keyframe);
      for (let j = 0; j < b.count; j++) h.send(b.packets[j], b.lengths[j]);
      if (i % 30 === 0) h.sendRtcp(rtcp, encodeSenderReportCompound(pz, 'orbox-test', ns, rtcp));
      await sleep(33);
    }
  })();
  return { stop: async () => { on = false; await loop; } };
}

const status = (head: string): number => Number(/^RTSP\/1\.0 (\d{3})/.exec(head)?.[1] ?? 0);

t.test('64 SETUPs without PLAY from 127.0.0.2.. do not stop a new viewer playing within 2 s; abandoned sessions are reaped', async (t) => {
  const out = await mkOut({ unplayedSessionMs: 3000, maxSessionsPerClient: 8 });
  t.teardown(() => out.close());
  await out.start();
  const h = out.addStream('or1', 'hq', { sps, pps });
  await h.ready;
  const media = feed(h);
  t.teardown(() => media.stop());

  // 32 from one address (its cap is 8), one each from 32 others; every connection closed.
  const from = [...new Array(32).fill('127.0.0.2'), ...Array.from({ length: 32 }, (_, i) => `127.0.0.${3 + i}`)];
  const answers = await Promise.all(from.map((a, i) => setupUdp(out.port, a, '/or1/hq', 30000 + 2 * i)));
  const codes = answers.map(status);
  const ok = codes.filter((c) => c === 200).length;
  t.ok(ok >= 32, `${ok} of 64 SETUPs without PLAY accepted (codes: ${[...new Set(codes)].join(', ')})`);
  const st0 = await out.stats();
  const refused = codes.slice(0, 32).filter((c) => c === 453).length;
  const evicted = st0.guarded['session-evicted-unplayed'] ?? 0;
  t.ok(evicted + refused >= 24, `127.0.0.2 held to its cap of 8: ${evicted} of its older never-played sessions closed, ${refused} refused`);
  t.ok(st0.sessions <= 8 + 32, `sessions after the flood: ${st0.sessions} (8 from 127.0.0.2 + 32 others at most), free RTP ports ${st0.freeRtpPorts}`);

  const t0 = Date.now();
  const viewer = rtspH264Viewer(h.url, 200, 'udp');
  t.teardown(() => viewer.stop());
  await viewer.waitFrames(1, 5000);
  const firstMs = Date.now() - t0;
  t.ok(firstMs < 2000, `a new rtspsrc viewer (UDP, 127.0.0.1) decodes its first frame ${firstMs} ms after it starts (< 2 s)`);
  const tcp = new RawTcpViewer('127.0.0.1', out.port);
  t.teardown(() => tcp.sock.destroy());
  await tcp.play(`rtsp://127.0.0.1:${out.port}/or1/hq`);

  await sleep(4000);
  const st = await out.stats();
  t.equal(st.sessions, 2, `4 s later only the two playing sessions are left (${st.sessions}); guard counts: ${JSON.stringify(st.guarded ?? {})}`);
  t.ok(viewer.frameCount > 60, `the rtspsrc viewer kept playing (${viewer.frameCount} frames)`);
  t.ok(tcp.frames > 0, `the TCP viewer plays (${tcp.frames} packets)`);
  await media.stop();
});

t.test('453 only when playing viewers fill the box', async (t) => {
  const out = await mkOut({ maxSessions: 3, unplayedSessionMs: 30_000 });
  t.teardown(() => out.close());
  await out.start();
  const h = out.addStream('or1', 'hq', { sps, pps });
  await h.ready;
  const url = `rtsp://127.0.0.1:${out.port}/or1/hq`;
  const viewers = [new RawTcpViewer('127.0.0.1', out.port), new RawTcpViewer('127.0.0.1', out.port)];
  t.teardown(() => viewers.forEach((v) => v.sock.destroy()));
  for (const v of viewers) await v.play(url);
  // A third session that never plays: it must make room, not take it.
  t.equal(status(await setupUdp(out.port, '127.0.0.9', '/or1/hq', 31000)), 200, 'a session that never plays is set up');
  t.equal(status(await setupUdp(out.port, '127.0.0.10', '/or1/hq', 31002)), 200, 'a fourth session gets in: the never-played one made room');
  await sleep(100);
  const third = new RawTcpViewer('127.0.0.1', out.port);
  t.teardown(() => third.sock.destroy());
  await third.play(url);
  t.equal(status(await setupUdp(out.port, '127.0.0.11', '/or1/hq', 31004)), 453, 'with three viewers playing, the next SETUP gets 453 Not Enough Bandwidth');
});

t.test('a forged APP ORBX label in a viewer\'s RTCP never appears as a viewer', async (t) => {
  const out = await mkOut();
  t.teardown(() => out.close());
  await out.start();
  const h = out.addStream('or1', 'hq', { sps, pps });
  await h.ready;
  const reports = new ReceiverReports({ mediaSsrc: 0x1234 });
  let relayed = 0;
  h.onRtcp = (p) => { relayed++; try { reports.onRtcp(p, p.length, BigInt(Date.now()) * 1_000_000n); } catch { /* malformed: refused */ } };

  // A raw UDP viewer from 127.0.0.5: SETUP + PLAY, then RTCP from its own RTCP port.
  const rtp: UdpSocket = createSocket('udp4');
  const rtcp: UdpSocket = createSocket('udp4');
  await new Promise<void>((r) => rtp.bind(0, '127.0.0.5', r));
  const base = rtp.address().port;
  await new Promise<void>((r, j) => { rtcp.once('error', j); rtcp.bind(base + 1, '127.0.0.5', () => r()); }).catch(async () => {
    t.fail(`could not bind the RTCP port ${base + 1}`);
  });
  t.teardown(() => { rtp.close(); rtcp.close(); });
  const s = connect({ host: '127.0.0.1', port: out.port, localAddress: '127.0.0.5' });
  t.teardown(() => s.destroy());
  let heads = '';
  s.on('data', (d: Buffer) => { heads += d.toString('latin1'); });
  s.write(`SETUP ${h.url}/streamid=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP;unicast;client_port=${base}-${base + 1}\r\n\r\n`);
  for (let i = 0; i < 100 && !heads.includes('\r\n\r\n'); i++) await sleep(20);
  const session = /Session: ([^;\r\n]+)/.exec(heads)?.[1];
  const serverRtcp = Number(/server_port=\d+-(\d+)/.exec(heads)?.[1]);
  t.ok(session && serverRtcp, `SETUP answered (session ${session}, server RTCP port ${serverRtcp})`);
  s.write(`PLAY ${h.url} RTSP/1.0\r\nCSeq: 2\r\nSession: ${session}\r\n\r\n`);
  await sleep(300);

  // RR (one block for our SSRC) + a forged APP ORBX, and a forged label with terminal escapes.
  const rr = Buffer.alloc(32);
  rr[0] = 0x81; rr[1] = 201; rr.writeUInt16BE(7, 2); rr.writeUInt32BE(0xabcd, 4); rr.writeUInt32BE(0x1234, 8);
  for (const forged of ['udp 6.6.6.6:1', '%s%s%n \x1b[2J evil']) {
    for (let i = 0; i < 3; i++) { rtcp.send(appendViewerLabel(rr, forged), serverRtcp, '127.0.0.1'); await sleep(50); }
  }
  for (let i = 0; i < 50 && relayed < 6; i++) await sleep(50);
  t.ok(relayed >= 1, `the viewer's RTCP reached the box (${relayed} compounds)`);
  const names = reports.snapshot(BigInt(Date.now()) * 1_000_000n).map((v) => v.viewer);
  t.same(names, [`udp 127.0.0.5:${base}`], `the viewer is named by its transport address only: ${JSON.stringify(names)}`);
  t.notOk(names.some((n) => n.includes('6.6.6.6') || n.includes('%s') || n.includes('\x1b')), 'no forged label among the viewers');
});
