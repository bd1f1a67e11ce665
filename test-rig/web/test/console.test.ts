/**
 * The web console in real headless Chromium against a real box (supervisor + nine workers, a
 * test-pattern channel, the IntelliVue simulator on a pseudo-terminal): sign-in refused and
 * slowed, every route refused without a session, tiles whose still updates, the heart-rate plot
 * fed by the simulated monitor, start/stop of a case from the page seen in the catalog, and the
 * console's screenshot (docs/web-console.png) regenerated.
 */
import t from 'tap';
import { request } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDemoIntelliVue } from '../../devices/index.js';
import { startBox, testConfig } from '../../../edge/supervisor/test/harness.js';
import { Catalog } from '../../../edge/recording/index.js';
import { launchChromium } from '../browser.js';

// In-page functions run in Chromium; this Node project compiles without the DOM library.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare const window: any;

const PASSWORD = 'correct horse battery';
const ROOT = join(fileURLToPath(import.meta.url), '../../../../..');

function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, rejectUnauthorized: false }, (res) => { res.resume(); resolve({ status: res.statusCode!, headers: res.headers }); });
    req.on('error', reject);
    req.end();
  });
}

t.test('the web console in Chromium', async (t) => {
  const monitor = await startDemoIntelliVue();
  t.teardown(() => monitor.close());
  const base = testConfig();
  const port = 18443 + (process.pid % 500);
  const cfg = testConfig({
    box: base.box, api: base.api,
    channels: [{ ...base.channels[0], snapshot: { enabled: true, intervalS: 1 } }],
    devices: { ports: [{ name: 'monitor', path: monitor.path, protocol: 'intellivue', simulated: true }] },
    web: { enabled: true, host: '127.0.0.1', port, firstAdmin: { name: 'admin', password: PASSWORD } },
  });
  const sup = await startBox(cfg);
  t.teardown(() => sup.stop());
  const url = `https://127.0.0.1:${port}`;

  // Without a session: pages redirect to sign-in, API and static refused.
  t.equal((await get(port, '/')).status, 303);
  for (const p of ['/api/status', '/api/stills/cam.jpg', '/api/vitals', '/api/cases', '/static/app.js']) t.equal((await get(port, p)).status, 401, `${p} refused without a session`);
  t.equal((await get(port, '/api/record/start', { 'Content-Type': 'application/json', Cookie: 'orbox_session=forged' }, 'POST')).status, 401, 'a forged cookie starts no case');

  const b = await launchChromium();
  t.teardown(() => b.close());
  const page = await b.context.newPage();

  // Wrong password: refused; after 3 failures from this address the next attempt waits.
  await page.goto(`${url}/signin`);
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) {
    await page.fill('#user', 'admin');
    await page.fill('#password', 'wrong password');
    const [resp] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/signin') && r.request().method() === 'POST'), page.click('#signin')]);
    statuses.push(resp.status());
    await page.waitForLoadState();
  }
  t.same(statuses, [401, 401, 401], 'three wrong passwords refused');
  await page.fill('#user', 'admin');
  await page.fill('#password', PASSWORD);
  const [slowed] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/signin') && r.request().method() === 'POST'), page.click('#signin')]);
  t.equal(slowed.status(), 429, 'after repeated failures even the right password waits (per address, slowed not locked)');
  t.match(await page.textContent('#message'), /try again in \d+ s/);
  const retry = Number(slowed.headers()['retry-after']);
  t.ok(retry >= 1 && retry <= 4, `Retry-After ${retry} s`);
  await page.waitForTimeout(retry * 1000 + 200);
  await page.fill('#user', 'admin');
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(`${url}/`), page.click('#signin')]);
  const cookies = await b.context.cookies();
  const sc = cookies.find((c) => c.name === 'orbox_session');
  t.ok(sc?.httpOnly && sc?.secure && sc?.sameSite === 'Strict', 'session cookie HttpOnly, Secure, SameSite=Strict');

  // The tile's still updates (capture time in the page changes, the image decodes).
  const img = page.locator('.tile[data-channel="cam"] img');
  await img.waitFor({ state: 'attached', timeout: 10_000 });
  await page.waitForFunction(() => Number(document.querySelector('.tile img')?.dataset.updates ?? 0) >= 1, null, { timeout: 15_000 });
  const first = await img.getAttribute('data-capture-ns');
  await page.waitForFunction((f) => { const i = document.querySelector('.tile img'); return !!i && i.dataset.captureNs !== f && i.naturalWidth > 0; }, first, { timeout: 15_000 });
  const second = await img.getAttribute('data-capture-ns');
  t.ok(BigInt(second!) > BigInt(first!), `the still updated: captured ${(Number(BigInt(second!) - BigInt(first!)) / 1e6).toFixed(0)} ms later`);
  t.equal(await img.evaluate((i: any) => i.naturalWidth), 320, 'the still decodes at the channel width');

  // The heart-rate plot draws the simulated monitor's HR (uPlot's data, and the page's number).
  await page.waitForFunction(() => { const p = window.orboxPlot(); return !!p && p.data[1].filter((v: number | null) => v !== null).length >= 3; }, null, { timeout: 30_000 });
  const hr = await page.evaluate(() => window.orboxPlot().data[1].filter((v: number | null) => v !== null) as number[]);
  t.ok(hr.every((v) => v >= 40 && v <= 180), `plotted HR values are heart rates: ${hr.slice(-5).join(', ')}`);
  t.match(await page.textContent('.numeric[data-label="HR"]'), /HR \d+/, 'the live HR number');
  t.match(await page.textContent('.numeric[data-label="HR"]'), /simulated/, 'marked simulated');
  const canvasInk = await page.evaluate(() => {
    const c = document.querySelector('#hr-plot canvas')!;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let red = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] > 180 && d[i + 1] < 80 && d[i + 2] < 80) red++;
    return red;
  });
  t.ok(canvasInk > 20, `the HR line is drawn on the canvas (${canvasInk} red pixels)`);

  // Start and stop a case from the page; the catalog has it.
  await page.click('#rec-start');
  await page.waitForFunction(() => document.querySelector('#rec-state')?.getAttribute('data-state') === 'recording', null, { timeout: 10_000 });
  const caseText = (await page.textContent('#rec-state'))!;
  const uid = caseText.replace('recording ', '');
  await page.waitForTimeout(1500);
  await page.screenshot({ path: join(ROOT, 'docs', 'web-console.png'), fullPage: true });
  await page.click('#rec-stop');
  await page.waitForFunction(() => document.querySelector('#rec-state')?.getAttribute('data-state') === 'idle', null, { timeout: 10_000 });
  const cat = new Catalog({ path: join(cfg.box.dataDir, 'catalog.db') });
  cat.open();
  const cases = cat.listCases(0n, 1n << 62n);
  cat.close();
  const c = cases.find((x) => x.uid === uid);
  t.ok(c, `case ${uid} is in the catalog`);
  t.equal(c?.state, 'ended', 'and ended by the page');
  const log = (await page.evaluate(async () => ((await (await fetch('/api/commands')).json()) as any).entries)) as { origin: string; kind: string; state: string }[];
  t.ok(log.some((e) => e.origin === 'web:admin' && e.kind === 'recordingStart' && e.state === 'finished'), 'the command log shows the start from web:admin');
});
