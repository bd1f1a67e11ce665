/**
 * HTTP Digest authentication, server side, as RTSP clients implement it (RFC 7616, RFC 2617,
 * used by RTSP 1.0 per RFC 2326 §11): MD5, `qop="auth"` offered, and the RFC 2069 form without
 * qop accepted, because GStreamer's rtspsrc (1.22, seen on the wire) answers without qop, nc or
 * cnonce, as live555 (VLC) is said to (not tried here), while ffmpeg answers with qop=auth.
 * The digest-uri must name the Request-URI (the same URL, or its path), so a response made for
 * one stream is no key to another.
 *
 *   HA1 = MD5(user ":" realm ":" password)          (kept per account and realm, accounts.ts)
 *   HA2 = MD5(method ":" digest-uri)
 *   response = MD5(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)   with qop=auth
 *            = MD5(HA1 ":" nonce ":" HA2)                              without qop
 *
 * Nonces are stateless: base64url(issued-at ms, 6 bytes || HMAC-SHA256(secret, issued-at ||
 * client address) first 12 bytes). A nonce from another address, another process (the secret
 * is made per DigestServer) or older than `nonceTtlMs` is not ours; if the response is
 * right for it anyway, the client knows the password and is sent a fresh challenge with
 * `stale=true` (RFC 7616 §3.3: it retries without asking its user). With qop, a nonce's nc must
 * grow from request to request, so each (nonce, nc) is accepted once (remembered for the last
 * `maxNonces` nonces used; one forgotten earlier is open to replay until its TTL ends); without
 * qop a captured request can be replayed within the nonce's lifetime from the same address
 * only: the cost of RFC 2069 clients.
 *
 * Not done: SHA-256 (RFC 7616 §3.3; the players above use MD5), `opaque`, `auth-int`.
 * Pure: no I/O; time, secret and the HA1 lookup are injected. Runs wherever the server runs
 * (the RTSP server child, edge/net/rtsp/server-child.ts).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

/** The HA1 of RFC 7616 §3.4.2 for MD5: what an account keeps per realm instead of the password. */
export function digestHa1(user: string, realm: string, password: string): string {
  return md5(`${user}:${realm}:${password}`);
}

/** A realm a client can quote: printable, no quote or backslash (RFC 7616 quoted-string kept simple). */
export const REALM = /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,128}$/;

export interface DigestServerOptions {
  realm: string;
  /** A nonce older than this is stale (ms). Default 300 000. */
  nonceTtlMs?: number;
  /** HMAC key for nonces; default 32 random bytes (nonces die with the process). */
  secret?: Buffer;
  now?: () => number;
  /** Nonces whose nc values are remembered (oldest forgotten first). Default 4096. */
  maxNonces?: number;
}

/** Why a request was not authenticated; `stale`: right password, nonce to be renewed. */
export type DigestRefusal = 'missing' | 'malformed' | 'wrong-uri' | 'unknown-user' | 'bad-response' | 'stale' | 'replay';
export type DigestResult = { ok: true; user: string } | { ok: false; reason: DigestRefusal; user?: string };

const NONCE_TIME_BYTES = 6;
const NONCE_MAC_BYTES = 12;

/** The parameters of a `Digest` Authorization header (RFC 7616 §3.4), or null if it is not one. */
export function parseDigestAuthorization(header: string | undefined): Record<string, string> | null {
  if (!header) return null;
  const m = /^\s*Digest\s+/i.exec(header);
  if (!m) return null;
  const out: Record<string, string> = {};
  const re = /\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)/y;
  re.lastIndex = m[0].length;
  while (re.lastIndex < header.length) {
    const p = re.exec(header);
    if (!p) return null;
    out[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
  }
  return out;
}

/** The digest-uri names the Request-URI: equal, or its path (and query) alone. */
function sameResource(digestUri: string, requestUri: string): boolean {
  if (digestUri === requestUri) return true;
  try {
    const u = new URL(requestUri);
    return digestUri === u.pathname + u.search;
  } catch { return false; }
}

export class DigestServer {
  readonly realm: string;
  private readonly ttlMs: number;
  private readonly secret: Buffer;
  private readonly now: () => number;
  private readonly maxNonces: number;
  /** nonce -> highest nc accepted (qop=auth requests). */
  private readonly seen = new Map<string, number>();

