// The recording's vitals cues (record-vitals.ts): what a frame shows is what the monitors had
// measured by its capture time, whatever order the samples arrive in; a frame before any
// sample, and one during a pulled cable, say so.
import t from 'tap';
import { completeSample, type SampleDraft } from '../../devices/index.js';
import { NO_VITALS_TEXT, RecordingVitalsText, cueDurationNs } from '../record-vitals.js';

const S = 1_000_000_000n;
const sample = (d: Omit<SampleDraft, 'hostMonoNs'>) => completeSample({ hostMonoNs: 0n, ...d }, 'monitor', 'intellivue', 1n);
const text = (v: RecordingVitalsText, at: bigint): string => new TextDecoder().decode(v.cueFor(at));

t.test('a cue shows the values measured by its frame\'s capture time, samples queued out of order', async (t) => {
  const v = new RecordingVitalsText();
  t.equal(text(v, 1n * S), NO_VITALS_TEXT, 'before any sample');
  // Arrive out of order: the one measured at 3 s comes first.
  v.write(sample({ kind: 'numeric', hostWallNs: 3n * S, label: 'HR', unit: 'bpm', value: 75 }));
  v.write(sample({ kind: 'numeric', hostWallNs: 2n * S, label: 'HR', unit: 'bpm', value: 72 }));
  v.write(sample({ kind: 'wave', hostWallNs: 2n * S, label: 'ECG_II', samples: [1, 2, 3] }));
  t.equal(text(v, 2n * S - 1n), NO_VITALS_TEXT, 'a frame captured just before the first measurement');
  t.equal(text(v, 2n * S), 'HR 72 bpm');
  t.equal(text(v, 3n * S - 1n), 'HR 72 bpm');
  t.equal(text(v, 3n * S), 'HR 75 bpm');
  t.equal(v.cueFor(3n * S + 1n), v.cueFor(3n * S + 2n), 'the same bytes while the text holds');
  v.write(sample({ kind: 'gap', hostWallNs: 4n * S, gapStartNs: 4n * S, gapReason: 'disconnected' }));
  t.equal(text(v, 4n * S), 'HR 75 bpm\nNO DATA monitor (disconnected)', 'the last values, and the gap');
  t.equal(text(v, 20n * S), 'NO DATA monitor (disconnected)', 'stale values go');
  v.write(sample({ kind: 'gap', hostWallNs: 21n * S, gapStartNs: 4n * S, gapEndNs: 21n * S, gapReason: 'disconnected' }));
  t.equal(text(v, 21n * S), NO_VITALS_TEXT, 'gap closed, nothing fresh');
});

t.test('a cue lasts 3/4 of a frame: no two cues on one frame of a jittery source', async (t) => {
  t.equal(cueDurationNs(30), 25_000_000);
  t.equal(cueDurationNs(60), 12_500_000);
});
