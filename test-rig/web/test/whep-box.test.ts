/**
 * WHEP against a real box in headless Chromium: signed in, the page takes a bearer token
 * (POST /api/whep-token), offers to /whep/cam/lq, and net-send's WHEP peer sends the box's own
 * encoded lq stream (no re-encode). Over 30 s (WINDOW_S) framesDecoded from getStats() must
 * keep the channel's rate with no second empty, and Chromium's own freezeCount must not grow.
 * Also: no token, no answer.
 */
import t from 'tap';
import { startBox, testConfig } from '../../../edge/supervisor/test/harness.js';
import { launchChromium, signedInPage } from '../browser.js';

declare const RTCPeerConnection: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const window: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const document: any; // eslint-disable-line @typescript-eslint/no-explicit-any
const WINDOW_S = 30;
const PASSWORD = 'correct horse battery';

t.test('WHEP from a real box: the lq stream decodes at the channel frame rate', async (t) => {
  const base = testConfig();
  const port = 19443 + (process.pid % 500);
  const cfg = testConfig({ box: base.box, api: base.api, web: { enabled: true, host: '127.0.0.1', port, firstAdmin: { name: 'admin', password: PASSWORD } } });
  const fps = cfg.channels[0].source.fps;
  const sup = await startBox(cfg);
  t.teardown(() => sup.stop());
  const b = await launchChromium(['--disable-features=WebRtcHideLocalIpsWithMdns']);
  t.teardown(() => b.close());
  const url = `https://127.0.0.1:${port}`;
  const page = await signedInPage(b.context, url, 'admin', PASSWORD);

  const result = await page.evaluate(async () => {
    const noToken = (await fetch('/whep/cam/lq', { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: 'v=0' })).status;
    const { token } = (await (await fetch('/api/whep-token', { method: 'POST' })).json()) as any;
    const pc = new RTCPeerConnection();
    window.pc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise<void>((r) => { if (pc.iceGatheringState === 'complete') r(); else pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') r(); }); });
    const r = await fetch('/whep/cam/lq', { method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` }, body: pc.localDescription.sdp });
    const answer = await r.text();
    if (r.status === 201) await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    return { noToken, status: r.status, location: r.headers.get('Location'), answer };
  });
  t.equal(result.noToken, 401, 'no bearer token: refused');
  t.equal(result.status, 201, `offer answered: ${result.status === 201 ? 'ok' : result.answer}`);
  t.match(result.location, /^\/whep\/session\/[0-9a-f-]{36}$/, 'Location of the session');

  // The page's own click-to-play on the tile is the player measured.
  await page.evaluate(() => window.pc.close());
  await page.click('.tile[data-channel="cam"] button.play');
  await page.waitForFunction(() => !!window.orboxLive('cam'), null, { timeout: 15_000 });
  const inbound = () => page.evaluate(async () => {
    let r = { frames: 0, freezes: 0, freezeS: 0 };
    (await window.orboxLive('cam').getStats()).forEach((s: { type: string; kind?: string; framesDecoded?: number; freezeCount?: number; totalFreezesDuration?: number }) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') r = { frames: s.framesDecoded ?? 0, freezes: s.freezeCount ?? 0, freezeS: s.totalFreezesDuration ?? 0 };
    });
    return r;
  });
  const decoded = async () => (await inbound()).frames;
  const start = Date.now();
  while ((await decoded()) === 0 && Date.now() - start < 15_000) await new Promise((r) => setTimeout(r, 200));
  const first = await inbound();
  const f0 = first.frames;
  t.ok(f0 > 0, `frames decode (first after ${Date.now() - start} ms)`);
  const samples: number[] = [];
  const t0 = Date.now();
  for (let i = 0; i < WINDOW_S; i++) { await new Promise((r) => setTimeout(r, 1000)); samples.push(await decoded()); }
  const rate = (samples.at(-1)! - f0) / ((Date.now() - t0) / 1000);
  const perSecond = samples.map((v, i) => v - (i ? samples[i - 1] : f0));
  t.comment(`framesDecoded per second over ${WINDOW_S} s: ${perSecond.join(' ')} (mean ${rate.toFixed(1)} fps, channel ${fps} fps)`);
  t.ok(rate > fps * 0.8 && rate < fps * 1.2, `decoded at the channel frame rate: ${rate.toFixed(1)} fps`);
  t.ok(perSecond.every((n) => n > 0), 'no second without a decoded frame');
  // Chromium's own freeze count (a frame held longer than max(3 x the mean frame time, mean + 150 ms)).
  const last = await inbound();
  t.equal(last.freezes - first.freezes, 0, `no freeze in ${WINDOW_S} s by Chromium's count (freezeCount ${first.freezes} -> ${last.freezes}, ${(last.freezeS - first.freezeS).toFixed(2)} s frozen)`);
  const closed = await page.evaluate(async (loc) => (await fetch(loc, { method: 'DELETE' })).status, result.location!);
  t.equal(closed, 401, 'DELETE needs the bearer too');
  t.ok(await page.evaluate(() => { const v = document.querySelector('.tile[data-channel="cam"] video'); return !v.hidden && v.videoWidth > 0; }), 'the tile shows the live video');
  await page.click('.tile[data-channel="cam"] button.play');
  t.equal(await page.evaluate(() => !!window.orboxLive('cam')), false, 'stopped from the page');
  const bearer = await page.evaluate(async () => ((await (await fetch('/api/whep-token', { method: 'POST' })).json()) as any).token as string);
  t.match(bearer, /^[A-Za-z0-9_-]{43}$/, 'a WHEP token');
  await b.context.addCookies([{ name: 'orbox_session', value: bearer, url }]);
  t.equal(await page.evaluate(async () => (await fetch('/api/status')).status), 401, 'a WHEP token is refused as a console session cookie');
});
