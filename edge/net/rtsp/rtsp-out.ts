/**
 * RtspOut: the box's RTSP serving, `rtsp://<box>:<port>/<channel>/hq` and `/lq`, through the
 * `rtsp-streaming-server` package run in a child process (server-child.ts; why and how it is
 * guarded is written there) that an RtspServerHost owns (server-host.ts).
 *
 * Owns: the loopback UDP socket media leaves the publisher's thread by, the set of mounts (one
 * per channel/role) and its end of the channel to the host. Two ways to run:
 *  - `server: port` (a box: the supervisor's host, `attach()`ed for this net-send incarnation):
 *    the child outlives this RtspOut; on start it attaches (names its media socket) and learns
 *    the mounts an earlier incarnation left with their RTP state (`rtpState()`): a stream that
 *    re-adds its path within the child's reclaim time takes the mount over with its viewers,
 *    and continues the SSRC, sequence and timestamps, so a viewer sees a stall, not an end.
 *  - standalone (tests, `orbox receive`): it makes its own host, closed with it.
 * Mounts are ours either way: the child creates them only when told, re-creates all of them
 * after a child restart (when viewers are lost), and a mount nobody re-adds is removed.
 *
 * Lifecycle: `new RtspOut(opts)` validates only; `start()` binds the media socket, (starts its
 * own host,) waits for the child to listen and attaches; `addStream()` returns a handle at once
 * (packets are dropped, and counted, until its mount is ready and while the child restarts);
 * `close()` is idempotent, removes its mounts (viewers get an RTCP BYE: a real end), stops its
 * own host if any, and fails pending requests with RtspOutClosedError. One state enum:
 * new -> starting -> running <-> restarting -> closed.
 *
 * Media path: handle.sendAll(packets) -> UDP 127.0.0.1 -> the mount's relay port in the child
 * -> each viewer, over UDP or interleaved on its RTSP connection (TCP). The hop to the child
 * carries the packets of one access unit in as few datagrams as fit, each packet preceded by
 * its 16-bit length (RFC 4571 framing); the child splits them, instead of a send in net-send
 * and a wake-up in the child for every packet (~430/s for a 4.8 Mbit/s channel; measured:
 * the child went from 0.006 to 0.005 cores, net-send stayed within noise at ~0.02). RTCP
 * sender reports go unframed to the mount's RTCP port. A mount of a channel with audio has a
 * second stream (`streamid=1`, its own port pair: sendAudio / sendAudioRtcp / onAudioRtcp) and
 * a second media section in its SDP (Opus, RFC 7587). Viewers' RTCP (receiver reports; over
 * UDP or TCP) comes back from the mount's RTCP port to the media socket and is handed, whole,
 * to that handle's `onRtcp`: the source port names the mount, and nothing else is accepted.
 * Runs on: net-send.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import type { MessagePort } from 'node:worker_threads';
import { buildH264Sdp } from '../../rtp/sdp.js';
import { buildOpusMediaSdp } from '../../rtp/opus.js';
import type { LogSink } from '../../lib/log.js';
import type { ChildMessage, HostMessage, MountRtpState, MountStats, ParentMessage } from './protocol.js';
import { RtspChildError, RtspOutOptionError, RtspServerHost, serverConfig, type RtspServerOptions } from './server-host.js';

export { RtspChildError, RtspOutOptionError, RtspServerHost, type RtspServerOptions } from './server-host.js';
export type { MountRtpState } from './protocol.js';

export type StreamRole = 'hq' | 'lq';
export type RtspOutState = 'new' | 'starting' | 'running' | 'restarting' | 'closed';

export class RtspOutStateError extends Error {
  override readonly name = 'RtspOutStateError';
  constructor(readonly state: RtspOutState, readonly operation: string) { super(`RtspOut: ${operation} not allowed in state ${state}`); }
}
export class RtspOutClosedError extends Error {
  override readonly name = 'RtspOutClosedError';
  constructor() { super('RtspOut closed'); }
}

export interface RtspOutOptions extends RtspServerOptions {
  /** Host name written into SDP control URLs (the child rewrites it to whatever authority a viewer used). Default: `host`, or 127.0.0.1 for a wildcard. */
  advertisedHost?: string;
  /**
   * The channel to a running RtspServerHost (its `attach()`): the server options above are
   * then the host's business and ignored here. Without it RtspOut makes and owns a host.
   */
  server?: MessagePort;
}

