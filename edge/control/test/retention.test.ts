/**
 * Retention on a small data disk filled by recording (issue #20): a real box (supervisor and
 * nine workers) records 2 s segments onto a 16 MiB tmpfs and uploads them to an S3-compatible
 * store in its own process (test-rig/upload: s3rver behind a SigV4-checking front); a filler
 * file brings the disk down to its `minFreeMiB` mark.
 * - Store reachable: verified segments are deleted locally to keep the disk above the mark,
 *   oldest first, each one only after its upload was verified (the audit log's order).
 * - Store gone: nothing verified is left to delete, segments wait unuploaded, and the storage
 *   alarm is raised in `orbox status`, the fleet's telemetry (`upload/alarm`, a real mosquitto
 *   with mTLS) and the web console (headless Chromium) before anything else would go: no
 *   unuploaded segment is deleted, and the recording stops for a full disk only after the
 *   alarm, once the rest of the disk is gone too.
 * Needs root (mount -t tmpfs); skips, saying so, where it cannot mount.
 */
import t from 'tap';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { callLocalApi } from '../local-api.js';
import { readAudit, auditPath } from '../../audit/index.js';
import { FleetConsole } from '../../fleet/index.js';
import { Catalog } from '../../recording/index.js';
import type { BoxStatus } from '../status.js';
import { startS3StoreProcess } from '../../../test-rig/upload/s3-store-main.js';
import { startLocalBroker, boxLinkConfig, consoleConfig } from '../../../test-rig/fleet/index.js';
import { launchChromium, signedInPage } from '../../../test-rig/web/browser.js';
import { startBox, testConfig } from '../../supervisor/test/harness.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../../../../bin/orbox.js', import.meta.url));
const MIN_FREE_MIB = 3;
const PASSWORD = 'correct horse battery';

const data = mkdtempSync(join(tmpdir(), 'orbox-retention-'));
let why: string | null = null;
try { execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', data], { stdio: 'pipe' }); } catch (e) { why = (e as Error).message.split('\n')[0]; rmSync(data, { recursive: true, force: true }); }
const freeOf = (dir: string): number => { const s = statfsSync(dir); return s.bavail * s.bsize; };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(250);
  }
}

