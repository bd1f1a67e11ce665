/**
 * Stills and run-time channel settings end to end, with real parts: a real box (supervisor +
 * nine worker threads, in-process) with two test-pattern channels, the `orbox` CLI run as its
 * own process against the box's socket, a real mosquitto with the fleet console (and the
 * `orbox fleet send` CLI), ffprobe and GStreamer's jpegdec reading the JPEGs, SQLite read
 * beside the running box.
 *
 *   cam    640x360 "ball", stills every 2 s at full size
 *   noise  320x240 "snow" (x264 cannot compress it below its target: the measured bitrate is
 *          the target), stills off
 *
 * What a nurse, a surgeon and a fleet operator see: `orbox snapshot` writes a JPEG of the
 * channel's size captured within one interval of now; `--fresh` gives a newer one, and the
 * next is one interval later; a still saved during a case is on disk next to the segments
 * and in the catalog with the case, from the CLI and from the fleet; the fleet gets a
 * thumbnail that decodes; `orbox channel set` changes the bitrate the encoder reads back and
 * the stream's measured bitrate, and a refused value is named with its channel and role.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { FleetConsole } from '../../edge/fleet/index.js';
import { Supervisor } from '../../edge/supervisor/supervisor.js';
import { boxLinkConfig, consoleConfig, consoleEnv, startLocalBroker } from '../fleet/index.js';
import { freeTcpPort } from '../rtp/gst-peers.js';
import { decodeJpeg, nextEvent, sleep, videoConfig } from './helpers.js';

const INTERVAL_S = 2;
const cli = new URL('../../../bin/orbox.js', import.meta.url).pathname;

interface CliResult { code: number; stdout: string; stderr: string }
function orbox(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const broker = await startLocalBroker({ boxIds: ['snap-box'] });
const dir = mkdtempSync(join(tmpdir(), 'orbox-snapbox-'));
const socket = join(dir, 'orbox.sock');
const port = await freeTcpPort();
const cfg = videoConfig(port, [
  { name: 'cam', width: 640, height: 360, snapshot: { intervalS: INTERVAL_S } },
  { name: 'noise', width: 320, height: 240, source: { type: 'test-pattern', pattern: 'snow', width: 320, height: 240, fps: 30 }, snapshot: { enabled: false } },
], {
  box: { id: 'snap-box', room: 'OR 5', dataDir: dir },
  api: { socket },
  recording: { segmentS: 2, fsyncMs: 250 },
  fleet: boxLinkConfig(broker, 'snap-box', join(dir, 'fleet')),
});
const fc = new FleetConsole(consoleConfig(broker));
await fc.start();
const born = new Promise<void>((resolve) => fc.on('birth', (s) => { if (s.boxId === 'snap-box') resolve(); }));
const sup = new Supervisor(cfg);
await sup.start();
t.teardown(async () => {
  await sup.stop();
  await fc.close();
  await broker.stop();
});
await born;

t.test('orbox snapshot: a JPEG of the channel\'s size, captured within one interval of now; --fresh is newer than the request, the next one an interval later', async (t) => {
  const out = join(dir, 'cli.jpg');
  const asked = Date.now();
  const r = await orbox(['snapshot', 'cam', '-o', out, '--json', '-s', socket]);
  const answered = Date.now();
  t.equal(r.code, 0, `exit 0 ${r.stderr}`);
  const info = JSON.parse(r.stdout) as { width: number; height: number; bytes: number; captureNs: string; file: string };
  const d = await decodeJpeg(out);
  t.same([d.codec, d.width, d.height], ['mjpeg', 640, 360], 'ffprobe and jpegdec read a 640x360 JPEG, the channel\'s size');
  t.same([info.width, info.height, info.bytes, info.file], [640, 360, readFileSync(out).length, out], 'the CLI reports what it wrote');
  const captureMs = Number(BigInt(info.captureNs) / 1_000_000n);
  // The latest still is at most one interval old when asked, plus its frame's way through
  // videorate and jpegenc (a frame or two).
  t.ok(captureMs >= asked - INTERVAL_S * 1000 - 150 && captureMs <= answered, `capture time - request time: ${captureMs - asked} ms (interval ${INTERVAL_S} s)`);

  const asked2 = Date.now();
  const f1 = await orbox(['snapshot', 'cam', '--fresh', '-o', join(dir, 'fresh1.jpg'), '--json', '-s', socket]);
  const f2 = await orbox(['snapshot', 'cam', '--fresh', '-o', join(dir, 'fresh2.jpg'), '--json', '-s', socket]);
  t.equal(f1.code + f2.code, 0, `both exit 0 ${f1.stderr}${f2.stderr}`);
  const c1 = BigInt((JSON.parse(f1.stdout) as { captureNs: string }).captureNs);
  const c2 = BigInt((JSON.parse(f2.stdout) as { captureNs: string }).captureNs);
  t.ok(Number(c1 / 1_000_000n) >= asked2, '--fresh: captured after the request');
  const gapMs = Number(c2 - c1) / 1e6;
  t.ok(Math.abs(gapMs - INTERVAL_S * 1000) <= 100, `the next fresh still is one interval later: ${gapMs.toFixed(1)} ms`);
  t.same((await decodeJpeg(join(dir, 'fresh2.jpg'))).width, 640);

  const unknown = await orbox(['snapshot', 'nope', '-s', socket]);
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, /unknown channel "nope"; channels: cam, noise/);
  const off = await orbox(['snapshot', 'noise', '-s', socket]);
  t.equal(off.code, 1);
  t.match(off.stderr, /channel "noise" takes no stills \(channels\[1\]\.snapshot\.enabled is false/);
});

t.test('a still saved during a case is on disk next to the segments and in the catalog with its case (CLI and fleet)', async (t) => {
  const start = await orbox(['record', 'start', '--case', 'case-snap-1', '-s', socket]);
  t.equal(start.code, 0, start.stderr);
  t.match(start.stdout, /case "case-snap-1" recording/);
  const local = await orbox(['snapshot', 'cam', '--save', '--json', '-s', socket]);
  t.equal(local.code, 0, local.stderr);
  const l = JSON.parse(local.stdout) as { captureNs: string; bytes: number; saved: { id: number; path: string; bytes: number; case: string } };
  t.equal(l.saved.case, 'case-snap-1');
  const fleet = await fc.send('snap-box', { kind: 'snapshot', channel: 'cam', save: true, fresh: true }, { timeoutMs: 20_000 });
  t.equal(fleet?.state, 'finished', fleet?.message ?? '');
  t.match(fleet?.message, /saved to .*\(case "case-snap-1"\)/);
  const stop = await orbox(['record', 'stop', '-s', socket]);
  t.match(stop.stdout, /case "case-snap-1" ended/, 'record stop without --case ends the case being recorded');

  const saved = [
    { by: 'local', path: l.saved.path, captureNs: l.captureNs, bytes: l.saved.bytes },
    { by: 'fleet', path: fleet!.details.path, captureNs: fleet!.details.captureNs, bytes: Number(fleet!.details.bytes) },
  ];
  const db = new Database(join(dir, 'catalog.db'), { readonly: true });
  t.teardown(() => db.close());
  db.defaultSafeIntegers(true);
  for (const s of saved) {
    t.ok(existsSync(s.path), `${s.by}: ${s.path} is on disk`);
    t.equal(readFileSync(s.path).length, s.bytes, `${s.by}: file bytes as reported`);
    const d = await decodeJpeg(s.path);
    t.same([d.codec, d.width, d.height], ['mjpeg', 640, 360], `${s.by}: the saved file is the full 640x360 still`);
    t.ok(readdirSync(dirname(s.path)).some((f) => /^cam-.*\.mkv$/.test(f)), `${s.by}: next to the channel's segments`);
    const row = db.prepare(`SELECT s.channel, s.capture_ns, s.bytes, s.width, s.height, s.requested_by, c.uid FROM stills s JOIN cases c ON c.id = s.case_id WHERE s.path = ?`).get(s.path) as
      { channel: string; capture_ns: bigint; bytes: bigint; width: bigint; height: bigint; requested_by: string; uid: string } | undefined;
    t.same(row && [row.channel, String(row.capture_ns), Number(row.bytes), Number(row.width), Number(row.height), row.uid],
      ['cam', s.captureNs, s.bytes, 640, 360, 'case-snap-1'], `${s.by}: catalogued with channel, capture time, bytes, size and the case`);
    t.match(row?.requested_by, /^(local|fleet:)/, `${s.by}: who asked is recorded (${row?.requested_by})`);
  }
  const again = await orbox(['snapshot', 'cam', '--save', '--json', '-s', socket]);
  const a = JSON.parse(again.stdout) as { saved: { case: string | null } };
  t.equal(a.saved.case, null, 'after the case ended, a saved still belongs to no case');
});

t.test('fleet snapshot: a thumbnail of the latest still in the acknowledgement; wrong channels are invalid', async (t) => {
  const asked = Date.now();
  const ack = await fc.send('snap-box', { kind: 'snapshot', channel: 'cam', save: false, fresh: false }, { timeoutMs: 20_000 });
  t.equal(ack?.state, 'finished', ack?.message ?? '');
  const file = join(dir, 'thumb.jpg');
  writeFileSync(file, Buffer.from(ack!.details.jpeg, 'base64'));
  const d = await decodeJpeg(file);
  t.same([d.codec, d.width, d.height], ['mjpeg', 320, 180], 'a 320x180 JPEG thumbnail that decodes');
  t.same([ack!.details.width, ack!.details.height, ack!.details.image], ['320', '180', 'thumbnail']);
  const captureMs = Number(BigInt(ack!.details.captureNs) / 1_000_000n);
  t.ok(captureMs >= asked - INTERVAL_S * 1000 - 150 && captureMs <= Date.now(), `capture time - request time: ${captureMs - asked} ms (interval ${INTERVAL_S} s)`);

  // The operator's CLI writes it to a file.
  const out = join(dir, 'fleet-cli.jpg');
  const r = await orbox(['fleet', 'send', 'snap-box', 'snapshot', 'channel=cam', 'fresh=true', '--out', out], consoleEnv(broker));
  t.equal(r.code, 0, r.stdout + r.stderr);
  t.match(r.stdout, new RegExp(`finished channel "cam": thumbnail 320x180 .* -> ${out}`));
  t.same((await decodeJpeg(out)).width, 320, 'orbox fleet send --out writes the thumbnail');

  const off = await fc.send('snap-box', { kind: 'snapshot', channel: 'noise', save: false, fresh: false }, { timeoutMs: 20_000 });
  t.match(off, { state: 'invalid', message: /channel "noise" takes no stills/ });
  const unknown = await fc.send('snap-box', { kind: 'snapshot', channel: 'nope', save: true, fresh: false }, { timeoutMs: 20_000 });
  t.match(unknown, { state: 'invalid', message: /unknown channel "nope"/ });
});

/** hq bitrate of `channel` measured from video-encode's byte counters over at least `seconds`. */
async function measuredKbps(channel: string, seconds: number): Promise<number> {
  type Stats = { channels: Record<string, { out: { hq: { bytes: number } } }> };
  const first = (await nextEvent(sup, (e) => e.type === 'encode-stats')) as unknown as Stats;
  const t0 = performance.now();
  let last: Stats;
  let t1: number;
  do {
    last = (await nextEvent(sup, (e) => e.type === 'encode-stats')) as unknown as Stats;
    t1 = performance.now();
  } while (t1 - t0 < seconds * 1000);
  return ((last.channels[channel].out.hq.bytes - first.channels[channel].out.hq.bytes) * 8) / (t1 - t0);
}

