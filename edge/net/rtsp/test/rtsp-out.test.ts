/**
 * RtspOut with real peers: GStreamer rtspsrc viewers over UDP, a hostile raw-TCP client, and
 * the package's own defects provoked on purpose; two publishers in turn on one RtspServerHost
 * (a net-send restart) with ffmpeg viewers.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RtspOut, RtspServerHost, type RtspStreamHandle } from '../rtsp-out.js';
import { H264Packetizer } from '../../../rtp/index.js';
import { FfmpegViewer } from '../../../../test-rig/rtp/players.js';
import { nalType, NAL_SPS, NAL_PPS } from '../../../rtp/h264.js';
import { encodeTestStream, readAccessUnits, type AccessUnit } from '../../../../test-rig/rtp/h264-source.js';
import { rtspH264Viewer, freeTcpPort, type GstPeer } from '../../../../test-rig/rtp/gst-peers.js';
import { attacks, runAttack, RawTcpViewer } from '../../../../test-rig/rtp/rtsp-hostile-client.js';
import { sendAccessUnits, sleep } from '../../../../test-rig/rtp/box-sender.js';

const dir = mkdtempSync(join(tmpdir(), 'orbox-rtsp-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let aus: AccessUnit[] = [];
let sps: Buffer;
let pps: Buffer;
// Each test gets its own RTP port range so a slow teardown cannot collide with the next.
let portBase = 40000 + 2 * (process.pid % 2000);
const ranges = (): number => { portBase += 200; return portBase; };
const logs: string[] = [];
const mkOut = async (extra: Partial<ConstructorParameters<typeof RtspOut>[0]> = {}): Promise<RtspOut> =>
  new RtspOut({ host: '127.0.0.1', port: await freeTcpPort(), rtpPortStart: ranges(), rtpPortCount: 100, log: { info: (_o, m) => logs.push(`info ${m}`), warn: (_o, m) => logs.push(`warn ${m}`), error: (_o, m) => logs.push(`error ${m}`), debug: () => {} }, ...extra });

t.before(async () => {
  await encodeTestStream(join(dir, 'in.h264'), { frames: 90, width: 640, height: 360, keyIntMax: 30 });
  aus = readAccessUnits(join(dir, 'in.h264'));
  sps = aus[0].nals.find((n) => nalType(n[0]) === NAL_SPS)!;
  pps = aus[0].nals.find((n) => nalType(n[0]) === NAL_PPS)!;
});

async function waitViewers(out: RtspOut, paths: string[], timeoutMs: number, minViewers = 1): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const s = await out.stats();
    if (paths.every((p) => (s.mounts.find((m) => m.path === p)?.viewers ?? 0) >= minViewers)) return;
    await sleep(100);
  }
  throw new Error(`viewers did not reach ${paths.join(', ')} in ${timeoutMs} ms`);
}

/** A viewer plays `path` while the box sends `n` AUs; returns the viewer's result. */
async function playOnce(out: RtspOut, handles: RtspStreamHandle[], urls: string[], n: number, protocols: ('udp' | 'tcp')[] = [], minViewers = 1) {
  const viewers: GstPeer[] = urls.map((u, i) => rtspH264Viewer(u, 200, protocols[i] ?? 'udp'));
  try {
    await waitViewers(out, handles.map((h) => h.path), 15_000, minViewers);
    await sendAccessUnits(handles, aus, n, 10);
    await Promise.all(viewers.map((v) => v.waitFrames(n - 5, 10_000).catch(() => undefined)));
  } finally {
    await sleep(300);
  }
  return Promise.all(viewers.map((v) => v.stop()));
}