/** Parameters for a stream's SDP (see edge/rtp/sdp.ts). */
export interface RtspSdpParams {
  sps: Uint8Array;
  pps: Uint8Array;
  payloadType?: number;
  framerate?: number;
  /** The channel's audio: a second media (`m=audio`, Opus/48000/2 per RFC 7587, `streamid=1`). */
  audio?: { channels: 1 | 2; payloadType?: number };
}

/** What net-send holds per stream. Packets are sent as they are (no copy): see H264Packetizer for buffer lifetime. */
export interface RtspStreamHandle {
  readonly path: string;
  readonly url: string;
  /** Resolves when the mount exists in the (current) child. */
  readonly ready: Promise<void>;
  /** Sends one RTP packet (`packet[0..length)`) to the viewers. Returns false if dropped (mount not ready). */
  send(packet: Uint8Array, length?: number): boolean;
  /** Sends packets[0..count) (packet i is packets[i][0..lengths[i])), e.g. one access unit, together. */
  sendAll(packets: readonly Uint8Array[], lengths: ArrayLike<number>, count: number): boolean;
  /** Sends one RTCP (compound) packet to the viewers' RTCP ports. */
  sendRtcp(packet: Uint8Array, length?: number): boolean;
  /** The audio track's RTP packet / RTCP compound (a mount with `audio`); false if dropped. */
  sendAudio(packet: Uint8Array, length?: number): boolean;
  sendAudioRtcp(packet: Uint8Array, length?: number): boolean;
  /** As onRtcp, for the viewers' RTCP on the audio track. */
  onAudioRtcp: ((packet: Buffer) => void) | null;
  /** New parameter sets (e.g. after an encoder restart): the SDP served from now on. */
  updateSdp(params: RtspSdpParams): Promise<void>;
  /**
   * Called with each RTCP packet a viewer of this stream sent (receiver reports, SDES, BYE),
   * valid only during the call. Set it once; null ignores them.
   */
  onRtcp: ((packet: Buffer) => void) | null;
  /** Removes the mount; viewers are dropped. Idempotent. */
  close(): Promise<void>;
  /** Packets dropped because the mount was not ready. */
  readonly dropped: number;
  /** Whether viewers can play the stream now (its mount exists in the current child). */
  readonly mounted: boolean;
  /** Why the last attempt to mount failed (e.g. its UDP ports are taken), null once mounted. */
  readonly mountError: string | null;
}

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

const CHANNEL = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
/** Largest framed datagram to the child (loopback carries up to 65507 bytes of UDP payload). */
const FRAMED_MAX = 60 * 1024;
const FRAMED_DEPTH = 32;

interface Pending { resolve: (m: ChildMessage) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }

class StreamHandle implements RtspStreamHandle {
  rtpPort = 0;
  rtcpPort = 0;
  audioRtpPort = 0;
  audioRtcpPort = 0;
  onAudioRtcp: ((packet: Buffer) => void) | null = null;
  dropped = 0;
  mountError: string | null = null;
  onRtcp: ((packet: Buffer) => void) | null = null;
  sdp: string;
  ready: Promise<void>;
  private settle!: { resolve: () => void; reject: (e: Error) => void };
  closed = false;

  constructor(private readonly out: RtspOut, readonly path: string, readonly url: string, sdp: string, readonly audio: boolean, readonly rtp: { ssrc: number; timestampOffset: number } | undefined) {
    this.sdp = sdp;
    this.ready = this.newReady();
  }

  newReady(): Promise<void> {
    const p = new Promise<void>((resolve, reject) => { this.settle = { resolve, reject }; });
    p.catch(() => undefined); // a handle nobody awaits must not raise an unhandled rejection
    return p;
  }
  get mounted(): boolean { return this.rtpPort !== 0; }
  markReady(rtp: number, rtcp: number, audioRtp = 0, audioRtcp = 0): void {
    this.rtpPort = rtp; this.rtcpPort = rtcp; this.audioRtpPort = audioRtp; this.audioRtcpPort = audioRtcp;
    this.mountError = null; this.out.routeRtcp(this); this.settle.resolve();
  }
  markFailed(e: Error): void { this.mountError = e.message; this.settle.reject(e); }
  markDown(): void {
    this.out.unrouteRtcp(this);
    this.rtpPort = 0;
    this.rtcpPort = 0;
    this.audioRtpPort = 0;
    this.audioRtcpPort = 0;
    this.ready = this.newReady();
  }

