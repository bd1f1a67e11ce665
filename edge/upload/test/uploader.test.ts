/**
 * Segment upload against an S3-compatible store in its own process (test-rig/upload/: s3rver
 * behind a SigV4-checking front, a stand-in: no MinIO is packaged for Debian here): closed
 * segments reach the store byte for byte and are verified; a link cut mid-part, the server
 * killed and restarted mid-upload, the box's uploader restarted mid-segment and a store that lost
 * the upload are all survived without re-sending what was stored; only verified segments are
 * ever deleted locally, an alarm is raised when nothing else could go; a file that changed is
 * skipped; the gate holds uploads back.
 */
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { MIN_PART_BYTES, Uploader, type UploadEvent } from '../index.js';
import { getObject, startCuttingRelay, type TestStore } from '../../../test-rig/upload/s3-store.js';
import { startS3StoreProcess } from '../../../test-rig/upload/s3-store-main.js';
import { TestPki } from '../../../test-rig/fleet/index.js';

const startS3Store = (bucket: string, dir = mkdtempSync(join(tmpdir(), 'orbox-s3-')), port = 0) => startS3StoreProcess(bucket, dir, port);

const BUCKET = 'or-recordings';
const PART = MIN_PART_BYTES;

function segment(root: string, name: string, bytes: number): { path: string; bytes: number; sha: string } {
  const path = join(root, 'endoscope', '20261203', name);
  mkdirSync(dirname(path), { recursive: true });
  const data = randomBytes(bytes);
  writeFileSync(path, data);
  return { path, bytes, sha: createHash('sha256').update(data).digest('hex') };
}


