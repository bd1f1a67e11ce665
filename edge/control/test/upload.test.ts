/**
 * Segment upload on a running box (issue #20): a recording channel with 2 s segments, the box
 * configured to upload to an S3-compatible store (test-rig/upload/: s3rver behind a SigV4-checking
 * front in its own process, a stand-in: no MinIO is packaged here). Closed segments arrive in the
 * store byte for byte, status counts them, the audit log records each verified upload, and with
 * keepLocalHours 0 the verified ones leave the box while the open one stays.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { callLocalApi } from '../local-api.js';
import { readAudit, auditPath } from '../../audit/index.js';
import { Catalog } from '../../recording/index.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { getObject } from '../../../test-rig/upload/s3-store.js';
import { startS3StoreProcess } from '../../../test-rig/upload/s3-store-main.js';
import { startBox, testConfig } from '../../supervisor/test/harness.js';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../../../../bin/orbox.js', import.meta.url));


t.test('closed segments go to the store, verified and audited; verified ones leave the box, the open one stays', async (t) => {
  const store = await startS3StoreProcess('or-video', mkdtempSync(join(tmpdir(), 'orbox-s3-')));
  t.teardown(() => store.close());
  const base = testConfig();
  const creds = join(base.box.dataDir, 's3.json');
  writeFileSync(creds, JSON.stringify(store.credentials), { mode: 0o600 });
  const cfg = testConfig({
    box: { id: 'or-3', room: 'OR 3', dataDir: base.box.dataDir }, api: { socket: base.api.socket },
    recording: { segmentS: 2, fsyncMs: 250, maxLossMs: 1000 },
    upload: { s3: { endpoint: store.endpoint, bucket: 'or-video', credentialsFile: creds }, partMiB: 5, keepLocalHours: 0 },
  });
  const sup = await startBox(cfg);
  t.teardown(() => sup.stop());
  type St = { upload?: { verified: number; deletedLocal: number; queued: number; lastError: string | null } };
  let st: St = {};
  const until = Date.now() + 40_000;
  while (Date.now() < until) {
    st = (await callLocalApi(cfg.api.socket, 'status', {})) as St;
    if ((st.upload?.deletedLocal ?? 0) >= 3) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  t.ok((st.upload?.verified ?? 0) + (st.upload?.deletedLocal ?? 0) >= 3, `status: ${JSON.stringify(st.upload)}`);
  const audited = readAudit(auditPath(cfg.box.dataDir)).filter((r) => r.action === 'upload.verified');
  t.ok(audited.length >= 3, `${audited.length} verified uploads in the audit log`);
  t.match(audited[0], { actor: 'box', from: 'upload', outcome: 'finished', target: /^or-3\/cam\/\d{8}\/cam-.+\.mkv$/ });
  const deleted = readAudit(auditPath(cfg.box.dataDir)).filter((r) => r.action === 'upload.deleted-local');
  t.ok(deleted.length >= 3, `${deleted.length} local deletions audited`);
  const cli = await run(process.execPath, [bin, 'recordings', '--socket', cfg.api.socket]);
  t.match(cli.stdout, /uploads on; \d+ segments/);
  t.match(cli.stdout, /cam +\S+ +\d+ B  closed +upload deleted /, '`orbox recordings` shows a segment deleted after its verified upload');
  t.match(cli.stdout, /open +upload recording /, 'and the one being recorded');
  await sup.stop();

  const cat = new Catalog({ path: join(cfg.box.dataDir, 'catalog.db') });
  cat.open();
  const segs = cat.segmentsInRange(0n, BigInt(Date.now() + 60_000) * 1_000_000n, 'cam');
  cat.close();
  const uploaded = new Set(audited.map((r) => r.target));
  let checked = 0;
  for (const s of segs) {
    const key = `or-3/${s.path.slice(s.path.indexOf('/cam/') + 1)}`;
    if (!uploaded.has(key)) {
      t.ok(existsSync(s.path), `${key}: not uploaded (closed at stop), still on the box`);
      continue;
    }
    t.notOk(existsSync(s.path), `${key}: verified, deleted locally`);
    const got = await getObject(store, 'or-video', key);
    t.equal(got.length, s.bytes, `${key}: the store holds its ${s.bytes} bytes`);
    t.equal(got.subarray(0, 4).toString('hex'), '1a45dfa3', 'a Matroska file');
    checked++;
  }
  t.ok(checked >= 3, `${checked} segments checked in the store`);
});
