/**
 * The web console's HTTPS server: sign-in, sessions, the `/api/*` routes and the static UI.
 *
 * Owns the TLS listener (node:https, no framework: a dozen routes), the sign-in form and the
 * session cookie (`orbox_session`: HttpOnly, Secure, SameSite=Strict, Path=/). Everything but
 * `GET/POST /signin` needs a live session: pages redirect to /signin, `/api/*` and `/static/*`
 * answer 401. Every `/api/*` call goes to the backend by method name: the control worker passes
 * its local API table, so the page does what the CLI does through the same command router,
 * with the same refusals. Role per route in ROUTES. A POST must carry `Content-Type:
 * application/json` (a cross-site form cannot) and, when the browser sends an Origin, the
 * console's own; with SameSite=Strict that closes CSRF. Nothing of a patient is in a URL: case
 * ids are the box's names (by time), stills are fetched by channel.
 *
 * Sign-in failures are slowed per source address (edge/access/throttle.ts): an attempt that
 * comes before its wait is over is refused with 429 and Retry-After, unchecked.
 *
 * Lifecycle: constructor validates, start() listens (resolves with the bound port), close() is
 * idempotent and ends open connections. Runs on the control worker (see edge/web/README.md).
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { roleAtLeast, type AccountStore, type FailureThrottle, type Role, type Session, type SessionStore } from '../access/index.js';
import { consolePage, signInPage } from './pages.js';
import { staticAsset } from './static.js';
import { hlsPlaylist, remuxToTs } from './hls.js';
import type { CaseMedia } from '../control/case-media.js';

export const COOKIE = 'orbox_session';
/** Largest request body read, bytes (sign-in form, JSON commands). */
export const MAX_BODY = 16 * 1024;

/** Who is asking, as the backend sees it: the origin the command router records. */
export interface Caller { account: string; role: Role; address: string }

export interface ConsoleBackend {
  /** Runs a local API method (edge/workers/control.ts) for a signed-in caller. */
  call(method: string, params: Record<string, unknown>, caller: Caller): Promise<unknown>;
}

export interface WebConsoleOptions {
  host: string;
  port: number;
  tls: { cert: Buffer | string; key: Buffer | string };
  accounts: AccountStore;
  sessions: SessionStore;
  throttle: FailureThrottle;
  backend: ConsoleBackend;
  /** WHEP (draft-ietf-wish-whep): a player's offer for a channel's stream -> the session id and answer. */
  whep?: { offer(channel: string, role: 'hq' | 'lq', sdp: string, caller: Caller): Promise<{ id: string; sdp: string }>; close(id: string): void };
  /** Shown in the page's header. */
  box: { id: string; room: string };
  /** Sign-ins, refused or not, for the audit log (control's). */
  audit?: (e: { actor: string; from: string; action: string; outcome: string; detail?: string }) => void;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

interface Route { method: 'GET' | 'POST'; path: RegExp; role: Role; api: string; params?: (m: RegExpMatchArray, body: Record<string, unknown>) => Record<string, unknown>; jpeg?: boolean }

/** The HTTP API (documented in edge/web/README.md). */
export const ROUTES: readonly Route[] = [
  { method: 'GET', path: /^\/api\/status$/, role: 'viewer', api: 'status' },
  { method: 'GET', path: /^\/api\/vitals$/, role: 'viewer', api: 'vitals' },
  { method: 'GET', path: /^\/api\/cases$/, role: 'viewer', api: 'cases' },
  // A recorded case is patient record: clinicians and up. Its media under /media/ (HLS).
  { method: 'GET', path: /^\/api\/cases\/(\d{1,12})\/media$/, role: 'clinician', api: 'caseMedia', params: (m) => ({ caseId: Number(m[1]) }) },
  { method: 'GET', path: /^\/api\/cases\/(\d{1,12})\/vitals$/, role: 'clinician', api: 'caseVitals', params: (m) => ({ caseId: Number(m[1]) }) },
  { method: 'GET', path: /^\/api\/stills\/([a-z0-9_-]{1,32})\.jpg$/, role: 'viewer', api: 'snapshot', params: (m) => ({ channel: m[1] }), jpeg: true },
  { method: 'POST', path: /^\/api\/stills\/([a-z0-9_-]{1,32})$/, role: 'clinician', api: 'snapshot', params: (m) => ({ channel: m[1], save: true }) },
  { method: 'POST', path: /^\/api\/record\/start$/, role: 'clinician', api: 'recordingStart', params: (_m, b) => ({ caseId: b.caseId }) },
  { method: 'POST', path: /^\/api\/record\/stop$/, role: 'clinician', api: 'recordingStop', params: (_m, b) => ({ caseId: b.caseId }) },
  { method: 'GET', path: /^\/api\/commands$/, role: 'engineer', api: 'commandLog' },
  { method: 'GET', path: /^\/api\/users$/, role: 'admin', api: 'usersList' },
  // The uplink's SDP holds its SRTP keys: only over this TLS session, to an engineer (the
  // receiving end's `orbox receive --from`), each fetch a new session with new keys unless current.
  { method: 'POST', path: /^\/api\/uplink\/([a-z0-9][a-z0-9_-]{0,31})\/sdp$/, role: 'engineer', api: 'uplinkSdp', params: (m, b) => ({ receiver: m[1], current: b.current === true }) },
];

type State = 'new' | 'listening' | 'closed';

export class WebConsole {
  private server: Server | undefined;
  private state: State = 'new';
  private readonly sockets = new Set<Socket>();

