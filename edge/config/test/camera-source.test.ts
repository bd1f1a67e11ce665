/**
 * Camera sources (rtsp, onvif) in the configuration: defaults, and credentials refused in the
 * URL or device address (they belong in a credentials file, never in the config), with the
 * key path named and the password not echoed; the ring plan gives a passthrough channel no raw ring and its hq ring to
 * video-capture (and a decoding one a raw ring); at most 16 channels, the error saying how many.
 */
import t from 'tap';
import { ConfigError, MAX_CHANNELS, validateConfig } from '../index.js';
import { planRings } from '../../runtime/ring-plan.js';

const cfg = (source: Record<string, unknown>): unknown => ({
  box: { id: 'cams', dataDir: '/tmp/orbox-cams' }, api: { socket: '/tmp/orbox-cams.sock' },
  channels: [{ name: 'field', source: { width: 1920, height: 1080, fps: 30, ...source }, hq: { width: 1920, height: 1080, bitrateKbps: 6000, gop: 15 }, lq: { width: 640, height: 360, bitrateKbps: 800, gop: 15 } }],
});

t.test('rtsp and onvif sources', async (t) => {
  const r = validateConfig(cfg({ type: 'rtsp', url: 'rtsp://10.1.2.3:554/Streaming/101', credentialsFile: '/etc/orbox/cam.cred' }));
  t.same(r.channels[0].source, { type: 'rtsp', url: 'rtsp://10.1.2.3:554/Streaming/101', transport: 'tcp', decode: false, credentialsFile: '/etc/orbox/cam.cred', width: 1920, height: 1080, fps: 30 });
  const o = validateConfig(cfg({ type: 'onvif', device: 'http://10.1.2.4/onvif/device_service', profile: 'main' }));
  t.equal(o.channels[0].source.type, 'onvif');
  for (const [src, key] of [
    [{ type: 'rtsp', url: 'rtsp://admin:secret@10.1.2.3/stream' }, 'channels[0].source.url'],
    [{ type: 'onvif', device: 'http://admin:secret@10.1.2.4/onvif/device_service' }, 'channels[0].source.device'],
    [{ type: 'rtsp', url: 'http://10.1.2.3/stream' }, 'channels[0].source.url'],
  ] as const) {
    const e = (() => { try { validateConfig(cfg(src)); return undefined; } catch (x) { return x as Error; } })();
    t.type(e, ConfigError);
    t.match(e?.message ?? '', key);
    t.notOk((e?.message ?? '').includes('secret'), `the password is not echoed: ${e?.message}`);
  }
  const plan = planRings(r);
  t.notOk(plan.some((x) => x.name === 'raw.field'), 'no raw ring for a passthrough channel');
  const hq = plan.find((x) => x.name === 'video.field.hq')!;
  t.same([hq.producer, hq.consumers], ['video-capture', ['net-send', 'video-encode']]);
  // decode: the camera's frames, decoded, in a raw ring for the lq encode and the stills.
  const dplan = planRings(validateConfig(cfg({ type: 'rtsp', url: 'rtsp://10.1.2.3:554/Streaming/101', decode: true })));
  const rawRing = dplan.find((x) => x.name === 'raw.field');
  t.same(rawRing && [rawRing.producer, rawRing.consumers, rawRing.bytes], ['video-capture', ['video-encode'], 1920 * 1080 * 3 / 2], 'decode: a raw ring of the source\'s size, video-capture -> video-encode');
  t.same(dplan.find((x) => x.name === 'video.field.lq')?.producer, 'video-encode', 'its lq encoded in video-encode');
});

t.test('at most 16 channels: the error says how many there are and which to remove', async (t) => {
  const base = cfg({ type: 'rtsp', url: 'rtsp://10.1.2.3/stream', width: 640, height: 360 }) as { channels: Record<string, unknown>[] };
  const many = (n: number) => ({ ...base, channels: Array.from({ length: n }, (_, i) => ({ ...base.channels[0], name: `cam${i + 1}`, hq: { width: 640, height: 360, bitrateKbps: 1500, gop: 15 } })) });
  t.equal(MAX_CHANNELS, 16);
  t.equal(validateConfig(many(16)).channels.length, 16, '16 channels are taken');
  const e = (() => { try { validateConfig(many(17)); return undefined; } catch (x) { return x as Error; } })();
  t.type(e, ConfigError);
  t.match(e?.message ?? '', /channels\[16\]: a box takes at most 16 channels \(test patterns, capture devices and cameras together\); this configuration has 17: remove 1 \(from "cam17" on\)/);
});