const until = async (what: string, ok: () => boolean, ms = 30_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

function setup(t: { teardown(fn: () => unknown): void }, store: { endpoint: string; credentials: TestStore['credentials'] }, root: string, files: { path: string; bytes: number }[], extra: Partial<ConstructorParameters<typeof Uploader>[0]> = {}, target: { ca?: string } = {}) {
  const events: UploadEvent[] = [];
  const u = new Uploader({
    target: { endpoint: store.endpoint, bucket: BUCKET, region: 'us-east-1', credentials: store.credentials, timeoutMs: 5000, ...target },
    prefix: 'or-12/', recordingsRoot: root, journalPath: join(root, '..', 'upload', 'uploads.db'),
    candidates: () => files, partBytes: PART, retry: { minMs: 100, maxMs: 400, jitter: 0 }, keepLocalHours: 1000,
    onEvent: (e) => events.push(e), ...extra,
  });
  t.teardown(() => u.close());
  return { u, events };
}

t.test('closed segments reach the store byte for byte, verified by size and multipart ETag; an empty one is not queued', async (t) => {
  const store = await startS3Store(BUCKET);
  t.teardown(() => store.close());
  const root = join(mkdtempSync(join(tmpdir(), 'orbox-up-')), 'recordings');
  const a = segment(root, 'endoscope-20261203T100000.000Z-00001.mkv', PART * 2 + 12345);
  const b = segment(root, 'endoscope-20261203T100000.000Z-00002.mkv', 1000);
  const empty = { path: join(root, 'endoscope', '20261203', 'x.mkv'), bytes: 0 };
  const { u, events } = setup(t, store, root, [a, b, empty]);
  u.start();
  await until('two verified', () => events.filter((e) => e.type === 'verified').length === 2);
  t.same(events.map((e) => [e.type, 'key' in e ? e.key : '']), [['verified', 'or-12/endoscope/20261203/endoscope-20261203T100000.000Z-00001.mkv'], ['verified', 'or-12/endoscope/20261203/endoscope-20261203T100000.000Z-00002.mkv']]);
  for (const f of [a, b]) {
    const got = await getObject(store, BUCKET, u.keyOf(f.path));
    t.equal(createHash('sha256').update(got).digest('hex'), f.sha, `${u.keyOf(f.path)}: the store holds the segment's bytes`);
  }
  t.equal(u.rows().length, 2, 'the empty segment was never queued');
  t.equal(u.status().bytesSent, a.bytes + b.bytes, 'each byte sent once');
  t.ok(existsSync(a.path) && existsSync(b.path), 'kept locally (keepLocalHours not reached)');
});

t.test('over TLS: a store whose certificate chains to the hospital CA (ca) gets the segment; one that does not is refused, saying why', async (t) => {
  const pki = new TestPki(mkdtempSync(join(tmpdir(), 'orbox-s3-pki-')));
  const other = new TestPki(mkdtempSync(join(tmpdir(), 'orbox-s3-pki-other-')));
  const store = await startS3StoreProcess(BUCKET, mkdtempSync(join(tmpdir(), 'orbox-s3-')), 0, pki.server);
  t.teardown(() => store.close());
  t.match(store.endpoint, /^https:/);
  const root = join(mkdtempSync(join(tmpdir(), 'orbox-up-')), 'recordings');
  const a = segment(root, 'endoscope-20261203T110000.000Z-00001.mkv', PART + 777);
  const good = setup(t, store, root, [a], {}, { ca: readFileSync(pki.caPath, 'utf8') });
  good.u.start();
  await until('verified over TLS', () => good.events.some((e) => e.type === 'verified'));
  const got = await getObject(store, BUCKET, good.u.keyOf(a.path));
  t.equal(createHash('sha256').update(got).digest('hex'), a.sha, 'the store holds the bytes sent over TLS');

  const root2 = join(mkdtempSync(join(tmpdir(), 'orbox-up-')), 'recordings');
  const b = segment(root2, 'endoscope-20261203T120000.000Z-00001.mkv', 1000);
  const wrong = setup(t, store, root2, [b], {}, { ca: readFileSync(other.caPath, 'utf8') });
  wrong.u.start();
  await until('refused', () => wrong.u.status().lastError !== null);
  t.match(wrong.u.status().lastError, /certificate|self.signed|unable to verify/i, `refused: ${wrong.u.status().lastError}`);
  t.notOk(wrong.events.some((e) => e.type === 'verified'), 'nothing reached a store the box cannot authenticate');
  t.ok(existsSync(b.path), 'and the segment stays');
});

t.test('a link cut mid-part: retried after backoff, the parts stored before the cut are not sent again', async (t) => {
  const store = await startS3Store(BUCKET);
  t.teardown(() => store.close());
  const relay = await startCuttingRelay(store.port);
  t.teardown(() => relay.close());
  const root = join(mkdtempSync(join(tmpdir(), 'orbox-up-')), 'recordings');
  const a = segment(root, 'endoscope-20261203T110000.000Z-00001.mkv', PART * 3 + 7);
  relay.cutAfter(PART + PART / 2); // inside the second part
  const { u, events } = setup(t, { endpoint: `http://127.0.0.1:${relay.port}`, credentials: store.credentials }, root, [a]);
  u.start();
  await until('verified', () => events.some((e) => e.type === 'verified'));
  t.equal(relay.cuts, 1, 'the link was cut once');
  const failed = events.filter((e) => e.type === 'failed');
  t.ok(failed.length >= 1, `the cut was reported: ${failed.map((e) => e.type === 'failed' && e.error).join('; ')}`);
  t.equal(u.status().bytesSent, a.bytes, 'the store acknowledged each byte once');
  t.ok(relay.upBytes < a.bytes + PART + 64 * 1024, `bytes on the wire ${relay.upBytes}: the segment plus at most the part cut short (and headers)`);
  t.equal(createHash('sha256').update(await getObject(store, BUCKET, u.keyOf(a.path))).digest('hex'), a.sha);
});

t.test('a restart mid-segment goes on from the journal; a store that lost the upload makes it start over', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'orbox-s3-'));
  let store = await startS3Store(BUCKET, dir);
  const root = join(mkdtempSync(join(tmpdir(), 'orbox-up-')), 'recordings');
  const a = segment(root, 'endoscope-20261203T120000.000Z-00001.mkv', PART * 3 + 99);
  const first = setup(t, store, root, [a], { maxKbps: 200_000 });
  first.u.start();
  await until('a part stored', () => first.u.rows()[0] !== undefined && first.u.status().bytesSent >= PART);
  await first.u.close();
  const afterFirst = first.u.status().bytesSent;
  t.ok(afterFirst >= PART && afterFirst < a.bytes, `the first run stored ${afterFirst} of ${a.bytes} bytes`);
  const second = setup(t, store, root, [a]);
  second.u.start();
  await until('verified', () => second.events.some((e) => e.type === 'verified'));
  t.equal(afterFirst + second.u.status().bytesSent, a.bytes, 'the second run sent only what the first had not stored');
  t.equal(createHash('sha256').update(await getObject(store, BUCKET, second.u.keyOf(a.path))).digest('hex'), a.sha);
  await second.u.close();

  // The store loses everything (a new empty store on the same port): the next segment's
  // half-made upload cannot complete; the uploader starts it over.
  const b = segment(root, 'endoscope-20261203T120000.000Z-00002.mkv', PART * 2 + 5);
  const port = store.port;
  const third = setup(t, store, root, [a, b], { maxKbps: 200_000 });
  third.u.start();
  await until('a part of b stored', () => third.u.rows().some((r) => r.path === b.path && r.uploadId !== null) && third.u.status().bytesSent >= PART);
  await third.u.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  store = await startS3Store(BUCKET, mkdtempSync(join(tmpdir(), 'orbox-s3-')), port);
  t.teardown(() => store.close());
  const fourth = setup(t, store, root, [a, b]);
  fourth.u.start();
  await until('b verified', () => fourth.events.some((e) => e.type === 'verified' && e.path === b.path), 40_000);
  t.equal(createHash('sha256').update(await getObject(store, BUCKET, fourth.u.keyOf(b.path))).digest('hex'), b.sha, 'b is whole in the new store');
  const row = fourth.u.rows().find((r) => r.path === b.path)!;
  t.equal(row.state, 'verified');
});

