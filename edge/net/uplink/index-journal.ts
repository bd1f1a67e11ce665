/**
 * SRTP index reservations: what keeps a restarted net-send from ever repeating a keystream.
 *
 * AES counter mode under one master key repeats its keystream when an (SSRC, index) pair repeats
 * (RFC 3711 §9.1). A sender restarted with the same keys and SSRCs (the receiver's SDP must stay
 * true) would start its sequence numbers, ROC and SRTCP index afresh. So before a sender uses an
 * index it reserves it: the journal file records, per (key id, stream), an index above every
 * index that may have been used, and a new sender starts at that bound.
 *
 * Contract
 * - `start(key, stream)`: the first index a new sender may use (0 when never reserved).
 * - `ensure(key, stream, index)`: call before protecting a packet with `index`; when `index`
 *   comes within half a block of the reservation, a new reservation (`index + block`) is written
 *   and fsynced before it returns, so even a power cut resumes above what was sent. Cost: one
 *   small synchronous write per `block / 2` packets (block 16384: about every 10 s of 8 Mb/s).
 * - Streams are named by the caller: `rtp:<ssrc>` (48-bit ROC << 16 | seq) and `rtcp:<ssrc>`
 *   (31-bit SRTCP index). Entries of keys no longer in use are dropped by `retain()`.
 * - File: `<dataDir>/uplink/srtp-index.json`, replaced by rename; one writer (net-send).
 * - Errors: a journal that exists but cannot be read throws IndexJournalError: sending with an
 *   unknown history would risk the keystream, so the caller must not send (it logs and retries).
 * Runs on: net-send.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export class IndexJournalError extends Error {
  override name = 'IndexJournalError';
  constructor(readonly file: string, detail: string) {
    super(`SRTP index journal ${file}: ${detail}; not sending until it is readable or removed with the keys (\`orbox uplink rekey\`)`);
  }
}

/** Default reservation step. */
export const INDEX_BLOCK = 16_384;

export class IndexJournal {
  private readonly reserved: Map<string, number>;
  /** Writes so far (for tests and stats). */
  writes = 0;

  constructor(readonly file: string, private readonly block = INDEX_BLOCK) {
    if (!Number.isInteger(block) || block < 2) throw new RangeError(`index journal block must be an integer >= 2, got ${block}`);
    this.reserved = new Map(Object.entries(this.load()));
  }

  start(key: string, stream: string): number {
    return this.reserved.get(`${key}/${stream}`) ?? 0;
  }

  ensure(key: string, stream: string, index: number): void {
    const k = `${key}/${stream}`;
    const r = this.reserved.get(k) ?? 0;
    if (index + this.block / 2 < r) return;
    this.reserved.set(k, index + this.block);
    this.save();
  }

  /** Drops the entries of keys not in `keys` (after a rekey or a removed receiver). */
  retain(keys: ReadonlySet<string>): void {
    let changed = false;
    for (const k of this.reserved.keys()) {
      if (!keys.has(k.slice(0, k.indexOf('/')))) { this.reserved.delete(k); changed = true; }
    }
    if (changed) this.save();
  }

  private load(): Record<string, number> {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new IndexJournalError(this.file, `cannot read (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
    let v: unknown;
    try { v = JSON.parse(text); } catch { throw new IndexJournalError(this.file, 'not JSON'); }
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new IndexJournalError(this.file, 'not an object of reservations');
    for (const [k, n] of Object.entries(v)) {
      if (!Number.isSafeInteger(n) || (n as number) < 0) throw new IndexJournalError(this.file, `reservation "${k}" is ${JSON.stringify(n)}, not a non-negative integer`);
    }
    return v as Record<string, number>;
  }

  private save(): void {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(Object.fromEntries(this.reserved)) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    // The rename is durable only once the folder is synced.
    const dir = openSync(dirname(this.file), 'r');
    try { fsyncSync(dir); } finally { closeSync(dir); }
    this.writes++;
  }
}
