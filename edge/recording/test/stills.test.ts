/**
 * Stills in the catalog and on disk: a version-1 database (cases and segments, as boxes in
 * the field have it) migrated in place to version 2 with its rows intact; stills tied to the
 * case being recorded, idempotent on their path; still files written durably next to the
 * segments and never mistaken for segments by orphan adoption.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CATALOG_VERSION, Catalog, CatalogError, parseSegmentPath, parseStillPath, stillPath, writeStillFile } from '../index.js';

const root = mkdtempSync(join(tmpdir(), 'orbox-stills-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));

/** Schema version 1 exactly as the first catalog wrote it (edge/recording/catalog.ts MIGRATIONS[0]). */
const V1 = `CREATE TABLE cases (
     id INTEGER PRIMARY KEY, uid TEXT NOT NULL UNIQUE, label TEXT,
     state TEXT NOT NULL CHECK (state IN ('recording', 'ended')), start_ns INTEGER NOT NULL, end_ns INTEGER);
   CREATE TABLE segments (
     id INTEGER PRIMARY KEY, channel TEXT NOT NULL, case_id INTEGER REFERENCES cases(id), seq INTEGER NOT NULL,
     path TEXT NOT NULL UNIQUE, state TEXT NOT NULL CHECK (state IN ('open', 'closed', 'recovered', 'lost')),
     start_ns INTEGER NOT NULL, end_ns INTEGER, bytes INTEGER, frames INTEGER, frames_unknown INTEGER NOT NULL DEFAULT 0);
   CREATE INDEX segments_by_case ON segments(case_id, start_ns);
   CREATE INDEX segments_by_time ON segments(channel, start_ns);
   CREATE INDEX segments_open ON segments(state) WHERE state = 'open';`;

const T0 = 1_767_225_600_000_000_000n; // 2026-01-01T00:00:00Z

