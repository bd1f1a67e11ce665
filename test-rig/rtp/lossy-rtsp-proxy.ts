/**
 * A lossy network between an RTSP server and its viewers, for tests on one host (`tc netem`
 * is not available in this kernel: shared reference rtp-resilience.md). An RTSP proxy that
 * puts itself on the media path of UDP sessions: each SETUP's `client_port` is replaced by a
 * port pair of the proxy, and the answer's `server_port` too, so that
 *   server RTP/RTCP -> proxy -> viewer   loses `loss` of the RTP (seeded Bernoulli), delays all by `delayMs`
 *   viewer RTCP -> proxy -> server       loses `feedbackLoss` of it, delays it by `delayMs`
 * The RTSP conversation itself (TCP) passes unchanged, as do interleaved frames: a viewer on TCP
 * sees no loss (TCP does not lose), which is what the real network would do too.
 * The loss and delay decisions are the impairment model's (`../net/impairment.ts`, the same as
 * the UDP link's), one model per path: RTP toward the viewer (seed `seed`), RTCP toward the
 * viewer (delay only), RTCP toward the server (seed `seed + 1`); the delayed datagrams wait in
 * one DeliveryQueue (`../net/delivery-queue.ts`).
 *
 * Lifecycle: `new LossyRtspProxy(opts)`; `start()` listens on 127.0.0.1 and returns the port;
 * `url(path)`; `stats`; `close()` ends every connection and socket (idempotent).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { DeliveryQueue } from '../net/delivery-queue.js';
import { Impairment } from '../net/impairment.js';

export interface LossyRtspProxyOptions {
  /** The real RTSP server. */
  upstreamHost: string;
  upstreamPort: number;
  /** Share of server -> viewer RTP packets dropped, 0..1. */
  loss: number;
  /** Share of viewer -> server RTCP packets dropped, 0..1. Default 0. */
  feedbackLoss?: number;
  /** Added to every datagram in both directions (ms). Default 0. */
  delayMs?: number;
  /** PRNG seed, so a run can be repeated. Default 1. */
  seed?: number;
}

export interface LossyRtspProxyStats { rtpForwarded: number; rtpDropped: number; rtcpToViewer: number; rtcpToServer: number; rtcpDropped: number; sessions: number }

interface Pending { viewerRtp: number; viewerRtcp: number; towardServer: [UdpSocket, UdpSocket] }
interface Send { sock: UdpSocket; buf: Buffer; port: number; count: 'rtpForwarded' | 'rtcpToViewer' | 'rtcpToServer' }

export class LossyRtspProxy {
  readonly stats: LossyRtspProxyStats = { rtpForwarded: 0, rtpDropped: 0, rtcpToViewer: 0, rtcpToServer: 0, rtcpDropped: 0, sessions: 0 };
  private server: Server | null = null;
  private readonly sockets = new Set<UdpSocket>();
  private readonly conns = new Set<Socket>();
  /** Server RTP -> viewer: `loss`, `delayMs`. */
  private readonly rtpPath: Impairment;
  /** Server RTCP -> viewer: `delayMs`. */
  private readonly srPath: Impairment;
  /** Viewer RTCP -> server: `feedbackLoss`, `delayMs`. */
  private readonly feedbackPath: Impairment;
  private readonly queue = new DeliveryQueue<Send>((s) => this.deliver(s));
  private port = 0;
  private closed = false;

  constructor(private readonly o: LossyRtspProxyOptions) {
    for (const [k, v] of [['loss', o.loss], ['feedbackLoss', o.feedbackLoss ?? 0]] as const) {
      if (!(v >= 0 && v <= 1)) throw new RangeError(`LossyRtspProxy option ${k}: ${v} is not within 0..1`);
    }
    const seed = o.seed ?? 1;
    const delayMs = o.delayMs ?? 0;
    this.rtpPath = new Impairment({ loss: o.loss, delayMs }, { seed });
    this.srPath = new Impairment({ delayMs }, { seed });
    this.feedbackPath = new Impairment({ loss: o.feedbackLoss ?? 0, delayMs }, { seed: seed + 1 });
  }

  async start(): Promise<number> {
    const srv = createServer((c) => this.onViewer(c));
    this.server = srv;
    await new Promise<void>((resolve, reject) => { srv.once('error', reject); srv.listen(0, '127.0.0.1', () => resolve()); });
    const a = srv.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
    return this.port;
  }

  url(path: string): string { return `rtsp://127.0.0.1:${this.port}${path}`; }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue.close();
    for (const c of this.conns) c.destroy();
    for (const s of this.sockets) s.close();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private onViewer(viewer: Socket): void {
    const server = connect(this.o.upstreamPort, this.o.upstreamHost);
    this.conns.add(viewer).add(server);
    const pending = new Map<string, Pending>();
    const end = (): void => { viewer.destroy(); server.destroy(); };
    viewer.on('error', end).on('close', end);
    server.on('error', end).on('close', end);
    this.pipeMessages(viewer, server, async (head) => this.rewriteRequest(head, pending));
    this.pipeMessages(server, viewer, async (head) => this.rewriteResponse(head, pending));
  }

