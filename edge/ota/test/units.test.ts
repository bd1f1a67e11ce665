// The agent's pure parts and its download against a real HTTPS server (test-rig/ota/bundle-server,
// the fleet test PKI's server certificate): version order, job validation, the store surviving a
// reload, resume with Range after a cut, the size limit and the sha256 check.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { TestPki } from '../../../test-rig/fleet/index.js';
import { startBundleServer } from '../../../test-rig/ota/bundle-server.js';
import { DownloadError, JobStore, compareVersions, download, validateJobDocument, type Job } from '../index.js';

const tmp = mkdtempSync(join(tmpdir(), 'orbox-ota-units-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

t.test('versions order by semver, pre-releases before their release', async (t) => {
  t.equal(compareVersions('1.2.0', '1.10.0'), -1);
  t.equal(compareVersions('2.0.0', '1.99.99'), 1);
  t.equal(compareVersions('1.2.0-rc.1', '1.2.0'), -1);
  t.equal(compareVersions('1.2.0', '1.2.0'), 0);
});

t.test('a job document is validated field by field', async (t) => {
  const ok = { jobId: 'j1', url: 'https://h/b.raucb', sha256: 'a'.repeat(64), sizeBytes: 0, version: '1.2.3', force: false, timeoutS: 0 };
  t.doesNotThrow(() => validateJobDocument(ok));
  t.throws(() => validateJobDocument({ ...ok, url: 'http://h/b' }), /url must be https/);
  t.throws(() => validateJobDocument({ ...ok, sha256: 'xyz' }), /sha256/);
  t.throws(() => validateJobDocument({ ...ok, version: 'latest' }), /version/);
  t.throws(() => validateJobDocument({ ...ok, jobId: '../x' }), /job id/);
});

t.test('the job store survives a reload and refuses a corrupt file by name', async (t) => {
  const path = join(tmp, 'store', 'jobs.json');
  const a = new JobStore(path);
  const job: Job = { jobId: 'j1', url: 'https://h/b', sha256: 'a'.repeat(64), sizeBytes: 0, version: '1.2.3', force: false, timeoutS: 0, status: 'QUEUED', step: 'queued', percent: 0, message: '', queuedAtMs: 1, updatedAtMs: 1, installAttempts: 0 };
  a.add(job);
  a.update(job, { status: 'IN_PROGRESS', step: 'installing', percent: 40 }, 2);
  const b = new JobStore(path);
  t.match(b.get('j1'), { status: 'IN_PROGRESS', step: 'installing', percent: 40 });
  t.equal(b.next()?.jobId, 'j1');
  writeFileSync(path, '{"jobs": [');
  t.throws(() => new JobStore(path), new RegExp(`${path}.*unreadable`));
});

t.test('download: resumed with Range after a cut, size limit, sha256', async (t) => {
  const pki = new TestPki(join(tmp, 'pki'));
  const dir = join(tmp, 'srv');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(dir);
  const body = randomBytes(700_000);
  writeFileSync(join(dir, 'b.raucb'), body);
  const sha = createHash('sha256').update(body).digest('hex');
  const srv = await startBundleServer(dir, pki.server);
  t.teardown(() => srv.close());
  const ca = readFileSync(pki.caPath);
  const dest = join(tmp, 'dl', 'b.raucb');
  mkdirSync(dirname(dest), { recursive: true });
  srv.cutNext(250_000, 1);
  const cutErr = await download({ url: srv.url('b.raucb'), dest, sha256: sha, maxBytes: 1 << 20, expectedBytes: body.length, ca }).catch((e) => e);
  t.ok(cutErr instanceof DownloadError && cutErr.retryable, `a cut is retryable (${(cutErr as Error).message})`);
  t.ok(existsSync(`${dest}.part`), 'part file kept');
  const r = await download({ url: srv.url('b.raucb'), dest, sha256: sha, maxBytes: 1 << 20, expectedBytes: body.length, ca });
  t.equal(r.resumedFrom, 250_000, 'resumed where the cut left it');
  t.equal(r.fetched, body.length - 250_000, 'fetched only the rest');
  t.same(srv.ranges.slice(-1), ['bytes=250000-']);
  t.equal(createHash('sha256').update(readFileSync(dest)).digest('hex'), sha);

  const small = await download({ url: srv.url('b.raucb'), dest: join(tmp, 'dl', 'c.raucb'), sha256: sha, maxBytes: 100_000, ca }).catch((e) => e);
  t.match((small as Error).message, /over the limit of 100000/);
  t.notOk((small as DownloadError).retryable);

  const bad = await download({ url: srv.url('b.raucb'), dest: join(tmp, 'dl', 'd.raucb'), sha256: 'b'.repeat(64), maxBytes: 1 << 20, ca }).catch((e) => e);
  t.match((bad as Error).message, /sha256 of the downloaded bundle is [0-9a-f]{64}, the job says b{64}/);
  t.notOk(existsSync(join(tmp, 'dl', 'd.raucb')), 'a bundle with the wrong hash is never handed on');
});
