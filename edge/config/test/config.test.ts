import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ConfigError, demoConfig, loadConfig, maxRecordedGop, recordingLossMs, validateConfig } from '../index.js';

const dir = mkdtempSync(join(tmpdir(), 'orbox-config-'));
const file = (name: string, text: string) => { const p = join(dir, name); writeFileSync(p, text); return p; };
const cli = new URL('../../../../bin/orbox.js', import.meta.url).pathname;

const good = `
box: { id: or-7, room: "OR 7", dataDir: /tmp/orbox-7 }
api: { socket: /tmp/orbox-7/orbox.sock }
channels:
  - name: endoscope
    source: { type: test-pattern, width: 1920, height: 1080, fps: 30 }
    hq: { width: 1920, height: 1080, bitrateKbps: 8000, gop: 20 }
    lq: { width: 960, height: 540, bitrateKbps: 1500, gop: 15 }
`;

t.test('a valid file loads with defaults filled in', async (t) => {
  const c = loadConfig(file('good.yaml', good));
  t.equal(c.box.id, 'or-7');
  t.equal(c.channels[0].record, true);
  t.equal(c.rtsp.port, 8554);
  t.same([c.rtsp.rtpPortStart, c.rtsp.rtpPortCount], [20000, 2000], 'the RTSP relay\'s UDP ports default to 20000-21999');
  t.equal(c.guard.hangMs, 400);
  t.equal(c.cpu.wakeLatencyUs, 0, 'the box asks for the shallowest CPU idle states unless told otherwise');
  t.equal(demoConfig().channels.length, 2, 'the demo configuration is itself valid');
});

t.test('a malformed configuration is refused with key path, expectation and value found', async (t) => {
  const bad = good.replace('bitrateKbps: 8000', 'bitrateKbps: fast').replace('fps: 30 }', 'fps: 30, colour: red }');
  const err = t.throws(() => loadConfig(file('bad.yaml', bad))) as ConfigError;
  t.type(err, ConfigError);
  t.match(err.message, /channels\[0\]\.hq\.bitrateKbps: expected number, found "fast"/);
  t.match(err.message, /channels\[0\]\.source\.colour: unknown key "colour"/);
  t.equal(err.problems.length, 2, 'every problem is listed, not just the first');
});

t.test('wrong types, ranges, duplicates and missing sections each name their place', async (t) => {
  const cases: [unknown, RegExp][] = [
    [{ api: { socket: 's' } }, /\n  box: expected object, found nothing$/],
    [{ box: { id: 'x', dataDir: 'd' }, api: { socket: 's' }, guard: { hangMs: 5 } }, /guard\.hangMs: Too small: expected number to be >=50, found 5/],
    // A zero backoff never grows and the guard's Backoff refuses it (the guard died on it).
    [{ box: { id: 'x', dataDir: 'd' }, api: { socket: 's' }, guard: { backoffMs: 0 } }, /guard\.backoffMs: Too small: expected number to be >=1, found 0/],
    [{ box: { id: 'x', dataDir: 'd' }, api: { socket: 's' }, guard: { backoffMs: 5000, backoffMaxMs: 1000 } }, /guard\.backoffMaxMs: backoffMaxMs must be at least backoffMs, found 1000/],
    [{ box: { id: 'x', dataDir: 'd' }, api: { socket: 's' }, cpu: { wakeLatencyUs: -1 } }, /cpu\.wakeLatencyUs: Too small: expected number to be >=0, found -1/],
    [{ box: { id: 'bad id!', dataDir: 'd' }, api: { socket: 's' } }, /box\.id: letters, digits.*found "bad id!"/],
    [{ box: { id: 'x', dataDir: 'd' }, api: { socket: 's' }, channels: [{ name: 'a', source: { type: 'hdmi' } }] }, /channels\[0\]\.source(\.type)?: .*found/],
    [{ box: { id: 'x', dataDir: 'd' }, api: { socket: 's' }, rtsp: { rtpPortStart: 30001 } }, /rtsp\.rtpPortStart: must be even: RTP takes the even port, RTCP the one after it, found 30001/],
    [{ box: { id: 'x', dataDir: 'd' }, api: { socket: 's' }, rtsp: { rtpPortStart: 64000, rtpPortCount: 2000 } }, /rtsp\.rtpPortCount: the range rtpPortStart \+ rtpPortCount goes past port 65535, found 2000/],
  ];
  for (const [raw, re] of cases) {
    const err = t.throws(() => validateConfig(raw, 'case')) as ConfigError;
    t.match(err.message, re);
  }
  const dup = { box: { id: 'x', dataDir: 'd' }, api: { socket: 's' }, channels: [0, 1].map(() => ({
    name: 'cam', source: { type: 'test-pattern', width: 64, height: 64, fps: 5 },
    hq: { width: 64, height: 64, bitrateKbps: 100, gop: 5 }, lq: { width: 64, height: 64, bitrateKbps: 100, gop: 5 } })) };
  t.match((t.throws(() => validateConfig(dup)) as Error).message, /channels\[1\]\.name: duplicate channel name "cam"/);
});

