/**
 * Naming, frame scan and the catalog: round trips, transitions, queries, crash recovery.
 * Segment files are real: each recorded by gst-launch-1.0, the x86 profiles' hq encode into their muxer.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildChannelPipeline, runLaunch, validateProfile } from '../../../gst-pipelines/index.js';
import { x86X264 } from '../../../gst-pipelines/profiles/x86-x264.js';
import { x86OpenH264 } from '../../../gst-pipelines/profiles/x86-openh264.js';
import {
  Catalog, CatalogError, parseSegmentPath, parseUtcStamp, prepareRecordingDir, recordingLocation, scanSegment, utcStamp,
} from '../index.js';

const run = promisify(execFile);
const root = mkdtempSync(join(tmpdir(), 'orbox-catalog-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));

async function ffprobeFrames(path: string): Promise<number> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', path]);
  return Number(stdout.trim().split('\n')[0]);
}

/**
 * Records `frames` frames of 640x360 as 1 s segments (30 frames each, the last shorter), each
 * its own gst-launch run of the profile's hq encode into its muxer, as the recorder's segment
 * pipelines write them; returns the segment paths.
 */
async function record(profileData: typeof x86X264, channel: string, startNs: bigint, frames: number): Promise<string[]> {
  const p = validateProfile(profileData);
  const small = { ...p, roles: { ...p.roles, hq: { ...p.roles.hq, width: 640, height: 360 } } };
  const loc = recordingLocation(join(root, 'rec'), channel, startNs, p.recording.extension);
  await prepareRecordingDir(loc.dir);
  const mkv = p.recording.muxer === 'matroskamux';
  const files: string[] = [];
  for (let seq = 0; seq * 30 < frames; seq++) {
    const n = Math.min(30, frames - seq * 30);
    const b = buildChannelPipeline(small, {
      channel,
      input: { kind: 'description', description: `videotestsrc num-buffers=${n} pattern=smpte`, width: 640, height: 360, fps: 30, format: 'I420' },
      roles: ['hq'],
    });
    // The hq appsink replaced by the segment's muxer and file (Matroska stores AVC, MPEG-TS Annex B).
    const path = loc.pathOf(seq);
    const desc = b.description.replace(/appsink name=\S+[^!]*?(?=  |$)/, `h264parse ! video/x-h264,stream-format=${mkv ? 'avc' : 'byte-stream'},alignment=au ! ${p.recording.muxer} ! filesink location="${path}"`);
    const r = await runLaunch(desc, { timeoutMs: 8000 });
    if (r.code !== 0) throw new Error(`recording ${path} failed: ${r.stdout.slice(-300)} ${r.stderr.slice(-300)}`);
    files.push(path);
  }
  return files;
}

const T0 = 1_735_689_599_123_000_000n; // 2024-12-31T23:59:59.123Z

t.test('naming: capture-time paths round trip', async (t) => {
  t.equal(utcStamp(T0), '20241231T235959.123Z');
  t.equal(parseUtcStamp('20241231T235959.123Z'), T0);
  t.equal(parseUtcStamp('20241331T235959.123Z'), null);
  const loc = recordingLocation('/data/rec', 'endoscope', T0, 'mkv');
  t.equal(loc.dir, '/data/rec/endoscope/20241231');
  t.equal(loc.pathOf(7), '/data/rec/endoscope/20241231/endoscope-20241231T235959.123Z-00007.mkv');
  t.same(parseSegmentPath(loc.pathOf(7)), { channel: 'endoscope', recordingStartNs: T0, seq: 7, ext: 'mkv' });
  t.equal(parseSegmentPath('/x/notes.txt'), null);
  t.throws(() => recordingLocation('/data', 'Bad Channel', T0, 'mkv'), RangeError);
  t.throws(() => recordingLocation('/data/%d', 'c', T0, 'mkv'), RangeError);
});

