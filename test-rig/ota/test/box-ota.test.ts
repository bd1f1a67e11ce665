// The OTA agent inside the real box: supervisor, nine workers, the control worker starting the
// agent from the `ota` configuration section, the guard's real health verdict, a real mosquitto
// with mTLS, real RAUC (test-rig/ota/lab.ts). The reboot command is a script that records it was
// called (this machine is not rebooted); the test then "reboots" the lab and starts the box again
// on the same data directory, as a board would come back.
import t from 'tap';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FleetConsole } from '../../../edge/fleet/index.js';
import { callLocalApi } from '../../../edge/control/local-api.js';
import { OTA_EVENT_KIND, jobProgressOf, type JobProgress, type OtaStatus } from '../../../edge/ota/index.js';
import { startBox, testConfig } from '../../../edge/supervisor/test/harness.js';
import { boxLinkConfig, consoleConfig, startLocalBroker } from '../../fleet/index.js';
import { buildBundle, makeTestRootfs } from '../../../ota/bundle.js';
import { ensureSigningCa } from '../../../ota/signing.js';
import { startBundleServer } from '../bundle-server.js';
import { RaucLab } from '../lab.js';
import { waitFor } from '../harness.js';

t.test('a job through the real box: held while a case records, installed, reboot asked, marked good by the guard\'s verdict after the boot', async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'orbox-box-ota-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const broker = await startLocalBroker({ boxIds: ['or-ota'] });
  t.teardown(() => broker.stop());
  const ca = ensureSigningCa(join(tmp, 'signing'), 'dev');
  const lab = new RaucLab({ dir: join(tmp, 'rauc'), compatible: 'orbox-x86-lab', keyring: ca.caCert });
  await lab.start();
  t.teardown(() => lab.stop());
  const served = join(tmp, 'served');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(served);
  const b = buildBundle({ version: '1.1.0', compatible: 'orbox-x86-lab', rootfs: makeTestRootfs(join(tmp, 'rootfs'), '1.1.0'), cert: ca.cert, key: ca.key, out: join(served, 'orbox-1.1.0.raucb') });
  const server = await startBundleServer(served, { cert: join(broker.caPath, '..', 'server.crt'), key: join(broker.caPath, '..', 'server.key') });
  t.teardown(() => server.close());
  const fc = new FleetConsole(consoleConfig(broker));
  await fc.start();
  t.teardown(() => fc.close());
  const events: JobProgress[] = [];
  fc.on('event', (box, e) => { if (box === 'or-ota' && e.kind === OTA_EVENT_KIND) { const p = jobProgressOf(e.fields, e.message); if (p) events.push(p); } });

  const rebootMark = join(tmp, 'rebooted');
  const rebootScript = join(tmp, 'reboot.sh');
  writeFileSync(rebootScript, `#!/bin/sh\necho "$(date +%s)" >> ${rebootMark}\n`);
  chmodSync(rebootScript, 0o755);
  const base = testConfig();
  const cfg = testConfig({
    box: { id: 'or-ota', room: 'OR OTA', dataDir: base.box.dataDir },
    api: { socket: base.api.socket },
    fleet: boxLinkConfig(broker, 'or-ota', join(base.box.dataDir, 'fleet')),
    ota: { bus: lab.busAddress, firmwareVersion: '1.0.0', healthWindowMs: 1000, healthTimeoutMs: 20_000, httpsCa: broker.caPath, rebootCommand: [rebootScript] },
  });
  let sup = await startBox(cfg);
  let supStopped = false;
  t.teardown(async () => { if (!supStopped) await sup.stop(); });
  await waitFor(() => fc.box('or-ota')?.state === 'online', 15_000, 'box online');

  const rec = await fc.send('or-ota', { kind: 'recordingStart', caseId: 'case-ota', channels: [] }, { timeoutMs: 10_000 });
  t.equal(rec?.state, 'finished', 'a case records');
  const ack = await fc.send('or-ota', { kind: 'otaJob', jobId: 'box-job-1', url: server.url(b.path), sha256: b.sha256, sizeBytes: b.bytes, version: '1.1.0', force: false, timeoutS: 0 }, { timeoutMs: 10_000 });
  t.match(ack, { state: 'finished', details: { job: 'box-job-1', status: 'QUEUED' } }, 'the job is queued on the box');
  await waitFor(() => events.some((e) => /case is recording/.test(e.message)), 20_000, 'install held for the case');
  t.notOk(events.some((e) => e.step === 'installing'), 'nothing installed while the case records');
  await fc.send('or-ota', { kind: 'recordingStop', caseId: 'case-ota' }, { timeoutMs: 10_000 });
  await waitFor(() => existsSync(rebootMark), 30_000, 'the reboot command');
  t.ok(events.some((e) => e.step === 'installing' && e.percent > 0), 'install progress relayed');
  t.equal(lab.bootState().primary, 'B', 'RAUC made the new slot primary');

  const st = (await callLocalApi(cfg.api.socket, 'otaStatus')) as OtaStatus;
  t.match(st, { runningVersion: '1.0.0', lastJob: { jobId: 'box-job-1', step: 'rebooting' } }, 'orbox ota status before the reboot');

  // The board reboots: the box stops, the bootloader picks B, the box starts again.
  await sup.stop();
  supStopped = true;
  t.equal(await lab.reboot(), 'B');
  sup = await startBox(cfg);
  supStopped = false;
  await waitFor(() => events.some((e) => e.status === 'SUCCEEDED'), 40_000, 'SUCCEEDED after the boot');
  t.equal(lab.bootState().attempts.B, 3, 'the booted slot was marked good (attempts refilled)');
  const after = (await callLocalApi(cfg.api.socket, 'otaStatus')) as OtaStatus;
  t.match(after, { runningVersion: '1.1.0', bootedBootname: 'B', bootMarked: 'good', lastJob: { status: 'SUCCEEDED' } }, 'orbox ota status after the boot');
  t.equal(readFileSync(rebootMark, 'utf8').trim().split('\n').length, 1, 'one reboot');
});