t.test('a channel names its audio input: an unknown one is refused naming the channel and the inputs there are', async (t) => {
  const ch = (audio?: string) => ({ name: 'cam', source: { type: 'test-pattern', width: 64, height: 64, fps: 5 }, record: false,
    hq: { width: 64, height: 64, bitrateKbps: 100, gop: 5 }, lq: { width: 64, height: 64, bitrateKbps: 100, gop: 5 }, ...(audio ? { audio } : {}) });
  const base = { box: { id: 'x', dataDir: 'd' }, api: { socket: 's' }, audio: { inputs: [{ name: 'room-mic', device: 'test-tone' }] } };
  t.equal(validateConfig({ ...base, channels: [ch('room-mic')] }).channels[0].audio, 'room-mic');
  t.equal(validateConfig({ ...base, channels: [ch()] }).channels[0].audio, undefined, 'audio is optional');
  const err = t.throws(() => validateConfig({ ...base, channels: [ch('ceiling-mic')] })) as ConfigError;
  t.match(err.message, /channels\[0\]\.audio: channel "cam" names audio input "ceiling-mic", which is not in audio\.inputs \(inputs: room-mic\)/);
  t.same(demoConfig().channels.map((c) => c.audio), ['room-mic', 'room-mic'], 'the demo\'s channels carry the demo room mic (test tone)');
});

t.test('a recorded channel may use an hq GOP up to 4 s; longer is refused with the largest that fits; the loss bound is the fsync period + 2 frames', async (t) => {
  const fourSeconds = good.replace('gop: 20', 'gop: 120');
  t.equal(loadConfig(file('gop120.yaml', fourSeconds)).channels[0].hq.gop, 120, 'a 4 s GOP at 30 fps is accepted for a recorded channel');
  const msg = (t.throws(() => loadConfig(file('gop121.yaml', good.replace('gop: 20', 'gop: 121')))) as Error).message;
  t.match(msg, /channels\[0\]\.hq\.gop: a recorded channel's hq GOP may be at most 4 s .*121 frames at 30 fps is 4\.03 s; use gop <= 120/m);
  const unrecorded = good.replace('gop: 20', 'gop: 600').replace('    lq: {', '    record: false\n    lq: {');
  t.equal(loadConfig(file('gop600-unrecorded.yaml', unrecorded)).channels[0].hq.gop, 600, 'a channel that is not recorded may use any GOP');
  const slowSync = good + 'recording: { fsyncMs: 1000, maxLossMs: 1000 }\n';
  const m2 = (t.throws(() => loadConfig(file('slow-sync.yaml', slowSync))) as Error).message;
  t.match(m2, /recording\.fsyncMs: a recorded channel can lose the fsync period and two frames in flight: 1000 ms \+ 2 frames at 30 fps \(channel "endoscope"\) come to 1067 ms, over recording\.maxLossMs 1000/);
  t.equal(recordingLossMs(30, 250), 250 + 2000 / 30, 'fsync period + two frames, whatever the GOP');
  t.equal(maxRecordedGop(25), 100);
});

t.test('YAML syntax errors give the line; unreadable files say why', async (t) => {
  t.match((t.throws(() => loadConfig(file('syntax.yaml', 'box: { id: x\napi: ['))) as Error).message, /line \d+, column \d+/);
  t.match((t.throws(() => loadConfig(join(dir, 'missing.yaml'))) as Error).message, /cannot read the file \(ENOENT\)/);
});

t.test('orbox refuses to start on a malformed file: exit 2, the key path on stderr, nothing started', async (t) => {
  const bad = file('bad-run.yaml', good.replace('gop: 15', 'gop: -1'));
  const r = spawnSync(process.execPath, [cli, 'run', '--config', bad], { encoding: 'utf8', timeout: 20_000 });
  t.equal(r.status, 2);
  t.match(r.stderr, /channels\[0\]\.lq\.gop: Too small/);
  t.notMatch(r.stdout, /running/);
  const ok = spawnSync(process.execPath, [cli, 'config', 'check', file('good2.yaml', good)], { encoding: 'utf8' });
  t.equal(ok.status, 0);
  t.match(ok.stdout, /valid \(box or-7, 1 channels/);
});

t.test('the local API socket: resolved once, from the file\'s folder or the machine\'s fixed place', async (t) => {
  const { defaultApiSocket } = await import('../index.js');
  const rel = loadConfig(file('rel.yaml', good.replace('socket: /tmp/orbox-7/orbox.sock', 'socket: run/box.sock')));
  t.equal(rel.api.socket, join(dir, 'run/box.sock'), 'a relative socket is taken from the configuration file\'s folder, not the caller\'s');
  const none = validateConfig({ box: { id: 'x', dataDir: 'd' } });
  t.equal(none.api.socket, defaultApiSocket(), 'no socket named: the machine\'s fixed one');
  t.equal(defaultApiSocket({ ORBOX_RUNTIME_DIR: '/tmp/r' }, 1000), '/tmp/r/orbox.sock');
  t.equal(defaultApiSocket({}, 0), '/run/orbox/orbox.sock', 'root: /run/orbox');
  t.match(defaultApiSocket({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000), /^\/run\/(user\/1000\/)?orbox\/orbox\.sock$/, 'a user: their runtime directory (or /run/orbox where the service made it)');
});
