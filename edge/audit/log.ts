/**
 * The audit log (issue #21): an append-only, hash-chained record of every access and action on
 * the box (who, when, what, from where, and how it ended).
 *
 * File: `<dataDir>/audit/audit.jsonl`, one JSON record per line:
 *   {"seq":N,"at":"<ISO 8601 UTC>","actor":"...","from":"...","action":"...","target":"...",
 *    "outcome":"...","detail":"...","prev":"<hex>","hash":"<hex>"}
 *   hash = SHA-256( prev "\n" JSON.stringify([seq, at, actor, from, action, target, outcome, detail]) )
 *   prev = the previous record's hash; the first record's is GENESIS (64 zeros).
 * A modified record breaks its own hash; a removed or inserted one breaks the next record's
 * `prev` or the run of seqs; a log cut at its end is caught only against a head kept elsewhere,
 * which is why every record's (seq, hash) also goes to the fleet (control publishes it as an
 * `audit` event) and `verify()` takes that head.
 *
 * Durability: each record is one write() on an O_APPEND descriptor, then fdatasync, before
 * append() returns: an action is not reported done before its record is on disk. A power cut
 * can leave the last line torn; open() cuts a torn tail (bytes after the last newline, or a last
 * line that does not parse) and records that it did (`audit.torn-tail`), so the chain stays
 * verifiable and the loss is itself on the record. Anything else wrong in the file is left as it
 * is for verify() to report: the log never rewrites its past.
 *
 * Fields are bounded (FIELD_MAX characters, control characters escaped by JSON) so an attacker's
 * bytes (a user name, a request path) cannot bloat or forge lines.
 * Lifecycle: open() (creates the folder, 0700, and the file, 0600), append()*, close() (idempotent).
 * Runs on the control worker (the only writer); verify()/read() run anywhere (the CLI, tests).
 * Errors: AuditError names the file and, for a bad record, its line and seq.
 */
import { createHash } from 'node:crypto';
import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, writeSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const GENESIS = '0'.repeat(64);
export const FIELD_MAX = 256;
/** How much of the file's end open() reads to find the last record (records are < 2 KiB). */
const TAIL_BYTES = 16 * 1024;

export interface AuditEntry {
  /** Who: a user (`web:alice`), `local` (the box's own CLI socket), `fleet:<issuer>`, `rtsp:<user or address>`, `box`. */
  actor: string;
  /** From where: a transport address, `cli`, `fleet`. */
  from: string;
  /** What: a command kind or an access (`stream.view`, `signin.failed`, `recordingStart`, ...). */
  action: string;
  /** On what: a channel, case, worker, receiver, device. */
  target?: string;
  /** How it ended: `finished`, `refused`, `failed`, `invalid`, ... */
  outcome: string;
  detail?: string;
}

export interface AuditRecord extends Required<AuditEntry> {
  seq: number;
  at: string;
  prev: string;
  hash: string;
}

export interface AuditHead { seq: number; hash: string }

export class AuditError extends Error {
  constructor(message: string) { super(message); this.name = 'AuditError'; }
}

const bound = (s: string | undefined): string => {
  const v = s ?? '';
  return v.length > FIELD_MAX ? `${v.slice(0, FIELD_MAX - 1)}…` : v;
};

export function recordHash(prev: string, r: Omit<AuditRecord, 'prev' | 'hash'>): string {
  return createHash('sha256')
    .update(`${prev}\n${JSON.stringify([r.seq, r.at, r.actor, r.from, r.action, r.target, r.outcome, r.detail])}`)
    .digest('hex');
}

export function auditPath(dataDir: string): string {
  return join(dataDir, 'audit', 'audit.jsonl');
}

export class AuditLog {
  private fd: number | null = null;
  private last: AuditHead = { seq: 0, hash: GENESIS };

  constructor(readonly path: string, private readonly now: () => Date = () => new Date()) {}

  /** The last record written (seq 0 and GENESIS before the first). */
  get head(): AuditHead { return { ...this.last }; }

  open(): void {
    if (this.fd !== null) return;
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const fd = openSync(this.path, existsSync(this.path) ? 'r+' : 'w+', 0o600);
    try {
      const size = fstatSync(fd).size;
      const from = Math.max(0, size - TAIL_BYTES);
      const buf = Buffer.alloc(size - from);
      readSync(fd, buf, 0, buf.length, from);
      // One write() per record, newline last: a torn write is a tail after the last newline.
      let end = buf.length;
      let torn = 0;
      const nl = buf.lastIndexOf(0x0a);
      if (nl !== end - 1) { torn = end - (nl + 1); end = nl + 1; }
      // The chain goes on from the last record that parses; a bad line before it is verify()'s to report.
      let lastLine: AuditRecord | null = null;
      for (let pos = end; pos > 0 && lastLine === null;) {
        const start = buf.lastIndexOf(0x0a, pos - 2) + 1;
        lastLine = parseRecord(buf.subarray(start, pos - 1).toString('utf8'));
        if (start === 0) break;
        pos = start;
      }
      if (lastLine === null && end > 0 && from > 0) throw new AuditError(`${this.path}: no record in the last ${TAIL_BYTES} bytes`);
      if (lastLine) this.last = { seq: lastLine.seq, hash: lastLine.hash };
      if (torn > 0) {
        ftruncateSync(fd, from + end);
        fdatasyncSync(fd);
      }
      closeSync(fd);
      this.fd = openSync(this.path, 'a', 0o600);
      if (torn > 0) this.append({ actor: 'box', from: 'box', action: 'audit.torn-tail', outcome: 'recovered', detail: `${torn} bytes of an unfinished record cut after seq ${this.last.seq}` });
    } catch (err) {
      if (this.fd === null) { try { closeSync(fd); } catch { /* already closed */ } }
      throw err instanceof AuditError ? err : new AuditError(`${this.path}: ${(err as Error).message}`);
    }
  }

