// Pure pieces of the fleet link: seq wrap, metric set by exception, config errors,
// CLI argument parsing, and the on-disk outbox/ledger.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCommandArgs } from '../cli.js';
import { parseFleetLinkConfig } from '../config.js';
import { FleetConfigError } from '../errors.js';
import { MetricSet, standardMetrics } from '../metrics.js';
import { nextSeq, seqDistance } from '../seq.js';
import { FleetStore } from '../store.js';
import { parseTopic, topicFor } from '../topics.js';

t.test('seq wraps at 256', async (t) => {
  t.equal(nextSeq(254), 255);
  t.equal(nextSeq(255), 0);
  t.equal(seqDistance(255, 0), 1);
  t.equal(seqDistance(10, 9), 255);
  let s = 0;
  for (let i = 0; i < 1000; i++) s = nextSeq(s);
  t.equal(s, 1000 % 256);
});

t.test('metric set: birth lists all, telemetry only changes beyond deadband, new metric needs birth', async (t) => {
  const m = new MetricSet(standardMetrics({ workers: ['control'], channels: ['endo'], devices: ['ecg'], rings: ['endo.raw'] }));
  t.ok(m.has('channel/endo/fps') && m.has('worker/control/restarts') && m.has('device/ecg/connected') && m.has('ring/endo.raw/overruns'));
  m.set({ 'channel/endo/fps': 30, 'worker/control/restarts': 0, 'recording/state': 'idle' });
  const birth = m.takeBirth();
  t.equal(birth.length, m.size, 'birth lists every metric');
  t.equal(birth.find((x) => x.name === 'channel/endo/fps')?.value, 30);
  t.equal(birth.find((x) => x.name === 'worker/control/restarts')?.value, 0n, 'int metric held as bigint');
  t.notOk(m.birthNeeded);
  m.set({ 'channel/endo/fps': 29.8 });
  t.same(m.takeChanges(), [], 'within deadband: not reported');
  m.set({ 'channel/endo/fps': 25, 'recording/state': 'recording' });
  const ch = m.takeChanges();
  t.same(ch.map((c) => c.value), [25, 'recording']);
  t.same(m.takeChanges(), [], 'reported once');
  m.set({ 'worker/control/restarts': 1, 'worker/control/restarts ': 1n } as Record<string, bigint | number>);
  t.ok(m.birthNeeded, 'an unknown name defines a metric and needs a birth');
  t.throws(() => m.set({ 'recording/state': 3 }), TypeError);
});

t.test('config: defaults filled, errors name the key path', async (t) => {
  const ok = parseFleetLinkConfig({ url: 'mqtts://127.0.0.1:8883', boxId: 'box-1', ca: 'a', cert: 'b', key: 'c', queueDir: '/q' });
  t.equal(ok.reconnect.maxMs, 60_000);
  t.equal(ok.sessionExpiryS, 7 * 24 * 3600);
  try {
    parseFleetLinkConfig({ url: 'mqtt://x', boxId: 'a/b', ca: 'a', cert: 'b', key: 'c', queueDir: '/q', reconnect: { minMs: 10, maxMs: 5 } }, 'fleet');
    t.fail('should throw');
  } catch (err) {
    t.type(err, FleetConfigError);
    const paths = (err as FleetConfigError).issues.map((i) => i.path).sort();
    t.same(paths, ['fleet.boxId', 'fleet.reconnect.maxMs', 'fleet.url']);
  }
});

t.test('topics and CLI command arguments', async (t) => {
  t.equal(topicFor('box-1', 'cmd'), 'orbox/v1/box-1/cmd');
  t.same(parseTopic('orbox/v1/box-1/ack'), { boxId: 'box-1', kind: 'ack' });
  t.equal(parseTopic('orbox/v1/box-1/other'), undefined);
  t.same(parseCommandArgs('recording-start', ['case=c1', 'channels=a,b']), { kind: 'recordingStart', caseId: 'c1', channels: ['a', 'b'] });
  t.same(parseCommandArgs('device-command', ['device=vent', 'command=silence', 's=60']), { kind: 'deviceCommand', device: 'vent', command: 'silence', args: { s: '60' } });
  t.same(parseCommandArgs('channel-settings', ['channel=endo', 'fps=25']), { kind: 'channelSettings', channel: 'endo', settings: { fps: '25' } });
  t.same(parseCommandArgs('snapshot', ['channel=endo']), { kind: 'snapshot', channel: 'endo', save: false, fresh: false });
  t.same(parseCommandArgs('snapshot', ['channel=endo', 'save=true', 'fresh=true']), { kind: 'snapshot', channel: 'endo', save: true, fresh: true });
  t.throws(() => parseCommandArgs('snapshot', ['channel=endo', 'save=yes']), /save must be true or false, got "yes"/);
  t.throws(() => parseCommandArgs('snapshot', ['save=true']), /channel=/);
  t.throws(() => parseCommandArgs('snapshot', ['channel=endo', 'width=64']), /not width/);
  t.throws(() => parseCommandArgs('restart-worker', []), /worker=/);
  t.throws(() => parseCommandArgs('reboot', []), /unknown command/);
  t.throws(() => parseCommandArgs('rebirth', ['novalue']), /key=value/);
});

t.test('store: outbox FIFO across reopen, bounded (oldest dropped), ledger exactly-once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'orbox-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const opts = { dir, maxBytes: 1000, maxRecords: 5, ledgerMax: 3, durability: 'normal' as const };
  let s = new FleetStore(opts);
  s.open();
  for (let i = 0; i < 7; i++) s.enqueue('t', Buffer.from(`m${i}`), i);
  t.equal(s.outboxRecords, 5);
  t.equal(s.outboxDropped, 2);
  s.close();
  s = new FleetStore(opts);
  s.open();
  t.same(s.peek(10).map((r) => r.payload.toString()), ['m2', 'm3', 'm4', 'm5', 'm6'], 'order kept across reopen');
  const first = s.peek(1)[0];
  s.remove(first.id);
  t.equal(s.peek(1)[0].payload.toString(), 'm3');
  t.equal(s.outboxBytes, 8);
  s.enqueue('t', Buffer.alloc(995), 0);
  t.same(s.peek(10).map((r) => r.payload.length), [2, 2, 995], 'byte bound (1000) drops the oldest, keeps the newest');
  t.equal(s.outboxBytes, 999);

  t.ok(s.beginCommand('c1', 0));
  t.notOk(s.beginCommand('c1', 0), 'second begin of the same id refused');
  t.same(s.ledger('c1')?.state, 'executing');
  t.same(s.interruptedCommands(), ['c1']);
  s.finishCommand('c1', 'ack', Buffer.from([1, 2]), 0);
  t.same(s.ledger('c1')?.state, 'done');
  t.same(s.interruptedCommands(), []);
  s.close();
  s.close();
});