  constructor(opts: DigestServerOptions) {
    if (!REALM.test(opts.realm)) throw new RangeError(`digest realm "${opts.realm}": 1 to 128 printable characters without " or \\`);
    this.realm = opts.realm;
    this.ttlMs = opts.nonceTtlMs ?? 300_000;
    if (!(this.ttlMs >= 1000)) throw new RangeError(`digest nonceTtlMs ${this.ttlMs} must be >= 1000`);
    this.secret = opts.secret ?? randomBytes(32);
    this.now = opts.now ?? Date.now;
    this.maxNonces = opts.maxNonces ?? 4096;
  }

  /** A fresh nonce for `address` (the client's IP). */
  nonce(address: string): string {
    const t = Buffer.alloc(NONCE_TIME_BYTES);
    t.writeUIntBE(Math.floor(this.now()), 0, NONCE_TIME_BYTES);
    return Buffer.concat([t, this.mac(t, address)]).toString('base64url');
  }

  /** The WWW-Authenticate value of a 401 (RFC 7616 §3.3). */
  challenge(address: string, stale = false): string {
    return `Digest realm="${this.realm}", nonce="${this.nonce(address)}", algorithm=MD5, qop="auth"${stale ? ', stale=true' : ''}`;
  }

  /**
   * Checks a request's Authorization header. `ha1(user)` gives the account's HA1 for this realm,
   * undefined for no such account (or none usable). The digest-uri must name the Request-URI
   * `requestUri` (RFC 7616 §3.4.6): the same absolute URL, or its path and query (players differ
   * in which they send), so a response made for one stream cannot be replayed for another.
   */
  check(method: string, requestUri: string, header: string | undefined, address: string, ha1: (user: string) => string | undefined): DigestResult {
    if (!header) return { ok: false, reason: 'missing' };
    const p = parseDigestAuthorization(header);
    if (!p || !p.username || !p.nonce || !p.response || p.uri === undefined || (p.realm ?? '') !== this.realm) return { ok: false, reason: 'malformed', user: p?.username };
    if (p.algorithm && p.algorithm.toUpperCase() !== 'MD5') return { ok: false, reason: 'malformed', user: p.username };
    const user = p.username;
    if (!sameResource(p.uri, requestUri)) return { ok: false, reason: 'wrong-uri', user };
    const qop = p.qop;
    if (qop !== undefined && (qop !== 'auth' || !/^[0-9a-fA-F]{8}$/.test(p.nc ?? '') || !p.cnonce)) return { ok: false, reason: 'malformed', user };
    const h1 = ha1(user);
    // An unknown user costs the same MD5s as a known one (no timing tell).
    const expected = md5(qop
      ? `${h1 ?? '0'.repeat(32)}:${p.nonce}:${p.nc}:${p.cnonce}:auth:${md5(`${method}:${p.uri}`)}`
      : `${h1 ?? '0'.repeat(32)}:${p.nonce}:${md5(`${method}:${p.uri}`)}`);
    const given = Buffer.from(p.response.toLowerCase().padEnd(32, '0').slice(0, 32), 'latin1');
    const right = timingSafeEqual(Buffer.from(expected, 'latin1'), given) && p.response.length === 32;
    if (!h1) return { ok: false, reason: 'unknown-user', user };
    if (!right) return { ok: false, reason: 'bad-response', user };
    if (!this.ours(p.nonce, address)) return { ok: false, reason: 'stale', user };
    if (qop) {
      const nc = parseInt(p.nc!, 16);
      const last = this.seen.get(p.nonce) ?? 0;
      if (nc <= last) return { ok: false, reason: 'replay', user };
      this.seen.delete(p.nonce);
      this.seen.set(p.nonce, nc);
      if (this.seen.size > this.maxNonces) this.seen.delete(this.seen.keys().next().value!);
    }
    return { ok: true, user };
  }

  /** Made here for `address`, and not older than the TTL. */
  private ours(nonce: string, address: string): boolean {
    const b = Buffer.from(nonce, 'base64url');
    if (b.length !== NONCE_TIME_BYTES + NONCE_MAC_BYTES) return false;
    const t = b.subarray(0, NONCE_TIME_BYTES);
    if (!timingSafeEqual(this.mac(t, address), b.subarray(NONCE_TIME_BYTES))) return false;
    const age = this.now() - t.readUIntBE(0, NONCE_TIME_BYTES);
    return age >= 0 && age <= this.ttlMs;
  }

  private mac(t: Buffer, address: string): Buffer {
    return createHmac('sha256', this.secret).update(t).update(address).digest().subarray(0, NONCE_MAC_BYTES);
  }
}