t.test('lifecycle: constructor validates, states, idempotent close, no use after close', async (t) => {
  t.throws(() => new RtspOut({ port: 70000 }), { name: 'RtspOutOptionError', option: 'port' });
  t.throws(() => new RtspOut({ rtpPortStart: 20001 }), { name: 'RtspOutOptionError', option: 'rtpPortStart' });
  t.throws(() => new RtspOut({ host: 'a b' }), { name: 'RtspOutOptionError', option: 'host' });
  t.throws(() => new RtspServerHost({ auth: { realm: 'a"b', accountsFile: '/x', streams: {} } }), { name: 'RtspOutOptionError', option: 'auth.realm' });
  t.throws(() => new RtspServerHost({ auth: { realm: 'r', accountsFile: '', streams: {} } }), { name: 'RtspOutOptionError', option: 'auth.accountsFile' });
  t.throws(() => new RtspServerHost({ auth: { realm: 'r', accountsFile: '/x', streams: { room: 'surgeon' as 'viewer' } } }), { name: 'RtspOutOptionError', option: 'auth.streams.room' });
  const out = await mkOut();
  t.equal(out.state, 'new');
  t.throws(() => out.addStream('or1', 'hq', { sps, pps }), { name: 'RtspOutStateError' });
  await out.start();
  t.equal(out.state, 'running');
  await t.rejects(out.start(), { name: 'RtspOutStateError' });
  t.throws(() => out.addStream('or 1', 'hq', { sps, pps }), { name: 'RtspOutOptionError', option: 'channel' });
  t.throws(() => out.addStream('or1', 'xq' as 'hq', { sps, pps }), { name: 'RtspOutOptionError', option: 'role' });
  const h = out.addStream('or1', 'hq', { sps, pps });
  await h.ready;
  t.equal(h.url, `rtsp://127.0.0.1:${out.port}/or1/hq`);
  t.ok(h.send(Buffer.alloc(20)));
  const pid = out.childPid;
  await Promise.all([out.close(), out.close()]);
  t.equal(out.state, 'closed');
  t.throws(() => process.kill(pid, 0), 'child is gone');
  t.notOk(h.send(Buffer.alloc(20)), 'send after close drops');
  await out.close();
});

t.test('a mount whose UDP ports are taken is reported: not mounted, the reason, an error logged', async (t) => {
  const start = ranges();
  // Another program holds the first port of the range the package binds a mount's RTP to.
  const squatter = createSocket('udp4');
  await new Promise<void>((r) => squatter.bind(start, '0.0.0.0', () => r()));
  const out = await mkOut({ rtpPortStart: start });
  await out.start();
  try {
    const h = out.addStream('or1', 'hq', { sps, pps });
    t.notOk(h.mounted, 'not mounted before the child answered');
    await t.rejects(h.ready, /EADDRINUSE/);
    t.notOk(h.mounted);
    t.match(h.mountError, new RegExp(`EADDRINUSE.*:${start}$`), `the reason names the port: ${h.mountError}`);
    t.ok(logs.some((l) => l.startsWith('error /or1/hq: mount failed') && l.includes('EADDRINUSE')), 'logged as an error');
    t.notOk(h.send(Buffer.alloc(20)), 'packets are dropped');
    t.equal(h.dropped, 1, 'and counted');
  } finally {
    await out.close();
    squatter.close();
  }
});

t.test('rtspsrc plays /or1/hq and /or1/lq over UDP: every frame decoded, no complaint', async (t) => {
  const out = await mkOut();
  await out.start();
  try {
    const hq = out.addStream('or1', 'hq', { sps, pps, framerate: 30 });
    const lq = out.addStream('or1', 'lq', { sps, pps, framerate: 30 });
    await Promise.all([hq.ready, lq.ready]);
    const [a, b] = await playOnce(out, [hq, lq], [hq.url, lq.url], 90);
    t.equal(a.frames, 90, 'hq frames decoded');
    t.equal(b.frames, 90, 'lq frames decoded');
    t.same([...a.complaints, ...b.complaints], [], 'no decoder/depayloader/rtspsrc complaint');
    t.equal(hq.dropped + lq.dropped, 0);
  } finally {
    await out.close();
  }
});

