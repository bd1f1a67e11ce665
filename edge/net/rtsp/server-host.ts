/**
 * RtspServerHost: owns the RTSP server child process (server-child.ts) for as long as the box
 * runs, above any publisher, so viewers' sessions outlive a net-send restart.
 *
 * Why here: a child forked from a worker thread belongs to that thread's event loop. When the
 * thread died (exit, throw, or terminate() after a hang) the child lost its IPC parent and
 * exited, dropping every viewer with an end of stream, and nothing was left to reap it (a
 * zombie until the box exited). In a box the supervisor's main thread holds the host; each
 * net-send incarnation gets a MessagePort from `attach()` and publishes through it (RtspOut).
 *
 * Owns: the child (fork, restart with capped exponential backoff and jitter, reaping, stop),
 * its configuration (checked here; `auth`, when given, is handed on as is: the child reads the
 * accounts file itself, server-child.ts), and the relay between the child's IPC channel and the current publisher's port. Request ids
 * are renumbered here, so an answer to a publisher that died is dropped, never delivered to its
 * successor. One publisher at a time: `attach()` closes the previous port. What the child
 * keeps across publishers (mounts, viewers, RTP continuity) is written in server-child.ts.
 *
 * Lifecycle: `new` validates options only; `start()` forks the child and resolves when it
 * listens (rejects with RtspChildError if it does not, in time), or `run()` forks it and keeps
 * retrying until it listens (a box); `attach()` at any time after
 * `new`; `close()` is idempotent: ports closed, the child stopped (SIGTERM, SIGKILL after 2 s)
 * and reaped. States: new -> starting -> running <-> restarting -> closed.
 * Runs on: the supervisor's main thread in a box; a standalone RtspOut (tests, `orbox receive`)
 * makes its own in its thread.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { Backoff } from '../../lib/backoff.js';
import type { LogSink } from '../../lib/log.js';
import { REALM, ROLES } from '../../access/index.js';
import type { ChildConfig, ChildMessage, HostMessage, ParentMessage, RtspAuthConfig } from './protocol.js';

export class RtspOutOptionError extends Error {
  override readonly name = 'RtspOutOptionError';
  constructor(readonly option: string, message: string) { super(`RtspOut option ${option}: ${message}`); }
}
export class RtspChildError extends Error {
  override readonly name = 'RtspChildError';
  constructor(message: string) { super(message); }
}

export interface RtspServerOptions {
  /** Address the RTSP server listens on. Default '0.0.0.0'. */
  host?: string;
  /** RTSP TCP port. Default 8554. */
  port?: number;
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
  /** A mount a restarted publisher has not re-added this long after attaching is removed (ms). Default 15 000. */
  reclaimMs?: number;
  /** Restart backoff: first delay and cap (ms). Defaults 250 and 10 000. */
  restartInitialMs?: number;
  restartMaxMs?: number;
  /** A child that ran this long resets the backoff (ms). Default 30 000. */
  restartResetMs?: number;
  /** How long the child may take to listen (ms). Default 10 000. */
  requestTimeoutMs?: number;
  /** Randomness for backoff jitter in [0, 1). Default Math.random. */
  random?: () => number;
  log?: LogSink;
  /** Test hook: run the package without guards. */
  unguarded?: boolean;
  /** Digest authentication (every request but OPTIONS; server-child.ts). Default none; not applied with `unguarded`. */
  auth?: RtspAuthConfig;
}

export type RtspHostState = 'new' | 'starting' | 'running' | 'restarting' | 'closed';
type ServerConfig = Required<Omit<RtspServerOptions, 'random' | 'log' | 'auth'>> & { auth?: RtspAuthConfig };

const childProgram = fileURLToPath(new URL('./server-child.js', import.meta.url));

