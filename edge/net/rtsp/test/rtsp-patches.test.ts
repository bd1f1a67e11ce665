/**
 * The patches to the RTSP packages (patches/README.md), each on its own, in-process, with raw
 * sockets as the peer: rtsp-stream (interleaved frames in the decoder and encoder), rtsp-server
 * (req.interleaved), rtsp-streaming-server (Transport parsing, TCP-interleaved play, viewers'
 * RTCP relayed to the publisher, sessions that end with their connection, slow TCP readers).
 */
import t from 'tap';
import { createRequire } from 'node:module';
import { connect, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { freeTcpPort } from '../../../../test-rig/rtp/gst-peers.js';

const require = createRequire(import.meta.url);
const serverRequire = createRequire(require.resolve('rtsp-server'));
const rtspStream = serverRequire('rtsp-stream') as {
  Decoder: new () => NodeJS.WritableStream & { on(e: string, f: (...a: unknown[]) => void): unknown };
  Encoder: new () => NodeJS.ReadableStream & { response(): Res; interleaved(ch: number, d: Buffer): boolean; bufferedBytes: number; read(): Buffer | null };
};
interface Res { setHeader(n: string, v: string | number): void; writeHead(): void; write(d: string): void; end(): void }
const pkg = require('rtsp-streaming-server') as {
  Mounts: new (c: { rtpPortStart: number; rtpPortCount: number }) => {
    deleteMount(uri: string): boolean;
    addMount(uri: string, sdp: string): { createStream(uri: string): { rtpStartPort: number; rtpEndPort: number; clients: Record<string, { droppedPackets: number; transport: string; remotePort: number }> }; setup(): Promise<unknown> };
  };
  ClientServer: new (port: number, mounts: unknown, hooks: object) => { start(): Promise<void>; server: { close(): void }; clients: Record<string, unknown> };
  Client: { tcpMaxBufferedBytes: number };
};
const { parseTransport } = createRequire(require.resolve('rtsp-streaming-server'))('./lib/utils') as { parseTransport(h: string | undefined): unknown };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('rtsp-stream Decoder: interleaved frames between requests, split at every byte, come out whole and in order', async (t) => {
  const frame = (ch: number, data: number[]): Buffer => Buffer.concat([Buffer.from([0x24, ch, data.length >> 8, data.length & 0xff]), Buffer.from(data)]);
  const bytes = Buffer.concat([
    Buffer.from('OPTIONS rtsp://h/a RTSP/1.0\r\nCSeq: 1\r\n\r\n'),
    frame(1, [0x80, 0xc9, 0, 1, 1, 2, 3, 4]),
    frame(0, []),
    frame(3, Array.from({ length: 300 }, (_, i) => i & 0xff)),
    Buffer.from('GET_PARAMETER rtsp://h/a RTSP/1.0\r\nCSeq: 2\r\nContent-Length: 3\r\n\r\n$ab'),
    frame(1, [9]),
  ]);
  const expected = ['req OPTIONS', 'frame 1 80c9000101020304', 'frame 0 ', `frame 3 ${Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff)).toString('hex')}`, 'req GET_PARAMETER', 'frame 1 09'];
  for (let cut = 1; cut < bytes.length; cut++) {
    const d = new rtspStream.Decoder();
    const seen: string[] = [];
    d.on('request', (req) => seen.push(`req ${(req as { method: string }).method}`));
    d.on('interleaved', (ch, data) => seen.push(`frame ${ch as number} ${(data as Buffer).toString('hex')}`));
    d.write(bytes.subarray(0, cut));
    d.write(bytes.subarray(cut));
    await new Promise((r) => setImmediate(r));
    if (seen.join('|') !== expected.join('|')) { t.same(seen, expected, `split at byte ${cut}`); return; }
  }
  t.pass(`${bytes.length - 1} ways of splitting: same requests and frames (a '$' inside a body is body)`);
});

t.test('rtsp-stream Decoder: a chunk of many small frames decodes in linear time', async (t) => {
  const one = Buffer.from([0x24, 1, 0, 8, 0x80, 201, 0, 1, 1, 2, 3, 4]);
  const chunk = Buffer.concat(new Array(8000).fill(one)); // 96 KB, what one TCP read can bring
  const d = new rtspStream.Decoder();
  let n = 0;
  d.on('interleaved', () => { n++; });
  const t0 = performance.now();
  d.write(chunk);
  const ms = performance.now() - t0;
  t.equal(n, 8000);
  // Inspecting the rest of the chunk once per frame took seconds here (quadratic).
  t.ok(ms < 500, `${ms.toFixed(1)} ms for 8000 frames`);
});

t.test('rtsp-stream Encoder: a frame never lands inside a message; bad channel or size is a RangeError', async (t) => {
  const e = new rtspStream.Encoder();
  const res = e.response();
  res.setHeader('CSeq', 1);
  res.setHeader('Content-Length', 4);
  res.writeHead(); // start line and headers out, body still to come
  e.interleaved(0, Buffer.from([1, 2]));
  res.write('body');
  res.end();
  await new Promise((r) => setImmediate(r));
  e.interleaved(1, Buffer.from([3]));
  let out = '';
  for (let c = e.read(); c; c = e.read()) out += c.toString('latin1');
  t.match(out, /^RTSP\/1\.0 200 OK\r\nCSeq: 1\r\nContent-Length: 4\r\n\r\nbody\$\x00\x00\x02\x01\x02\$\x01\x00\x01\x03$/, 'held frame follows the body');
  t.throws(() => e.interleaved(256, Buffer.alloc(1)), RangeError);
  t.throws(() => e.interleaved(0, Buffer.alloc(65536)), RangeError);
});

t.test('rtsp-streaming-server parseTransport: first supported spec of the list', async (t) => {
  const cases: [string | undefined, unknown][] = [
    ['RTP/AVP;unicast;client_port=5000-5001', { protocol: 'udp', spec: 'RTP/AVP;unicast;client_port=5000-5001', rtpPort: 5000, rtcpPort: 5001 }],
    ['RTP/AVP/UDP;unicast;client_port=6000', { protocol: 'udp', spec: 'RTP/AVP/UDP;unicast;client_port=6000', rtpPort: 6000, rtcpPort: 6001 }],
    ['RTP/AVP/TCP;unicast;interleaved=0-1', { protocol: 'tcp', spec: 'RTP/AVP/TCP;unicast;interleaved=0-1', rtpChannel: 0, rtcpChannel: 1 }],
    ['rtp/avp/tcp;interleaved=4', { protocol: 'tcp', spec: 'rtp/avp/tcp;interleaved=4', rtpChannel: 4, rtcpChannel: 5 }],
    ['RTP/AVP/TCP;unicast', { protocol: 'tcp', spec: 'RTP/AVP/TCP;unicast', rtpChannel: undefined, rtcpChannel: undefined }],
    ['RTP/AVP;multicast;client_port=1-2, RTP/AVP/TCP;interleaved=2-3', { protocol: 'tcp', spec: 'RTP/AVP/TCP;interleaved=2-3', rtpChannel: 2, rtcpChannel: 3 }],
    ['RTP/AVP;unicast', null],
    ['RTP/AVP/TCP;interleaved=255-256', null],
    ['RTP/AVP/TCP;interleaved=x', null],
    ['RTP/SAVP;unicast;client_port=1-2', null],
    ['', null],
    [undefined, null],
  ];
  for (const [h, want] of cases) t.same(parseTransport(h), want, String(h));
});

// Each server gets its own port range: the package moves a clashing RTCP port wrongly.
let portBase = 40000 + 2 * (process.pid % 2000);

/** A publisher (UDP socket), a mount /or1/hq with one stream, and the client server. */
async function serve(t: { teardown(f: () => unknown): void }) {
  const port = await freeTcpPort();
  portBase += 40;
  const mounts = new pkg.Mounts({ rtpPortStart: portBase, rtpPortCount: 40 });
  const cs = new pkg.ClientServer(port, mounts, {});
  await cs.start();
  const uri = `rtsp://127.0.0.1:${port}/or1/hq`;
  const mount = mounts.addMount(uri, 'v=0\r\n');
  const stream = mount.createStream(`${uri}/streamid=0`);
  await mount.setup();
  const pub = createSocket('udp4');
  await new Promise<void>((r) => pub.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    // Sessions still open (UDP ones outlive their connection) hold sockets and a 60 s keepalive timer.
    for (const w of Object.values(cs.clients)) (w as { close(): void }).close();
    cs.server.close();
    pub.close();
    mounts.deleteMount(uri);
  });
  return { port, uri, stream, pub, cs };
}