t.test('a small data disk filled by recording: verified segments go oldest first; with the store gone the alarm comes before anything else would go', {
  skip: why ? `cannot mount a 16 MiB tmpfs here (${why}): this test needs root` : false,
}, async (t) => {
  t.teardown(() => { try { execFileSync('umount', ['-l', data]); } catch { /* already gone */ } rmSync(data, { recursive: true, force: true }); });
  const side = mkdtempSync(join(tmpdir(), 'orbox-retention-side-'));
  const store = await startS3StoreProcess('or-video', join(side, 's3'));
  t.teardown(() => store.close());
  const broker = await startLocalBroker({ boxIds: ['or-7'] });
  t.teardown(() => broker.stop());
  const fc = new FleetConsole(consoleConfig(broker));
  await fc.start();
  t.teardown(() => fc.close());
  const fleetAlarms: { at: number; value: string }[] = [];
  fc.on('telemetry', (u) => { const v = u.values['upload/alarm']; if (u.boxId === 'or-7' && v) fleetAlarms.push({ at: Date.now(), value: String(v) }); });

  const creds = join(side, 's3.json');
  writeFileSync(creds, JSON.stringify(store.credentials), { mode: 0o600 });
  const port = 19443 + (process.pid % 500);
  const cfg = testConfig({
    box: { id: 'or-7', room: 'OR 7', dataDir: data }, api: { socket: join(side, 'orbox.sock') },
    recording: { segmentS: 2, fsyncMs: 250, maxLossMs: 1000 },
    upload: { s3: { endpoint: store.endpoint, bucket: 'or-video', credentialsFile: creds }, partMiB: 5, keepLocalHours: 1000, minFreeMiB: MIN_FREE_MIB },
    fleet: boxLinkConfig(broker, 'or-7', join(side, 'fleet')),
    web: { enabled: true, host: '127.0.0.1', port, firstAdmin: { name: 'admin', password: PASSWORD } },
  });
  const sup = await startBox(cfg);
  t.teardown(() => sup.stop());
  let stoppedAt = 0;
  let stoppedReason = '';
  sup.on('worker-event', (_w: string, e: { type: string; state?: string; reason?: string | null }) => {
    if (e.type === 'recording-state' && e.state === 'stopped' && !stoppedAt) { stoppedAt = Date.now(); stoppedReason = String(e.reason); }
  });
  const status = async () => (await callLocalApi(cfg.api.socket, 'status', {})) as BoxStatus;
  await until('a first verified upload', async () => ((await status()).upload?.verified ?? 0) >= 1, 30_000);

  // Down to the mark (plus a little): from here the recording eats into the reserve.
  writeFileSync(join(data, 'filler-1.bin'), Buffer.alloc(Math.max(0, freeOf(data) - (MIN_FREE_MIB * 1024 * 1024 + 256 * 1024))));
  const deletions = () => readAudit(auditPath(data)).filter((r) => r.action === 'upload.deleted-local');
  await until('3 verified segments deleted for space', () => deletions().length >= 3, 40_000);
  t.equal((await status()).upload?.alarm ?? null, null, 'no alarm while verified segments can make room');
  t.equal(stoppedAt, 0, 'the recording never stopped');

  // The store goes away: segments wait unuploaded, the reserve is eaten, the alarm comes.
  await store.close();
  const alarmSeenAt = await until('the storage alarm in status', async () => { const a = (await status()).upload?.alarm; return a ? Date.now() : undefined; }, 60_000);
  const freeAtAlarm = freeOf(data);
  t.ok(freeAtAlarm > 1024 * 1024, `at the alarm the disk still had ${(freeAtAlarm / 1048576).toFixed(1)} MiB free`);
  const st = await status();
  t.match(st.upload?.alarm, new RegExp(`^disk below ${MIN_FREE_MIB * 1024 * 1024} bytes free with \\d+ segments not uploaded yet$`), `status: ${st.upload?.alarm}`);
  const cli = await run(process.execPath, [bin, 'status', '--socket', cfg.api.socket]);
  t.match(cli.stdout, /STORAGE ALARM: disk below \d+ bytes free with \d+ segments not uploaded yet/, '`orbox status` shows the alarm');
  await until('the alarm in the fleet\'s telemetry', () => fleetAlarms.length > 0, 20_000);
  t.match(fleetAlarms[0]!.value, /disk below \d+ bytes free with \d+ segments not uploaded yet/, 'telemetry upload/alarm carries it');

  const b = await launchChromium();
  t.teardown(() => b.close());
  const url = `https://127.0.0.1:${port}`;
  const page = await signedInPage(b.context, url, 'admin', PASSWORD);
  await page.waitForFunction(() => /Storage alarm/.test(document.querySelector('#alerts')?.textContent ?? ''), null, { timeout: 15_000 });
  t.match(await page.textContent('#alerts'), /Storage alarm: disk below \d+ bytes free with \d+ segments not uploaded yet/, 'the web console shows the alarm');
  t.ok(await page.locator('#alerts .alert').first().isVisible(), 'visibly');

  t.equal(stoppedAt, 0, 'the alarm came while the recording still had room');
  // The rest of the disk goes too: only now does the recording stop.
  writeFileSync(join(data, 'filler-2.bin'), Buffer.alloc(Math.max(0, freeOf(data) - 128 * 1024)));
  await until('the recording stopped for a full disk', () => stoppedAt || undefined, 30_000);
  t.match(stoppedReason, /disk full/, `then: ${stoppedReason}`);
  t.ok(alarmSeenAt < stoppedAt, `the alarm ${((stoppedAt - alarmSeenAt) / 1000).toFixed(1)} s before the recording stopped`);
  await sup.stop();

  // The audit log's order: every local deletion after its upload verified, oldest segment first.
  const audit = readAudit(auditPath(data));
  const verifiedAt = new Map(audit.filter((r) => r.action === 'upload.verified').map((r) => [r.target, r.seq]));
  const deleted = audit.filter((r) => r.action === 'upload.deleted-local');
  t.ok(deleted.length >= 3, `${deleted.length} segments deleted to keep room`);
  t.ok(deleted.every((d) => (verifiedAt.get(d.target) ?? Infinity) < d.seq), 'each one after its upload verified');
  t.ok(deleted.every((d) => /disk below \d+ bytes free/.test(d.detail)), 'each one for space (keepLocalHours 1000)');
  const names = deleted.map((d) => d.target);
  t.same(names, [...names].sort(), `oldest first: ${names.map((n) => n.split('/').pop()).join(', ')}`);
  t.ok(audit.some((r) => r.action === 'upload.alarm'), 'the alarm is in the audit log');

  // Nothing not verified is gone: every catalogued segment but the deleted ones is on disk.
  const cat = new Catalog({ path: join(data, 'catalog.db') });
  cat.open();
  const segs = cat.segmentsInRange(0n, BigInt(Date.now() + 60_000) * 1_000_000n, 'cam');
  cat.close();
  const gone = new Set(names);
  const kept = segs.filter((s) => !gone.has(`or-7/${s.path.slice(s.path.indexOf('/cam/') + 1)}`));
  const missing = kept.filter((s) => !existsSync(s.path));
  t.ok(kept.length >= 2, `${kept.length} segments kept`);
  t.same(missing.map((s) => s.path), [], 'no segment that was not verified in the store was deleted');
});