t.test('rtspsrc over TCP (interleaved) and UDP at once: every frame decoded while hostile TCP viewers stall, vanish, write garbage and flood RTCP', async (t) => {
  const out = await mkOut();
  await out.start();
  try {
    const hq = out.addStream('or1', 'hq', { sps, pps, framerate: 30 });
    await hq.ready;
    const pid = out.childPid;
    const hostile = await Promise.all([0, 1, 2, 3].map(async () => {
      const v = new RawTcpViewer('127.0.0.1', out.port);
      await v.play(hq.url);
      return v;
    }));
    const [stall, vanish, garbage, flood] = hostile;
    stall.sock.pause();
    const rtcpFromViewers: Buffer[] = [];
    hq.onRtcp = (b) => rtcpFromViewers.push(Buffer.from(b));
    vanish.sock.resetAndDestroy();
    garbage.sock.write(Buffer.concat([Buffer.from([0x13, 0x37, 0xff, 0x00]), Buffer.from('\r\n\r\n')]));
    let left = -1;
    for (let i = 0; i < 50 && left !== 2; i++) { await sleep(100); left = (await out.stats()).mounts.find((m) => m.path === hq.path)?.viewers ?? -1; }
    t.equal(left, 2, 'the vanished viewer and the one that wrote garbage are gone; the stalled and the flooding one play on');
    const flooding = (async () => { await sleep(300); flood.floodRtcp(5000); })();
    const [tcpViewer, udpViewer] = await playOnce(out, [hq], [hq.url, hq.url], 90, ['tcp', 'udp'], 4);
    await flooding;
    t.equal(tcpViewer.frames, 90, 'rtspsrc over TCP: every frame decoded');
    t.equal(udpViewer.frames, 90, 'rtspsrc over UDP: every frame decoded');
    t.same([...tcpViewer.complaints, ...udpViewer.complaints], [], 'no decoder/depayloader/rtspsrc complaint');
    t.ok(garbage.sock.destroyed || garbage.sock.readableEnded, 'the viewer that wrote garbage was disconnected');
    const st = await out.stats();
    t.ok((st.guarded['rtcp-relay-limited'] ?? 0) > 0, `the RTCP flood was cut at the relay (${st.guarded['rtcp-relay-limited']} dropped, ${st.guarded['rtcp-relayed']} relayed)`);
    t.ok(rtcpFromViewers.length <= 2 * 200 + 50, `net-send got ${rtcpFromViewers.length} RTCP packets, not the flood of 5000`);
    const mount = st.mounts.find((m) => m.path === hq.path)!;
    t.equal(mount.tcpViewers, 2, 'the stalled and the flooding viewer are still there');
    t.equal(out.childPid, pid, 'the same child process: nothing crashed');
    t.equal(out.restarts, 0);
    for (const v of hostile) v.sock.destroy();
  } finally {
    await out.close();
  }
});

t.test('hostile requests get answers or a closed connection; the server keeps serving', async (t) => {
  const out = await mkOut({ idleTimeoutMs: 3000 });
  await out.start();
  try {
    const hq = out.addStream('or1', 'hq', { sps, pps });
    await hq.ready;
    const pid = out.childPid;
    const results = [];
    for (const a of attacks(hq.path)) results.push(await runAttack('127.0.0.1', out.port, a));
    const byName = Object.fromEntries(results.map((r) => [r.name, r]));
    t.equal(byName['SETUP unknown path'].status, 404);
    t.equal(byName['SETUP relative-resolved path (rtspsrc style)'].status, 404);
    t.equal(byName['SETUP unknown stream id'].status, 404);
    t.equal(byName['SETUP without Transport'].status, 461);
    t.equal(byName['SETUP TCP interleaved channel 300'].status, 461);
    t.equal(byName['SETUP multicast'].status, 461);
    t.equal(byName['SETUP with unknown session'].status, 454);
    t.equal(byName['DESCRIBE unknown path'].status, 404);
    t.equal(byName['OPTIONS *'].status, 400);
    t.equal(byName['PLAY without session'].status, 454);
    t.ok(byName['oversized header (8 KB)'].closed, 'oversized header: connection closed');
    t.ok(byName['binary garbage with a blank line'].closed || byName['binary garbage with a blank line'].status !== null, 'garbage: closed or answered');
    // No attack went unanswered *and* left open, except the header that never ends (idle timeout reaps it).
    // Interleaved frames get no answer by design (RTCP is not a request); the idle timeout
    // reaps a connection that then says nothing.
    const silentByDesign = ['header that never ends', 'interleaved frame before any request', 'interleaved frame claiming 64 KB, then silence'];
    for (const r of results) if (r.status === null && !r.closed && !silentByDesign.includes(r.name)) t.fail(`${r.name}: no answer, still open`);
    t.equal(out.childPid, pid, 'the same child process: nothing crashed');
    t.equal(out.restarts, 0);
    const st = await out.stats();
    t.ok(Object.keys(st.guarded).length > 0, `guards counted: ${JSON.stringify(st.guarded)}`);
    const [v] = await playOnce(out, [hq], [hq.url], 60);
    t.equal(v.frames, 60, 'a viewer still plays every frame after the attacks');
    t.same(v.complaints, []);
    t.equal(out.childPid, pid);
  } finally {
    await out.close();
  }
});