/** A raw RTSP client on one connection: requests and the '$' frames it receives. */
class Raw {
  readonly sock: Socket;
  private buf = Buffer.alloc(0);
  readonly frames: { channel: number; data: Buffer }[] = [];
  private responses: string[] = [];
  private cseq = 0;
  constructor(port: number) {
    this.sock = connect(port, '127.0.0.1');
    this.sock.on('error', () => undefined);
    this.sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (;;) {
        if (this.buf.length && this.buf[0] === 0x24) {
          if (this.buf.length < 4) return;
          const n = this.buf.readUInt16BE(2);
          if (this.buf.length < 4 + n) return;
          this.frames.push({ channel: this.buf[1], data: Buffer.from(this.buf.subarray(4, 4 + n)) });
          this.buf = this.buf.subarray(4 + n);
          continue;
        }
        const i = this.buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        this.responses.push(this.buf.subarray(0, i).toString('latin1'));
        this.buf = this.buf.subarray(i + 4);
      }
    });
  }
  async request(method: string, uri: string, headers: string[] = []): Promise<{ status: number; head: string }> {
    const n = this.responses.length;
    this.sock.write([`${method} ${uri} RTSP/1.0`, `CSeq: ${++this.cseq}`, ...headers, '', ''].join('\r\n'));
    for (let i = 0; i < 100 && this.responses.length === n; i++) await sleep(20);
    const head = this.responses[n] ?? '';
    return { status: Number(/^RTSP\/1\.0 (\d+)/.exec(head)?.[1] ?? 0), head };
  }
  header(head: string, name: string): string { return new RegExp(`\\r\\n${name}: ([^\\r\\n]*)`, 'i').exec(head)?.[1] ?? ''; }
}

