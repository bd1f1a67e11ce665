/**
 * Audio capture with real GStreamer sources standing in for ALSA (this VM has no sound card
 * and cannot load snd-aloop: `alsasrc` itself is exercised on hardware only; the `gst:` device
 * runs the same pipeline code, ending in the same converter, caps and appsink):
 * - levels: a -6 dBFS 1 kHz sine reads RMS -9 dBFS, peak -6 dBFS, no clipping, not silent;
 * - records are 20 ms, gapless in capture time, stamped within a few ms of arrival;
 * - a source that fails after 1 s gives gap-flagged silence records for the time it is away
 *   and comes back by itself within the backoff, the ring's timeline staying continuous;
 * - the device names: alsa:<card id>, alsa-path:<by-path> (resolved through a folder of links).
 */
import t from 'tap';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AudioCapture, LevelMeter, parseAudioDevice, resolveAlsaPath, sourceDescription, AlsaPathError, fillTestTone, TONE_BURST_FROM_MS } from '../index.js';
import { BoxClock } from '../../lib/clock.js';
import { AUDIO_FLAG_GAP, RECORD_KIND_PCM_S16LE } from '../../lib/record-kinds.js';
import { FLAG_SYNC, RingConsumer, RingProducer, createRing, type RingRecord } from '../../lib/ring/index.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function drain(c: RingConsumer, out: RingRecord[]): void {
  for (let r = c.read(); r; r = c.read()) out.push({ ...r, payload: r.payload.slice() });
}

t.test('level meter: known signals (pure)', async (t) => {
  const m = new LevelMeter(20);
  const rec = new Int16Array(960);
  for (let k = 0; k < 50; k++) {
    for (let i = 0; i < 960; i++) rec[i] = Math.round(16384 * Math.sin((2 * Math.PI * 1000 * (k * 960 + i)) / 48000));
    m.add(rec);
  }
  t.same(m.levels(), { rmsDbfs: -9, peakDbfs: -6, clipped: 0, silent: false, gapMs: 0, windowMs: 1000 });
  rec.fill(0); rec[3] = 32767; rec[9] = -32768;
  m.add(rec);
  m.add(rec, true);
  const l = m.levels();
  t.same({ clipped: l.clipped, peak: l.peakDbfs, gapMs: l.gapMs }, { clipped: 2, peak: 0, gapMs: 20 });
  const q = new LevelMeter(20);
  rec.fill(10); // -70 dBFS
  for (let k = 0; k < 50; k++) q.add(rec);
  t.same({ rms: q.levels().rmsDbfs, silent: q.levels().silent }, { rms: -70.3, silent: true });
  t.throws(() => new LevelMeter(20, 1010), RangeError);
});

t.test('test-tone pattern: click on the first sample of every second, burst at 100 ms', async (t) => {
  const out = new Int16Array(48000);
  fillTestTone(out, 48000 * 1_700_000_000, 48000, 1);
  t.same([out[0], out[47], out[48], out[4799]], [29490, 29490, 0, 0], '1 ms click, then silence');
  t.equal(out[(48 * TONE_BURST_FROM_MS) + 12], Math.round(0.25 * 32767), 'burst peak a quarter period in');
  const st = new Int16Array(4);
  fillTestTone(st, 48000 * 5 - 1, 48000, 2);
  t.same([...st], [0, 0, 29490, 29490], 'stereo: every channel, second boundary in the middle');
});

