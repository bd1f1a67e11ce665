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
import { chromium, type BrowserContext } from 'playwright-core';

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