t.test('rtsp-streaming-server: TCP-interleaved play, viewer RTCP to the publisher, session ends with its connection', async (t) => {
  const s = await serve(t);
  const c = new Raw(s.port);
  const setup = await c.request('SETUP', `${s.uri}/streamid=0`, ['Transport: RTP/AVP/TCP;unicast;interleaved=0-1']);
  t.equal(setup.status, 200);
  t.equal(c.header(setup.head, 'Transport'), 'RTP/AVP/TCP;unicast;interleaved=0-1');
  const session = c.header(setup.head, 'Session').split(';')[0];
  t.equal((await c.request('SETUP', `${s.uri}/streamid=0`, ['Transport: RTP/AVP/TCP;unicast;interleaved=0-1'])).status, 461, 'the same channels twice on one connection');
  t.equal((await c.request('PLAY', s.uri, [`Session: ${session}`])).status, 200);

  // The publisher's SR tells the mount where RTCP goes back; then RTP and RTCP to the viewer.
  const sr = Buffer.from([0x80, 200, 0, 6, 1, 2, 3, 4, ...new Array(20).fill(7)]);
  const rtp = Buffer.from([0x80, 96, 0, 1, 0, 0, 0, 9, 1, 2, 3, 4, 0x65, 0xaa]);
  s.pub.send(sr, s.stream.rtpEndPort, '127.0.0.1');
  await sleep(50);
  s.pub.send(rtp, s.stream.rtpStartPort, '127.0.0.1');
  for (let i = 0; i < 50 && c.frames.length < 2; i++) await sleep(20);
  t.same(c.frames.map((f) => [f.channel, f.data.toString('hex')]), [[1, sr.toString('hex')], [0, rtp.toString('hex')]], 'SR on channel 1, RTP on channel 0, byte-exact');

  const got: Buffer[] = [];
  s.pub.on('message', (b) => got.push(b));
  const rr = Buffer.from([0x81, 201, 0, 7, 9, 9, 9, 9, 1, 2, 3, 4, ...new Array(20).fill(0)]);
  const frame = (ch: number, d: Buffer): Buffer => Buffer.concat([Buffer.from([0x24, ch, d.length >> 8, d.length & 0xff]), d]);
  c.sock.write(Buffer.concat([frame(1, rr), frame(1, Buffer.from('not rtcp at all')), frame(0, rr), frame(7, rr)]));
  for (let i = 0; i < 50 && got.length < 1; i++) await sleep(20);
  await sleep(100);
  t.same(got.map((b) => b.toString('hex')), [rr.toString('hex')], 'only the RTCP on its RTCP channel reached the publisher, byte-exact');

  t.equal(Object.keys(s.cs.clients).length, 1);
  c.sock.destroy();
  for (let i = 0; i < 50 && Object.keys(s.cs.clients).length; i++) await sleep(20);
  t.equal(Object.keys(s.cs.clients).length, 0, 'connection closed: session gone');
  t.equal(Object.keys(s.stream.clients).length, 0, 'and it no longer receives');
});

