/**
 * Which H.264 profiles this Chromium negotiates for WebRTC (RTCRtpReceiver.getCapabilities),
 * the fact the WHEP live view (#18 part 4, not built yet) has to meet: the stream a browser gets
 * must be encoded in one of these profile-level-ids. Printed as a comment for the record.
 */
import t from 'tap';
import { launchChromium } from '../browser.js';

declare const RTCRtpReceiver: { getCapabilities(kind: string): { codecs: { mimeType: string; sdpFmtpLine?: string }[] } };

t.test('H.264 profiles Chromium receives over WebRTC', async (t) => {
  const b = await launchChromium();
  t.teardown(() => b.close());
  const page = await b.context.newPage();
  await page.goto('about:blank');
  const codecs = await page.evaluate(() => RTCRtpReceiver.getCapabilities('video').codecs.filter((c) => c.mimeType === 'video/H264').map((c) => c.sdpFmtpLine ?? ''));
  const ids = [...new Set(codecs.map((f) => /profile-level-id=([0-9a-f]{6})/i.exec(f)?.[1]?.toLowerCase()).filter(Boolean))] as string[];
  t.comment(`H.264 profile-level-ids: ${ids.join(', ') || 'none'}`);
  for (const f of codecs) t.comment(`  ${f}`);
  t.ok(ids.length > 0, 'this Chromium receives H.264 over WebRTC');
  t.ok(ids.some((id) => id.startsWith('42e0') || id.startsWith('4200')), 'Constrained Baseline / Baseline among them');
});