/** Checks and completes server options. @throws RtspOutOptionError naming the option. */
export function serverConfig(opts: RtspServerOptions): ServerConfig {
  const port = opts.port ?? 8554;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RtspOutOptionError('port', `${port} is not a TCP port`);
  const host = opts.host ?? '0.0.0.0';
  if (!/^[0-9a-fA-F:.]+$|^[A-Za-z0-9.-]+$/.test(host)) throw new RtspOutOptionError('host', `'${host}' is not an address`);
  const rtpPortStart = opts.rtpPortStart ?? 20000;
  const rtpPortCount = opts.rtpPortCount ?? 2000;
  if (!Number.isInteger(rtpPortStart) || rtpPortStart % 2 !== 0 || rtpPortStart < 1024) throw new RtspOutOptionError('rtpPortStart', `${rtpPortStart} must be even and >= 1024`);
  if (!Number.isInteger(rtpPortCount) || rtpPortCount < 4 || rtpPortStart + rtpPortCount > 65536) throw new RtspOutOptionError('rtpPortCount', `${rtpPortCount} does not fit the port space`);
  const pos = (name: string, v: number | undefined, d: number): number => {
    const x = v ?? d;
    if (!Number.isFinite(x) || x <= 0) throw new RtspOutOptionError(name, `${x} must be > 0`);
    return x;
  };
  const auth = opts.auth;
  if (auth) {
    if (!REALM.test(auth.realm)) throw new RtspOutOptionError('auth.realm', `"${auth.realm}": 1 to 128 printable characters without " or \\`);
    if (!auth.accountsFile) throw new RtspOutOptionError('auth.accountsFile', 'a path is required');
    for (const [ch, role] of Object.entries(auth.streams)) if (!ROLES.includes(role)) throw new RtspOutOptionError(`auth.streams.${ch}`, `"${role}" is not one of ${ROLES.join(', ')}`);
  }
  return {
    host, port, rtpPortStart, rtpPortCount, ...(auth ? { auth: { realm: auth.realm, accountsFile: auth.accountsFile, streams: { ...auth.streams } } } : {}),
    maxConnections: pos('maxConnections', opts.maxConnections, 64),
    maxSessions: pos('maxSessions', opts.maxSessions, 64),
    idleTimeoutMs: pos('idleTimeoutMs', opts.idleTimeoutMs, 120_000),
    unplayedSessionMs: pos('unplayedSessionMs', opts.unplayedSessionMs, 5000),
    sessionTimeoutMs: pos('sessionTimeoutMs', opts.sessionTimeoutMs, 35_000),
    maxSessionsPerClient: pos('maxSessionsPerClient', opts.maxSessionsPerClient, 16),
    reclaimMs: pos('reclaimMs', opts.reclaimMs, 15_000),
    restartInitialMs: pos('restartInitialMs', opts.restartInitialMs, 250),
    restartMaxMs: pos('restartMaxMs', opts.restartMaxMs, 10_000),
    restartResetMs: pos('restartResetMs', opts.restartResetMs, 30_000),
    requestTimeoutMs: pos('requestTimeoutMs', opts.requestTimeoutMs, 10_000),
    unguarded: opts.unguarded ?? false,
  };
}

export class RtspServerHost {
  private readonly cfg: ServerConfig;
  private readonly log: LogSink;
  private readonly backoff: Backoff;
  private stateValue: RtspHostState = 'new';
  private child: ChildProcess | null = null;
  private listening = 0;
  private startedAt = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  /** The current publisher's end of the channel (the other end is in its thread). */
  private port: MessagePort | null = null;
  /** Host id -> the publisher's port and its own id for that request. */
  private readonly routes = new Map<number, { port: MessagePort; id: number }>();
  private nextId = 1;
  /** Times the child was restarted after dying. */
  restarts = 0;

  constructor(opts: RtspServerOptions = {}) {
    this.cfg = serverConfig(opts);
    // Jitter: the boxes of a fleet must not restart their children in step.
    this.backoff = new Backoff({ minMs: this.cfg.restartInitialMs, maxMs: this.cfg.restartMaxMs, jitter: 0.5 }, opts.random);
    this.log = opts.log ?? { info() {}, warn() {}, error() {}, debug() {} };
  }

  get state(): RtspHostState { return this.stateValue; }
  /** Pid of the current child, or 0. */
  get childPid(): number { return this.child?.pid ?? 0; }
  /** The RTSP port listened on (useful with port 0), or 0 before. */
  get listeningPort(): number { return this.listening; }

  /** Forks the child; resolves when it listens. @throws RtspChildError. */
  async start(): Promise<void> {
    if (this.stateValue !== 'new') throw new RtspChildError(`RtspServerHost: start in state ${this.stateValue}`);
    this.stateValue = 'starting';
    try {
      await this.spawn();
    } catch (e) {
      await this.close();
      throw e;
    }
    this.stateValue = 'running';
  }

  /**
   * Like start(), for a box: a child that cannot start (the port still taken, say) is retried
   * with the restart backoff until close(); publishers attached meanwhile wait for its 'up'.
   */
  run(): void {
    if (this.stateValue !== 'new') throw new RtspChildError(`RtspServerHost: run in state ${this.stateValue}`);
    this.stateValue = 'restarting';
    this.spawn().then(() => { if (this.stateValue === 'restarting') this.stateValue = 'running'; }, (e: Error) => {
      this.log.error({}, e.message); // its exit handler schedules the next attempt
    });
  }

