/**
 * The uplink's configuration, key store, SRTP index journal and SDP: what a receiver is told and
 * what survives a restart. ffmpeg reading the SDP is in the uplink end-to-end tests.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sdpTransform from 'sdp-transform';
import { ConfigError, UplinkConfigSchema, uplinkPairs, validateConfig } from '../../../config/index.js';
import { IndexJournal, IndexJournalError } from '../index-journal.js';
import { UplinkKeyError, UplinkKeyStore, keyId } from '../keys.js';
import { UPLINK_PT, buildUplinkSdp } from '../sdp.js';
import { planFromSdp } from '../receive-plan.js';

const dir = mkdtempSync(join(tmpdir(), 'orbox-uplink-'));
let counter = 0;
/** Deterministic "random" bytes: a counter, so tests can tell keys apart. */
const fakeRandom = (n: number): Buffer => Buffer.alloc(n, ++counter & 0xff);

const base = {
  box: { id: 'or-7', dataDir: join(dir, 'data') },
  channels: [
    { name: 'endoscope', source: { type: 'test-pattern', width: 1280, height: 720, fps: 30 }, hq: { width: 1280, height: 720, bitrateKbps: 4000, gop: 20 }, lq: { width: 640, height: 360, bitrateKbps: 800, gop: 15 } },
    { name: 'room', source: { type: 'test-pattern', width: 640, height: 360, fps: 30 }, hq: { width: 640, height: 360, bitrateKbps: 1000, gop: 20 }, lq: { width: 320, height: 180, bitrateKbps: 300, gop: 15 } },
  ],
};