t.test('unguarded package dies on SETUP for an unknown path; RtspOut restarts it with backoff and viewers reconnect', async (t) => {
  const out = await mkOut({ unguarded: true, restartInitialMs: 200 });
  await out.start();
  try {
    const hq = out.addStream('or1', 'hq', { sps, pps });
    await hq.ready;
    const pid = out.childPid;
    const up = new Promise<number>((r) => { out.onChildUp = r; });
    const r = await runAttack('127.0.0.1', out.port, attacks(hq.path).find((a) => a.name === 'SETUP unknown path')!);
    t.equal(r.status, null, 'no answer: the package threw');
    const newPid = await up;
    t.not(newPid, pid, 'a new child');
    t.equal(out.restarts, 1);
    t.ok(logs.some((l) => /unhandled rejection: .*Mount does not exist/.test(l)), 'the child reported the defect before exiting');
    await hq.ready; // the mount is re-created in the new child
    t.equal(out.state, 'running');
    const [v] = await playOnce(out, [hq], [hq.url], 60);
    t.equal(v.frames, 60, 'a viewer plays from the restarted server');
    // And a kill -9 is survived the same way.
    const up2 = new Promise<number>((r) => { out.onChildUp = r; });
    process.kill(out.childPid, 'SIGKILL');
    await up2;
    await hq.ready;
    t.equal(out.restarts, 2);
  } finally {
    await out.close();
  }
});

t.test('no stale mounts: a removed stream is gone and can be re-added; the child dies with its parent', async (t) => {
  const out = await mkOut();
  await out.start();
  try {
    const hq = out.addStream('or2', 'hq', { sps, pps });
    await hq.ready;
    const describe = attacks(hq.path).find((a) => a.name === 'DESCRIBE unknown path')!;
    const describeReal = { name: 'describe', payload: (b: string) => `DESCRIBE ${b}${hq.path} RTSP/1.0\r\nCSeq: 2\r\n\r\n` };
    t.equal((await runAttack('127.0.0.1', out.port, describeReal)).status, 200);
    await hq.close();
    t.equal((await runAttack('127.0.0.1', out.port, describeReal)).status, 404, 'removed');
    const again = out.addStream('or2', 'hq', { sps, pps });
    await again.ready;
    t.equal((await runAttack('127.0.0.1', out.port, describeReal)).status, 200, 're-added at the same path');
    t.ok(describe);
    t.same((await out.stats()).mounts.map((m) => m.path), ['/or2/hq']);
  } finally {
    await out.close();
  }
  // A net-send process killed outright: its RTSP child must not linger with the mount.
  const host = fileURLToPath(new URL('../../../../test-rig/rtp/rtsp-out-host.js', import.meta.url));
  const port = await freeTcpPort();
  const p = spawn(process.execPath, [host, String(port), String(ranges())], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('host did not start')), 10_000);
    p.stdout.setEncoding('utf8').on('data', (d: string) => { buf += d; if (buf.includes('\n')) { clearTimeout(timer); resolve(buf); } });
  });
  const { childPid } = JSON.parse(line) as { childPid: number };
  p.kill('SIGKILL');
  let alive = true;
  for (let i = 0; i < 50 && alive; i++) {
    await sleep(100);
    try { process.kill(childPid, 0); } catch { alive = false; }
  }
  t.notOk(alive, 'the RTSP child exited with its parent');
  const describeGhost = { name: 'describe', payload: (b: string) => `DESCRIBE ${b}/ghost/hq RTSP/1.0\r\nCSeq: 2\r\n\r\n` };
  t.ok((await runAttack('127.0.0.1', port, describeGhost, 500)).closed, 'nobody serves the ghost mount');
});