  constructor(private readonly opts: WebConsoleOptions) {
    if (!opts.host) throw new Error('web console: host is required');
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error(`web console: port ${opts.port} is not 0..65535`);
    if (!opts.tls?.cert || !opts.tls?.key) throw new Error('web console: a TLS certificate and key are required (HTTPS only)');
  }

  /** Listens; resolves with the bound port (0 in the options picks one). */
  async start(): Promise<number> {
    if (this.state !== 'new') throw new Error(`web console: start() when ${this.state}`);
    const server = createServer({ cert: this.opts.tls.cert, key: this.opts.tls.key, minVersion: 'TLSv1.2' }, (req, res) => {
      this.handle(req, res).catch((err) => {
        this.opts.log?.warn({ err: String(err), url: req.url }, 'web console request failed');
        if (!res.headersSent) send(res, 500, 'text/plain', `internal error: ${(err as Error).message}`);
        else res.destroy();
      });
    });
    server.on('connection', (s: Socket) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    server.on('tlsClientError', () => undefined); // a browser refusing the self-signed cert: not ours to log every time
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(this.opts.port, this.opts.host, () => { server.off('error', reject); resolve(); }); });
    this.server = server;
    this.state = 'listening';
    return (server.address() as { port: number }).port;
  }

  get port(): number | undefined { return (this.server?.address() as { port: number } | null)?.port; }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    for (const c of this.sockets) c.destroy();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://box');
    const path = url.pathname;
    const address = req.socket.remoteAddress ?? 'unknown';
    res.setHeader('Strict-Transport-Security', 'max-age=31536000');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    // media-src blob: the recorded-case player feeds the video element through MSE.
    res.setHeader('Content-Security-Policy', "default-src 'self'; img-src 'self' blob:; media-src 'self' blob:; style-src 'self'; frame-ancestors 'none'");
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Referrer-Policy', 'no-referrer');

