/**
 * A real mosquitto (Debian's, 2.0) for tests, benchmarks and the demo, configured like the
 * hospital's broker: TLS only, client certificate required and used as the username (CN = box
 * id), a CRL, the per-box ACL `pattern readwrite orbox/v1/%u/#`, a console user allowed on every
 * box's topics, persistence on (queued commands survive a broker restart).
 *
 * Lifecycle: startLocalBroker() generates (or reuses) the PKI, picks a free loopback port, starts
 * mosquitto and resolves once it accepts connections; restart() stops and starts it on the same
 * port with the same persistence file; stop() is idempotent and waits for the process to exit.
 * Call stop() in teardown: the process is a child of the test and dies with it otherwise only
 * on exit of the parent's process group.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type ClientCredentials, TestPki } from './pki.js';

export type { ClientCredentials } from './pki.js';

export interface LocalBrokerOptions {
  /** Where PKI, config and persistence live; a fresh temp dir (removed on stop) when omitted. */
  dir?: string;
  /** Box ids to issue certificates for up front (more can be issued later with credentials()). */
  boxIds?: readonly string[];
  /** CN of the console certificate and ACL user. Default "fleet-console". */
  consoleId?: string;
  /** Certificates issued and revoked before the broker starts (for refusal tests). */
  revokedIds?: readonly string[];
  /** Fixed port; default a free one on 127.0.0.1. */
  port?: number;
  /** Largest MQTT packet the broker accepts, bytes. Default 1 MiB. */
  maxPacketSize?: number;
  /** Print mosquitto's log lines to stderr. */
  verbose?: boolean;
}

export interface LocalBroker {
  /** mqtts://127.0.0.1:<port> */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  readonly caPath: string;
  readonly crlPath: string;
  readonly consoleCredentials: ClientCredentials;
  /** Certificate and key for a box id or any CN (issued on first use). */
  credentials(id: string): ClientCredentials;
  /** Revokes a certificate; takes effect at the next restart(). */
  revoke(id: string): void;
  /** Stops (SIGTERM, persistence saved) and starts again on the same port. */
  restart(): Promise<void>;
  /** Stops the broker without restarting it (for offline tests); start() brings it back. */
  pause(): Promise<void>;
  start(): Promise<void>;
  /** Idempotent; removes the temp dir when the broker made it. */
  stop(): Promise<void>;
}

export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createConnection({ host, port });
    s.once('connect', () => { s.destroy(); res(true); });
    s.once('error', () => res(false));
  });
}

export async function startLocalBroker(opts: LocalBrokerOptions = {}): Promise<LocalBroker> {
  const ownDir = !opts.dir;
  const dir = opts.dir ? resolve(opts.dir) : mkdtempSync(join(tmpdir(), 'orbox-broker-'));
  const pki = new TestPki(join(dir, 'pki'));
  const consoleId = opts.consoleId ?? 'fleet-console';
  const consoleCredentials = pki.client(consoleId);
  for (const id of opts.boxIds ?? []) pki.client(id);
  for (const id of opts.revokedIds ?? []) pki.revoke(id);
  const host = '127.0.0.1';
  const port = opts.port ?? (await freeLoopbackPort());
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });

  // ACL: every client gets its own subtree (the CN is the username); the console gets all boxes.
  writeFileSync(join(dir, 'acl'), `pattern readwrite orbox/v1/%u/#\n\nuser ${consoleId}\ntopic readwrite orbox/v1/#\n`);
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      'per_listener_settings false',
      'allow_anonymous false',
      // Running as root in CI: keep root so the 0600 keys stay readable.
      process.getuid?.() === 0 ? 'user root' : '',
      'persistence true',
      `persistence_location ${dataDir}/`,
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
      'connection_messages true',
      `max_packet_size ${opts.maxPacketSize ?? 1024 * 1024}`,
      'max_queued_messages 100000',
      // Small request/response messages: Nagle + delayed ACK would add ~40 ms per hop.
      'set_tcp_nodelay true',
      `acl_file ${join(dir, 'acl')}`,
      `listener ${port} ${host}`,
      `cafile ${pki.caPath}`,
      `certfile ${pki.server.cert}`,
      `keyfile ${pki.server.key}`,
      `crlfile ${pki.crlPath}`,
      'require_certificate true',
      'use_identity_as_username true',
      '',
    ].join('\n'),
  );

  let proc: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let stopped = false;
  let log = '';

  async function start(): Promise<void> {
    if (proc) return;
    if (stopped) throw new Error('broker stopped');
    const p = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc = p;
    p.stderr!.setEncoding('utf8');
    p.stderr!.on('data', (s: string) => {
      log = (log + s).slice(-20_000);
      if (opts.verbose) process.stderr.write(s);
    });
    exited = new Promise<void>((r) => p.once('exit', () => { if (proc === p) proc = undefined; r(); }));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (p.exitCode !== null) break;
      if (await canConnect(host, port)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    p.kill('SIGKILL');
    throw new Error(`mosquitto did not start on ${host}:${port}:\n${log}`);
  }

  async function halt(): Promise<void> {
    const p = proc;
    if (!p) return;
    p.kill('SIGTERM'); // mosquitto saves persistence on SIGTERM
    const t = setTimeout(() => p.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(t);
  }

  await start();
  const broker: LocalBroker = {
    url: `mqtts://${host}:${port}`,
    host,
    port,
    dir,
    caPath: pki.caPath,
    crlPath: pki.crlPath,
    consoleCredentials,
    credentials: (id) => pki.client(id),
    revoke: (id) => pki.revoke(id),
    restart: async () => { await halt(); await start(); },
    pause: halt,
    start,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await halt();
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
  return broker;
}
