/**
 * Slowing down repeated sign-in failures per source address, never per account: locking an
 * account would let anyone lock a nurse out before a case by typing her name wrong five times.
 *
 * After `free` failures from one address, each further attempt from it must wait
 * `baseMs * 2^(failures - free)`, capped at `maxMs`; an attempt that comes sooner is refused
 * without checking the password (the caller answers 429 with Retry-After). A success from the
 * address clears it; failures are forgotten `forgetMs` after the last one. At most
 * `maxAddresses` are tracked (oldest dropped). `now` injected for tests. No I/O.
 */
export interface ThrottleOptions {
  /** Failures allowed before any wait; default 3. */
  free?: number;
  /** First wait, ms; default 1000. */
  baseMs?: number;
  /** Longest wait, ms; default 60 s. */
  maxMs?: number;
  /** Failures are forgotten this long after the last; default 15 min. */
  forgetMs?: number;
  maxAddresses?: number;
  now?: () => number;
}

interface Entry { failures: number; lastMs: number }

export class FailureThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly free: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly forgetMs: number;
  private readonly maxAddresses: number;
  private readonly now: () => number;

  constructor(opts: ThrottleOptions = {}) {
    this.free = opts.free ?? 3;
    this.baseMs = opts.baseMs ?? 1000;
    this.maxMs = opts.maxMs ?? 60_000;
    this.forgetMs = opts.forgetMs ?? 15 * 60_000;
    this.maxAddresses = opts.maxAddresses ?? 10_000;
    this.now = opts.now ?? Date.now;
    if (!(this.free >= 0 && this.baseMs > 0 && this.maxMs >= this.baseMs && this.forgetMs > 0)) {
      throw new Error(`sign-in throttle: need free >= 0, 0 < baseMs <= maxMs, forgetMs > 0 (got ${this.free}, ${this.baseMs}, ${this.maxMs}, ${this.forgetMs})`);
    }
  }

  /** How long the address must still wait before its next attempt is checked, ms (0 = now). */
  waitMs(address: string): number {
    const e = this.entry(address);
    if (!e || e.failures < this.free) return 0;
    const wait = Math.min(this.maxMs, this.baseMs * 2 ** (e.failures - this.free));
    return Math.max(0, e.lastMs + wait - this.now());
  }

  failed(address: string): void {
    const e = this.entry(address) ?? { failures: 0, lastMs: 0 };
    e.failures++;
    e.lastMs = this.now();
    this.entries.delete(address);
    if (this.entries.size >= this.maxAddresses) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(address, e);
  }

  succeeded(address: string): void { this.entries.delete(address); }

  failures(address: string): number { return this.entry(address)?.failures ?? 0; }

  private entry(address: string): Entry | undefined {
    const e = this.entries.get(address);
    if (e && this.now() - e.lastMs > this.forgetMs) { this.entries.delete(address); return undefined; }
    return e;
  }
}