  send(packet: Uint8Array, length = packet.length): boolean {
    return this.sendAll([packet], [length], 1);
  }
  sendAll(packets: readonly Uint8Array[], lengths: ArrayLike<number>, count: number): boolean {
    if (this.rtpPort === 0) { this.dropped += count; return false; }
    this.out.sendFramed(packets, lengths, count, this.rtpPort);
    return true;
  }
  sendRtcp(packet: Uint8Array, length = packet.length): boolean {
    if (this.rtcpPort === 0) { this.dropped++; return false; }
    this.out.sendUdp(packet, length, this.rtcpPort);
    return true;
  }
  sendAudio(packet: Uint8Array, length = packet.length): boolean {
    if (this.audioRtpPort === 0) { this.dropped++; return false; }
    this.out.sendFramed([packet], [length], 1, this.audioRtpPort);
    return true;
  }
  sendAudioRtcp(packet: Uint8Array, length = packet.length): boolean {
    if (this.audioRtcpPort === 0) { this.dropped++; return false; }
    this.out.sendUdp(packet, length, this.audioRtcpPort);
    return true;
  }
  async updateSdp(params: RtspSdpParams): Promise<void> {
    this.sdp = this.out.sdpFor(this.path, params);
    if (this.rtpPort !== 0) await this.out.request({ t: 'update', path: this.path, sdp: this.sdp });
  }
  close(): Promise<void> { return this.out.removeStreamHandle(this); }
}

export class RtspOut {
  private readonly cfg: { advertisedHost: string; port: number; requestTimeoutMs: number };
  private readonly serverOpts: RtspServerOptions;
  private readonly log: LogSink;
  private stateValue: RtspOutState = 'new';
  private sock: UdpSocket | null = null;
  /** The host this RtspOut made (standalone), closed with it; null with `server`. */
  private ownHost: RtspServerHost | null = null;
  private link: MessagePort | null;
  /** The child listens (last 'up' not followed by 'down'). */
  private up = false;
  private pid = 0;
  private upWaiter: ((e?: Error) => void) | null = null;
  private readonly streams = new Map<string, StreamHandle>();
  /** Mounts an earlier publisher left in the child, with their RTP state (from 'attached'). */
  private readonly inherited = new Map<string, MountRtpState>();
  private readonly framed: Buffer[] = [];
  private framedNext = 0;
  /** Mount RTCP port -> its handle: where viewers' RTCP arriving from that port belongs. */
  private readonly rtcpRoutes = new Map<number, { h: StreamHandle; audio: boolean }>();
  /** Datagrams on the media socket from anywhere but a mount's RTCP port (dropped). */
  foreignDatagrams = 0;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private listeningPort = 0;
  /** Times the child came back after dying (its viewers were lost). */
  restarts = 0;
  /** Called after each (re)start of the child, once it listens and mounts are re-added. */
  onChildUp: ((pid: number) => void) | null = null;

  /** Validates options only. @throws RtspOutOptionError naming the option. */
  constructor(opts: RtspOutOptions = {}) {
    const { server, advertisedHost: adv, ...serverOpts } = opts;
    const sc = serverConfig(serverOpts); // validates even with `server`: a bad option is a bug either way
    const advertisedHost = adv ?? (sc.host === '0.0.0.0' || sc.host === '::' ? '127.0.0.1' : sc.host);
    if (!/^[A-Za-z0-9.:[\]-]+$/.test(advertisedHost)) throw new RtspOutOptionError('advertisedHost', `'${advertisedHost}' is not a host`);
    this.cfg = { advertisedHost, port: sc.port, requestTimeoutMs: sc.requestTimeoutMs };
    this.serverOpts = serverOpts;
    this.link = server ?? null;
    this.log = opts.log ?? { info() {}, warn() {}, error() {}, debug() {} };
  }

  get state(): RtspOutState { return this.stateValue; }
  /** The RTSP port actually listened on (useful with port 0). */
  get port(): number { return this.listeningPort || this.cfg.port; }
  /** Pid of the current child, or 0. */
  get childPid(): number { return this.up ? this.pid : 0; }

