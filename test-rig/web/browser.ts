/**
 * Headless Debian Chromium for tests, driven by playwright-core (no browser download): the
 * flags this machine needs (no sandbox as root, no GPU, no background networking that the closed
 * network would refuse) and a fresh profile per launch, removed at close. The box's self-signed
 * certificate is accepted (ignoreHTTPSErrors) as a hospital's browsers would after trusting the
 * device CA.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.ORBOX_CHROMIUM ?? '/usr/bin/chromium';

/** `extraArgs`: e.g. `--disable-features=WebRtcHideLocalIpsWithMdns`, so a WebRTC player offers its host address rather than an mDNS name werift cannot resolve. */
export async function launchChromium(extraArgs: string[] = []): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'orbox-chromium-'));
  // A persistent context is playwright's way of giving chromium its --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', ...extraArgs],
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 1400 },
  });
  return {
    context,
    close: async () => { await context.close().catch(() => undefined); rmSync(profile, { recursive: true, force: true }); },
  };
}

/** A new page of `context` signed in to the console at `url` (https://host:port) as `user`; it is on the console page when this resolves. */
export async function signedInPage(context: BrowserContext, url: string, user: string, password: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${url}/signin`);
  await page.fill('#user', user);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL(`${url}/`), page.click('#signin')]);
  return page;
}