t.test('rtsp-streaming-server: channels chosen when not given; TEARDOWN then disconnect closes once', async (t) => {
  const s = await serve(t);
  const c = new Raw(s.port);
  const a = await c.request('SETUP', `${s.uri}/streamid=0`, ['Transport: RTP/AVP/TCP;unicast;interleaved=0-1']);
  const session = c.header(a.head, 'Session').split(';')[0];
  const b = await c.request('SETUP', `${s.uri}/streamid=0`, ['Transport: RTP/AVP/TCP;unicast', `Session: ${session}`]);
  t.equal(c.header(b.head, 'Transport'), 'RTP/AVP/TCP;unicast;interleaved=2-3', 'the next free pair');
  const rejections: unknown[] = [];
  const onRejection = (e: unknown): void => { rejections.push(e); };
  process.on('unhandledRejection', onRejection);
  t.teardown(() => process.off('unhandledRejection', onRejection));
  t.equal((await c.request('TEARDOWN', s.uri, [`Session: ${session}`])).status, 200);
  c.sock.destroy();
  await sleep(200);
  t.same(rejections, [], 'closing twice (TEARDOWN, then the connection) throws nothing');
});

t.test('rtsp-streaming-server: a TCP viewer that stops reading loses whole packets; another viewer gets all', async (t) => {
  const s = await serve(t);
  const saved = pkg.Client.tcpMaxBufferedBytes;
  pkg.Client.tcpMaxBufferedBytes = 512 * 1024;
  t.teardown(() => { pkg.Client.tcpMaxBufferedBytes = saved; });
  const play = async (): Promise<Raw> => {
    const c = new Raw(s.port);
    const r = await c.request('SETUP', `${s.uri}/streamid=0`, ['Transport: RTP/AVP/TCP;unicast;interleaved=0-1']);
    await c.request('PLAY', s.uri, [`Session: ${c.header(r.head, 'Session').split(';')[0]}`]);
    return c;
  };
  const slow = await play();
  const good = await play();
  slow.sock.pause(); // reads nothing from now on: the kernel's buffers fill, then the server's
  const pkt = Buffer.alloc(1400, 0x5a);
  pkt[0] = 0x80; pkt[1] = 96;
  // 16.8 MB: more than a non-reading connection's kernel buffers take (the receive buffer
  // does not grow for a reader that reads nothing; the send buffer grows to tcp_wmem's 4 MB).
  const N = 12_000;
  for (let i = 0; i < N; i++) {
    const p = Buffer.from(pkt); // send() is asynchronous: each datagram needs its own bytes
    p.writeUInt16BE(i & 0xffff, 2);
    s.pub.send(p, s.stream.rtpStartPort, '127.0.0.1');
    if (i % 25 === 24) await sleep(2); // UDP to the mount must not overflow its socket buffer
  }
  for (let i = 0; i < 200 && good.frames.length < N; i++) await sleep(50);
  const clients = Object.values(s.stream.clients);
  const of = (c: Raw) => clients.find((x) => x.remotePort === c.sock.localPort)!;
  t.ok(of(slow).droppedPackets > 0, `the stalled viewer's packets were dropped (${of(slow).droppedPackets}) instead of queued without bound`);
  t.equal(of(good).droppedPackets, 0, 'none of the reading viewer\'s');
  t.equal(good.frames.length, N, 'the reading viewer received every packet');
  const bad = good.frames.findIndex((f, i) => f.data.length !== 1400 || f.data.readUInt16BE(2) !== (i & 0xffff));
  t.equal(bad, -1, `whole, in order${bad >= 0 ? `: frame ${bad} is seq ${good.frames[bad].data.readUInt16BE(2)} of ${good.frames[bad].data.length} bytes` : ''}`);
  slow.sock.resume();
  const before = slow.frames.length;
  for (let i = 0; i < 100 && slow.frames.length === before; i++) await sleep(20);
  await sleep(300);
  t.ok(slow.frames.every((f) => f.channel === 0 && f.data.length === 1400), `the stalled viewer, reading again, gets whole frames only (${slow.frames.length} of ${N})`);
  slow.sock.destroy();
  good.sock.destroy();
});