  /**
   * The RTP state of the mount an earlier publisher left at this path, or null: a stream that
   * continues it (same SSRC and timestamp offset, this sequence number next) is, to a viewer,
   * the same stream. Known from start() on.
   */
  rtpState(channel: string, role: StreamRole | null): MountRtpState | null {
    return this.inherited.get(`/${channel}${role ? `/${role}` : ''}`) ?? null;
  }

  /** Binds the media socket, attaches to the child once it listens. @throws RtspChildError. */
  async start(): Promise<void> {
    if (this.stateValue !== 'new') throw new RtspOutStateError(this.stateValue, 'start');
    this.stateValue = 'starting';
    const sock = createSocket('udp4');
    this.sock = sock;
    sock.on('error', (e) => this.log.warn({}, `media socket: ${e.message}`));
    sock.on('message', (buf, r) => {
      const route = r.address === '127.0.0.1' ? this.rtcpRoutes.get(r.port) : undefined;
      if (!route) { this.foreignDatagrams++; return; }
      const h = route.h;
      try {
        if (route.audio) h.onAudioRtcp?.(buf); else h.onRtcp?.(buf);
      } catch (e) {
        this.log.warn({}, `RTCP from viewers of ${h.path}: ${(e as Error).message}`);
      }
    });
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind(0, '127.0.0.1', () => { sock.off('error', reject); resolve(); });
      });
      if (!this.link) {
        this.ownHost = new RtspServerHost(this.serverOpts);
        await this.ownHost.start();
        this.link = this.ownHost.attach();
      }
      const link = this.link;
      link.on('message', (m: HostMessage | ChildMessage) => this.fromHost(m));
      // A shared host keeps retrying a child that cannot listen: wait for it as long as it takes.
      await new Promise<void>((resolve, reject) => {
        if (this.up) { resolve(); return; }
        const timer = this.ownHost ? setTimeout(() => { this.upWaiter = null; reject(new RtspChildError('RTSP server child did not start in time')); }, this.cfg.requestTimeoutMs) : undefined;
        this.upWaiter = (e) => { clearTimeout(timer); if (e) reject(e); else resolve(); };
      });
      await this.attach();
    } catch (e) {
      await this.close();
      throw e;
    }
    if (this.stateValue === 'starting') this.stateValue = 'running';
  }

  /** The URL viewers use for a stream: `/<channel>/<role>`, or `/<channel>` (`orbox receive`'s re-served channels). */
  url(channel: string, role: StreamRole | null): string {
    return `rtsp://${this.cfg.advertisedHost}:${this.port}/${channel}${role ? `/${role}` : ''}`;
  }

  /**
   * Publishes `/<channel>/<role>` (or `/<channel>` for role null). Returns at once; `handle.ready`
   * resolves when viewers can play. Adding a path again replaces the previous stream. `rtp`:
   * the stream's SSRC and timestamp offset, kept by the child for the next publisher.
   * @throws RtspOutOptionError for a bad channel or role, RtspOutStateError unless running/restarting.
   */
  addStream(channel: string, role: StreamRole | null, sdpParams: RtspSdpParams, rtp?: { ssrc: number; timestampOffset: number }): RtspStreamHandle {
    if (this.stateValue !== 'running' && this.stateValue !== 'restarting') throw new RtspOutStateError(this.stateValue, 'addStream');
    if (!CHANNEL.test(channel)) throw new RtspOutOptionError('channel', `'${channel}' must be 1-64 of [A-Za-z0-9_-]`);
    if (role !== null && role !== 'hq' && role !== 'lq') throw new RtspOutOptionError('role', `'${String(role)}' is not hq or lq`);
    const path = `/${channel}${role ? `/${role}` : ''}`;
    const old = this.streams.get(path);
    if (old) { old.closed = true; old.markDown(); }
    const h = new StreamHandle(this, path, this.url(channel, role), this.sdpFor(path, sdpParams), sdpParams.audio !== undefined, rtp);
    this.streams.set(path, h);
    // The mount an earlier publisher left is there with its viewers: send to it from the first
    // access unit (its 'add' takes it over meanwhile), not a keyframe later.
    const was = this.inherited.get(path);
    if (was && this.stateValue === 'running' && rtp?.ssrc === was.ssrc) h.markReady(was.rtpPort, was.rtcpPort);
    if (this.stateValue === 'running') this.mount(h);
    return h;
  }

  /** Viewer counts per mount, as the child sees them. */
  async stats(): Promise<{ mounts: MountStats[]; sessions: number; freeRtpPorts: number; guarded: Record<string, number> }> {
    const m = await this.request({ t: 'stats' });
    if (m.t !== 'stats') throw new RtspChildError(`unexpected answer ${m.t}`);
    return { mounts: m.mounts, sessions: m.sessions, freeRtpPorts: m.freeRtpPorts, guarded: m.guarded };
  }

  /** Stops everything. Idempotent; pending requests fail with RtspOutClosedError. */
  async close(): Promise<void> {
    if (this.stateValue === 'closed') return;
    const wasUp = this.up && this.stateValue === 'running';
    this.stateValue = 'closed';
    const left = [...this.streams.values()];
    for (const h of left) { h.closed = true; h.markDown(); h.markFailed(new RtspOutClosedError()); }
    this.streams.clear();
    // A shared child outlives us: our mounts go now, with a BYE to their viewers (a real end).
    if (wasUp && !this.ownHost && left.length > 0) {
      await Promise.all(left.map((h) => this.send({ t: 'remove', path: h.path }).catch(() => undefined)));
    }
    this.failPending(new RtspOutClosedError());
    this.upWaiter?.(new RtspOutClosedError());
    this.upWaiter = null;
    this.link?.close();
    this.link = null;
    this.up = false;
    if (this.ownHost) await this.ownHost.close();
    if (this.sock) { const s = this.sock; this.sock = null; await new Promise<void>((r) => s.close(() => r())); }
  }

  // ---- internals shared with StreamHandle ----

  sdpFor(path: string, p: RtspSdpParams): string {
    const base = `rtsp://${this.cfg.advertisedHost}:${this.port}${path}`;
    const video = buildH264Sdp({
      sps: p.sps, pps: p.pps, payloadType: p.payloadType, framerate: p.framerate,
      controlUrl: `${base}/streamid=0`,
      sessionName: `orbox ${path}`,
    });
    if (!p.audio) return video;
    // The audio's media section follows the video's; the child rewrites both control URLs.
    const nl = video.endsWith('\r\n') ? '' : '\r\n';
    return video + nl + buildOpusMediaSdp({ payloadType: p.audio.payloadType ?? 97, channels: p.audio.channels, useInbandFec: false, controlUrl: `${base}/streamid=1` });
  }

  routeRtcp(h: StreamHandle): void {
    this.rtcpRoutes.set(h.rtcpPort, { h, audio: false });
    if (h.audioRtcpPort) this.rtcpRoutes.set(h.audioRtcpPort, { h, audio: true });
  }
  unrouteRtcp(h: StreamHandle): void {
    for (const port of [h.rtcpPort, h.audioRtcpPort]) if (this.rtcpRoutes.get(port)?.h === h) this.rtcpRoutes.delete(port);
  }

  sendUdp(packet: Uint8Array, length: number, port: number): void {
    this.sock?.send(packet, 0, length, port, '127.0.0.1');
  }

  /**
   * Frames packets (16-bit length, then the packet) into datagrams of at most FRAMED_MAX bytes
   * and sends them. Datagram buffers are reused round-robin, FRAMED_DEPTH deep, so a send still
   * queued in libuv keeps its bytes for that many datagrams (loopback sends complete at once).
   */
  sendFramed(packets: readonly Uint8Array[], lengths: ArrayLike<number>, count: number, port: number): void {
    if (!this.sock) return;
    let buf = this.nextFramedBuffer();
    let at = 0;
    for (let i = 0; i < count; i++) {
      const n = lengths[i];
      if (n > FRAMED_MAX - 2) throw new RangeError(`RTP packet of ${n} bytes is larger than a datagram`);
      if (at + 2 + n > FRAMED_MAX) {
        this.sendUdp(buf, at, port);
        buf = this.nextFramedBuffer();
        at = 0;
      }
      buf.writeUInt16BE(n, at);
      buf.set(n === packets[i].length ? packets[i] : packets[i].subarray(0, n), at + 2);
      at += 2 + n;
    }
    if (at > 0) this.sendUdp(buf, at, port);
  }

  private nextFramedBuffer(): Buffer {
    const b = this.framed[this.framedNext] ??= Buffer.allocUnsafe(FRAMED_MAX);
    this.framedNext = (this.framedNext + 1) % FRAMED_DEPTH;
    return b;
  }

  async removeStreamHandle(h: StreamHandle): Promise<void> {
    if (h.closed) return;
    h.closed = true;
    h.markDown();
    if (this.streams.get(h.path) === h) this.streams.delete(h.path);
    if (this.stateValue === 'running') await this.request({ t: 'remove', path: h.path }).catch(() => undefined);
  }

  request(m: WithoutId<ParentMessage>): Promise<ChildMessage> {
    if (this.stateValue === 'closed') return Promise.reject(new RtspOutClosedError());
    return this.send(m);
  }

  private send(m: WithoutId<ParentMessage>): Promise<ChildMessage> {
    const link = this.link;
    if (!link || !this.up) return Promise.reject(new RtspChildError('RTSP server child not running'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(id); reject(new RtspChildError(`${m.t} timed out`)); }, this.cfg.requestTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      link.postMessage({ ...m, id } as ParentMessage);
    });
  }

  private fromHost(m: HostMessage | ChildMessage): void {
    switch (m.t) {
      case 'up': {
        const again = this.stateValue === 'restarting';
        this.up = true;
        this.pid = m.pid;
        this.listeningPort = m.port;
        if (this.upWaiter) { const w = this.upWaiter; this.upWaiter = null; w(); return; }
        if (!again) return;
        this.restarts++;
        // A new child: it has no mounts and no viewers; attach, then every stream mounts again.
        this.attach().then(() => {
          if (this.stateValue !== 'restarting') return;
          this.stateValue = 'running';
          for (const h of this.streams.values()) this.mount(h);
          this.onChildUp?.(m.pid);
        }, (e: Error) => this.log.error({}, `RTSP server child restarted, attach failed: ${e.message}`));
        return;
      }
      case 'down':
        this.up = false;
        this.failPending(new RtspChildError(m.reason));
        for (const h of this.streams.values()) h.markDown();
        if (this.stateValue === 'running') this.stateValue = 'restarting';
        return;
      case 'listening': case 'log': case 'fatal': return; // the host's business
      default: {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        clearTimeout(p.timer);
        if (m.t === 'failed') p.reject(new RtspChildError(m.message)); else p.resolve(m);
      }
    }
  }

  /** Names our media socket to the child and learns what an earlier publisher left there. */
  private async attach(): Promise<void> {
    const m = await this.send({ t: 'attach', sourcePort: this.sock!.address().port });
    if (m.t !== 'attached') throw new RtspChildError(`unexpected answer ${m.t}`);
    this.inherited.clear();
    for (const s of m.mounts) this.inherited.set(s.path, s);
  }

  private mount(h: StreamHandle): void {
    this.request({ t: 'add', path: h.path, sdp: h.sdp, rtp: h.rtp, ...(h.audio ? { audio: true } : {}) }).then((m) => {
      if (h.closed) return;
      if (m.t === 'added') {
        if (h.rtpPort === m.rtpPort && h.rtcpPort === m.rtcpPort) {
          // The inherited mount, taken over; its audio track's ports are known only now.
          h.audioRtpPort = m.audioRtpPort ?? 0;
          h.audioRtcpPort = m.audioRtcpPort ?? 0;
          this.routeRtcp(h);
          return;
        }
        if (h.rtpPort !== 0) h.markDown(); // not kept after all (its reclaim time ran out): the new mount's ports
        h.markReady(m.rtpPort, m.rtcpPort, m.audioRtpPort, m.audioRtcpPort);
      }
      else this.mountFailed(h, new RtspChildError(m.t === 'failed' ? m.message : `unexpected answer ${m.t}`));
    }, (e: Error) => { if (!h.closed) this.mountFailed(h, e); });
  }

  /** A stream nobody can play must not pass silently: its packets are only counted as dropped. */
  private mountFailed(h: StreamHandle, e: Error): void {
    this.log.error({}, `${h.path}: mount failed, viewers cannot play it: ${e.message}`);
    h.markFailed(e);
  }

  private failPending(e: Error): void {
    for (const p of this.pending.values()) { clearTimeout(p.timer); p.reject(e); }
    this.pending.clear();
  }
}
