/**
 * Signed-in sessions: a random 256-bit token per sign-in, kept in memory only (a restart of
 * the control worker signs everyone out, which is the safe direction). A session ends after
 * `idleMs` without use or `maxMs` after sign-in, whichever is first, or at sign-out; changing or
 * removing an account ends its sessions. Tokens are compared by lookup of their SHA-256, so the
 * map never holds a usable token. `now` is injected for tests. Runs on the control worker.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Account, Role } from './accounts.js';

/** What a token may be used for: `console` (the session cookie) or `whep` (a bearer token a page script can read). */
export type SessionScope = 'console' | 'whep';

export interface Session { account: string; role: Role; scope: SessionScope; createdMs: number; lastMs: number; }

export interface SessionOptions {
  /** Ends a session unused this long; default 30 min. */
  idleMs?: number;
  /** Ends a session this long after sign-in; default 12 h (a long case and its review). */
  maxMs?: number;
  /** Most sessions kept; the least recently used one goes first. Default 1000. */
  maxSessions?: number;
  now?: () => number;
}

const digest = (token: string): string => createHash('sha256').update(token).digest('base64url');

export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  readonly idleMs: number;
  readonly maxMs: number;
  private readonly maxSessions: number;
  private readonly now: () => number;

  constructor(opts: SessionOptions = {}) {
    this.idleMs = opts.idleMs ?? 30 * 60_000;
    this.maxMs = opts.maxMs ?? 12 * 3600_000;
    this.maxSessions = opts.maxSessions ?? 1000;
    if (!(this.idleMs > 0) || !(this.maxMs >= this.idleMs)) throw new Error(`sessions: idleMs ${this.idleMs} must be > 0 and maxMs ${this.maxMs} >= idleMs`);
    this.now = opts.now ?? Date.now;
  }

  /** Starts a session; returns its token (43 base64url characters). */
  create(account: Account, scope: SessionScope = 'console'): string {
    const token = randomBytes(32).toString('base64url');
    const t = this.now();
    if (this.sessions.size >= this.maxSessions) this.sessions.delete(this.sessions.keys().next().value!);
    this.sessions.set(digest(token), { account: account.name, role: account.role, scope, createdMs: t, lastMs: t });
    return token;
  }

  /** The live session of a token in `scope` (and marks it used), or undefined. */
  get(token: string | undefined, scope: SessionScope = 'console'): Session | undefined {
    if (!token) return undefined;
    const k = digest(token);
    const s = this.sessions.get(k);
    if (!s || s.scope !== scope) return undefined;
    const t = this.now();
    if (t - s.lastMs > this.idleMs || t - s.createdMs > this.maxMs) { this.sessions.delete(k); return undefined; }
    s.lastMs = t;
    // Re-insert: Map order is then least recently used first (eviction above).
    this.sessions.delete(k); this.sessions.set(k, s);
    return s;
  }

  end(token: string | undefined): void { if (token) this.sessions.delete(digest(token)); }

  /** Ends every session of an account (password changed, account removed). */
  endAccount(name: string): void {
    for (const [k, s] of this.sessions) if (s.account === name) this.sessions.delete(k);
  }

  get size(): number { return this.sessions.size; }
}
