import t from 'tap';
import { buildH264Sdp } from '../sdp.js';
import { parseSpropParameterSets, profileLevelId } from '../h264.js';

const SPS = Buffer.from([0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40]);
const PPS = Buffer.from([0x68, 0xeb, 0xe3, 0xcb]);

t.test('SDP for H.264: fmtp, sprop-parameter-sets, absolute control URL, CRLF', async (t) => {
  const sdp = buildH264Sdp({ sps: SPS, pps: PPS, controlUrl: 'rtsp://127.0.0.1:8554/or1/hq/streamid=0', sessionId: '42', framerate: 30 });
  t.equal(sdp, [
    'v=0', 'o=- 42 0 IN IP4 127.0.0.1', 's=orbox', 'c=IN IP4 0.0.0.0', 't=0 0', 'a=control:*',
    'm=video 0 RTP/AVP 96', 'a=rtpmap:96 H264/90000',
    'a=fmtp:96 packetization-mode=1;profile-level-id=64001f;sprop-parameter-sets=Z2QAH6zZQA==,aOvjyw==',
    'a=framerate:30', 'a=control:rtsp://127.0.0.1:8554/or1/hq/streamid=0', '',
  ].join('\r\n'));
  t.same(parseSpropParameterSets('Z2QAH6zZQA==,aOvjyw=='), [SPS, PPS]);
  t.equal(profileLevelId(SPS), '64001f');
});

t.test('SDP builder rejects bad fields by name', async (t) => {
  const ok = { sps: SPS, pps: PPS, controlUrl: 'rtsp://h:1/a/streamid=0' };
  t.throws(() => buildH264Sdp({ ...ok, controlUrl: 'streamid=0' }), { name: 'RtpOptionError', option: 'controlUrl' });
  t.throws(() => buildH264Sdp({ ...ok, payloadType: 33 }), { name: 'RtpOptionError', option: 'payloadType' });
  t.throws(() => buildH264Sdp({ ...ok, sessionName: 'a\r\nb=evil' }), { name: 'RtpOptionError', option: 'sessionName' });
  t.throws(() => buildH264Sdp({ ...ok, sps: PPS }), { name: 'RtpFormatError', structure: 'sps' });
});

t.test('forEachWholeNal: a single NAL unit, each unit of a STAP-A, nothing from a FU-A or a STAP-A running past its end', async (t) => {
  const { forEachWholeNal } = await import('../h264.js');
  const seen = (p: number[]) => { const out: number[][] = []; forEachWholeNal(Uint8Array.from(p), (n) => out.push([...n])); return out; };
  t.same(seen([0x67, 1, 2]), [[0x67, 1, 2]]);
  t.same(seen([0x78, 0, 2, 0x67, 9, 0, 1, 0x68]), [[0x67, 9], [0x68]], 'STAP-A: SPS then PPS');
  t.same(seen([0x78, 0, 2, 0x67, 9, 0, 5, 0x68]), [[0x67, 9]], 'a size past the end stops there');
  t.same(seen([0x7c, 0x85, 1, 2]), [], 'FU-A');
  t.same(seen([]), []);
});