t.test('frame scan agrees with ffprobe: Matroska and MPEG-TS, whole and cut short', async (t) => {
  for (const [data, ch] of [[x86X264, 'scan-mkv'], [x86OpenH264, 'scan-ts']] as const) {
    const files = await record(data, ch, T0, 75);
    t.ok(files.length >= 2, `${ch}: ${files.length} segments`);
    let total = 0;
    for (const f of files) {
      const sc = scanSegment(f);
      const ff = await ffprobeFrames(f);
      t.equal(sc?.frames, ff, `${ch} ${f.split('/').pop()}: scan ${sc?.frames} = ffprobe ${ff}`);
      total += ff;
    }
    t.equal(total, 75, `${ch}: all frames in segments`);
    // Cut the first segment short mid-frame, as a crash would.
    const cut = join(root, `${ch}-cut`);
    copyFileSync(files[0], cut);
    truncateSync(cut, Math.floor(statSync(files[0]).size * 0.6) + 7);
    const sc = scanSegment(cut);
    const ff = await ffprobeFrames(cut);
    t.ok(sc && Math.abs(sc.frames - ff) <= 1, `${ch} cut short: scan ${sc?.frames} ~ ffprobe ${ff}`);
    t.ok(sc && sc.frames > 0 && sc.frames < 30, `${ch} cut short keeps its first frames`);
  }
  const junk = join(root, 'junk.mkv');
  writeFileSync(junk, 'not a video');
  t.equal(scanSegment(junk), null);
  t.equal(scanSegment(join(root, 'absent.mkv')), null);
});

t.test('catalog: cases and segments round trip, queries by case and time', async (t) => {
  const dbPath = join(root, 'rt.db');
  const cat = new Catalog({ path: dbPath });
  t.throws(() => cat.startCase({ startNs: T0 }), CatalogError, 'not open yet');
  cat.open();
  t.equal(cat.open(), undefined, 'open is idempotent');
  const c1 = cat.startCase({ startNs: T0, label: 'lap chole', uid: 'case-1' });
  t.match(c1, { uid: 'case-1', label: 'lap chole', state: 'recording', startNs: T0, endNs: null });
  const S = 1_000_000_000n;
  for (const ch of ['endoscope', 'room']) {
    for (let i = 0; i < 3; i++) {
      const path = `/rec/${ch}/20241231/${ch}-20241231T235959.123Z-0000${i}.mkv`;
      const o = cat.openSegment({ channel: ch, caseId: c1.id, seq: i, path, startNs: T0 + BigInt(i) * 60n * S });
      t.equal(o.state, 'open');
      cat.closeSegment(path, { endNs: T0 + BigInt(i + 1) * 60n * S, bytes: 60_000_000 + i, frames: 1800 });
    }
  }
  t.throws(() => cat.closeSegment('/rec/endoscope/20241231/endoscope-20241231T235959.123Z-00000.mkv', { endNs: T0 + 60n * S, bytes: 1, frames: 1 }),
    { code: 'segment-not-open' });
  t.throws(() => cat.openSegment({ channel: 'room', caseId: c1.id, seq: 0, path: '/rec/room/20241231/room-20241231T235959.123Z-00000.mkv', startNs: T0 }), { code: 'segment-exists' });
  t.throws(() => cat.openSegment({ channel: 'room', caseId: 999, seq: 9, path: '/x', startNs: T0 }), { code: 'unknown-case' });
  t.throws(() => cat.closeSegment('/nope', { endNs: T0, bytes: 0, frames: 0 }), { code: 'unknown-segment' });
  const ended = cat.endCase(c1.id, T0 + 180n * S);
  t.equal(ended.state, 'ended');
  t.throws(() => cat.endCase(c1.id, T0), { code: 'case-not-recording' });
  t.throws(() => cat.openSegment({ channel: 'room', caseId: c1.id, seq: 9, path: '/y', startNs: T0 }), { code: 'case-not-recording' });

  t.equal(cat.segmentsOfCase(c1.id).length, 6);
  const endo = cat.segmentsOfCase(c1.id, 'endoscope');
  t.same(endo.map((s) => s.seq), [0, 1, 2]);
  t.match(endo[1], { channel: 'endoscope', caseId: c1.id, state: 'closed', startNs: T0 + 60n * S, endNs: T0 + 120n * S, bytes: 60_000_001, frames: 1800, framesUnknown: false });
  // [T0+90 s, T0+150 s) overlaps segments 1 and 2 of each channel.
  t.same(cat.segmentsInRange(T0 + 90n * S, T0 + 150n * S, 'room').map((s) => s.seq), [1, 2]);
  t.equal(cat.segmentsInRange(T0 + 90n * S, T0 + 150n * S).length, 4);
  t.equal(cat.segmentsInRange(T0 + 180n * S, T0 + 200n * S).length, 0, 'end is exclusive');
  t.same(cat.listCases(T0, T0 + 1n).map((c) => c.uid), ['case-1']);
  cat.close();
  cat.close();
  t.throws(() => cat.getCase(c1.id), { code: 'closed' });
  // Reopen: everything is still there (and the schema is not re-created).
  const again = new Catalog({ path: dbPath });
  again.open();
  t.equal(again.segmentsOfCase(c1.id).length, 6);
  t.equal(again.getCase(c1.id)?.endNs, T0 + 180n * S);
  again.close();
});

