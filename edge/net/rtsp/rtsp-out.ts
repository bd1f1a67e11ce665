/**
 * RtspOut: the box's RTSP serving, `rtsp://<box>:<port>/<channel>/hq` and `/lq`, through the
 * `rtsp-streaming-server` package run in a child process (server-child.ts; why and how it is
 * guarded is written there).
 *
 * Owns: the child process (fork, restart with capped exponential backoff and jitter, stop), the
 * loopback UDP socket media leaves the box's process by, and the set of mounts (one per
 * channel/role). Mounts are ours: the child creates them only when told, re-creates all of them
 * after a restart, and dies with its IPC channel, so a vanished publisher leaves no stale mount.
 *
 * Lifecycle: `new RtspOut(opts)` validates only; `start()` binds the media socket, forks the
 * child and resolves once it listens; `addStream()` returns a handle at once (packets are
 * dropped, and counted, until its mount is ready and while the child restarts); `close()` is
 * idempotent, removes everything, stops the child and fails pending requests with
 * RtspOutClosedError. One state enum: new -> starting -> running <-> restarting -> closed.
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
import { fork, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { buildH264Sdp } from '../../rtp/sdp.js';
import { buildOpusMediaSdp } from '../../rtp/opus.js';
import { Backoff } from '../../lib/backoff.js';
import type { LogSink } from '../../lib/log.js';
import type { ChildConfig, ChildMessage, MountStats, ParentMessage } from './protocol.js';

export type StreamRole = 'hq' | 'lq';
export type RtspOutState = 'new' | 'starting' | 'running' | 'restarting' | 'closed';

export class RtspOutOptionError extends Error {
  override readonly name = 'RtspOutOptionError';
  constructor(readonly option: string, message: string) { super(`RtspOut option ${option}: ${message}`); }
}
export class RtspOutStateError extends Error {
  override readonly name = 'RtspOutStateError';
  constructor(readonly state: RtspOutState, readonly operation: string) { super(`RtspOut: ${operation} not allowed in state ${state}`); }
}
export class RtspOutClosedError extends Error {
  override readonly name = 'RtspOutClosedError';
  constructor() { super('RtspOut closed'); }
}
export class RtspChildError extends Error {
  override readonly name = 'RtspChildError';
  constructor(message: string) { super(message); }
}

export interface RtspOutOptions {
  /** Address the RTSP server listens on. Default '0.0.0.0'. */
  host?: string;
  /** RTSP TCP port. Default 8554. */
  port?: number;
  /** Host name written into SDP control URLs (the child rewrites it to whatever authority a viewer used). Default: `host`, or 127.0.0.1 for a wildcard. */
  advertisedHost?: string;
  /** Even start of the UDP port range for mount relays and viewer sessions. Default 20000. */
  rtpPortStart?: number;
  /** Ports in that range (two per mount or viewer). Default 2000. */
  rtpPortCount?: number;
  maxConnections?: number;
  maxSessions?: number;
  /** Idle RTSP connections are closed after this (ms). Default 120 000. */
  idleTimeoutMs?: number;
  /** A session not playing this long after its SETUP is closed (ms). Default 5000. */
  unplayedSessionMs?: number;
  /** A playing session silent this long is closed (ms). Default 35 000 (the advertised `timeout=30` + 5 s). */
  sessionTimeoutMs?: number;
  /** Most sessions per source address. Default 16. */
  maxSessionsPerClient?: number;
  /** Restart backoff: first delay and cap (ms). Defaults 250 and 10 000. */
  restartInitialMs?: number;
  restartMaxMs?: number;
  /** A child that ran this long resets the backoff (ms). Default 30 000. */
  restartResetMs?: number;
  /** How long start() and each request to the child may take (ms). Default 10 000. */
  requestTimeoutMs?: number;
  /** Randomness for backoff jitter in [0, 1). Default Math.random. */
  random?: () => number;
  log?: LogSink;
  /** Test hook: run the package without guards. */
  unguarded?: boolean;
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
const childProgram = fileURLToPath(new URL('./server-child.js', import.meta.url));

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

  constructor(private readonly out: RtspOut, readonly path: string, readonly url: string, sdp: string, readonly audio: boolean) {
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
  private readonly cfg: Required<Omit<RtspOutOptions, 'random' | 'log' | 'unguarded' | 'advertisedHost'>> & { advertisedHost: string; unguarded: boolean };
  private readonly restartBackoff: Backoff;
  private readonly log: LogSink;
  private stateValue: RtspOutState = 'new';
  private sock: UdpSocket | null = null;
  private child: ChildProcess | null = null;
  private readonly streams = new Map<string, StreamHandle>();
  private readonly framed: Buffer[] = [];
  private framedNext = 0;
  /** Mount RTCP port -> its handle: where viewers' RTCP arriving from that port belongs. */
  private readonly rtcpRoutes = new Map<number, { h: StreamHandle; audio: boolean }>();
  /** Datagrams on the media socket from anywhere but a mount's RTCP port (dropped). */
  foreignDatagrams = 0;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private restartTimer: NodeJS.Timeout | null = null;
  private childStartedAt = 0;
  private listeningPort = 0;
  /** Times the child was restarted after dying. */
  restarts = 0;
  /** Called after each (re)start of the child, once it listens and mounts are re-added. */
  onChildUp: ((pid: number) => void) | null = null;

  /** Validates options only. @throws RtspOutOptionError naming the option. */
  constructor(opts: RtspOutOptions = {}) {
    const port = opts.port ?? 8554;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RtspOutOptionError('port', `${port} is not a TCP port`);
    const host = opts.host ?? '0.0.0.0';
    if (!/^[0-9a-fA-F:.]+$|^[A-Za-z0-9.-]+$/.test(host)) throw new RtspOutOptionError('host', `'${host}' is not an address`);
    const rtpPortStart = opts.rtpPortStart ?? 20000;
    const rtpPortCount = opts.rtpPortCount ?? 2000;
    if (!Number.isInteger(rtpPortStart) || rtpPortStart % 2 !== 0 || rtpPortStart < 1024) throw new RtspOutOptionError('rtpPortStart', `${rtpPortStart} must be even and >= 1024`);
    if (!Number.isInteger(rtpPortCount) || rtpPortCount < 4 || rtpPortStart + rtpPortCount > 65536) throw new RtspOutOptionError('rtpPortCount', `${rtpPortCount} does not fit the port space`);
    const advertisedHost = opts.advertisedHost ?? (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host);
    if (!/^[A-Za-z0-9.:[\]-]+$/.test(advertisedHost)) throw new RtspOutOptionError('advertisedHost', `'${advertisedHost}' is not a host`);
    const pos = (name: string, v: number | undefined, d: number): number => {
      const x = v ?? d;
      if (!Number.isFinite(x) || x <= 0) throw new RtspOutOptionError(name, `${x} must be > 0`);
      return x;
    };
    this.cfg = {
      host, port, advertisedHost, rtpPortStart, rtpPortCount,
      maxConnections: pos('maxConnections', opts.maxConnections, 64),
      maxSessions: pos('maxSessions', opts.maxSessions, 64),
      idleTimeoutMs: pos('idleTimeoutMs', opts.idleTimeoutMs, 120_000),
      unplayedSessionMs: pos('unplayedSessionMs', opts.unplayedSessionMs, 5000),
      sessionTimeoutMs: pos('sessionTimeoutMs', opts.sessionTimeoutMs, 35_000),
      maxSessionsPerClient: pos('maxSessionsPerClient', opts.maxSessionsPerClient, 16),
      restartInitialMs: pos('restartInitialMs', opts.restartInitialMs, 250),
      restartMaxMs: pos('restartMaxMs', opts.restartMaxMs, 10_000),
      restartResetMs: pos('restartResetMs', opts.restartResetMs, 30_000),
      requestTimeoutMs: pos('requestTimeoutMs', opts.requestTimeoutMs, 10_000),
      unguarded: opts.unguarded ?? false,
    };
    // Jitter: the boxes of a fleet must not restart their children in step.
    this.restartBackoff = new Backoff({ minMs: this.cfg.restartInitialMs, maxMs: this.cfg.restartMaxMs, jitter: 0.5 }, opts.random);
    this.log = opts.log ?? { info() {}, warn() {}, error() {}, debug() {} };
  }

  get state(): RtspOutState { return this.stateValue; }
  /** The RTSP port actually listened on (useful with port 0). */
  get port(): number { return this.listeningPort || this.cfg.port; }
  /** Pid of the current child, or 0. */
  get childPid(): number { return this.child?.pid ?? 0; }

  /** Binds the media socket, forks the child, resolves when it listens. @throws RtspChildError. */
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
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, '127.0.0.1', () => { sock.off('error', reject); resolve(); });
    });
    try {
      await this.spawnChild();
    } catch (e) {
      await this.close();
      throw e;
    }
    this.stateValue = 'running';
  }

  /** The URL viewers use for a stream: `/<channel>/<role>`, or `/<channel>` (`orbox receive`'s re-served channels). */
  url(channel: string, role: StreamRole | null): string {
    return `rtsp://${this.cfg.advertisedHost}:${this.port}/${channel}${role ? `/${role}` : ''}`;
  }

  /**
   * Publishes `/<channel>/<role>` (or `/<channel>` for role null). Returns at once; `handle.ready`
   * resolves when viewers can play. Adding a path again replaces the previous stream.
   * @throws RtspOutOptionError for a bad channel or role, RtspOutStateError unless running/restarting.
   */
  addStream(channel: string, role: StreamRole | null, sdpParams: RtspSdpParams): RtspStreamHandle {
    if (this.stateValue !== 'running' && this.stateValue !== 'restarting') throw new RtspOutStateError(this.stateValue, 'addStream');
    if (!CHANNEL.test(channel)) throw new RtspOutOptionError('channel', `'${channel}' must be 1-64 of [A-Za-z0-9_-]`);
    if (role !== null && role !== 'hq' && role !== 'lq') throw new RtspOutOptionError('role', `'${String(role)}' is not hq or lq`);
    const path = `/${channel}${role ? `/${role}` : ''}`;
    const old = this.streams.get(path);
    if (old) { old.closed = true; old.markDown(); }
    const h = new StreamHandle(this, path, this.url(channel, role), this.sdpFor(path, sdpParams), sdpParams.audio !== undefined);
    this.streams.set(path, h);
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
    this.stateValue = 'closed';
    if (this.restartTimer) clearTimeout(this.restartTimer);
    for (const h of this.streams.values()) { h.closed = true; h.markDown(); h.markFailed(new RtspOutClosedError()); }
    this.streams.clear();
    this.failPending(new RtspOutClosedError());
    const child = this.child;
    this.child = null;
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 2000);
      await gone;
      clearTimeout(t);
    }
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
    const child = this.child;
    if (!child || !child.connected) return Promise.reject(this.stateValue === 'closed' ? new RtspOutClosedError() : new RtspChildError('RTSP server child not running'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(id); reject(new RtspChildError(`${m.t} timed out`)); }, this.cfg.requestTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      child.send({ ...m, id } as ParentMessage);
    });
  }

  private mount(h: StreamHandle): void {
    this.request({ t: 'add', path: h.path, sdp: h.sdp, ...(h.audio ? { audio: true } : {}) }).then((m) => {
      if (h.closed) return;
      if (m.t === 'added') h.markReady(m.rtpPort, m.rtcpPort, m.audioRtpPort, m.audioRtcpPort);
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

  private spawnChild(): Promise<void> {
    const config: ChildConfig = {
      host: this.cfg.host, port: this.listeningPort || this.cfg.port,
      rtpPortStart: this.cfg.rtpPortStart, rtpPortCount: this.cfg.rtpPortCount,
      sourceAddress: '127.0.0.1', sourcePort: this.sock!.address().port,
      maxConnections: this.cfg.maxConnections, maxSessions: this.cfg.maxSessions,
      idleTimeoutMs: this.cfg.idleTimeoutMs, unguarded: this.cfg.unguarded,
      unplayedSessionMs: this.cfg.unplayedSessionMs, sessionTimeoutMs: this.cfg.sessionTimeoutMs, maxSessionsPerClient: this.cfg.maxSessionsPerClient,
    };
    const child = fork(childProgram, [JSON.stringify(config)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json' });
    this.child = child;
    this.childStartedAt = Date.now();
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr = (stderr + d).slice(-4000); });
    return new Promise<void>((resolve, reject) => {
      let listening = false;
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new RtspChildError('RTSP server child did not start in time')); }, this.cfg.requestTimeoutMs);
      child.on('message', (m: ChildMessage) => {
        switch (m.t) {
          case 'listening':
            listening = true;
            clearTimeout(timer);
            this.listeningPort = m.port;
            for (const h of this.streams.values()) this.mount(h);
            this.onChildUp?.(child.pid ?? 0);
            resolve();
            return;
          case 'log': this.log[m.level]({}, `rtsp child: ${m.msg}`); return;
          case 'fatal': this.log.error({}, `rtsp child: ${m.message}`); return;
          default: {
            const p = this.pending.get(m.id);
            if (!p) return;
            this.pending.delete(m.id);
            clearTimeout(p.timer);
            if (m.t === 'failed') p.reject(new RtspChildError(m.message)); else p.resolve(m);
          }
        }
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        if (this.child !== child) return; // closed on purpose
        this.child = null;
        this.failPending(new RtspChildError(`RTSP server child exited (${code ?? signal})`));
        for (const h of this.streams.values()) h.markDown();
        if (!listening) { reject(new RtspChildError(`RTSP server child exited before listening (${code ?? signal}): ${stderr.slice(-500)}`)); }
        if (this.stateValue === 'running' || this.stateValue === 'restarting') this.scheduleRestart(code, signal);
      });
    });
  }

  private scheduleRestart(code: number | null, signal: NodeJS.Signals | null): void {
    this.stateValue = 'restarting';
    if (Date.now() - this.childStartedAt > this.cfg.restartResetMs) this.restartBackoff.reset();
    const delay = this.restartBackoff.next();
    this.log.warn({}, `RTSP server child exited (${code ?? signal}); restart ${this.restartBackoff.attempts} in ${delay} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stateValue !== 'restarting') return;
      this.restarts++;
      this.spawnChild().then(() => { if (this.stateValue === 'restarting') this.stateValue = 'running'; }, (e: Error) => {
        this.log.error({}, e.message); // its exit handler schedules the next attempt
      });
    }, delay);
  }
}
