/**
 * The demo's test-tone input end to end, with real GStreamer (opusenc, rtpopusdepay, opusdec):
 * a) in one process, the modules the two workers run (AudioCapture -> pcm ring -> AudioEncoder
 *    -> audio ring) on the demo configuration's input: Opus packets at 50/s, each stamped with
 *    the capture time of its first sample on the 20 ms grid of the wall clock; packetised by
 *    our RFC 7587 payloader and decoded by GStreamer, the audio holds the 1 kHz burst and a
 *    click at every whole second, at the capture times the records carry, within 1 ms;
 * b) a whole box (supervisor and nine worker threads): audio-capture reports the test tone's
 *    levels and audio-encode reports Opus packets coming out at 50/s.
 * The audio ring of a box has one consumer slot (net-send's), so (a) reads it in-process.
 */
import t from 'tap';
import { AudioCapture, AudioEncoder, LOOKAHEAD_NS, TONE_BURST_FROM_MS, TONE_BURST_TO_MS } from '../../edge/audio/index.js';
import { demoConfig } from '../../edge/config/demo.js';
import { BoxClock } from '../../edge/lib/clock.js';
import { AUDIO_FLAG_GAP, RECORD_KIND_OPUS_FRAME } from '../../edge/lib/record-kinds.js';
import { FLAG_SYNC, RingConsumer, RingProducer, createRing, type RingRecord } from '../../edge/lib/ring/index.js';
import { OpusPacketizer, opusPacketSamples } from '../../edge/rtp/index.js';
import { Supervisor } from '../../edge/supervisor/supervisor.js';
import { testConfig } from '../../edge/supervisor/test/harness.js';
import { clickOnsets, decodeOpusRtp, zeroCrossingHz } from './opus-peer.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('test-tone -> Opus records at 50/s; decoded, the clicks are at the carried capture times (< 1 ms)', async (t) => {
  const input = demoConfig('var').audio.inputs[0];
  t.same({ device: input.device, rate: input.rate, channels: input.channels }, { device: 'test-tone', rate: 48000, channels: 1 });
  const clock = new BoxClock();
  const pcm = createRing(1 << 18, 1);
  const opus = createRing(1 << 18, 1);
  const cap = new AudioCapture({ input, ring: new RingProducer(pcm), clock });
  const enc = new AudioEncoder({ input, pcm: new RingConsumer(pcm, 0, 'oldest'), out: new RingProducer(opus), clock, onError: (e) => t.fail(e.message) });
  const reader = new RingConsumer(opus, 0, 'oldest');
  enc.start();
  cap.start();
  await sleep(3300);
  cap.close();
  await sleep(100);
  await enc.close();
  const recs: RingRecord[] = [];
  for (let r = reader.read(); r; r = reader.read()) recs.push({ ...r, payload: r.payload.slice() });
  t.comment(`encoder ${JSON.stringify(enc.stats())}`);
  t.ok(recs.length >= 155, `${recs.length} Opus packets in 3.3 s`);
  t.ok(recs.every((r) => r.kind === RECORD_KIND_OPUS_FRAME && r.flags === FLAG_SYNC && !(r.flags & AUDIO_FLAG_GAP)), 'kind OPUS, SYNC, no gap');
  t.ok(recs.every((r) => opusPacketSamples(r.payload) === 960), 'every packet is 20 ms');
  // A packet's decoded samples start 2.5 ms (opusenc's look-ahead) before the PCM record it mostly holds.
  t.ok(recs.every((r) => (r.wallNs + BigInt(LOOKAHEAD_NS)) % 20_000_000n === 0n), 'capture times on the 20 ms grid of the wall clock, less the look-ahead');
  const steps = recs.slice(2).map((r, i) => r.wallNs - recs[i + 1].wallNs);
  t.ok(steps.every((d) => d === 20_000_000n), '50 packets a second, gapless');
  t.equal(enc.stats().unmatched, 0, 'every packet found its PCM record');

  const pz = new OpusPacketizer({ ssrc: 0x1234, initialSequence: 1, timestampOffset: 0 });
  const packets = recs.map((r) => { const p = pz.packetize(r.payload, r.wallNs); return Buffer.from(p.buf.subarray(0, p.length)); });
  t.equal(pz.resyncs, 0);
  const x = await decodeOpusRtp(packets);
  const first = recs[0].wallNs;
  // Decoded sample i is the capture instant first + i / 48 kHz: what the records carry.
  const timeOf = (i: number): bigint => first + BigInt(Math.round((i * 1e9) / 48000));
  const onsets = clickOnsets(x, 48000);
  t.ok(onsets.length >= 3, `${onsets.length} clicks found`);
  for (const i of onsets) {
    const at = timeOf(i);
    const nearestSecond = ((at + 500_000_000n) / 1_000_000_000n) * 1_000_000_000n;
    const errMs = Number(at - nearestSecond) / 1e6;
    t.ok(Math.abs(errMs) < 1, `click at sample ${i}: ${errMs.toFixed(3)} ms from its whole second`);
  }
  // The burst: 1 kHz, 100..600 ms after each click.
  const c0 = onsets[0];
  const hz = zeroCrossingHz(x, 48000, c0 + 48 * (TONE_BURST_FROM_MS + 20), c0 + 48 * (TONE_BURST_TO_MS - 20));
  t.ok(Math.abs(hz - 1000) < 2, `burst at ${hz.toFixed(2)} Hz`);
  const quiet = zeroCrossingHz(x, 48000, c0 + 48 * (TONE_BURST_TO_MS + 50), c0 + 48 * 950);
  t.ok(quiet < 50, `silence between bursts (${quiet.toFixed(1)} crossings/s)`);
});

t.test('a whole box: audio-capture levels and audio-encode output at 50/s', async (t) => {
  const sup = new Supervisor(testConfig());
  const stats: Record<string, Record<string, unknown>> = {};
  sup.on('worker-event', (_w: string, e: { type: string; inputs?: Record<string, unknown> }) => { if (e.inputs) stats[e.type] = e.inputs; });
  t.teardown(() => sup.stop());
  await sup.start();
  await sleep(4500);
  const a = stats['audio-stats']?.mic as { state: string; records: number; levels: { peakDbfs: number; rmsDbfs: number; silent: boolean } } | undefined;
  const e1 = stats['audio-encode-stats']?.mic as { framesOut: number } | undefined;
  await sleep(2000);
  const e2 = stats['audio-encode-stats']?.mic as { framesOut: number } | undefined;
  t.ok(a, `audio-stats: ${JSON.stringify(a)}`);
  // Click at 0.9 FS (-0.9 dBFS); RMS of 1 ms click + 500 ms of -12 dBFS sine in a second: about -18 dBFS.
  t.same({ state: a?.state, peak: a?.levels.peakDbfs, silent: a?.levels.silent }, { state: 'live', peak: -0.9, silent: false });
  t.ok(a && a.levels.rmsDbfs > -19.5 && a.levels.rmsDbfs < -17, `rms ${a?.levels.rmsDbfs} dBFS`);
  const rate = ((e2?.framesOut ?? 0) - (e1?.framesOut ?? 0)) / 2;
  t.ok(Math.abs(rate - 50) <= 2, `Opus packets ${rate}/s`);
});