t.test('uplink receivers: defaults, ports per (receiver, channel), and every mistake named by its key path', async (t) => {
  const c = validateConfig({ ...base, uplink: { receivers: [{ name: 'expert', host: '198.51.100.7', port: 40000, channels: ['endoscope', 'room'] }, { name: 'platform', host: 'video.example.org', port: 50000, channels: ['room'] }] } });
  const r = c.uplink.receivers[0]!;
  t.same([r.stream, r.srtp.enabled, r.srtp.suite, r.rtx, r.fec.enabled, r.fec.columns, r.fec.rows, r.latencyMs], ['auto', true, 'AES_CM_128_HMAC_SHA1_80', true, true, 5, 5, 200], 'secure, repaired and adaptive unless told otherwise');
  t.same(uplinkPairs(c.uplink).map((p) => [p.receiver.name, p.channel, p.localPort, p.remotePort]), [
    ['expert', 'endoscope', 30000, 40000], ['expert', 'room', 30010, 40010], ['platform', 'room', 30020, 50000],
  ]);
  const bad = (uplink: unknown) => {
    try { validateConfig({ ...base, uplink }); } catch (e) { return (e as ConfigError).problems.map((p) => `${p.path}: ${p.message}`); }
    return [];
  };
  t.match(bad({ receivers: [{ name: 'x', host: 'h', port: 40000, channels: ['nope'] }] }), [/^uplink\.receivers\[0\]\.channels\[0\]: no channel "nope" \(channels: endoscope, room\)/]);
  t.match(bad({ receivers: [{ name: 'x', host: 'h', port: 40001, channels: ['room'] }] }), [/^uplink\.receivers\[0\]\.port: must be even/]);
  t.match(bad({ receivers: [{ name: 'x', host: 'h', port: 40000, channels: ['room'] }, { name: 'x', host: 'h', port: 40000, channels: ['room', 'room'] }] }), [/receivers\[1\]\.name: duplicate receiver name "x"/, /receivers\[1\]\.channels: channel "room" listed twice/]);
  t.match(bad({ portStart: 20000, receivers: [{ name: 'x', host: 'h', port: 40000, channels: ['room'] }] }), [/^uplink\.portStart: the uplink's ports 20000-20009 overlap the RTSP media ports 20000-21999/]);
  t.match(bad({ receivers: [{ name: 'x', host: 'h', port: 40000, channels: ['room'], stream: 'best' }] }), [/^uplink\.receivers\[0\]\.stream: /]);
  t.same(UplinkConfigSchema.parse({}).receivers, [], 'no receivers: nothing is sent');
});

t.test('keys: made once per receiver, 0600, shared by every reader, extended for a new channel, replaced by rekey', async (t) => {
  const kdir = join(dir, 'keys');
  const a = new UplinkKeyStore({ dir: kdir, randomBytes: fakeRandom });
  const b = new UplinkKeyStore({ dir: kdir, randomBytes: fakeRandom });
  const k1 = a.get('expert', 'AES_CM_128_HMAC_SHA1_80', [{ name: 'endoscope', mediaSsrc0: true }]);
  const e = k1.channels.endoscope!;
  t.equal(Buffer.from(e.media, 'base64').length, 30, 'AES_CM_128: 16-byte key + 14-byte salt');
  t.not(e.media, e.fecColumns, 'the FEC ports have keys of their own (their SSRC is 0 like the media\'s)');
  t.not(e.fecColumns, e.fecRows);
  t.equal(e.mediaSsrc, 0, 'SMPTE 2022-1 protects only SSRC 0');
  t.not(e.rtxSsrc, 0);
  t.equal(statSync(a.file('expert')).mode & 0o777, 0o600);
  t.equal(statSync(kdir).mode & 0o777, 0o700);
  t.same(b.get('expert', 'AES_CM_128_HMAC_SHA1_80', [{ name: 'endoscope', mediaSsrc0: true }]), k1, 'a second worker reads the same keys');
  const k2 = b.get('expert', 'AES_CM_128_HMAC_SHA1_80', [{ name: 'endoscope', mediaSsrc0: true }, { name: 'room', mediaSsrc0: false }]);
  t.same(k2.channels.endoscope, e, 'an added channel leaves the others\' keys alone');
  t.not(k2.channels.room!.mediaSsrc, 0, 'without FEC the media SSRC is random');
  const k3 = a.rekey('expert', 'AES_CM_128_HMAC_SHA1_80', [{ name: 'endoscope', mediaSsrc0: true }]);
  t.not(k3.channels.endoscope!.media, e.media);
  t.not(keyId(k3.channels.endoscope!.media), keyId(e.media));
  t.throws(() => a.get('expert', 'AEAD_AES_128_GCM', [{ name: 'endoscope', mediaSsrc0: true }]), /keys are for AES_CM_128_HMAC_SHA1_80, the configuration asks AEAD_AES_128_GCM: run `orbox uplink rekey expert`/);
  const gcm = a.get('gcm', 'AEAD_AES_128_GCM', [{ name: 'room', mediaSsrc0: false }]);
  t.equal(Buffer.from(gcm.channels.room!.media, 'base64').length, 28, 'AEAD_AES_128_GCM: 16-byte key + 12-byte salt');
  writeFileSync(a.file('broken'), '{"suite":"AES_CM_128_HMAC_SHA1_80","channels":{"room":{"media":"AAAA","fecColumns":"AAAA","fecRows":"AAAA","mediaSsrc":1,"rtxSsrc":2}}}');
  t.throws(() => a.get('broken', 'AES_CM_128_HMAC_SHA1_80', [{ name: 'room', mediaSsrc0: false }]), UplinkKeyError);
  t.throws(() => a.get('broken', 'AES_CM_128_HMAC_SHA1_80', [{ name: 'room', mediaSsrc0: false }]), /broken\.json: channel "room" media key is 3 bytes, AES_CM_128_HMAC_SHA1_80 needs 30/);
  t.equal(readFileSync(a.file('broken'), 'utf8').includes('AAAA'), true, 'a damaged key file is left for a person to look at');
});

t.test('index journal: a new sender starts above everything the last one could have sent, fsynced every half block', async (t) => {
  const f = join(dir, 'journal', 'srtp-index.json');
  const j = new IndexJournal(f, 1000);
  t.equal(j.start('k1', 'rtp:0'), 0);
  for (let i = 0; i < 1700; i++) j.ensure('k1', 'rtp:0', i);
  t.equal(j.writes, 4, 'written at 0, 500, 1000 and 1500: one write per half block');
  j.ensure('k1', 'rtcp:0', 7);
  const again = new IndexJournal(f, 1000);
  t.equal(again.start('k1', 'rtp:0'), 2500, 'above 1699, the last index used');
  t.equal(again.start('k1', 'rtcp:0'), 1007);
  t.equal(again.start('k2', 'rtp:0'), 0, 'another key starts from 0');
  again.retain(new Set(['k2']));
  t.equal(new IndexJournal(f, 1000).start('k1', 'rtp:0'), 0, 'a dropped key\'s reservations are gone');
  writeFileSync(f, '{"k1/rtp:0": -4}');
  t.throws(() => new IndexJournal(f), IndexJournalError);
  writeFileSync(f, 'garbage');
  t.throws(() => new IndexJournal(f), /srtp-index\.json: not JSON; not sending until it is readable/);
});

t.test('SDP: video with RTX, feedback, keys per port and the FEC m-lines, as sdp-transform reads it back', async (t) => {
  const c = validateConfig({ ...base, uplink: { receivers: [{ name: 'expert', host: '198.51.100.7', port: 40000, channels: ['endoscope', 'room'], latencyMs: 250, fec: { rowFec: false } }] } });
  const r = c.uplink.receivers[0]!;
  const store = new UplinkKeyStore({ dir: join(dir, 'sdp-keys'), randomBytes: fakeRandom });
  const keys = store.get('expert', r.srtp.suite, r.channels.map((name) => ({ name, mediaSsrc0: true })));
  const text = buildUplinkSdp({ boxId: 'or-7', receiver: r, keys });
  t.ok(text.endsWith('\r\n') && !/[^\r]\n/.test(text), 'CRLF line ends');
  const s = sdpTransform.parse(text);
  t.equal(s.connection?.ip, '198.51.100.7');
  t.same(s.media.map((m) => [m.type, m.port, m.protocol]), [
    ['video', 40000, 'RTP/SAVPF'], ['application', 40002, 'RTP/SAVP'], ['video', 40010, 'RTP/SAVPF'], ['application', 40012, 'RTP/SAVP'],
  ], 'per channel: video, then its column FEC (rows are off)');
  const v = s.media[0]!;
  t.same(v.rtp.map((x) => `${x.payload} ${x.codec}/${x.rate}`), [`${UPLINK_PT.h264} H264/90000`, `${UPLINK_PT.rtx} rtx/90000`]);
  t.same(v.fmtp.map((x) => x.config), ['packetization-mode=1', 'apt=96;rtx-time=250']);
  t.same(v.rtcpFb?.map((x) => `${x.type}${x.subtype ? ' ' + x.subtype : ''}`), ['nack', 'nack pli', 'ccm fir']);
  t.equal(v.rtcp?.port, 40001);
  t.same(v.crypto?.map((x) => `${x.id} ${x.suite} ${x.config}`), [`1 AES_CM_128_HMAC_SHA1_80 inline:${keys.channels.endoscope!.media}`]);
  t.same(s.media[1]!.crypto?.[0]?.config, `inline:${keys.channels.endoscope!.fecColumns}`, 'the FEC port\'s own key');
  t.same(v.ssrcGroups, [{ semantics: 'FID', ssrcs: `0 ${keys.channels.endoscope!.rtxSsrc}` }]);
  t.same(s.groups, [{ type: 'FEC', mids: 'endoscope-video endoscope-fec-columns' }, { type: 'FEC', mids: 'room-video room-fec-columns' }]);
  const plain = validateConfig({ ...base, uplink: { receivers: [{ name: 'lab', host: '127.0.0.1', port: 40000, channels: ['room'], srtp: { enabled: false }, rtx: false, fec: { enabled: false } }] } }).uplink.receivers[0]!;
  const ps = sdpTransform.parse(buildUplinkSdp({ boxId: 'or-7', receiver: plain, keys: { receiver: 'lab', suite: 'AES_CM_128_HMAC_SHA1_80', createdAt: '', channels: {} } }));
  t.same(ps.media.map((m) => [m.type, m.protocol, m.payloads, m.crypto]), [['video', 'RTP/AVPF', '96', undefined]], 'no SRTP, no RTX, no FEC: one plain video m-line');
});

t.test('orbox receive\'s plan reads back every port, payload type, pairing and key of the SDP the box prints', async (t) => {
  const c = validateConfig({ ...base, uplink: { receivers: [{ name: 'expert', host: '198.51.100.7', port: 40000, channels: ['endoscope', 'room'], fec: { rowFec: true } }] } });
  const r = c.uplink.receivers[0]!;
  const keys = new UplinkKeyStore({ dir: join(dir, 'plan-keys'), randomBytes: fakeRandom }).get('expert', r.srtp.suite, r.channels.map((name) => ({ name, mediaSsrc0: true })));
  const text = buildUplinkSdp({ boxId: 'or-7', receiver: r, keys });
  const plan = planFromSdp(text);
  t.equal(plan.connection, '198.51.100.7');
  const [e, room] = plan.channels;
  t.same(e, {
    name: 'endoscope', kind: 'video', rtpPort: 40000, rtcpPort: 40001, mediaPt: 96, clockRate: 90000, audio: null, rtx: { pt: 97, ssrc: keys.channels.endoscope!.rtxSsrc }, mediaSsrc: 0, rtxTimeMs: 200,
    key: { suite: 'AES_CM_128_HMAC_SHA1_80', inline: keys.channels.endoscope!.media },
    fec: { columns: 5, rows: 5, columnPort: 40002, columnKey: { suite: 'AES_CM_128_HMAC_SHA1_80', inline: keys.channels.endoscope!.fecColumns }, rowPort: 40004, rowKey: { suite: 'AES_CM_128_HMAC_SHA1_80', inline: keys.channels.endoscope!.fecRows } },
  });
  t.equal(room!.rtpPort, 40010);
  const moved = planFromSdp(text, 50000);
  t.same(moved.channels.map((x) => [x.rtpPort, x.rtcpPort, x.fec?.columnPort, x.fec?.rowPort]), [[50000, 50001, 50002, 50004], [50010, 50011, 50012, 50014]], '--port moves the whole layout');
  t.throws(() => planFromSdp(text.replace(/a=crypto:[^\r]*\r\n/, '')), /m-section 1 \(m=video 40000\): RTP\/SAVPF without an a=crypto line/);
  t.throws(() => planFromSdp(text.replace('apt=96', 'apt=95')), /RTX payload type 97 has no apt=96/);
  t.throws(() => planFromSdp('v=0\r\ns=x\r\n'), /no m= line/);
  t.throws(() => planFromSdp(text, 65525), /--port: 65525 moves channel "room" to port 65536, outside 1..65535/);
});

t.test('audio: a channel with audio gets its own key and SSRCs (added to an old key file, video keys kept), an m=audio next to its video, and orbox receive reads it back', async (t) => {
  const withAudio = { ...base, audio: { inputs: [{ name: 'room-mic', device: 'test-tone', rate: 48000, channels: 1 }] }, channels: [{ ...base.channels[0]!, audio: 'room-mic' }, base.channels[1]!] };
  const c = validateConfig({ ...withAudio, uplink: { receivers: [{ name: 'expert', host: '198.51.100.7', port: 40000, channels: ['endoscope', 'room'], latencyMs: 250 }] } });
  const r = c.uplink.receivers[0]!;
  const store = new UplinkKeyStore({ dir: join(dir, 'audio-keys'), randomBytes: (n) => randomBytes(n) });
  // Keys made before the channel had audio (what a box updated in the field has).
  const before = store.get('expert', r.srtp.suite, r.channels.map((name) => ({ name, mediaSsrc0: true })));
  t.equal(before.channels.endoscope!.audio, undefined, 'no audio key while the channel has none');
  const keys = store.get('expert', r.srtp.suite, r.channels.map((name) => ({ name, mediaSsrc0: true, audio: name === 'endoscope' })));
  const ea = keys.channels.endoscope!.audio!;
  t.same([keys.channels.endoscope!.media, keys.channels.endoscope!.rtxSsrc, keys.channels.room!.media], [before.channels.endoscope!.media, before.channels.endoscope!.rtxSsrc, before.channels.room!.media], 'the video keys and SSRCs stay');
  t.equal(Buffer.from(ea.key, 'base64').length, 30, 'a 30-byte AES_CM_128_HMAC_SHA1_80 master key + salt of its own');
  t.notOk([keys.channels.endoscope!.media, keys.channels.endoscope!.fecColumns, keys.channels.endoscope!.fecRows].includes(ea.key), 'not any video port\'s key');
  t.ok(new Set([0, keys.channels.endoscope!.rtxSsrc, ea.ssrc, ea.rtxSsrc]).size === 4, 'its SSRCs differ from the video\'s');
  t.same(store.get('expert', r.srtp.suite, r.channels.map((name) => ({ name, mediaSsrc0: true, audio: name === 'endoscope' }))).channels.endoscope!.audio, ea, 'read back as written');
  const text = buildUplinkSdp({ boxId: 'or-7', receiver: r, keys, audio: { endoscope: { channels: 1 } } });
  const s = sdpTransform.parse(text);
  t.same(s.media.map((m) => [m.type, m.port, m.protocol]), [
    ['video', 40000, 'RTP/SAVPF'], ['application', 40002, 'RTP/SAVP'], ['audio', 40006, 'RTP/SAVPF'], ['video', 40010, 'RTP/SAVPF'], ['application', 40012, 'RTP/SAVP'],
  ], 'the audio on its block\'s audio ports, only for the channel with audio');
  const a = s.media[2]!;
  t.same(a.rtp.map((x) => `${x.payload} ${x.codec}/${x.rate}${x.encoding ? '/' + x.encoding : ''}`), [`${UPLINK_PT.opus} opus/48000/2`, `${UPLINK_PT.opusRtx} rtx/48000`]);
  t.same(a.fmtp.map((x) => x.config), ['minptime=10;useinbandfec=0;stereo=0;sprop-stereo=0', 'apt=111;rtx-time=250']);
  t.equal(a.rtcp?.port, 40007);
  t.same(a.rtcpFb?.map((x) => x.type), ['nack']);
  t.same(a.crypto?.map((x) => x.config), [`inline:${ea.key}`]);
  t.same(a.ssrcs?.map((x) => `${x.id} ${x.attribute}:${x.value}`), [`${ea.ssrc} cname:or-7/endoscope`, `${ea.rtxSsrc} cname:or-7/endoscope`], 'the video\'s CNAME: receivers lip-sync the two by it');
  t.same(s.media[0]!.ssrcs?.[0]?.value, 'or-7/endoscope');
  t.same(s.groups?.map((g) => `${g.type} ${g.mids}`), ['FEC endoscope-video endoscope-fec-columns', 'LS endoscope-video endoscope-audio', 'FEC room-video room-fec-columns']);
  t.throws(() => buildUplinkSdp({ boxId: 'or-7', receiver: r, keys: before, audio: { endoscope: { channels: 1 } } }), /no uplink audio keys for receiver "expert" channel "endoscope"/);
  const plan = planFromSdp(text);
  t.same(plan.channels[0]!.audio, {
    name: 'endoscope/audio', kind: 'audio', rtpPort: 40006, rtcpPort: 40007, mediaPt: 111, clockRate: 48000, channels: 1,
    rtx: { pt: 112, ssrc: ea.rtxSsrc }, mediaSsrc: ea.ssrc, rtxTimeMs: 250, key: { suite: 'AES_CM_128_HMAC_SHA1_80', inline: ea.key }, fec: null,
  });
  t.equal(plan.channels[1]!.audio, null, 'the channel without audio has none');
  const moved = planFromSdp(text, 50000);
  t.same([moved.channels[0]!.audio!.rtpPort, moved.channels[0]!.audio!.rtcpPort], [50006, 50007], '--port moves the audio too');
  t.throws(() => planFromSdp(text.replace('apt=111', 'apt=110')), /m-section 3 \(m=audio 40006\): RTX payload type 112 has no apt=111/);
  t.throws(() => planFromSdp(text.split(`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${ea.key}\r\n`).join('')), /m-section 3 \(m=audio 40006\): RTP\/SAVPF without an a=crypto line/);
  writeFileSync(store.file('expert'), JSON.stringify({ ...keys, channels: { ...keys.channels, endoscope: { ...keys.channels.endoscope, audio: { ...ea, key: 'AAAA' } } } }));
  t.throws(() => store.get('expert', r.srtp.suite, [{ name: 'endoscope', mediaSsrc0: true, audio: true }]), /channel "endoscope" audio key is 3 bytes, AES_CM_128_HMAC_SHA1_80 needs 30/);
});
