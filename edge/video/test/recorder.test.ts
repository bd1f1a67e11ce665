/**
 * ChannelRecorder with a 4 s GOP (the longest a recorded channel may use) and 1 s segments:
 * frames reach the open segment's file as they are pushed (no GOP held in memory), segments
 * are cut at the first keyframe past the segment length, each begins with that keyframe, no
 * frame is lost or doubled across cuts, and the events chain (each segment ends where the
 * next begins). The access units come from a real x264enc (non-live, pushed at 4x real time);
 * the recorder is the one video-encode runs, in this process. The recorder's requestKeyframe
 * is a no-op here, as for a camera's passthrough channel: the cuts wait for the stream's own
 * keyframes.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allProfiles } from '../../../gst-pipelines/index.js';
import { GstPipeline } from '../../gst/index.js';
import { BoxClock } from '../../lib/clock.js';
import { scanSegment } from '../../recording/index.js';
import { ChannelRecorder } from '../recorder.js';
import type { EncoderEvent } from '../encoder-types.js';

const FPS = 30, GOP = 4 * FPS, FRAMES = 10 * FPS;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('4 s GOP, 1 s segments: frames in the file as they come, cuts at the next keyframe, every frame once', async (t) => {
  const profile = allProfiles().find((p) => p.id === 'x86-x264');
  if (!profile) throw new Error('profile x86-x264 missing');
  const src = new GstPipeline(
    `videotestsrc num-buffers=${FRAMES} pattern=ball ! video/x-raw,width=160,height=120,framerate=${FPS}/1 ! ` +
    `x264enc tune=zerolatency key-int-max=${GOP} bitrate=300 ! h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=s sync=false`,
  );
  src.start();
  const sink = src.appsink('s');
  const aus: { data: Buffer; pts: number; key: boolean }[] = [];
  for (let s = await sink.pull(); s; s = await sink.pull()) aus.push({ data: s.data, pts: s.ptsNs ?? 0, key: s.keyframe });
  src.close();
  // x264enc's output starts at 1000 h (its DTS offset): running time from the first frame, as the box's.
  const pts0 = aus[0]?.pts ?? 0;
  for (const a of aus) a.pts -= pts0;
  t.equal(aus.length, FRAMES, `${FRAMES} access units encoded`);
  const keys = aus.flatMap((a, i) => (a.key ? [i] : []));
  t.same(keys, [0, GOP, 2 * GOP], 'keyframes every 4 s');

  const root = mkdtempSync(join(tmpdir(), 'orbox-rec-unit-'));
  const events: EncoderEvent[] = [];
  let asked = 0;
  const clock = new BoxClock();
  const rec = new ChannelRecorder({
    channel: 'cam', profile, clock, counts: { segmentsClosed: 0 },
    recording: { root, segmentNs: 1_000_000_000n, fsyncMs: 100 },
    requestKeyframe: () => { asked++; },
    onEvent: (e) => events.push(e),
  });
  t.teardown(() => rec.close(1000));
  rec.start(clock.monoNs());
  let inFile: { pushed: number; frames: number; path: string } | undefined;
  for (let i = 0; i < aus.length; i++) {
    rec.push(aus[i].data, aus[i].pts, aus[i].key);
    if (i === 100) {
      // Mid-GOP (frame 100 of a 120-frame GOP): what the file holds now is what a kill keeps.
      await sleep(150);
      const opened = events.filter((e) => e.type === 'segment-opened');
      const path = String(opened[opened.length - 1]?.path);
      inFile = { pushed: i + 1, frames: scanSegment(path)?.frames ?? 0, path };
    }
    await sleep(1000 / FPS / 4);
  }
  await rec.close(3000);

  t.ok(inFile && inFile.frames >= inFile.pushed - 1, `mid-GOP, ${inFile?.frames} of ${inFile?.pushed} pushed frames already in the open segment's file`);
  const opened = events.filter((e) => e.type === 'segment-opened');
  const closed = events.filter((e) => e.type === 'segment-closed');
  t.equal(opened.length, 3, 'three segments: cut at the keyframes at 4 s and 8 s');
  t.same(closed.map((e) => e.seq), [0, 1, 2], 'each closed, in order');
  for (let k = 0; k + 1 < closed.length; k++) t.equal(closed[k].endNs, opened[k + 1].startNs, `segment ${k} ends where ${k + 1} begins`);
  t.ok(asked >= 1, `the recorder asked for the cut's keyframe (${asked} times)`);
  let total = 0;
  for (const [k, e] of closed.entries()) {
    const scan = scanSegment(String(e.path));
    t.ok(scan, `${e.path} scans`);
    total += scan?.frames ?? 0;
    t.equal(Number(scan?.firstPtsNs ?? -1n) / 1e6, Math.round(aus[keys[k]].pts / 1e6), `segment ${k} begins with the keyframe at ${(aus[keys[k]].pts / 1e9).toFixed(2)} s`);
  }
  t.equal(total, FRAMES, 'every frame in exactly one segment');
  t.equal(rec.status().skipped, 0, 'nothing skipped');
});