  /** Writes one record and syncs it; returns it. Throws AuditError when the log is closed or the write fails. */
  append(e: AuditEntry): AuditRecord {
    if (this.fd === null) throw new AuditError(`${this.path}: append on a closed audit log`);
    const body = {
      seq: this.last.seq + 1, at: this.now().toISOString(),
      actor: bound(e.actor), from: bound(e.from), action: bound(e.action), target: bound(e.target),
      outcome: bound(e.outcome), detail: bound(e.detail),
    };
    const hash = recordHash(this.last.hash, body);
    const rec: AuditRecord = { ...body, prev: this.last.hash, hash };
    try {
      writeSync(this.fd, `${JSON.stringify(rec)}\n`);
      fdatasyncSync(this.fd);
    } catch (err) {
      throw new AuditError(`${this.path}: cannot write audit record ${rec.seq}: ${(err as Error).message}`);
    }
    this.last = { seq: rec.seq, hash };
    return rec;
  }

  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}

function parseRecord(line: string): AuditRecord | null {
  try {
    const r = JSON.parse(line) as AuditRecord;
    return typeof r.seq === 'number' && typeof r.hash === 'string' && typeof r.prev === 'string' ? r : null;
  } catch {
    return null;
  }
}

/** Every record of a log file, in order (unparsable lines skipped: verify() reports them). */
export function readAudit(path: string, o: { sinceSeq?: number; limit?: number } = {}): AuditRecord[] {
  if (!existsSync(path)) return [];
  const out: AuditRecord[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line) continue;
    const r = parseRecord(line);
    if (r && r.seq > (o.sinceSeq ?? 0)) out.push(r);
  }
  return o.limit !== undefined ? out.slice(-o.limit) : out;
}

export interface AuditVerdict {
  ok: boolean;
  records: number;
  head: AuditHead;
  /** The first problem found, with its line (1-based) and seq where known. */
  problem?: { line: number; seq?: number; reason: string };
}

/**
 * Checks the whole chain: each line parses, seqs run 1, 2, 3..., each `prev` is the hash before
 * it, each hash recomputes. With `head` (what the fleet holds), also that the log reaches that
 * seq with that hash: a log cut at its end, or rewritten from some record on, is caught.
 */
export function verifyAudit(path: string, head?: AuditHead): AuditVerdict {
  if (!existsSync(path)) {
    return head && head.seq > 0
      ? { ok: false, records: 0, head: { seq: 0, hash: GENESIS }, problem: { line: 0, reason: `${path} is missing, the fleet holds seq ${head.seq}` } }
      : { ok: true, records: 0, head: { seq: 0, hash: GENESIS } };
  }
  const lines = readFileSync(path, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let prev: AuditHead = { seq: 0, hash: GENESIS };
  let atHead: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const fail = (reason: string, seq?: number): AuditVerdict => ({ ok: false, records: i, head: prev, problem: { line: i + 1, seq, reason } });
    const r = parseRecord(lines[i]!);
    if (!r) return fail('not an audit record');
    if (r.seq !== prev.seq + 1) return fail(`seq ${r.seq} follows seq ${prev.seq} (records removed or inserted)`, r.seq);
    if (r.prev !== prev.hash) return fail(`prev does not match the hash of seq ${prev.seq} (chain broken)`, r.seq);
    const { hash, prev: p, ...body } = r;
    if (recordHash(p, body) !== hash) return fail('hash does not match the record (record modified)', r.seq);
    prev = { seq: r.seq, hash };
    if (head && r.seq === head.seq) atHead = hash;
  }
  if (head && head.seq > 0) {
    if (prev.seq < head.seq) return { ok: false, records: lines.length, head: prev, problem: { line: lines.length, reason: `the log ends at seq ${prev.seq}; the fleet holds seq ${head.seq} (log truncated)` } };
    if (atHead !== head.hash) return { ok: false, records: lines.length, head: prev, problem: { line: 0, seq: head.seq, reason: `seq ${head.seq} differs from the hash the fleet holds (log rewritten)` } };
  }
  return { ok: true, records: lines.length, head: prev };
}
