/**
 * Profiles, builder and probe against the GStreamer installed here.
 *
 * Profiles whose elements exist on this machine (x86-x264, x86-openh264) are run with
 * gst-launch-1.0 as a stand-in for the in-process pipeline. The others are parse-checked with
 * the absent factories replaced by a caps-agnostic stand-in (`gdppay ! gdpdepay`, see
 * launch.ts): GStreamer's parser then checks the whole description (syntax, every existing
 * element and its properties, caps strings, names, tee branches, links) except the absent
 * elements' own properties, which the schema checks against encoder-facts.ts instead.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  allProfiles, buildChannelPipeline, buildSegmentPipeline, BuildError, clearProbeCache, factoryExists, NoProfileError, parseCheck,
  probeProfile, profileFactories, ProfileError, runLaunch, validateProfile, toLaunchArgv, renderValue,
} from '../index.js';
import { PROFILE_DATA } from '../profiles/index.js';
import { x86X264 } from '../profiles/x86-x264.js';
import { rpi4 } from '../profiles/rpi4.js';

const run = promisify(execFile);

async function ffprobeFrames(path: string): Promise<number> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', path]);
  return Number(stdout.trim().split('\n')[0]);
}

const clone = <T>(x: T): T => structuredClone(x);

function issuePaths(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProfileError) return e.issues.map((i) => i.path);
    throw e;
  }
  return [];
}

t.test('profile schema: every profile validates; errors name the key path', async (t) => {
  for (const d of PROFILE_DATA) t.doesNotThrow(() => validateProfile(d), d.id);

  const unit = clone(x86X264) as { roles: { hq: { encoder: { props: Record<string, unknown> } } } };
  unit.roles.hq.encoder.props.bitrate = 8_000_000; // bit/s written where x264enc wants kbit/s
  t.same(issuePaths(() => validateProfile(unit)), ['roles.hq.encoder.props.bitrate']);
  try { validateProfile(unit); } catch (e) { t.match((e as Error).message, /x264-?.*kbit\/s|kbit\/s/, 'message says the unit'); }

  const gop = clone(rpi4) as unknown as { roles: { lq: { encoder: { props: { 'extra-controls': { fields: Record<string, unknown> } } } } } };
  gop.roles.lq.encoder.props['extra-controls'].fields.h264_i_frame_period = 30;
  t.same(issuePaths(() => validateProfile(gop)), ['roles.lq.encoder.props.extra-controls.fields.h264_i_frame_period']);

  const odd = clone(x86X264) as { roles: { snapshot: { width: number } } };
  odd.roles.snapshot.width = 641;
  t.same(issuePaths(() => validateProfile(odd)), ['roles.snapshot.width']);

  const badFactory = clone(x86X264) as { encode: { convert: { factory: string }[] } };
  badFactory.encode.convert[1].factory = 'Video Convert';
  t.same(issuePaths(() => validateProfile(badFactory)), ['encode.convert[1].factory']);

  const missing = clone(x86X264) as Partial<typeof x86X264>;
  delete missing.recording;
  t.same(issuePaths(() => validateProfile(missing)), ['recording']);

  const extra = { ...clone(x86X264), bitrate: 5 };
  t.same(issuePaths(() => validateProfile(extra)), ['']);

  const mux = clone(x86X264) as { recording: { muxer: string; extension: string } };
  mux.recording = { muxer: 'mp4mux', extension: 'mp4' };
  t.same(issuePaths(() => validateProfile(mux)).sort(), ['recording.extension', 'recording.muxer'], 'plain MP4 is refused');

  const unknownEnc = clone(x86X264) as { roles: { lq: { encoder: { factory: string } } } };
  unknownEnc.roles.lq.encoder.factory = 'avenc_h264_omx';
  t.same(issuePaths(() => validateProfile(unknownEnc)), ['roles.lq.encoder.factory']);
});

t.test('launch syntax: values, structures and argv splitting', async (t) => {
  t.equal(renderValue({ structure: 'controls', fields: { video_bitrate: 8000000, h264_i_frame_period: 30 } }), '"controls,video_bitrate=8000000,h264_i_frame_period=30"');
  t.equal(renderValue('zerolatency'), 'zerolatency');
  t.equal(renderValue('/a b/c.mkv'), '"/a b/c.mkv"');
  t.throws(() => renderValue('say "hi"'), RangeError);
  t.same(toLaunchArgv('a x="1 2" ! b caps="video/x-raw,format=I420"'), ['a', 'x=1 2', '!', 'b', 'caps=video/x-raw,format=I420']);
  t.throws(() => toLaunchArgv('a x="1'), RangeError);
});

t.test('builder: names, caps, the segment pipeline, errors', async (t) => {
  const p = validateProfile(x86X264);
  const b = buildChannelPipeline(p, {
    channel: 'endoscope',
    input: { kind: 'appsrc', width: 1920, height: 1080, fps: 30 },
  });
  t.same(b.names, { source: 'endoscope-src', sinks: { hq: 'endoscope-hq-sink', lq: 'endoscope-lq-sink', snapshot: 'endoscope-snapshot-sink' } });
  t.match(b.description, /appsrc name=endoscope-src is-live=true format=time .*caps="video\/x-raw,format=NV12,width=1920,height=1080,framerate=30\/1"/);
  t.match(b.description, /x264enc name=endoscope-hq-enc bitrate=8000 key-int-max=30 tune=zerolatency/);
  t.match(b.description, /video\/x-h264,stream-format=byte-stream,alignment=au/);
  t.notMatch(b.description, /splitmuxsink|filesink/, 'no recording in the encode pipeline');
  const seg = buildSegmentPipeline(p, 'endoscope', { path: '/rec/endoscope-00003.mkv' });
  t.same(seg.names, { source: 'endoscope-rec-src', muxer: 'endoscope-rec-mux' });
  t.match(seg.description, /stream-format=avc,alignment=au" ! matroskamux name=endoscope-rec-mux/, 'Matroska gets AVC');
  t.match(seg.description, /filesink name=endoscope-rec-file location="\/rec\/endoscope-00003\.mkv" buffer-mode=2/, 'unbuffered file');
  t.throws(() => buildSegmentPipeline(p, 'endoscope', { path: '/rec/"x".mkv' }), BuildError);
  const withVitals = buildSegmentPipeline(p, 'endoscope', { path: '/rec/endoscope-00003.mkv', vitals: true });
  t.equal(withVitals.names.vitals, 'endoscope-rec-vitals-src');
  t.match(withVitals.description, /appsrc name=endoscope-rec-vitals-src .*caps="text\/x-raw,format=utf8" ! endoscope-rec-mux\.subtitle_%u/, 'the text track on a subtitle pad');
  const ts = allProfiles().find((x) => x.recording.muxer === 'mpegtsmux')!;
  t.throws(() => buildSegmentPipeline(ts, 'endoscope', { path: '/rec/endoscope-00003.ts', vitals: true }), /segment\.vitals: a text track needs Matroska/, 'MPEG-TS carries no text: refused by name');
  const rk = allProfiles().find((x) => x.id === 'rk3588')!;
  t.match(buildChannelPipeline(rk, { channel: 'c', input: { kind: 'appsrc', width: 1920, height: 1080, fps: 30 }, roles: ['lq'] }).description,
    /mpph264enc name=c-lq-enc bps=1500000 gop=15 .*width=1280 height=720/, 'encoder-side scaling');
  const jet = allProfiles().find((x) => x.id === 'jetson')!;
  t.match(buildChannelPipeline(jet, { channel: 'c', input: { kind: 'appsrc', width: 1920, height: 1080, fps: 30 }, roles: ['hq'] }).description, /video\/x-raw\(memory:NVMM\),format=NV12/);
  const err = (o: Parameters<typeof buildChannelPipeline>[1]): string => {
    try { buildChannelPipeline(p, o); } catch (e) { if (e instanceof BuildError) return e.field; throw e; }
    return 'none';
  };
  const input = { kind: 'appsrc', width: 1920, height: 1080, fps: 30 } as const;
  t.equal(err({ channel: 'Bad Name', input }), 'channel');
  t.equal(err({ channel: 'c', input: { ...input, fps: 0 } }), 'input.fps');
});

t.test('builder: snapshot with a thumbnail of the same frame, and its errors', async (t) => {
  const p = validateProfile(x86X264);
  const input = { kind: 'appsrc', width: 1920, height: 1080, fps: 30 } as const;
  const b = buildChannelPipeline(p, { channel: 'scope', input, roles: ['snapshot'], thumbnail: { width: 320, height: 180 } });
  t.same(b.names, { source: 'scope-src', sinks: { snapshot: 'scope-snapshot-sink' }, thumbnail: 'scope-thumbnail-sink' });
  t.match(b.description, /videorate name=scope-snapshot-rate drop-only=true ! capsfilter caps="video\/x-raw,framerate=1\/1" ! tee name=scope-snapshot-t /, 'one videorate picks the frame for both');
  t.match(b.description, /scope-snapshot-t\. ! queue name=scope-still-q [^!]*! videoscale [^!]*! videoconvert [^!]*! capsfilter caps="video\/x-raw,format=I420,width=640,height=360" ! jpegenc name=scope-snapshot-enc quality=85 ! appsink name=scope-snapshot-sink /);
  t.match(b.description, /scope-snapshot-t\. ! queue name=scope-thumbnail-q [^!]*! videoscale [^!]*! videoconvert [^!]*! capsfilter caps="video\/x-raw,format=I420,width=320,height=180" ! jpegenc name=scope-thumbnail-enc quality=85 ! appsink name=scope-thumbnail-sink /);
  const parsed = await parseCheck(b.description);
  t.ok(parsed.ok, `gst-launch parses it: ${parsed.ok ? '' : parsed.error}`);
  const err = (o: Parameters<typeof buildChannelPipeline>[1]): string => {
    try { buildChannelPipeline(p, o); } catch (e) { if (e instanceof BuildError) return e.field; throw e; }
    return 'none';
  };
  t.equal(err({ channel: 'c', input, roles: ['hq'], thumbnail: { width: 320, height: 180 } }), 'thumbnail');
  t.equal(err({ channel: 'c', input, roles: ['snapshot'], thumbnail: { width: 321, height: 180 } }), 'thumbnail.width');
  t.equal(err({ channel: 'c', input, roles: ['snapshot'], thumbnail: { width: 320, height: 0 } }), 'thumbnail.height');
  t.notMatch(buildChannelPipeline(p, { channel: 'c', input, roles: ['snapshot'] }).description, /thumbnail/, 'no thumbnail unless asked');
});

t.test('probe picks x264enc on this machine, caches, and respects order and board', async (t) => {
  clearProbeCache();
  const rep = await probeProfile();
  t.equal(rep.picked.id, 'x86-x264');
  t.equal(rep.picked.roles.hq.encoder.factory, 'x264enc');
  t.equal(rep.source, 'probe');
  t.ok(rep.tried.find((x) => x.id === 'x86-vaapi')?.missing.includes('vaapih264enc'), 'vaapi skipped for a missing element');
  t.equal((await probeProfile()).source, 'memory');

  // File cache survives a "restart" (memory cleared).
  const dir = mkdtempSync(join(tmpdir(), 'orbox-probe-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cacheFile = join(dir, 'probe.json');
  clearProbeCache();
  t.equal((await probeProfile({ cacheFile })).source, 'probe');
  clearProbeCache();
  const cached = await probeProfile({ cacheFile });
  t.equal(cached.source, 'file');
  t.equal(cached.picked.id, 'x86-x264');
  writeFileSync(cacheFile, JSON.stringify({ ...JSON.parse(readFileSync(cacheFile, 'utf8')), key: 'stale' }));
  clearProbeCache();
  t.equal((await probeProfile({ cacheFile })).source, 'probe', 'stale key re-probes');

  // A board where everything exists: the first matching board wins; device tree decides.
  const all = async (): Promise<boolean> => true;
  clearProbeCache();
  t.equal((await probeProfile({ hasFactory: all, trial: false, compatible: ['fsl,imx8mp', 'fsl,imx8mp-evk'] })).picked.id, 'imx8mp-vpu');
  clearProbeCache();
  t.equal((await probeProfile({ hasFactory: all, trial: false, compatible: null })).picked.id, 'rk3588');
  // A registered encoder whose device does not open is skipped by the trial encode.
  clearProbeCache();
  const r2 = await probeProfile({ hasFactory: all, compatible: ['x86'], trial: async (p) => (p.id === 'x86-vaapi' ? 'no VA display' : null) });
  t.equal(r2.picked.id, 'x86-x264');
  t.equal(r2.tried.find((x) => x.id === 'x86-vaapi')?.trialError, 'no VA display');
  clearProbeCache();
  await t.rejects(probeProfile({ hasFactory: async () => false, trial: false }), NoProfileError);
  clearProbeCache();
});

t.test('every profile parse-checks (absent elements replaced by a stand-in)', async (t) => {
  const exists = new Map<string, boolean>();
  for (const p of allProfiles()) {
    const absent = new Set<string>();
    for (const f of profileFactories(p)) {
      if (!exists.has(f)) exists.set(f, await factoryExists(f));
      if (!exists.get(f)) absent.add(f);
    }
    const b = buildChannelPipeline(p, {
      channel: 'endoscope',
      input: { kind: 'appsrc', width: 1920, height: 1080, fps: 30 },
      standIn: absent,
    });
    const r = await parseCheck(b.description);
    t.ok(r.ok, `${p.id} parses${absent.size ? ` (stand-in for ${[...absent].join(', ')})` : ' (all elements real)'}${r.error ? `: ${r.error}` : ''}`);
    const seg = await parseCheck(buildSegmentPipeline(p, 'endoscope', { path: join(tmpdir(), `orbox-parse-00000.${p.recording.extension}`), audio: { rate: 48000, channels: 1 }, vitals: p.recording.muxer === 'matroskamux' }).description);
    t.ok(seg.ok, `${p.id}: its recording segment (${p.recording.muxer}, with AAC audio${p.recording.muxer === 'matroskamux' ? ' and the vitals text' : ''}) parses${seg.error ? `: ${seg.error}` : ''}`);
  }
  // The check has teeth: a wrong property on a real element fails.
  const bad = await parseCheck('videotestsrc ! x264enc bitrat=100 ! fakesink');
  t.notOk(bad.ok);
  t.match(bad.error, /bitrat/);
  const badValue = await parseCheck('videotestsrc ! x264enc tune=zero-latency ! fakesink');
  t.notOk(badValue.ok, 'a wrong enum nick fails');
});

t.test('profiles whose elements exist here run: hq+lq+snapshot to EOS, every hq frame encoded', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'orbox-run-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const p of allProfiles()) {
    const absent = [];
    for (const f of profileFactories(p)) if (!(await factoryExists(f))) absent.push(f);
    if (absent.length) continue;
    const ext = p.recording.extension;
    const b = buildChannelPipeline(p, {
      channel: 'room',
      // 60 frames of 720p: the hq role scales them up to its 1080p, lq passes 720p through.
      input: { kind: 'description', description: 'videotestsrc num-buffers=60 pattern=ball', width: 1280, height: 720, fps: 30 },
    });
    // The hq appsink replaced by the profile's muxer into a file, to count what the encoder gave.
    const file = join(dir, `${p.id}.${ext}`);
    const caps = `video/x-h264,stream-format=${p.recording.muxer === 'matroskamux' ? 'avc' : 'byte-stream'},alignment=au`;
    const desc = b.description.replace(/appsink name=room-hq-sink[^!]*?(?=  |$)/, `h264parse ! ${caps} ! ${p.recording.muxer} ! filesink location="${file}"`);
    const r = await runLaunch(desc, { timeoutMs: 30_000 });
    t.equal(r.code, 0, `${p.id} ran to EOS${r.code !== 0 ? `: ${r.stdout.slice(-400)}${r.stderr.slice(-400)}` : ''}`);
    t.equal(await ffprobeFrames(file), 60, `${p.id}: every frame encoded (${ext})`);
  }
});
