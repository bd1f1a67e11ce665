// The fleet link against a real mosquitto with mutual TLS (test-rig/fleet): birth and death,
// telemetry decoded by the console, command round trip, exactly-once by command id, commands
// delivered after the box was offline, the outbox drained in order after a broker restart.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { boxLinkConfig, consoleConfig, startLocalBroker } from '../../../test-rig/fleet/index.js';
import { type Ack, type CommandResult, type FleetCommand, FleetConsole, type FleetEvent, FleetLink, MAX_ACK_BYTES, standardMetrics } from '../index.js';
import { spawnBox, waitFor } from './helpers.js';

const broker = await startLocalBroker({ boxIds: ['box-1', 'box-2', 'box-k', 'box-d', 'box-o', 'box-q', 'box-i', 'box-big'] });
const tmp = mkdtempSync(join(tmpdir(), 'orbox-link-'));
t.teardown(async () => {
  await broker.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function recorder() {
  const executed: FleetCommand[] = [];
  return {
    executed,
    handlers: {
      async onCommand(cmd: FleetCommand): Promise<CommandResult> {
        executed.push(cmd);
        if (cmd.body.kind === 'deviceCommand' && cmd.body.command === 'unknown') return { state: 'unsupported', message: 'no such device command' };
        return { state: 'finished', message: `did ${cmd.body.kind}`, details: { n: String(executed.length) } };
      },
    },
  };
}

async function startConsole(extra: Record<string, unknown> = {}): Promise<FleetConsole> {
  const c = new FleetConsole({ ...consoleConfig(broker), ...extra });
  await c.start();
  return c;
}

t.test('birth lists every metric, telemetry by exception decoded by the console, command round trip, death on close', async (t) => {
  const fc = await startConsole();
  t.teardown(() => fc.close());
  const births: number[] = [];
  fc.on('birth', (s, b, retained) => { if (s.boxId === 'box-1' && !retained) births.push(b.bdSeq); });
  const telemetry: Record<string, unknown>[] = [];
  fc.on('telemetry', (u) => { if (u.boxId === 'box-1') telemetry.push(u.values); });

  const rec = recorder();
  const defs = standardMetrics({ workers: ['control', 'video-encode'], rings: ['endo.raw'], channels: ['endo'], devices: ['ecg'] });
  const link = new FleetLink(boxLinkConfig(broker, 'box-1', join(tmp, 'box-1')), rec.handlers, { metrics: defs });
  t.teardown(() => link.close());
  link.setMetrics({ 'channel/endo/fps': 30, 'disk/free_bytes': 123_456_789_012n, 'recording/state': 'idle', 'device/ecg/connected': true });
  await link.start();
  await link.waitOnline(10_000);
  await waitFor(() => births.length === 1, 10_000, 'birth');

  const status = fc.box('box-1')!;
  t.equal(status.state, 'online');
  t.equal(status.bdSeq, births[0]);
  t.equal(status.metrics.size, defs.length + 3, 'every defined metric (plus the link\'s own) in the birth');
  t.equal(status.metrics.get('disk/free_bytes')?.value, 123_456_789_012n, '64-bit value intact');
  t.equal(status.metrics.get('system/temperature_c')?.value, null, 'unknown temperature is null');

  link.setMetrics({ 'channel/endo/fps': 24.5, 'channel/endo/dropped_frames': 3n, 'device/ecg/connected': false });
  t.equal(link.publishTelemetry(), 1, 'first telemetry after birth has seq 1');
  link.setMetrics({ 'channel/endo/fps': 24.6 }); // within the 0.5 fps deadband
  t.equal(link.publishTelemetry(), undefined, 'nothing changed beyond deadband: nothing sent');
  link.setMetrics({ 'recording/state': 'recording' });
  t.equal(link.publishTelemetry(), 2);
  await waitFor(() => telemetry.length === 2, 10_000, 'telemetry');
  t.same(telemetry[0], { 'channel/endo/fps': 24.5, 'channel/endo/dropped_frames': 3n, 'device/ecg/connected': false });
  t.same(telemetry[1], { 'recording/state': 'recording' });
  t.equal(fc.box('box-1')!.metrics.get('recording/state')?.value, 'recording');

  const ack = await fc.send('box-1', { kind: 'recordingStart', caseId: 'case-1', channels: ['endo'] }, { timeoutMs: 10_000 });
  t.equal(ack?.state, 'finished');
  t.equal(ack?.message, 'did recordingStart');
  t.same(rec.executed.map((c) => c.body), [{ kind: 'recordingStart', caseId: 'case-1', channels: ['endo'] }]);
  const unsupported = await fc.send('box-1', { kind: 'deviceCommand', device: 'vent', command: 'unknown', args: {} }, { timeoutMs: 10_000 });
  t.equal(unsupported?.state, 'unsupported');

  // A metric added at run time: the next publish is a birth with it.
  link.defineMetrics([{ name: 'channel/room/fps', type: 'double', unit: 'fps' }]);
  t.equal(link.publishTelemetry(), 0, 'new metric -> birth');
  await waitFor(() => fc.box('box-1')!.metrics.has('channel/room/fps'), 10_000, 'rebirth with new metric');

  const deaths: string[] = [];
  fc.on('death', (_s, d, id) => { if (id === 'box-1') deaths.push(d.reason); });
  await link.close();
  await link.close(); // idempotent
  t.equal(link.state, 'closed');
  await waitFor(() => deaths.length === 1, 10_000, 'death on close');
  t.same(deaths, ['close']);
  t.equal(fc.box('box-1')!.state, 'offline');
});

t.test('killed box (SIGKILL of its process): the broker delivers its death (last will) with the birth\'s bd_seq', async (t) => {
  const fc = await startConsole();
  t.teardown(() => fc.close());
  let birthSeq = -1;
  fc.on('birth', (s, b, retained) => { if (s.boxId === 'box-k' && !retained) birthSeq = b.bdSeq; });
  const deaths: { bdSeq: number; reason: string }[] = [];
  fc.on('death', (_s, d, id) => { if (id === 'box-k') deaths.push({ bdSeq: d.bdSeq, reason: d.reason }); });
  const child = spawnBox(boxLinkConfig(broker, 'box-k', join(tmp, 'box-k')));
  t.teardown(() => { child.proc.kill('SIGKILL'); });
  await child.waitLine(/^STATE online$/, 15_000);
  await waitFor(() => birthSeq >= 0, 10_000, 'birth of the child box');
  t.equal(fc.box('box-k')?.state, 'online');
  child.proc.kill('SIGKILL');
  await child.exited;
  await waitFor(() => deaths.length === 1, 15_000, 'death (will) after SIGKILL');
  t.same(deaths[0], { bdSeq: birthSeq, reason: '' }, 'the will: same bd_seq as the birth, no reason');
  t.equal(fc.box('box-k')?.state, 'offline');
});

t.test('a duplicate command id is executed once, also across a box restart; its answer is replayed', async (t) => {
  const fc = await startConsole();
  t.teardown(() => fc.close());
  const acks: Ack[] = [];
  fc.on('ack', (id, a) => { if (id === 'box-d') acks.push(a); });
  const rec = recorder();
  const dir = join(tmp, 'box-d');
  let link = new FleetLink(boxLinkConfig(broker, 'box-d', dir), rec.handlers);
  await link.start();
  await link.waitOnline(10_000);
  const body = { kind: 'restartWorker' as const, worker: 'video-encode' };
  const first = await fc.send('box-d', body, { commandId: 'cmd-dup-1', timeoutMs: 10_000 });
  t.equal(first?.state, 'finished');
  t.equal(first?.duplicate, false);
  const again = await fc.send('box-d', body, { commandId: 'cmd-dup-1', timeoutMs: 10_000 });
  t.equal(again?.state, 'finished');
  t.equal(again?.duplicate, true, 'the replayed answer is flagged');
  t.equal(again?.details.n, '1', 'same answer as the first run');
  await link.close();

  link = new FleetLink(boxLinkConfig(broker, 'box-d', dir), rec.handlers);
  t.teardown(() => link.close());
  await link.start();
  await link.waitOnline(10_000);
  const third = await fc.send('box-d', body, { commandId: 'cmd-dup-1', timeoutMs: 10_000 });
  t.equal(third?.duplicate, true, 'remembered across a restart of the box');
  t.equal(rec.executed.length, 1, 'executed exactly once');
  t.equal(link.stats.duplicates, 1);
});

t.test('a command sent while the box is offline is delivered (persistent session) when it returns', async (t) => {
  const fc = await startConsole();
  t.teardown(() => fc.close());
  const rec = recorder();
  const dir = join(tmp, 'box-o');
  let link = new FleetLink(boxLinkConfig(broker, 'box-o', dir), rec.handlers);
  await link.start();
  await link.waitOnline(10_000); // creates the session and its subscription
  await link.close();
  const pending = fc.send('box-o', { kind: 'recordingStop', caseId: 'case-9' }, { timeoutMs: 20_000 });
  const expired = fc.send('box-o', { kind: 'rebirth' }, { timeoutMs: 20_000, expiresInMs: 1, commandId: 'stale-1' }).catch((e: Error) => e);
  await new Promise((r) => setTimeout(r, 1100)); // let the 1 ms expiry pass (MQTT expiry is in whole seconds)
  link = new FleetLink(boxLinkConfig(broker, 'box-o', dir), rec.handlers);
  t.teardown(() => link.close());
  await link.start();
  const ack = await pending;
  t.equal(ack?.state, 'finished');
  t.same(rec.executed.map((c) => c.body.kind), ['recordingStop']);
  // The stale command was either dropped by the broker (message expiry) or answered EXPIRED by the box.
  const e = await Promise.race([expired, new Promise((r) => setTimeout(() => r('dropped'), 500))]);
  t.ok(e === 'dropped' || (e as Ack).state === 'expired', 'stale command never executed');
});

t.test('offline: events and acks queue on disk and drain in order after a broker restart', async (t) => {
  // A persistent console session, so what the box sends right after the restart waits for us.
  const session = { sessionId: 'fleet-console-drain-test' };
  let fc = await startConsole(session);
  const rec = recorder();
  const link = new FleetLink(boxLinkConfig(broker, 'box-q', join(tmp, 'box-q')), rec.handlers);
  t.teardown(() => link.close());
  await link.start();
  await link.waitOnline(10_000);
  link.publishEvent('test.before', 'online');

  await fc.close();
  await broker.pause();
  await waitFor(() => link.state === 'waiting', 10_000, 'box notices the broker is gone');
  const sent: bigint[] = [];
  for (let i = 0; i < 200; i++) sent.push(link.publishEvent('test.offline', `event ${i}`, { fields: { i: String(i) } }));
  link.acceptCommand(Buffer.from([0xff, 0xff])); // the box keeps working without a broker
  t.ok(link.stats.outboxRecords >= 200, 'queued on disk');

  await broker.start();
  fc = new FleetConsole({ ...consoleConfig(broker), ...session });
  const events: FleetEvent[] = [];
  fc.on('event', (id, e) => { if (id === 'box-q') events.push(e); });
  await fc.start();
  t.teardown(() => fc.close());
  await link.waitOnline(15_000);
  await waitFor(() => events.filter((e) => e.kind === 'test.offline').length >= 200, 15_000, 'drained events');
  const offline = events.filter((e) => e.kind === 'test.offline');
  // At-least-once: a record whose PUBACK was lost may come twice; the order never changes.
  const seqs = [...new Set(offline.map((e) => e.seq))];
  t.same(seqs, sent, 'every queued event, in order');
  t.same(offline.slice(0, 3).map((e) => e.fields.i), ['0', '1', '2']);
  await waitFor(() => link.stats.outboxRecords === 0, 10_000, 'outbox empty');
});

t.test('telemetry seq wraps 255 -> 0 after a birth, with no gap seen by the console', async (t) => {
  const fc = await startConsole();
  t.teardown(() => fc.close());
  const seqs: number[] = [];
  const gaps: number[] = [];
  fc.on('telemetry', (u) => { if (u.boxId === 'box-2') seqs.push(u.seq); });
  fc.on('seqGap', (id, _e, got) => { if (id === 'box-2') gaps.push(got); });
  const link = new FleetLink(boxLinkConfig(broker, 'box-2', join(tmp, 'box-2')), recorder().handlers, { metrics: [{ name: 'n', type: 'int' }] });
  t.teardown(() => link.close());
  await link.start();
  await link.waitOnline(10_000);
  await waitFor(() => fc.box('box-2')?.state === 'online', 10_000, 'birth');
  for (let i = 1; i <= 260; i++) {
    link.setMetrics({ n: BigInt(i) });
    link.publishTelemetry();
  }
  await waitFor(() => seqs.length === 260, 10_000, '260 telemetry messages');
  t.same(seqs.slice(253, 258), [254, 255, 0, 1, 2], 'wraps at 256');
  t.same(gaps, []);
  t.equal(fc.box('box-2')?.metrics.get('n')?.value, 260n);
});

t.test('a command interrupted by a box restart is answered FAILED and never run again', async (t) => {
  const fc = await startConsole();
  t.teardown(() => fc.close());
  let runs = 0;
  const dir = join(tmp, 'box-i');
  let link = new FleetLink(boxLinkConfig(broker, 'box-i', dir), {
    onCommand: () => { runs++; return new Promise(() => undefined); }, // hangs, like a box that dies mid-command
  });
  await link.start();
  await link.waitOnline(10_000);
  const answer = fc.send('box-i', { kind: 'restartWorker', worker: 'guard' }, { commandId: 'hang-1', timeoutMs: 20_000 });
  await waitFor(() => runs === 1, 10_000, 'command running');
  await link.close(); // gives up on the running command after its grace period
  link = new FleetLink(boxLinkConfig(broker, 'box-i', dir), { onCommand: async () => { runs++; return { state: 'finished' }; } });
  t.teardown(() => link.close());
  await link.start();
  const ack = await answer;
  t.equal(ack?.state, 'failed');
  t.match(ack?.message, /interrupted/);
  t.equal(runs, 1, 'not run again');
});

t.test('a command result too large for the link is answered FAILED, and the link goes on', async (t) => {
  const fc = await startConsole();
  t.teardown(() => fc.close());
  const link = new FleetLink(boxLinkConfig(broker, 'box-big', join(tmp, 'box-big')), {
    // 200 KiB of details: more than MAX_ACK_BYTES, less than the broker's 1 MiB packet limit,
    // so only the box's own bound can turn it into FAILED.
    onCommand: async (cmd) => cmd.body.kind === 'restartWorker' && cmd.body.worker === 'huge'
      ? { state: 'finished', details: { blob: 'x'.repeat(200 * 1024) } }
      : { state: 'finished', message: 'small' },
  });
  t.teardown(() => link.close());
  await link.start();
  await link.waitOnline(10_000);
  const big = await fc.send('box-big', { kind: 'restartWorker', worker: 'huge' }, { timeoutMs: 10_000 });
  t.equal(big?.state, 'failed');
  t.match(big?.message, new RegExp(`exceeds the fleet link's limit of ${MAX_ACK_BYTES} bytes`));
  t.same(big?.details, {}, 'the oversize details are not sent');
  const next = await fc.send('box-big', { kind: 'restartWorker', worker: 'small' }, { timeoutMs: 10_000 });
  t.match(next, { state: 'finished', message: 'small' }, 'the next command is answered as usual');
  await waitFor(() => link.stats.outboxRecords === 0, 5_000, 'outbox drained');
  t.pass('nothing left queued: the broker took every ack');
});