async function encoderReadsKbps(channel: string): Promise<{ hq: number | null; lq: number | null }> {
  const r = await orbox(['status', '--json', '-s', socket]);
  const s = JSON.parse(r.stdout) as { video: { encode: Record<string, { bitrateKbps: { hq: number | null; lq: number | null } }> } };
  return s.video.encode[channel].bitrateKbps;
}

t.test('orbox channel set: the encoder reads back the new bitrate and the stream\'s measured bitrate follows; refusals name channel, role and value', async (t) => {
  t.same(await encoderReadsKbps('noise'), { hq: 1500, lq: 400 }, 'the configured bitrates before');
  const before = await measuredKbps('noise', 4);
  const set = await orbox(['channel', 'set', 'noise', '--hq-bitrate', '250', '-s', socket]);
  t.equal(set.code, 0, set.stderr);
  t.match(set.stdout, /channel "noise": hqBitrateKbps=250 \(the encoder reads back hq 250 kbit\/s\)/);
  await sleep(2500); // x264's 1 s VBV buffer drains at the old rate first
  await nextEvent(sup, (e) => e.type === 'encode-stats'); // status reads back at the next stats
  t.same(await encoderReadsKbps('noise'), { hq: 250, lq: 400 }, 'orbox status: the hq encoder reads 250 kbit/s, lq unchanged');
  const after = await measuredKbps('noise', 4);
  t.ok(before > 1500 * 0.7, `measured before: ${before.toFixed(0)} kbit/s (target 1500)`);
  t.ok(after < 250 * 1.3 && after > 250 * 0.5, `measured after: ${after.toFixed(0)} kbit/s (target 250)`);

  const low = await orbox(['channel', 'set', 'noise', '--hq-bitrate', '10', '-s', socket]);
  t.equal(low.code, 1);
  t.match(low.stderr, /channel "noise" hq bitrate "10" kbit\/s refused: must be an integer from 64 to 100000 kbit\/s/);
  const half = await orbox(['channel', 'set', 'noise', '--hq-bitrate', '300', '--lq-bitrate', 'fast', '-s', socket]);
  t.match(half.stderr, /channel "noise" lq bitrate "fast" kbit\/s refused/);
  const unknown = await orbox(['channel', 'set', 'nope', '--lq-bitrate', '300', '-s', socket]);
  t.match(unknown.stderr, /unknown channel "nope"; channels: cam, noise/);
  const none = await orbox(['channel', 'set', 'noise', '-s', socket]);
  t.equal(none.code, 2, 'no setting given is a usage error');
  await nextEvent(sup, (e) => e.type === 'encode-stats');
  t.same(await encoderReadsKbps('noise'), { hq: 250, lq: 400 }, 'nothing of a refused command was applied');
});