t.test('a second publisher on the same host takes a mount over with its viewer and continues its RTP; a mount it does not re-add ends with a BYE', async (t) => {
  const port = await freeTcpPort();
  const host = new RtspServerHost({ host: '127.0.0.1', port, rtpPortStart: ranges(), rtpPortCount: 100, reclaimMs: 2000 });
  await host.start();
  t.teardown(() => host.close());
  const pid = host.childPid;
  const out1 = new RtspOut({ server: host.attach(), host: '127.0.0.1', port });
  await out1.start();
  // A dead publisher's thread takes its socket with it; here the test holds it: closed at the end.
  t.teardown(() => out1.close().catch(() => undefined));
  const pzHq = new H264Packetizer({ sps, pps });
  const pzLq = new H264Packetizer({ sps, pps });
  const hq = out1.addStream('or3', 'hq', { sps, pps, framerate: 30 }, { ssrc: pzHq.ssrc, timestampOffset: pzHq.timestampOffset });
  const lq = out1.addStream('or3', 'lq', { sps, pps, framerate: 30 }, { ssrc: pzLq.ssrc, timestampOffset: pzLq.timestampOffset });
  await Promise.all([hq.ready, lq.ready]);
  // A live source at 30 fps, capture time = now (the packetiser's timestamps follow the clock).
  let i = 0;
  let targets: [H264Packetizer, RtspStreamHandle][] = [[pzHq, hq], [pzLq, lq]];
  const timer = setInterval(() => {
    const au = aus[i++ % aus.length];
    const ns = BigInt(Date.now()) * 1_000_000n;
    for (const [pz, h] of targets) { const b = pz.packetize(au.data, ns, au.keyframe); h.sendAll(b.packets, b.lengths, b.count); }
  }, 33);
  t.teardown(() => clearInterval(timer));
  const vHq = new FfmpegViewer(hq.url, 'udp');
  const vLq = new FfmpegViewer(lq.url, 'tcp');
  t.teardown(() => Promise.all([vHq.stop(2000), vLq.stop(2000)]));
  await Promise.all([vHq.waitFrames(30, 15_000), vLq.waitFrames(30, 15_000)]);

  // The first publisher dies (its thread gone): the next one is attached; the host closes the old port.
  targets = [];
  const out2 = new RtspOut({ server: host.attach(), host: '127.0.0.1', port });
  await out2.start();
  const st = out2.rtpState('or3', 'hq');
  t.ok(st && st.ssrc === pzHq.ssrc && st.nextSequence === pzHq.nextSequence && st.timestampOffset === pzHq.timestampOffset,
    `the child kept the stream's RTP state: SSRC ${st?.ssrc}, next sequence ${st?.nextSequence} (sent: ${pzHq.ssrc}, ${pzHq.nextSequence})`);
  t.equal(out2.rtpState('or3', 'lq')?.ssrc, pzLq.ssrc, 'and the other mount\'s');
  const pz2 = new H264Packetizer({ sps, pps, ssrc: st!.ssrc, initialSequence: st!.nextSequence, timestampOffset: st!.timestampOffset });
  const hq2 = out2.addStream('or3', 'hq', { sps, pps, framerate: 30 }, { ssrc: pz2.ssrc, timestampOffset: pz2.timestampOffset });
  t.ok(hq2.mounted, 'the inherited mount takes packets at once');
  i = Math.ceil(i / 30) * 30; // the new publisher starts at a keyframe, as a restarted net-send does
  targets = [[pz2, hq2]];
  const before = vHq.frameCount;
  await vHq.waitFrames(before + 60, 10_000);
  t.pass(`the hq viewer went on: ${vHq.frameCount - before} frames from the second publisher`);
  t.equal(host.childPid, pid, 'the same child process served both publishers');
  const s1 = await out2.stats();
  t.equal(s1.mounts.find((m) => m.path === '/or3/hq')?.viewers, 1, 'the hq viewer\'s session is the one it had');

  // lq is not re-added: reclaimMs later it is removed, and its viewer is told (RTCP BYE).
  const lqEnd = await Promise.race([vLq.ended(), sleep(8000).then(() => 'still running')]);
  t.equal(lqEnd, 0, 'the lq viewer (TCP) ended by itself with status 0 once its mount was not taken over');
  t.ok(vHq.running, 'the hq viewer plays on');
  t.same((await out2.stats()).mounts.map((m) => m.path), ['/or3/hq'], 'only the taken-over mount is left');

  // The publisher closes: a real end for the hq viewer too.
  clearInterval(timer);
  await out2.close();
  const hqEnd = await Promise.race([vHq.ended(), sleep(8000).then(() => 'still running')]);
  t.equal(hqEnd, 0, 'the hq viewer (UDP) ended by itself when its stream was removed');
});