t.test('the server killed and restarted mid-upload: the upload goes on where the store left it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'orbox-s3-'));
  let store = await startS3Store(BUCKET, dir);
  const port = store.port;
  const root = join(mkdtempSync(join(tmpdir(), 'orbox-up-')), 'recordings');
  const a = segment(root, 'endoscope-20261203T150000.000Z-00001.mkv', PART * 4 + 1);
  const { u, events } = setup(t, { endpoint: store.endpoint, credentials: store.credentials }, root, [a], { maxKbps: 150_000 });
  u.start();
  await until('two parts stored', () => u.status().bytesSent >= 2 * PART);
  await store.kill();
  await until('the loss noticed', () => events.some((e) => e.type === 'failed'));
  store = await startS3Store(BUCKET, dir, port);
  t.teardown(() => store.close());
  await until('verified', () => events.some((e) => e.type === 'verified'), 40_000);
  t.equal(u.status().bytesSent, a.bytes, 'every byte acknowledged once: the parts stored before the crash were kept');
  t.equal(createHash('sha256').update(await getObject(store, BUCKET, u.keyOf(a.path))).digest('hex'), a.sha, 'the object is whole');
});

t.test('the gate holds uploads back and lets them go', async (t) => {
  const store = await startS3Store(BUCKET);
  t.teardown(() => store.close());
  const root = join(mkdtempSync(join(tmpdir(), 'orbox-up-')), 'recordings');
  const a = segment(root, 'endoscope-20261203T160000.000Z-00001.mkv', 4000);
  let reason: string | null = 'an expert is receiving the live uplink';
  const { u, events } = setup(t, store, root, [a], { gate: () => reason });
  u.start();
  await new Promise((r) => setTimeout(r, 700));
  t.equal(events.length, 0, 'nothing sent while held');
  t.equal(u.status().paused, 'an expert is receiving the live uplink', 'status says why');
  reason = null;
  u.poke();
  await until('verified', () => events.some((e) => e.type === 'verified'));
  t.equal(u.status().paused, null);
});

t.test('retention: a verified segment is deleted when old or when the disk is short, an unverified one never; a changed file is skipped', async (t) => {
  const store = await startS3Store(BUCKET);
  t.teardown(() => store.close());
  const root = join(mkdtempSync(join(tmpdir(), 'orbox-up-')), 'recordings');
  const a = segment(root, 'endoscope-20261203T130000.000Z-00001.mkv', 2000);
  const changed = segment(root, 'endoscope-20261203T130000.000Z-00002.mkv', 3000);
  let free = 10;
  const { u, events } = setup(t, store, root, [a, { path: changed.path, bytes: 2999 }], { keepLocalHours: 1000, minFreeBytes: 100, freeBytes: async () => free });
  u.start();
  await until('deleted', () => events.some((e) => e.type === 'deleted'));
  t.notOk(existsSync(a.path), 'the verified segment was deleted while the disk was short');
  t.match(events.find((e) => e.type === 'deleted'), { path: a.path, reason: /disk below 100 bytes free/ });
  t.ok(existsSync(changed.path), 'the changed one stays on disk');
  t.match(events.find((e) => e.type === 'skipped'), { path: changed.path, reason: /the file is 3000 bytes, the catalog closed it at 2999/ });
  free = 1000;

  // A store that refuses everything: nothing verifies, nothing local is deleted.
  const root2 = join(mkdtempSync(join(tmpdir(), 'orbox-up-')), 'recordings');
  const c = segment(root2, 'endoscope-20261203T140000.000Z-00001.mkv', 2000);
  const bad = setup(t, { endpoint: store.endpoint, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'wrong' } }, root2, [c], { keepLocalHours: 0, minFreeBytes: 1e12, freeBytes: async () => 0 });
  bad.u.start();
  await until('refused', () => bad.events.some((e) => e.type === 'failed'));
  t.match(bad.events.find((e) => e.type === 'failed'), { error: /SignatureDoesNotMatch|AccessDenied|InvalidAccessKeyId/ }, 'the store\'s refusal names its reason');
  await until('alarm', () => bad.u.status().alarm !== null);
  t.match(bad.u.status().alarm, /disk below 1000000000000 bytes free with 1 segments not uploaded yet/, 'the alarm says why');
  t.ok(bad.events.some((e) => e.type === 'alarm'), 'and is reported');
  t.ok(existsSync(c.path), 'an unverified segment is never deleted, however short the disk');
  t.equal(readFileSync(c.path).length, 2000);

  // Unless configured: then the oldest unuploaded go, said loudly.
  const root3 = join(mkdtempSync(join(tmpdir(), 'orbox-up-')), 'recordings');
  const d = segment(root3, 'endoscope-20261203T170000.000Z-00001.mkv', 2000);
  const forced = setup(t, { endpoint: store.endpoint, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'wrong' } }, root3, [d], { minFreeBytes: 1e12, freeBytes: async () => 0, deleteUnuploadedWhenFull: true });
  forced.u.start();
  await until('deleted', () => forced.events.some((e) => e.type === 'deleted'));
  t.match(forced.events.find((e) => e.type === 'deleted'), { reason: /NOT UPLOADED, deleted/ });
  t.notOk(existsSync(d.path));
});