t.test('device names', async (t) => {
  t.same(parseAudioDevice('mic', 'alsa:USB'), { type: 'alsa', card: 'USB' });
  t.equal(sourceDescription({ type: 'alsa', card: 'CODEC' }, 48000, 1).split(' ! ')[0], 'alsasrc device=plughw:CARD=CODEC,DEV=0 latency-time=10000 buffer-time=200000 provide-clock=false');
  for (const bad of ['hw:0', 'alsa:', 'alsa:a b', 'gst:', 'alsa-path:../x']) t.throws(() => parseAudioDevice('mic', bad), RangeError, bad);
  const dir = mkdtempSync(join(tmpdir(), 'orbox-bypath-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  symlinkSync('../controlC3', join(dir, 'pci-0000:00:14.0-usb-0:2:1.0'));
  symlinkSync('../pcmC0D0c', join(dir, 'odd'));
  t.equal(resolveAlsaPath('pci-0000:00:14.0-usb-0:2:1.0', dir), 3);
  t.throws(() => resolveAlsaPath('odd', dir), AlsaPathError);
  t.throws(() => resolveAlsaPath('absent', dir), AlsaPathError);
  t.equal(sourceDescription({ type: 'alsa-path', path: 'p' }, 16000, 2, () => 3).split(' ! ')[0], 'alsasrc device=plughw:3,0 latency-time=10000 buffer-time=200000 provide-clock=false');
  // A by-path name with no card behind it is a source that is away: gap records, retried.
  const sab = createRing(1 << 18, 1);
  const c = new RingConsumer(sab, 0, 'oldest');
  const cap = new AudioCapture({ input: { name: 'usb', device: 'alsa-path:nothing-here', rate: 48000, channels: 1 }, ring: new RingProducer(sab), clock: new BoxClock(), retryInitialMs: 100, cardOf: (p) => resolveAlsaPath(p, dir) });
  cap.start();
  await sleep(300);
  cap.close();
  const recs: RingRecord[] = [];
  drain(c, recs);
  t.ok(recs.length >= 10 && recs.every((r) => r.flags & AUDIO_FLAG_GAP), `${recs.length} gap records while the device is missing`);
  t.ok(cap.stats().sourceStarts >= 2, `retried: ${cap.stats().sourceStarts} starts`);
  t.match(cap.stats().lastLoss, /alsa-path nothing-here/);
});

t.test('levels and timing of a -6 dBFS sine through a gst: source', async (t) => {
  const sab = createRing(1 << 18, 1);
  const c = new RingConsumer(sab, 0, 'oldest');
  const clock = new BoxClock();
  // stallMs well above 500: a loaded CI machine held this thread long enough to read as a stall,
  // and the restart's gap broke the timing this test is about (stalls are the test above's).
  const cap = new AudioCapture({ input: { name: 'mic', device: 'gst:audiotestsrc is-live=true wave=sine freq=1000 volume=0.5', rate: 48000, channels: 1 }, ring: new RingProducer(sab), clock, stallMs: 5000 });
  cap.start();
  const recs: RingRecord[] = [];
  const arrivalLag: number[] = [];
  const t0 = Date.now();
  while (Date.now() - t0 < 1600) {
    await sleep(20);
    const n = recs.length;
    drain(c, recs);
    for (let i = n; i < recs.length; i++) arrivalLag.push(Number(clock.monoNs() - recs[i].monoNs) / 1e6);
  }
  const lv = cap.levels();
  cap.close();
  t.same({ rms: lv.rmsDbfs, peak: lv.peakDbfs, clipped: lv.clipped, silent: lv.silent, window: lv.windowMs }, { rms: -9, peak: -6, clipped: 0, silent: false, window: 1000 }, JSON.stringify(lv));
  t.ok(recs.length >= 70, `${recs.length} records in 1.6 s`);
  t.ok(recs.every((r) => r.kind === RECORD_KIND_PCM_S16LE && r.flags === FLAG_SYNC && r.payload.length === 1920), 'kind, SYNC, 960 samples each');
  const steps = recs.slice(1).map((r, i) => Number(r.monoNs - recs[i].monoNs));
  t.ok(steps.every((d) => Math.abs(d - 20_000_000) <= 1), `gapless 20 ms steps (min ${Math.min(...steps)}, max ${Math.max(...steps)} ns)`);
  t.ok(recs.every((r) => r.wallNs === clock.toWall(r.monoNs)), 'wall = box clock of mono');
  // The records carry the source's own times: audiotestsrc (synthetic) pushes each buffer at
  // its start time, so a record is in the ring from about its stamp on (a microphone's buffer
  // arrives once captured: 20 ms later). Stamps are neither in the future nor stale.
  const lag = arrivalLag.slice(5).sort((a, b) => a - b);
  t.ok(lag[0] >= -3 && lag[Math.floor(lag.length / 2)] < 60, `capture -> ring lag min ${lag[0].toFixed(1)} median ${lag[Math.floor(lag.length / 2)].toFixed(1)} ms`);
});

t.test('a source that fails after 1 s: gap-flagged silence, back by itself within the backoff', async (t) => {
  const sab = createRing(1 << 19, 1);
  const c = new RingConsumer(sab, 0, 'oldest');
  const events: string[] = [];
  // 100 buffers of 10 ms, then an error on the bus, at every (re)start.
  const cap = new AudioCapture({
    input: { name: 'mic', device: 'gst:audiotestsrc is-live=true samplesperbuffer=480 wave=sine freq=440 volume=0.5 ! identity error-after=100', rate: 48000, channels: 1 },
    ring: new RingProducer(sab), clock: new BoxClock(), retryInitialMs: 300, retryMaxMs: 600, random: () => 0,
    onEvent: (e) => events.push(`${e.type}${e.attempt !== undefined ? ` ${e.attempt}` : ''}`),
  });
  cap.start();
  await sleep(2900);
  cap.close();
  const recs: RingRecord[] = [];
  drain(c, recs);
  const gap = (r: RingRecord): boolean => (r.flags & AUDIO_FLAG_GAP) !== 0;
  // Runs of source / gap records.
  const runs: { gap: boolean; n: number; from: bigint }[] = [];
  for (const r of recs) {
    if (runs.length && runs[runs.length - 1].gap === gap(r)) runs[runs.length - 1].n++;
    else runs.push({ gap: gap(r), n: 1, from: r.monoNs });
  }
  t.comment(`runs: ${runs.map((r) => `${r.gap ? 'gap' : 'src'}x${r.n}`).join(' ')}; events: ${events.join(', ')}`);
  const src = runs.filter((r) => !r.gap);
  t.ok(src.length >= 2 && src[0].n >= 45 && src[0].n <= 52, `first source run ~1 s (${src[0]?.n} records)`);
  const firstGap = runs.find((r) => r.gap && r.from > src[0].from);
  t.ok(firstGap && firstGap.n >= 10 && firstGap.n <= 30, `gap of ${firstGap?.n} records (retry after 300 ms plus the source's start)`);
  t.ok(recs.filter(gap).every((r) => r.payload.every((b) => b === 0)), 'gap records are silence');
  t.match(events.slice(0, 3), ['audio-source-up 0', 'audio-source-lost 1', 'audio-source-up 1']);
  // The ring's timeline has no hole and no overlap larger than a record across the loss.
  const steps = recs.slice(1).map((r, i) => Number(r.monoNs - recs[i].monoNs) / 1e6);
  t.ok(steps.every((d) => d > 0 && d < 41), `capture times increase, no hole: steps ${Math.min(...steps).toFixed(2)}..${Math.max(...steps).toFixed(2)} ms`);
  t.equal(cap.stats().losses >= 2, true, `${cap.stats().losses} losses in 2.9 s`);
});
