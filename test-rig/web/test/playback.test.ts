/**
 * A recorded case played in the web console (issue #18), in real headless Chromium against a
 * real box: two channels (one with the test tone) and the IntelliVue simulator record a case
 * of a few seconds in 2 s segments; the page plays both channels side by side through hls.js
 * (each segment remuxed to MPEG-TS on request), with the case's heart rate under them.
 * - both videos decode frames; a seek on the shared timeline across segment boundaries lands
 *   every video at that moment (currentTime, and the picture: the decoded frame is closer to
 *   ffmpeg's decodes of the recorded segment around that moment, the closest is within 0.2 s), and
 *   frames decode after it;
 * - the vitals plot holds the case's heart rate; a still downloads as a PNG of the frame;
 * - every playback is in the audit log; a viewer account gets neither the player nor the media.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { callLocalApi } from '../../../edge/control/local-api.js';
import { readAudit, auditPath } from '../../../edge/audit/index.js';
import { Catalog, parseSegmentPath } from '../../../edge/recording/index.js';
import { startDemoIntelliVue } from '../../devices/index.js';
import { startBox, testConfig } from '../../../edge/supervisor/test/harness.js';
import { launchChromium, signedInPage } from '../browser.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare const window: any;

const run = promisify(execFile);
const PASSWORD = 'correct horse battery';
const W = 320, H = 240;

/** Luma frames ffmpeg decodes from `file` between its own times `from` and `to` s (-copyts: the
 *  recording's timeline), with the time of each (the channel is 30 fps constant). */
async function ffmpegLumas(file: string, from: number, to: number): Promise<{ t: number; y: Buffer }[]> {
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-copyts', '-i', file, '-ss', from.toFixed(3), '-to', to.toFixed(3), '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { encoding: 'buffer', maxBuffer: 1 << 26 });
  const raw = stdout as unknown as Buffer;
  const out: { t: number; y: Buffer }[] = [];
  for (let i = 0; (i + 1) * W * H <= raw.length; i++) out.push({ t: from + i / 30, y: raw.subarray(i * W * H, (i + 1) * W * H) });
  return out;
}

/** Mean absolute difference after each image is brought to zero mean and unit spread: the
 *  browser's RGB (full range) and ffmpeg's gray (from limited-range YUV) differ in offset and
 *  scale, not in what they show. */
const normDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  const norm = (x: ArrayLike<number>): number[] => {
    const n = x.length;
    let m = 0; for (let i = 0; i < n; i++) m += x[i]!; m /= n;
    let v = 0; for (let i = 0; i < n; i++) v += (x[i]! - m) ** 2;
    const sd = Math.sqrt(v / n) || 1;
    return Array.from(x, (y) => (y - m) / sd);
  };
  const na = norm(a), nb = norm(b);
  let d = 0;
  for (let i = 0; i < na.length; i++) d += Math.abs(na[i]! - nb[i]!);
  return d / na.length;
};