  /**
   * Copies RTSP messages from `from` to `to`, passing each message's header through `rewrite`
   * (bodies by Content-Length, interleaved '$' frames, unchanged). Order is kept: a message
   * waits for the rewrite of the one before it.
   */
  private pipeMessages(from: Socket, to: Socket, rewrite: (head: string) => Promise<string>): void {
    let buf = Buffer.alloc(0);
    let chain = Promise.resolve();
    from.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (buf.length && buf[0] === 0x24) {
          if (buf.length < 4) return;
          const n = 4 + buf.readUInt16BE(2);
          if (buf.length < n) return;
          const frame = buf.subarray(0, n);
          buf = buf.subarray(n);
          chain = chain.then(() => { to.write(frame); });
          continue;
        }
        const i = buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        const head = buf.subarray(0, i + 4).toString('latin1');
        const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < i + 4 + len) return;
        const body = buf.subarray(i + 4, i + 4 + len);
        buf = buf.subarray(i + 4 + len);
        chain = chain.then(async () => {
          const h = await rewrite(head);
          to.write(Buffer.concat([Buffer.from(h, 'latin1'), body]));
        }).catch(() => { from.destroy(); });
      }
    });
  }

  private async rewriteRequest(head: string, pending: Map<string, Pending>): Promise<string> {
    const m = /\r\ntransport:\s*([^\r\n]*)/i.exec(head);
    const cseq = /\r\ncseq:\s*(\S+)/i.exec(head)?.[1] ?? '';
    const ports = m && /^SETUP /.test(head) ? /client_port=(\d+)-(\d+)/.exec(m[1]) : null;
    if (!ports) return head;
    // Toward the server we stand in for the viewer: the server sends to fromServer[0]/[1].
    const fromServer = await this.bindPair();
    pending.set(cseq, { viewerRtp: Number(ports[1]), viewerRtcp: Number(ports[2]), towardServer: fromServer });
    const transport = m![1].replace(/client_port=\d+-\d+/, `client_port=${fromServer[0].address().port}-${fromServer[1].address().port}`);
    return head.replace(m![1], transport);
  }

  private async rewriteResponse(head: string, pending: Map<string, Pending>): Promise<string> {
    const cseq = /\r\ncseq:\s*(\S+)/i.exec(head)?.[1] ?? '';
    const p = pending.get(cseq);
    const m = /\r\ntransport:\s*([^\r\n]*)/i.exec(head);
    const sp = m ? /server_port=(\d+)-(\d+)/.exec(m[1]) : null;
    if (!p || !m || !sp) return head;
    pending.delete(cseq);
    this.stats.sessions++;
    const serverRtcp = Number(sp[2]);
    const [srvRtp, srvRtcp] = p.towardServer;
    // Toward the viewer we stand in for the server: it sends its RTCP to fromViewer[1].
    const fromViewer = await this.bindPair();
    srvRtp.on('message', (buf) => {
      if (!this.impair(this.rtpPath, { sock: srvRtp, buf, port: p.viewerRtp, count: 'rtpForwarded' })) this.stats.rtpDropped++;
    });
    srvRtcp.on('message', (buf) => { this.impair(this.srPath, { sock: srvRtcp, buf, port: p.viewerRtcp, count: 'rtcpToViewer' }); });
    fromViewer[1].on('message', (buf) => {
      if (!this.impair(this.feedbackPath, { sock: srvRtcp, buf, port: serverRtcp, count: 'rtcpToServer' })) this.stats.rtcpDropped++;
    });
    // fromViewer[0] takes the viewer's RTP-port hole-punching packets, which go nowhere.
    const transport = m[1].replace(/server_port=\d+-\d+/, `server_port=${fromViewer[0].address().port}-${fromViewer[1].address().port}`);
    return head.replace(m[1], transport);
  }

  /** Queues the copies of one datagram that `path` lets through; false when it is lost. */
  private impair(path: Impairment, s: Send): boolean {
    if (this.closed) return true;
    const now = performance.now();
    const f = path.decide(now);
    for (let i = 0; i < f.copies; i++) this.queue.push(now + f.delayMs[i]!, s);
    return f.copies > 0;
  }

  private deliver(s: Send): void {
    if (this.closed) return;
    this.stats[s.count]++;
    s.sock.send(s.buf, s.port, '127.0.0.1');
  }

  /** Two UDP sockets on consecutive ports (even first), on 127.0.0.1. */
  private async bindPair(): Promise<[UdpSocket, UdpSocket]> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const a = await this.bind(0);
      const port = a.address().port;
      if (port % 2 !== 0 || port >= 65535) { a.close(); continue; }
      try {
        const b = await this.bind(port + 1);
        this.sockets.add(a).add(b);
        return [a, b];
      } catch {
        a.close();
      }
    }
    throw new Error('LossyRtspProxy: no free UDP port pair on 127.0.0.1');
  }

  private bind(port: number): Promise<UdpSocket> {
    return new Promise((resolve, reject) => {
      const s = createSocket('udp4');
      s.once('error', reject);
      s.bind(port, '127.0.0.1', () => { s.off('error', reject); s.on('error', () => undefined); resolve(s); });
    });
  }
}