t.test('catalog crash recovery: open segments closed from disk, lost files, unreadable files, orphans', async (t) => {
  const dbPath = join(root, 'crash.db');
  const startNs = T0 + 10_000_000_000n;
  const files = await record(x86X264, 'endo', startNs, 70); // 3 segments: 30 + 30 + 10 frames
  t.equal(files.length, 3);
  const cat = new Catalog({ path: dbPath });
  cat.open();
  const c = cat.startCase({ startNs });
  // Segment 0 was closed normally; 1 was open when the box died; 2 was created by the muxer
  // but the crash came before control heard of it (an orphan).
  cat.openSegment({ channel: 'endo', caseId: c.id, seq: 0, path: files[0], startNs });
  cat.closeSegment(files[0], { endNs: startNs + 1_000_000_000n, bytes: statSync(files[0]).size, frames: 30 });
  cat.openSegment({ channel: 'endo', caseId: c.id, seq: 1, path: files[1], startNs: startNs + 1_000_000_000n });
  // A segment whose file vanished, and one whose file is unreadable.
  cat.openSegment({ channel: 'room', caseId: c.id, seq: 0, path: join(root, 'gone.mkv'), startNs });
  const junk = join(root, 'junk-open.mkv');
  writeFileSync(junk, Buffer.alloc(5000, 7));
  cat.openSegment({ channel: 'room', caseId: c.id, seq: 1, path: junk, startNs });
  // Crash: the process dies without closing the database.
  const crashed = cat as unknown as { db: { close(): void } };
  crashed.db.close();

  const after = new Catalog({ path: dbPath });
  after.open();
  t.teardown(() => after.close());
  const rep = after.recover();
  t.equal(rep.recovered.length, 2);
  const r1 = rep.recovered.find((s) => s.path === files[1])!;
  t.match(r1, { state: 'recovered', frames: 30, framesUnknown: false, bytes: statSync(files[1]).size });
  const endErr = Number(r1.endNs! - (startNs + 2_000_000_000n));
  t.ok(Math.abs(endErr) < 40_000_000, `recovered end from the last PTS (off by ${endErr / 1e6} ms)`);
  t.match(rep.recovered.find((s) => s.path === junk), { state: 'recovered', frames: null, framesUnknown: true, bytes: 5000 });
  t.same(rep.lost.map((s) => s.path), [join(root, 'gone.mkv')]);
  t.same(rep.openCases.map((x) => x.id), [c.id], 'the case is reported, not ended');
  t.equal(after.openSegments().length, 0);
  t.equal(after.recover().recovered.length, 0, 'recovery is idempotent');

  const adopted = after.adoptOrphans(join(root, 'rec', 'endo'));
  t.same(adopted.map((s) => s.path), [files[2]]);
  t.match(adopted[0], { channel: 'endo', caseId: c.id, seq: 2, state: 'recovered', frames: 10, startNs: r1.endNs });
  t.same(after.segmentsOfCase(c.id, 'endo').map((s) => s.seq), [0, 1, 2]);
  t.equal(after.adoptOrphans(join(root, 'rec', 'endo')).length, 0, 'adopting twice adds nothing');
});