  /**
   * A channel for a new publisher: the returned port is its end (transfer it to its thread).
   * The previous publisher's port is closed: it is dead, or being replaced.
   */
  attach(): MessagePort {
    if (this.stateValue === 'closed') throw new RtspChildError('RtspServerHost closed');
    const { port1, port2 } = new MessageChannel();
    this.port?.close();
    this.port = port1;
    port1.on('message', (m: ParentMessage) => this.fromPublisher(port1, m));
    port1.on('close', () => { if (this.port === port1) this.port = null; });
    if (this.listening && this.child?.connected) this.toPublisher({ t: 'up', port: this.listening, pid: this.childPid });
    return port2;
  }

  /** Stops the child and closes the publisher's port. Idempotent. */
  async close(): Promise<void> {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.port?.close();
    this.port = null;
    this.routes.clear();
    const child = this.child;
    this.child = null;
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 2000);
      await gone;
      clearTimeout(t);
    }
  }

  private toPublisher(m: HostMessage | ChildMessage): void {
    this.port?.postMessage(m);
  }

  private fromPublisher(port: MessagePort, m: ParentMessage): void {
    if (port !== this.port) return;
    const child = this.child;
    if (!child || !child.connected) {
      port.postMessage({ t: 'failed', id: m.id, message: 'RTSP server child not running' } satisfies ChildMessage);
      return;
    }
    const id = this.nextId++;
    this.routes.set(id, { port, id: m.id });
    child.send({ ...m, id });
  }

  private spawn(): Promise<void> {
    const config: ChildConfig = {
      host: this.cfg.host, port: this.listening || this.cfg.port,
      rtpPortStart: this.cfg.rtpPortStart, rtpPortCount: this.cfg.rtpPortCount,
      sourceAddress: '127.0.0.1', reclaimMs: this.cfg.reclaimMs,
      maxConnections: this.cfg.maxConnections, maxSessions: this.cfg.maxSessions,
      idleTimeoutMs: this.cfg.idleTimeoutMs, unguarded: this.cfg.unguarded,
      unplayedSessionMs: this.cfg.unplayedSessionMs, sessionTimeoutMs: this.cfg.sessionTimeoutMs, maxSessionsPerClient: this.cfg.maxSessionsPerClient,
      ...(this.cfg.auth ? { auth: this.cfg.auth } : {}),
    };
    const child = fork(childProgram, [JSON.stringify(config)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json' });
    this.child = child;
    this.startedAt = Date.now();
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr = (stderr + d).slice(-4000); });
    return new Promise<void>((resolve, reject) => {
      let up = false;
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new RtspChildError('RTSP server child did not start in time')); }, this.cfg.requestTimeoutMs);
      child.on('message', (m: ChildMessage) => {
        switch (m.t) {
          case 'listening':
            up = true;
            clearTimeout(timer);
            this.listening = m.port;
            this.toPublisher({ t: 'up', port: m.port, pid: child.pid ?? 0 });
            resolve();
            return;
          case 'log': this.log[m.level]({}, `rtsp child: ${m.msg}`); return;
          case 'fatal': this.log.error({}, `rtsp child: ${m.message}`); return;
          default: {
            const r = this.routes.get(m.id);
            if (!r) return;
            this.routes.delete(m.id);
            // A publisher that died (its port closed) gets nothing; its successor never sees its ids.
            if (r.port === this.port) r.port.postMessage({ ...m, id: r.id });
          }
        }
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        if (this.child !== child) return; // closed on purpose
        this.child = null;
        this.routes.clear();
        const reason = `RTSP server child exited (${code ?? signal})`;
        this.toPublisher({ t: 'down', reason });
        if (!up) reject(new RtspChildError(`RTSP server child exited before listening (${code ?? signal}): ${stderr.slice(-500)}`));
        if (this.stateValue === 'running' || this.stateValue === 'restarting') this.scheduleRestart(reason);
      });
    });
  }

  private scheduleRestart(reason: string): void {
    this.stateValue = 'restarting';
    if (Date.now() - this.startedAt > this.cfg.restartResetMs) this.backoff.reset();
    const delay = this.backoff.next();
    this.log.warn({}, `${reason}; restart ${this.backoff.attempts} in ${delay} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stateValue !== 'restarting') return;
      this.restarts++;
      this.spawn().then(() => { if (this.stateValue === 'restarting') this.stateValue = 'running'; }, (e: Error) => {
        this.log.error({}, e.message); // its exit handler schedules the next attempt
      });
    }, delay);
  }
}
