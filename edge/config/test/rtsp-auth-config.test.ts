/**
 * The `rtsp.auth` section: off by default (a box without it serves as before), the realm's
 * default from the box id, per-channel roles, and errors naming the bad field (an unknown
 * channel, an unknown role, an unquotable realm, a misspelt key).
 */
import t from 'tap';
import { ConfigError, rtspRealm, validateConfig } from '../index.js';

const cfg = (auth?: unknown): unknown => ({
  box: { id: 'or-3', dataDir: '/tmp/orbox-auth' }, api: { socket: '/tmp/orbox-auth.sock' },
  channels: ['endoscope', 'room'].map((name) => ({ name, source: { type: 'test-pattern', pattern: 'ball', width: 640, height: 360, fps: 30 }, hq: { width: 640, height: 360, bitrateKbps: 1500, gop: 15 }, lq: { width: 320, height: 180, bitrateKbps: 400, gop: 15 } })),
  ...(auth === undefined ? {} : { rtsp: { auth } }),
});

const error = (c: unknown): string => { try { validateConfig(c); return ''; } catch (e) { t.type(e, ConfigError); return (e as Error).message; } };

t.test('rtsp.auth: defaults, realm, per-channel roles, errors naming the field', async (t) => {
  const d = validateConfig(cfg());
  t.same(d.rtsp.auth, { required: false, streams: {} }, 'off by default');
  t.equal(rtspRealm(d), 'orbox or-3', 'the realm: orbox <box.id>');
  const on = validateConfig(cfg({ required: true, realm: 'OR 3 theatre', streams: { room: 'clinician' } }));
  t.same(on.rtsp.auth, { required: true, realm: 'OR 3 theatre', streams: { room: 'clinician' } });
  t.equal(rtspRealm(on), 'OR 3 theatre');
  t.match(error(cfg({ required: true, streams: { theatre: 'viewer' } })), /rtsp\.auth\.streams\.theatre.*no channel "theatre" \(channels: endoscope, room\)/, 'an unknown channel named');
  t.match(error(cfg({ required: true, streams: { room: 'surgeon' } })), /rtsp\.auth\.streams\.room/, 'an unknown role named');
  t.match(error(cfg({ required: true, realm: 'a"b' })), /rtsp\.auth\.realm/, 'an unquotable realm named');
  t.match(error(cfg({ requierd: true })), /rtsp\.auth.*requierd/, 'a misspelt key named');
});