t.test('a version-1 catalog is migrated in place: old cases and segments intact, stills added', async (t) => {
  const path = join(root, 'v1.db');
  const old = new Database(path);
  old.exec(V1);
  old.prepare(`INSERT INTO cases (uid, label, state, start_ns, end_ns) VALUES ('case-old', 'old', 'ended', ?, ?)`).run(T0, T0 + 60_000_000_000n);
  old.prepare(`INSERT INTO cases (uid, label, state, start_ns) VALUES ('case-live', 'live', 'recording', ?)`).run(T0 + 120_000_000_000n);
  old.prepare(`INSERT INTO segments (channel, case_id, seq, path, state, start_ns, end_ns, bytes, frames) VALUES ('endoscope', 1, 0, '/rec/a.mkv', 'closed', ?, ?, 1000, 30)`).run(T0, T0 + 1_000_000_000n);
  old.pragma('user_version = 1');
  old.close();

  const c = new Catalog({ path });
  c.open();
  t.teardown(() => c.close());
  const db = new Database(path, { readonly: true });
  t.equal(db.pragma('user_version', { simple: true }), CATALOG_VERSION, `user_version is now ${CATALOG_VERSION}`);
  t.ok(db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'stills'`).get(), 'stills table created');
  db.close();
  t.match(c.getSegment('/rec/a.mkv'), { channel: 'endoscope', caseId: 1, state: 'closed', frames: 30, bytes: 1000 }, 'the old segment is intact');
  t.match(c.listCases(0n, T0 * 2n).map((x) => [x.uid, x.state]), [['case-old', 'ended'], ['case-live', 'recording']], 'the old cases are intact');

  const s = c.addStill({ channel: 'endoscope', caseId: 2, captureNs: T0 + 125_000_000_000n, path: '/rec/s.jpg', bytes: 4321, width: 1920, height: 1080, savedNs: T0 + 126_000_000_000n, requestedBy: 'local' });
  t.match(s, { kind: 'still', id: 1, channel: 'endoscope', caseId: 2, captureNs: T0 + 125_000_000_000n, path: '/rec/s.jpg', bytes: 4321, width: 1920, height: 1080, requestedBy: 'local' });
  t.same(c.stillsOfCase(2), [s], 'found through its case');

  // Opening again does not migrate twice.
  c.close();
  const again = new Catalog({ path });
  again.open();
  t.same(again.getStill('/rec/s.jpg'), s, 'the still survives a reopen');
  again.close();
});

t.test('stills: idempotent on their path, a conflict otherwise, only with a recording case', async (t) => {
  const c = new Catalog({ path: join(root, 'fresh.db') });
  c.open();
  t.teardown(() => c.close());
  const live = c.startCase({ uid: 'case-7', startNs: T0 });
  const ended = c.startCase({ uid: 'case-6', startNs: T0 - 10n });
  c.endCase(ended.id, T0 - 5n);
  const base = { channel: 'room', caseId: live.id, captureNs: T0 + 1n, path: '/rec/room-1.jpg', bytes: 10, width: 320, height: 180, savedNs: T0 + 2n, requestedBy: 'fleet:ops' };
  const first = c.addStill(base);
  t.same(c.addStill({ ...base, savedNs: T0 + 99n }), first, 'the same still saved again is the same row');
  t.throws(() => c.addStill({ ...base, bytes: 11 }), { code: 'still-conflict' }, 'the same path with other contents is refused');
  t.throws(() => c.addStill({ ...base, path: '/rec/x.jpg', caseId: ended.id }), { code: 'case-not-recording' });
  t.throws(() => c.addStill({ ...base, path: '/rec/y.jpg', caseId: 999 }), { code: 'unknown-case' });
  t.throws(() => c.addStill({ ...base, path: '/rec/z.jpg', bytes: 0 }), CatalogError);
  const loose = c.addStill({ ...base, path: '/rec/room-2.jpg', caseId: null, captureNs: T0 + 3n });
  t.equal(loose.caseId, null, 'a still outside a case belongs to none');
  t.same(c.stillsInRange(T0, T0 + 10n, 'room').map((x) => x.path), ['/rec/room-1.jpg', '/rec/room-2.jpg'], 'by capture time');
  t.same(c.stillsInRange(T0, T0 + 2n).map((x) => x.path), ['/rec/room-1.jpg'], 'range end is exclusive');
});

t.test('still files: named by capture time next to the segments, written whole, never adopted as segments', async (t) => {
  const rec = join(root, 'recordings');
  const p = stillPath(rec, 'endoscope', T0 + 61_234_000_000n);
  t.equal(p, join(rec, 'endoscope', '20260101', 'endoscope-20260101T000101.234Z-still.jpg'));
  t.same(parseStillPath(p), { channel: 'endoscope', captureNs: T0 + 61_234_000_000n });
  t.equal(parseSegmentPath(p), null, 'not a segment name');
  t.equal(parseStillPath('/x/endoscope-20260101T000101.234Z-00001.mkv'), null, 'a segment is not a still');
  t.throws(() => stillPath(rec, 'Bad Name', T0), RangeError);

  const jpeg = join(root, 'src.jpg');
  execFileSync('gst-launch-1.0', ['-q', 'videotestsrc', 'num-buffers=1', '!', 'video/x-raw,width=320,height=180', '!', 'jpegenc', '!', 'filesink', `location=${jpeg}`]);
  const bytes = readFileSync(jpeg);
  await writeStillFile(p, bytes);
  t.same(readFileSync(p), bytes, 'the file holds exactly the JPEG');
  t.same(readdirSync(dirname(p)), [p.split('/').pop()], 'no temporary file left behind');
  await writeStillFile(p, bytes);
  t.same(readFileSync(p), bytes, 'writing the same still again replaces it whole');

  const c = new Catalog({ path: join(root, 'adopt.db') });
  c.open();
  t.teardown(() => c.close());
  t.same(c.adoptOrphans(rec), [], 'orphan adoption leaves still files alone');
});
