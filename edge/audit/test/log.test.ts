/**
 * The audit log's chain and its recovery, on real files: records survive a reopen, a torn last
 * line (a power cut mid-write) is cut and itself recorded, and verify() catches a modified, a
 * removed, an inserted record and, against the head the fleet holds, a cut end or a rewrite.
 */
import t from 'tap';
import { appendFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, FIELD_MAX, GENESIS, readAudit, verifyAudit } from '../index.js';

const fresh = () => join(mkdtempSync(join(tmpdir(), 'orbox-audit-')), 'audit', 'audit.jsonl');
const fixed = () => { let ms = Date.UTC(2026, 11, 3, 12); return () => new Date(ms += 1000); };

function write(path: string, n: number): AuditLog {
  const log = new AuditLog(path, fixed());
  log.open();
  for (let i = 0; i < n; i++) log.append({ actor: 'local', from: 'cli', action: 'recordingStart', target: `case-${i}`, outcome: 'finished' });
  return log;
}

t.test('records chain from GENESIS, are 0600 in a 0700 folder, and survive a reopen', async (t) => {
  const path = fresh();
  const log = write(path, 3);
  t.same(log.head.seq, 3);
  log.close();
  t.equal(statSync(path).mode & 0o777, 0o600, 'file 0600');
  t.equal(statSync(join(path, '..')).mode & 0o777, 0o700, 'folder 0700');
  const recs = readAudit(path);
  t.same(recs.map((r) => r.seq), [1, 2, 3]);
  t.equal(recs[0]!.prev, GENESIS);
  t.equal(recs[1]!.prev, recs[0]!.hash);
  t.equal(recs[0]!.at, '2026-12-03T12:00:01.000Z');
  const again = new AuditLog(path);
  again.open();
  t.equal(again.head.seq, 3, 'reopened at the last record');
  again.append({ actor: 'fleet:console', from: 'fleet', action: 'snapshot', target: 'endoscope', outcome: 'finished' });
  again.close();
  again.close();
  const v = verifyAudit(path);
  t.ok(v.ok, JSON.stringify(v));
  t.equal(v.records, 4);
});

t.test('a torn last line is cut at open, the cut is recorded, and the chain verifies', async (t) => {
  const path = fresh();
  write(path, 2).close();
  appendFileSync(path, '{"seq":3,"at":"2026-12-03T12:00:03.000Z","actor":"loc');
  const log = new AuditLog(path);
  log.open();
  log.close();
  const recs = readAudit(path);
  t.same(recs.map((r) => [r.seq, r.action]), [[1, 'recordingStart'], [2, 'recordingStart'], [3, 'audit.torn-tail']]);
  t.match(recs[2]!.detail, /bytes of an unfinished record cut after seq 2/);
  t.ok(verifyAudit(path).ok);
});

t.test('fields are bounded and an attacker\'s bytes stay inside their field', async (t) => {
  const path = fresh();
  const log = new AuditLog(path);
  log.open();
  log.append({ actor: 'web:x"}\n{"seq":99', from: '6.6.6.6', action: 'signin.failed', outcome: 'refused', detail: 'A'.repeat(5000) });
  log.close();
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  t.equal(lines.length, 1, 'one line');
  const r = readAudit(path)[0]!;
  t.equal(r.actor, 'web:x"}\n{"seq":99');
  t.equal(r.detail.length, FIELD_MAX);
  t.ok(verifyAudit(path).ok);
});

t.test('verify names the first bad record: modified, removed, inserted, not a record', async (t) => {
  const cases: [string, (lines: string[]) => string[], RegExp, number][] = [
    ['modified', (l) => { l[1] = l[1]!.replace('case-1', 'case-X'); return l; }, /record modified/, 2],
    ['removed', (l) => l.filter((_, i) => i !== 1), /seq 3 follows seq 1/, 2],
    ['inserted', (l) => [...l.slice(0, 2), l[1]!, ...l.slice(2)], /seq 2 follows seq 2/, 3],
    ['rehashed alone', (l) => {
      const r = JSON.parse(l[1]!); r.target = 'case-X';
      return [l[0]!, JSON.stringify(r), ...l.slice(2)];
    }, /record modified/, 2],
    ['garbage', (l) => { l[2] = 'not json'; return l; }, /not an audit record/, 3],
  ];
  for (const [name, mutate, reason, line] of cases) {
    const path = fresh();
    write(path, 4).close();
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    writeFileSync(path, mutate(lines).join('\n') + '\n');
    const v = verifyAudit(path);
    t.notOk(v.ok, `${name}: refused`);
    t.match(v.problem?.reason, reason, `${name}: ${v.problem?.reason}`);
    t.equal(v.problem?.line, line, `${name}: line ${line}`);
  }
});

t.test('against the head the fleet holds: a cut end and a rewrite from some record on are caught', async (t) => {
  const path = fresh();
  const log = write(path, 5);
  const head = log.head;
  log.close();
  t.ok(verifyAudit(path, head).ok, 'the whole log matches the head');
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  writeFileSync(path, lines.slice(0, 3).join('\n') + '\n');
  const cut = verifyAudit(path, head);
  t.notOk(cut.ok);
  t.match(cut.problem?.reason, /ends at seq 3; the fleet holds seq 5 \(log truncated\)/);
  t.ok(verifyAudit(path).ok, 'without the head a cut end is a valid shorter chain: why the fleet keeps it');
  // A rewrite that keeps the chain valid (re-hashed from seq 3 on) still differs at the head.
  const rw = new AuditLog(path);
  rw.open();
  rw.append({ actor: 'x', from: 'x', action: 'x', outcome: 'x' });
  rw.append({ actor: 'x', from: 'x', action: 'x', outcome: 'x' });
  rw.close();
  const v = verifyAudit(path, head);
  t.notOk(v.ok);
  t.match(v.problem?.reason, /seq 5 differs from the hash the fleet holds \(log rewritten\)/);
  t.notOk(verifyAudit(join(path, '..', 'missing.jsonl'), head).ok, 'a missing log with a head is refused');
});