t.test('a recorded case plays in the console: channels side by side, seek across segments, vitals, still, audited, by role', async (t) => {
  const monitor = await startDemoIntelliVue();
  t.teardown(() => monitor.close());
  const base = testConfig();
  const port = 20443 + (process.pid % 500);
  const cam = base.channels[0];
  const cfg = testConfig({
    box: { id: 'or-9', room: 'OR 9', dataDir: base.box.dataDir }, api: { socket: base.api.socket },
    channels: [{ ...cam, audio: 'mic' }, { ...cam, name: 'field', source: { ...cam.source, pattern: 'smpte' } }],
    recording: { segmentS: 2, fsyncMs: 250, maxLossMs: 1000 },
    devices: { ports: [{ name: 'monitor', path: monitor.path, protocol: 'intellivue' }] },
    web: { enabled: true, host: '127.0.0.1', port, firstAdmin: { name: 'admin', password: PASSWORD } },
  });
  const sup = await startBox(cfg);
  t.teardown(() => sup.stop());
  await new Promise((r) => setTimeout(r, 2000)); // the monitor associates
  await callLocalApi(cfg.api.socket, 'recordingStart', { caseId: 'case-p1' });
  await new Promise((r) => setTimeout(r, 9000));
  await callLocalApi(cfg.api.socket, 'recordingStop', { caseId: '' });
  await new Promise((r) => setTimeout(r, 1500)); // the last segments finalise
  await callLocalApi(cfg.api.socket, 'usersAdd', { name: 'watcher', role: 'viewer', password: PASSWORD });

  const b = await launchChromium();
  t.teardown(() => b.close());
  const url = `https://127.0.0.1:${port}`;
  const page = await signedInPage(b.context, url, 'admin', PASSWORD);
  await page.locator('button.play-case').first().click({ timeout: 15_000 });
  await page.waitForFunction(() => { const v = [...document.querySelectorAll('video.recorded')]; return v.length === 2 && v.every((x: any) => x.readyState >= 2 && x.videoWidth > 0); }, null, { timeout: 20_000 });
  const channels = await page.evaluate(() => window.orboxPlayer().chans.map((c: any) => c.channel));
  t.same(channels, ['cam', 'field'], 'both channels of the case, side by side');
  t.same(await page.evaluate(() => [...document.querySelectorAll('video.recorded')].map((v: any) => [v.videoWidth, v.videoHeight])), [[W, H], [W, H]], 'at the channels\' size');

  await page.click('#pb-play');
  await page.waitForFunction(() => window.orboxPlayer().chans.every((c: any) => c.video.currentTime > 1.2 && c.video.getVideoPlaybackQuality().totalVideoFrames > 20), null, { timeout: 20_000 });
  t.pass('both videos play and decode');

  // Seek on the shared timeline, 5.1 s in: past two segment boundaries.
  const before = await page.evaluate(() => window.orboxPlayer().chans.map((c: any) => c.video.getVideoPlaybackQuality().totalVideoFrames));
  await page.evaluate(() => { const r = document.querySelector('#pb-timeline'); r.value = '5100'; r.dispatchEvent(new Event('input')); });
  await page.waitForFunction(() => window.orboxPlayer().chans.every((c: any) => !c.video.seeking && c.video.readyState >= 2), null, { timeout: 15_000 });
  const seek = await page.evaluate(() => {
    const p = window.orboxPlayer();
    return p.chans.map((c: any) => ({ channel: c.channel, t: c.video.currentTime, segs: c.segs }));
  });
  for (const s of seek) {
    const want = s.segs.reduce((acc: number | null, g: { wallMs: number; at: number; d: number }) => acc ?? (seek[0].segs[0].wallMs + 5100 < g.wallMs + g.d * 1000 ? g.at + (seek[0].segs[0].wallMs + 5100 - g.wallMs) / 1000 : null), null) ?? 0;
    t.ok(Math.abs(s.t - want) < 0.5, `${s.channel}: currentTime ${s.t.toFixed(2)} s after the seek (the timeline's 5.1 s is ${want.toFixed(2)} s of its playlist)`);
    t.ok(s.segs.filter((g: { at: number }) => g.at < s.t).length >= 3, `${s.channel}: past two segment boundaries`);
  }
  await page.waitForFunction((b0: number[]) => window.orboxPlayer().chans.every((c: any, i: number) => c.video.getVideoPlaybackQuality().totalVideoFrames > b0[i] + 10), before, { timeout: 15_000 });
  t.pass('frames decode after the seek');

  // The picture is that moment's: pause, read the frame, decode the same moment with ffmpeg.
  await page.click('#pb-play');
  await page.waitForFunction(() => window.orboxPlayer().chans[0].video.paused, null, { timeout: 5000 });
  const shot = await page.evaluate(() => {
    const p = window.orboxPlayer();
    const v = p.chans[0].video;
    const c = document.createElement('canvas');
    c.width = v.videoWidth; c.height = v.videoHeight;
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    const y: number[] = [];
    for (let i = 0; i < d.length; i += 4) y.push(Math.round(0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2]));
    const t = v.currentTime;
    const seg = p.chans[0].segs.find((s: any) => t < s.at + s.d);
    return { wallMs: seg.wallMs + (t - seg.at) * 1000, y };
  });
  const cat = new Catalog({ path: join(cfg.box.dataDir, 'catalog.db') });
  cat.open();
  const c = cat.listCases(0n, 1n << 62n).find((x) => x.uid === 'case-p1')!;
  const segs = cat.segmentsOfCase(c.id, 'cam');
  cat.close();
  const wallNs = BigInt(Math.round(shot.wallMs)) * 1_000_000n;
  const seg = segs.find((s) => s.startNs <= wallNs && s.endNs !== null && wallNs < s.endNs)!;
  const pts = Number(wallNs - parseSegmentPath(seg.path)!.recordingStartNs) / 1e9;
  // Which recorded frame around that moment looks most like the one shown.
  const segStart = Number(seg.startNs - parseSegmentPath(seg.path)!.recordingStartNs) / 1e9;
  const segEnd = Number(seg.endNs! - parseSegmentPath(seg.path)!.recordingStartNs) / 1e9;
  const frames = await ffmpegLumas(seg.path, Math.max(segStart, pts - 0.6), Math.min(segEnd, pts + 0.6));
  const scored = frames.map((f) => ({ t: f.t, d: normDiff(shot.y, f.y) })).sort((x, y) => x.d - y.d);
  t.ok(scored.length >= 10, `${scored.length} recorded frames around the moment`);
  t.ok(Math.abs(scored[0]!.t - pts) <= 0.2, `the frame shown is the recording's at that moment: the closest of ${scored.length} recorded frames is ${((scored[0]!.t - pts) * 1000).toFixed(0)} ms from it (difference ${scored[0]!.d.toFixed(3)}, the farthest frame's ${scored[scored.length - 1]!.d.toFixed(3)})`);

  // The case's heart rate under the videos.
  const hr = await page.evaluate(() => (window.orboxPlayer().plot?.data[1] ?? []).filter((v: number | null) => v !== null) as number[]);
  t.ok(hr.length >= 3 && hr.every((v) => v >= 40 && v <= 180), `the case's HR plotted: ${hr.slice(0, 5).join(', ')}`);

  // A still of the frame on screen.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('.still-dl[data-channel="cam"]')]);
  const file = join(mkdtempSync(join(tmpdir(), 'orbox-still-')), download.suggestedFilename());
  await download.saveAs(file);
  const png = readFileSync(file);
  t.equal(png.subarray(1, 4).toString(), 'PNG', `a PNG: ${download.suggestedFilename()}`);
  t.same([png.readUInt32BE(16), png.readUInt32BE(20)], [W, H], 'of the frame\'s size');
  t.match(download.suggestedFilename(), /^case-p1-cam-\d{4}-\d\d-\d\dT/, 'named by case, channel and moment');

  // Audited, by role.
  const plays = readAudit(auditPath(cfg.box.dataDir)).filter((r) => r.action === 'recording.play');
  t.same(plays.map((r) => [r.actor, r.detail]).sort(), [['web:admin', 'case case-p1 channel cam'], ['web:admin', 'case case-p1 channel field']], 'each channel\'s playback in the audit log');
  await b.context.clearCookies();
  const viewer = await signedInPage(b.context, url, 'watcher', PASSWORD);
  await viewer.waitForFunction(() => document.querySelectorAll('#cases tbody tr').length > 0, null, { timeout: 10_000 });
  t.equal(await viewer.locator('button.play-case').count(), 0, 'a viewer is offered no player');
  const refused = await viewer.evaluate(async (id: number) => [
    (await fetch(`/api/cases/${id}/media`)).status, (await fetch(`/media/cases/${id}/cam.m3u8`)).status, (await fetch(`/media/cases/${id}/segments/1.ts`)).status,
  ], c.id);
  t.same(refused, [403, 403, 403], 'and gets neither the case nor its media');
});
