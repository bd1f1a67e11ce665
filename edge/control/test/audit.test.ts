/**
 * The audit log on a running box (issue #21): actions from the CLI (local API) and the fleet
 * (real mosquitto with mutual TLS) are recorded with who, what, on what and how they ended;
 * every record's (seq, hash) reaches the fleet console as an `audit` event; `orbox audit` prints
 * them; `orbox audit verify` holds on the untouched log and, with the head the console holds,
 * catches a modified record and a log cut at its end (run on the file after the box stopped).
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { FleetConsole } from '../../fleet/index.js';
import { callLocalApi } from '../local-api.js';
import { auditPath, type AuditRecord } from '../../audit/index.js';
import { startLocalBroker, boxLinkConfig, consoleConfig } from '../../../test-rig/fleet/index.js';
import { startBox, testConfig } from '../../supervisor/test/harness.js';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../../../../bin/orbox.js', import.meta.url));
const orbox = (...args: string[]) => run(process.execPath, [bin, ...args]).then((r) => ({ code: 0, out: r.stdout }), (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }));

t.test('CLI and fleet actions are recorded, their head reaches the console, and verify catches a modified or cut log', async (t) => {
  const broker = await startLocalBroker({ boxIds: ['or-7'] });
  t.teardown(() => broker.stop());
  const fc = new FleetConsole(consoleConfig(broker));
  await fc.start();
  t.teardown(() => fc.close());
  const heads: { seq: number; hash: string; action: string; actor: string }[] = [];
  fc.on('event', (box, e) => {
    if (box === 'or-7' && e.kind === 'audit') heads.push({ seq: Number(e.fields.seq), hash: e.fields.hash!, action: e.fields.action!, actor: e.fields.actor! });
  });
  const born = new Promise<void>((resolve) => fc.on('birth', (s) => { if (s.boxId === 'or-7') resolve(); }));
  const base = testConfig();
  const cfg = testConfig({
    box: { id: 'or-7', room: 'OR 7', dataDir: base.box.dataDir },
    api: { socket: base.api.socket },
    fleet: boxLinkConfig(broker, 'or-7', join(base.box.dataDir, 'fleet')),
  });
  const sup = await startBox(cfg);
  let stopped = false;
  t.teardown(() => (stopped ? undefined : sup.stop()));
  await born;

  await callLocalApi(cfg.api.socket, 'recordingStart', { caseId: 'case-a1' });
  await callLocalApi(cfg.api.socket, 'recordingStop', { caseId: '' });
  await callLocalApi(cfg.api.socket, 'recordingStop', { caseId: 'case-nope' }).catch(() => undefined);
  const ack = await fc.send('or-7', { kind: 'restartWorker', worker: 'toaster' }, { timeoutMs: 10_000 });
  t.equal(ack?.state, 'invalid');
  const fleetCase = await fc.send('or-7', { kind: 'recordingStart', caseId: 'case-f1', channels: [] }, { timeoutMs: 10_000 });
  t.equal(fleetCase?.state, 'finished');

  const cli = await orbox('audit', '--socket', cfg.api.socket);
  t.equal(cli.code, 0);
  t.match(cli.out, /local \(cli\) recordingStart case-a1: finished/, 'the CLI\'s case start, who and how it ended');
  t.match(cli.out, /local \(cli\) recordingStop case-nope: invalid \(.+\)/, 'a refused one too, with the reason');
  t.match(cli.out, /fleet:\S+ \(fleet\) restartWorker toaster: invalid/, 'the fleet\'s refused restart');
  t.match(cli.out, /fleet:\S+ \(fleet\) recordingStart case-f1: finished/);
  t.match(cli.out, /box \(box\) control.started or-7: finished/);
  const v = await orbox('audit', 'verify', '--socket', cfg.api.socket);
  t.equal(v.code, 0, v.out);
  t.match(v.out, /audit log holds: \d+ records/);

  // The console's view of the head catches up with the box's.
  const { head } = (await callLocalApi(cfg.api.socket, 'audit', { limit: 1 })) as { head: { seq: number; hash: string } };
  const until = Date.now() + 10_000;
  while (!heads.some((h) => h.seq === head.seq) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  const held = heads.find((h) => h.seq === head.seq);
  t.ok(held, `the console holds seq ${head.seq}`);
  t.equal(held?.hash, head.hash, 'with the box\'s hash');
  t.ok(heads.some((h) => h.action === 'restartWorker' && h.actor.startsWith('fleet:')), 'events name the action and the actor');
  await sup.stop();
  stopped = true;

  const file = auditPath(cfg.box.dataDir);
  const original = readFileSync(file, 'utf8');
  const arg = `${held!.seq}:${held!.hash}`;
  t.equal((await orbox('audit', 'verify', '--file', file, '--head', arg)).code, 0, 'the untouched log reaches the head');
  const lines = original.trim().split('\n');
  const i = lines.findIndex((l) => (JSON.parse(l) as AuditRecord).target === 'case-a1');
  writeFileSync(file, lines.map((l, k) => (k === i ? l.replace('case-a1', 'case-zz') : l)).join('\n') + '\n');
  const mod = await orbox('audit', 'verify', '--file', file);
  t.equal(mod.code, 1, 'a modified record fails verify');
  t.match(mod.out, new RegExp(`BROKEN at line ${i + 1} \\(seq \\d+\\): hash does not match the record`));
  writeFileSync(file, lines.slice(0, lines.length - 2).join('\n') + '\n');
  t.equal((await orbox('audit', 'verify', '--file', file)).code, 0, 'a cut log alone still chains...');
  const cut = await orbox('audit', 'verify', '--file', file, '--head', arg);
  t.equal(cut.code, 1, '...but not to the head the fleet holds');
  t.match(cut.out, /log truncated/);
});