t.test('rtsp-streaming-server: UDP viewer RTCP is taken only from the viewer\'s own address', async (t) => {
  const s = await serve(t);
  const c = new Raw(s.port);
  const viewer = createSocket('udp4');
  await new Promise<void>((r) => viewer.bind(0, '127.0.0.1', () => r()));
  const vp = viewer.address().port;
  const setup = await c.request('SETUP', `${s.uri}/streamid=0`, [`Transport: RTP/AVP;unicast;client_port=${vp}-${vp + 1}`]);
  const serverRtcp = Number(/server_port=\d+-(\d+)/.exec(c.header(setup.head, 'Transport'))?.[1]);
  t.ok(serverRtcp > 0, `server RTCP port ${serverRtcp}`);
  s.pub.send(Buffer.from([0x80, 200, 0, 6, 1, 2, 3, 4, ...new Array(20).fill(7)]), s.stream.rtpEndPort, '127.0.0.1');
  await sleep(50);
  const got: Buffer[] = [];
  s.pub.on('message', (b) => got.push(b));
  const rr = (tag: number): Buffer => Buffer.from([0x81, 201, 0, 7, tag, 9, 9, 9, 1, 2, 3, 4, ...new Array(20).fill(0)]);
  const spoof: UdpSocket = createSocket('udp4');
  await new Promise<void>((r) => spoof.bind(0, '127.0.0.2', () => r()));
  spoof.send(rr(2), serverRtcp, '127.0.0.1');
  viewer.send(rr(1), serverRtcp, '127.0.0.1');
  await sleep(200);
  t.same(got.map((b) => b[4]), [1], 'the viewer\'s report relayed; one from another address (127.0.0.2) not');
  viewer.close();
  spoof.close();
  c.sock.destroy();
});