    if (path === '/signin') return this.signIn(req, res, address);
    if (path.startsWith('/whep/')) return this.whep(req, res, path, address);
    const token = cookie(req.headers.cookie, COOKIE);
    const session = this.opts.sessions.get(token);
    if (!session) {
      if (path.startsWith('/api/') || path.startsWith('/static/') || req.method !== 'GET') return json(res, 401, { error: 'sign in first (no or expired session)' });
      return redirect(res, '/signin');
    }
    if (req.method === 'POST' && !this.sameOrigin(req)) return json(res, 403, { error: 'cross-origin request refused' });
    if (path === '/signout' && req.method === 'POST') {
      this.opts.sessions.end(token);
      res.setHeader('Set-Cookie', `${COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0`);
      return json(res, 200, { signedOut: true });
    }
    if (path === '/' && req.method === 'GET') return send(res, 200, 'text/html; charset=utf-8', consolePage(this.opts.box, session));
    if (path.startsWith('/static/') && req.method === 'GET') {
      const a = staticAsset(path.slice('/static/'.length));
      return a ? send(res, 200, a.type, a.body, { 'Cache-Control': 'private, max-age=300' }) : json(res, 404, { error: `no asset ${path}` });
    }
    if (path === '/api/me') return json(res, 200, { account: session.account, role: session.role });
    if (path === '/api/whep-token' && req.method === 'POST') {
      // A bearer token for WHEP players: a session of its own, good for /whep/ only (a page script
      // reads it, so it must not open the API; the cookie stays HttpOnly).
      const account = this.opts.accounts.get(session.account);
      if (!account) return json(res, 401, { error: 'account gone' });
      return json(res, 200, { token: this.opts.sessions.create(account, 'whep') });
    }
    if (path.startsWith('/api/')) return this.api(req, res, path, session, address);
    if (path.startsWith('/media/') && req.method === 'GET') return this.media(res, path, session, address);
    return json(res, 404, { error: `nothing at ${path}` });
  }

  /**
   * GET /media/cases/<id>/<channel>.m3u8: the channel's HLS playlist of the case (each fetch a
   * `recording.play` in the audit log); GET /media/cases/<id>/segments/<segment id>.ts: one
   * recorded segment remuxed to MPEG-TS (hls.ts). Clinicians and up, as the case's API.
   */
  private async media(res: ServerResponse, path: string, session: Session, address: string): Promise<void> {
    if (!roleAtLeast(session.role, 'clinician')) return json(res, 403, { error: `recorded cases need the clinician role; ${session.account} is ${session.role}` });
    const caller = { account: session.account, role: session.role, address };
    const pl = /^\/media\/cases\/(\d{1,12})\/([a-z0-9][a-z0-9_-]{0,31})\.m3u8$/.exec(path);
    const seg = /^\/media\/cases\/(\d{1,12})\/segments\/(\d{1,12})\.ts$/.exec(path);
    try {
      if (pl) {
        const media = (await this.opts.backend.call('caseMedia', { caseId: Number(pl[1]) }, caller)) as CaseMedia;
        const ch = media.channels.find((c) => c.channel === pl[2]);
        if (!ch) return json(res, 404, { error: `case ${pl[1]} has no recorded segment of channel ${pl[2]}` });
        this.opts.audit?.({ actor: `web:${session.account}`, from: address, action: 'recording.play', outcome: 'finished', detail: `case ${media.case.uid} channel ${ch.channel}` });
        return send(res, 200, 'application/vnd.apple.mpegurl', hlsPlaylist(ch.segments, (id) => `segments/${id}.ts`));
      }
      if (seg) {
        const { path: file } = (await this.opts.backend.call('segmentFile', { caseId: Number(seg[1]), segmentId: Number(seg[2]) }, caller)) as { path: string };
        return remuxToTs(file, res);
      }
    } catch (err) {
      return json(res, 404, { error: (err as Error).message });
    }
    return json(res, 404, { error: `no media at ${path}` });
  }

  private async api(req: IncomingMessage, res: ServerResponse, path: string, session: Session, address: string): Promise<void> {
    let route: Route | undefined, m: RegExpMatchArray | null = null;
    for (const r of ROUTES) if ((m = path.match(r.path))) { route = r; break; }
    if (!route || !m) return json(res, 404, { error: `no API route ${path}` });
    if (req.method !== route.method) return json(res, 405, { error: `${path} takes ${route.method}` });
    if (!roleAtLeast(session.role, route.role)) return json(res, 403, { error: `${path} needs the ${route.role} role; ${session.account} is ${session.role}` });
    let body: Record<string, unknown> = {};
    if (req.method === 'POST') {
      if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) return json(res, 415, { error: 'POST bodies are application/json' });
      const raw = await readBody(req);
      try { body = raw ? JSON.parse(raw) : {}; } catch { return json(res, 400, { error: 'body is not JSON' }); }
      if (typeof body !== 'object' || body === null || Array.isArray(body)) return json(res, 400, { error: 'body must be a JSON object' });
    }
    const params = route.params ? route.params(m, body) : {};
    let result: unknown;
    try {
      result = await this.opts.backend.call(route.api, params, { account: session.account, role: session.role, address });
    } catch (err) {
      return json(res, 409, { error: (err as Error).message });
    }
    if (route.jpeg) {
      const r = result as { jpeg: string; captureNs: string };
      return send(res, 200, 'image/jpeg', Buffer.from(r.jpeg, 'base64'), { 'X-Capture-Ns': r.captureNs });
    }
    return json(res, 200, result ?? {});
  }

  /** POST /whep/<channel>/<hq|lq> (Bearer, application/sdp) -> 201 + Location; DELETE /whep/session/<id>. */
  private async whep(req: IncomingMessage, res: ServerResponse, path: string, address: string): Promise<void> {
    res.setHeader('Access-Control-Allow-Origin', '*'); // WHEP players on other pages; the bearer token is the authority
    res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type');
    res.setHeader('Access-Control-Allow-Methods', 'POST, DELETE, OPTIONS');
    res.setHeader('Access-Control-Expose-Headers', 'Location');
    if (req.method === 'OPTIONS') { res.writeHead(204); res.end(); return; }
    const bearer = /^Bearer ([A-Za-z0-9_-]{20,100})$/.exec(req.headers.authorization ?? '')?.[1];
    const session = this.opts.sessions.get(bearer, 'whep');
    if (!session) { res.setHeader('WWW-Authenticate', 'Bearer'); return json(res, 401, { error: 'WHEP needs a bearer token (POST /api/whep-token when signed in)' }); }
    if (!this.opts.whep) return json(res, 503, { error: 'WHEP is not available on this box' });
    const del = /^\/whep\/session\/([A-Za-z0-9_-]{1,64})$/.exec(path);
    if (del && req.method === 'DELETE') { this.opts.whep.close(del[1]); res.writeHead(200); res.end(); return; }
    const m = /^\/whep\/([a-z0-9_-]{1,32})\/(hq|lq)$/.exec(path);
    if (!m || req.method !== 'POST') return json(res, 404, { error: `no WHEP endpoint ${req.method} ${path}` });
    if (!/^application\/sdp\b/.test(req.headers['content-type'] ?? '')) return json(res, 415, { error: 'a WHEP offer is application/sdp' });
    const offer = await readBody(req);
    try {
      const a = await this.opts.whep.offer(m[1], m[2] as 'hq' | 'lq', offer, { account: session.account, role: session.role, address });
      this.opts.log?.info({ account: session.account, address, channel: m[1], role: m[2], session: a.id }, 'WHEP viewer');
      return send(res, 201, 'application/sdp', a.sdp, { Location: `/whep/session/${a.id}` });
    } catch (err) {
      return json(res, 409, { error: (err as Error).message });
    }
  }

  private async signIn(req: IncomingMessage, res: ServerResponse, address: string): Promise<void> {
    if (req.method === 'GET') return send(res, 200, 'text/html; charset=utf-8', signInPage());
    if (req.method !== 'POST') return json(res, 405, { error: '/signin takes GET or POST' });
    const wait = this.opts.throttle.waitMs(address);
    if (wait > 0) {
      const s = Math.ceil(wait / 1000);
      res.setHeader('Retry-After', String(s));
      return send(res, 429, 'text/html; charset=utf-8', signInPage(`Too many failed sign-ins from this address: try again in ${s} s.`));
    }
    const form = new URLSearchParams(await readBody(req));
    const name = form.get('user') ?? '', password = form.get('password') ?? '';
    const account = await this.opts.accounts.verify(name, password);
    if (!account) {
      this.opts.throttle.failed(address);
      this.opts.log?.warn({ address, failures: this.opts.throttle.failures(address) }, 'web console sign-in refused');
      this.opts.audit?.({ actor: `web:${name}`, from: address, action: 'signin', outcome: 'refused', detail: `failure ${this.opts.throttle.failures(address)} from this address` });
      return send(res, 401, 'text/html; charset=utf-8', signInPage('Wrong name or password.'));
    }
    this.opts.throttle.succeeded(address);
    const token = this.opts.sessions.create(account);
    this.opts.log?.info({ account: account.name, address }, 'web console sign-in');
    this.opts.audit?.({ actor: `web:${account.name}`, from: address, action: 'signin', outcome: 'finished' });
    res.setHeader('Set-Cookie', `${COOKIE}=${token}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=${Math.floor(this.opts.sessions.maxMs / 1000)}`);
    return redirect(res, '/');
  }

  private sameOrigin(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (!origin) return true; // non-browser clients; the browser always sends Origin on a POST
    try { return new URL(origin).host === req.headers.host; } catch { return false; }
  }
}

function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > MAX_BODY) { reject(new Error(`request body over ${MAX_BODY} bytes`)); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}
function json(res: ServerResponse, status: number, o: unknown): void {
  send(res, status, 'application/json', JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
}
function redirect(res: ServerResponse, to: string): void { res.writeHead(303, { Location: to, 'Content-Length': 0 }); res.end(); }

