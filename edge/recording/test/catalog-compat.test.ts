/**
 * The catalog after a rollback (issue #22): this firmware opens a database a newer one
 * migrated, as long as that one said this firmware can still use it (catalog_meta.min_reader),
 * and keeps recording into it; a database that needs a newer reader is refused by name.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CATALOG_VERSION, Catalog, CatalogError } from '../index.js';

function futureDb(minReader: number): string {
  const path = join(mkdtempSync(join(tmpdir(), 'orbox-cat-')), 'catalog.db');
  const c = new Catalog({ path, scan: () => null });
  c.open();
  c.startCase({ startNs: 1_000n, uid: 'case-old' });
  c.close();
  // What a newer firmware's additive migration would do, then its bookkeeping.
  const db = new Database(path);
  db.exec(`ALTER TABLE segments ADD COLUMN codec TEXT; CREATE TABLE vitals_tracks (id INTEGER PRIMARY KEY, path TEXT NOT NULL);`);
  db.prepare(`INSERT OR REPLACE INTO catalog_meta (key, value) VALUES ('min_reader', ?)`).run(String(minReader));
  db.pragma(`user_version = ${CATALOG_VERSION + 1}`);
  db.close();
  return path;
}

t.test('a database a newer firmware migrated additively: opened as it is, recorded into, left at its version', async (t) => {
  const path = futureDb(CATALOG_VERSION);
  const c = new Catalog({ path, scan: () => null });
  c.open();
  t.same(c.listCases(0n, 1n << 62n).map((x) => x.uid), ['case-old'], 'what the newer one wrote is read');
  const k = c.startCase({ startNs: 5_000n, uid: 'case-after-rollback' });
  c.openSegment({ channel: 'cam', caseId: k.id, seq: 0, path: '/r/cam/x.mkv', startNs: 5_000n } as never);
  c.closeSegment('/r/cam/x.mkv', { endNs: 9_000n, bytes: 100, frames: 3 } as never);
  t.equal(c.segmentsOfCase(k.id)[0]?.frames, 3, 'and written to');
  c.close();
  const db = new Database(path, { readonly: true });
  t.equal(db.pragma('user_version', { simple: true }), CATALOG_VERSION + 1, 'not migrated down');
  db.close();
});

t.test('a database that needs a newer reader is refused, naming both versions', async (t) => {
  const path = futureDb(CATALOG_VERSION + 1);
  const c = new Catalog({ path, scan: () => null });
  let err: unknown;
  try { c.open(); } catch (e) { err = e; }
  t.ok(err instanceof CatalogError && err.code === 'too-new', `refused: ${String(err)}`);
  t.match(String(err), new RegExp(`needs a reader of schema ${CATALOG_VERSION + 1} or later; this firmware reads up to ${CATALOG_VERSION}`));
});

t.test('a fresh database records its reader floor', async (t) => {
  const path = join(mkdtempSync(join(tmpdir(), 'orbox-cat-')), 'catalog.db');
  new Catalog({ path, scan: () => null }).open();
  const db = new Database(path, { readonly: true });
  t.same(db.prepare(`SELECT value FROM catalog_meta WHERE key = 'min_reader'`).get(), { value: '1' });
  db.close();
});
