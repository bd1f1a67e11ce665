import t from 'tap';
import { join } from 'node:path';
import { FleetConsole } from '../../fleet/index.js';
import { startLocalBroker, boxLinkConfig, consoleConfig } from '../../../test-rig/fleet/index.js';
import { startDemoIntelliVue } from '../../../test-rig/devices/index.js';
import { nextReady, startBox, testConfig } from '../../supervisor/test/harness.js';
import { Catalog } from '../../recording/index.js';

t.test('the box on the fleet: birth with its metrics, device commands, operator restarts, telemetry', async (t) => {
  const broker = await startLocalBroker({ boxIds: ['or-12'] });
  t.teardown(() => broker.stop());
  const monitor = await startDemoIntelliVue();
  t.teardown(() => monitor.close());
  const fc = new FleetConsole(consoleConfig(broker));
  await fc.start();
  t.teardown(() => fc.close());
  const restartsSeen: number[] = [];
  fc.on('telemetry', (u) => {
    const r = u.values['worker/net-send/restarts'];
    if (u.boxId === 'or-12' && r !== undefined) restartsSeen.push(Number(r));
  });
  const born = new Promise<void>((resolve) => fc.on('birth', (s) => { if (s.boxId === 'or-12') resolve(); }));

  const base = testConfig();
  const cfg = testConfig({
    box: { id: 'or-12', room: 'OR 12', dataDir: base.box.dataDir },
    api: { socket: base.api.socket },
    devices: { ports: [{ name: 'monitor', path: monitor.path, protocol: 'intellivue' }] },
    fleet: boxLinkConfig(broker, 'or-12', join(base.box.dataDir, 'fleet')),
  });
  const sup = await startBox(cfg);
  t.teardown(() => sup.stop());
  await born;
  const status = fc.box('or-12')!;
  t.equal(status.state, 'online');
  for (const m of ['worker/video-encode/healthy', 'ring/vitals/overruns', 'channel/cam/fps', 'device/monitor/connected', 'disk/free_bytes']) {
    t.ok(status.metrics.has(m), `birth lists ${m}`);
  }

  // A device command travels console -> broker -> control -> device-data -> monitor and back.
  await new Promise((r) => setTimeout(r, 1000)); // let the monitor associate
  const ack = await fc.send('or-12', { kind: 'deviceCommand', device: 'monitor', command: 'poll.numerics', args: {} }, { timeoutMs: 20_000 });
  t.equal(ack?.state, 'finished', `device command acknowledged: ${ack?.message}`);
  const bad = await fc.send('or-12', { kind: 'deviceCommand', device: 'monitor', command: 'BAD ACTION', args: {} }, { timeoutMs: 20_000 });
  t.equal(bad?.state, 'invalid', 'a malformed device command is invalid');
  const nope = await fc.send('or-12', { kind: 'deviceCommand', device: 'monitor', command: 'alarm.silence', args: {} }, { timeoutMs: 20_000 });
  t.equal(nope?.state, 'unsupported', `what the monitor's protocol cannot do is unsupported: ${nope?.message}`);

  // An operator restarts a worker; the restart shows in telemetry.
  const back = nextReady(sup, 'net-send', 5000);
  const r = await fc.send('or-12', { kind: 'restartWorker', worker: 'net-send' }, { timeoutMs: 10_000 });
  t.equal(r?.state, 'finished');
  await back;
  const deadline = Date.now() + 10_000;
  while (!restartsSeen.includes(1) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
  t.ok(restartsSeen.includes(1), 'telemetry reports worker/net-send/restarts = 1');
  const inv = await fc.send('or-12', { kind: 'restartWorker', worker: 'toaster' }, { timeoutMs: 10_000 });
  t.equal(inv?.state, 'invalid');

  // A case: started and stopped from the console, its segments tagged in the catalog.
  const start = await fc.send('or-12', { kind: 'recordingStart', caseId: 'case-0042', channels: ['cam'] }, { timeoutMs: 10_000 });
  t.equal(start?.state, 'finished', `case started: ${start?.message}`);
  const again = await fc.send('or-12', { kind: 'recordingStart', caseId: 'case-0043', channels: [] }, { timeoutMs: 10_000 });
  t.match(again, { state: 'invalid', message: /case "case-0042" is already recording/ });
  const wrong = await fc.send('or-12', { kind: 'recordingStart', caseId: 'x', channels: ['nope'] }, { timeoutMs: 10_000 });
  t.match(wrong, { state: 'invalid', message: /unknown channels: nope/ });

  // Channel settings reach the encoder (its pipeline starts right after the worker is ready).
  let bitrate: Awaited<ReturnType<typeof fc.send>>;
  const until = Date.now() + 15_000;
  do {
    bitrate = await fc.send('or-12', { kind: 'channelSettings', channel: 'cam', settings: { hqBitrateKbps: '300', lqBitrateKbps: '150' } }, { timeoutMs: 10_000 });
    if (bitrate?.state === 'finished') break;
    await new Promise((res) => setTimeout(res, 500));
  } while (Date.now() < until);
  t.equal(bitrate?.state, 'finished', `bitrate set at run time: ${bitrate?.message}`);
  const badSetting = await fc.send('or-12', { kind: 'channelSettings', channel: 'cam', settings: { colour: 'blue' } }, { timeoutMs: 10_000 });
  t.match(badSetting, { state: 'invalid', message: /not known: colour/ });

  await new Promise((res) => setTimeout(res, 2500)); // let a segment open inside the case
  const stopWrong = await fc.send('or-12', { kind: 'recordingStop', caseId: 'case-9999' }, { timeoutMs: 10_000 });
  t.equal(stopWrong?.state, 'invalid');
  const stop = await fc.send('or-12', { kind: 'recordingStop', caseId: 'case-0042' }, { timeoutMs: 10_000 });
  t.equal(stop?.state, 'finished', `case stopped: ${stop?.message}`);
  await sup.stop();
  const catalog = new Catalog({ path: join(base.box.dataDir, 'catalog.db') });
  catalog.open();
  const cases = catalog.listCases(0n, BigInt(Date.now() + 60_000) * 1_000_000n);
  t.match(cases, [{ uid: 'case-0042', state: 'ended' }], 'the case is in the catalog, ended');
  const inCase = catalog.segmentsOfCase(cases[0].id);
  t.same([...new Set(inCase.map((x) => x.channel))].sort(), ['cam', 'vitals'], 'the video segment and the vitals track written during the case belong to it');
  catalog.close();
});
