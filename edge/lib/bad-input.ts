/**
 * What the box logs and shows of input it did not choose: bytes from the network (RTSP
 * requests, RTCP labels and CNAMEs), serial captures. One mechanism for every such place.
 *
 * - escapeUntrusted(): printable ASCII kept, everything else as `\xNN` / `\u{N}` (no control
 *   characters, no terminal escapes, no line breaks reach a log line, the status table or the
 *   console), cut to a byte budget with a marker saying how much was left off.
 * - BadInputLog: rate-limited reporting per kind of bad input: the first `burst` of a kind in
 *   each `windowMs` go to the sink (escaped, bounded), the rest are only counted and summed up
 *   in one line when the window ends ("9000 more of setup-bad-transport suppressed"). A fuzz
 *   pass therefore costs a few lines, not one per request.
 * Time is injected (`now`) so the tests need no sleeping. Pure; no dependencies.
 * Runs on: wherever bad input arrives (net-send, its RTSP child, device-data).
 */

/** Default budget for one untrusted string in a log line or a status field, bytes. */
export const UNTRUSTED_MAX_BYTES = 128;

/** `s` made safe to print: escaped and cut to about `maxBytes` (see the module comment). */
export function escapeUntrusted(s: string | Uint8Array, maxBytes = UNTRUSTED_MAX_BYTES): string {
  const text = typeof s === 'string' ? s : Buffer.from(s.buffer, s.byteOffset, s.byteLength).toString('latin1');
  let out = '';
  let i = 0;
  for (; i < text.length && out.length < maxBytes; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f && c !== 0x5c) out += text[i];
    else if (c === 0x5c) out += '\\\\';
    else if (c < 0x100) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += `\\u{${c.toString(16)}}`;
  }
  if (i < text.length) out += `…(+${text.length - i})`;
  return out;
}

export interface BadInputSink {
  warn(obj: object, msg?: string): void;
}

export interface BadInputLogOptions {
  /** Lines logged per kind and window. Default 5. */
  burst?: number;
  /** Window, ms. Default 60 000. */
  windowMs?: number;
  /** Clock, ms. Default Date.now. */
  now?: () => number;
}

interface KindState { windowStart: number; logged: number; suppressed: number; total: number }

export class BadInputLog {
  private readonly burst: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly kinds = new Map<string, KindState>();

  /** @throws RangeError naming the bad option. */
  constructor(private readonly sink: BadInputSink, opts: BadInputLogOptions = {}) {
    this.burst = opts.burst ?? 5;
    this.windowMs = opts.windowMs ?? 60_000;
    this.now = opts.now ?? Date.now;
    if (!Number.isInteger(this.burst) || this.burst < 0) throw new RangeError(`BadInputLog burst must be an integer >= 0 (got ${opts.burst})`);
    if (!(this.windowMs > 0)) throw new RangeError(`BadInputLog windowMs must be > 0 (got ${opts.windowMs})`);
  }

  /**
   * One piece of bad input of `kind` (a fixed word: it is a key, never attacker text) from
   * `from` (an address), with what it said (`input`, escaped and cut here).
   * Returns whether it was logged.
   */
  report(kind: string, from: string, input: string | Uint8Array, msg = 'bad input'): boolean {
    const t = this.now();
    let k = this.kinds.get(kind);
    if (!k) { k = { windowStart: t, logged: 0, suppressed: 0, total: 0 }; this.kinds.set(kind, k); }
    if (t - k.windowStart >= this.windowMs) this.flushKind(kind, k, t);
    k.total++;
    if (k.logged >= this.burst) { k.suppressed++; return false; }
    k.logged++;
    this.sink.warn({ kind, from: escapeUntrusted(from, 64), input: escapeUntrusted(input) }, msg);
    return true;
  }

  /** Bad inputs of `kind` seen in all (logged or not). */
  count(kind: string): number {
    return this.kinds.get(kind)?.total ?? 0;
  }

  /** Ends every window now (a summary line per kind with suppressed reports). */
  flush(): void {
    const t = this.now();
    for (const [kind, k] of this.kinds) this.flushKind(kind, k, t);
  }

  private flushKind(kind: string, k: KindState, t: number): void {
    if (k.suppressed > 0) this.sink.warn({ kind, suppressed: k.suppressed, windowMs: t - k.windowStart }, `${k.suppressed} more of ${kind} suppressed`);
    k.windowStart = t;
    k.logged = 0;
    k.suppressed = 0;
  }
}
