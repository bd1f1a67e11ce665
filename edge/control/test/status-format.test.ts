/**
 * What `orbox status` prints for the video streams: a stream viewers cannot play says so, with
 * the reason, instead of a line of counters (net-send kept counting its packets as dropped).
 */
import t from 'tap';
import { formatStatus, type BoxStatus } from '../status.js';

const stream = (url: string, over: Record<string, unknown> = {}) => ({
  url, mounted: true, mountError: null, aus: 300, srs: 5, packets: 900, dropped: 0, badRtcp: 0, viewers: [],
  latencyMs: { p50: 9.2, p99: 14.1, max: 20, n: 300 }, ...over,
});

t.test('a stream whose mount failed is shown as not playable, with the reason', async (t) => {
  const s: BoxStatus = {
    box: { id: 'or-3', room: 'OR 3', healthy: true, uptimeMs: 60_000, pid: 1 },
    workers: [], rings: [],
    video: {
      profile: { id: 'x86-x264', encoder: 'x264enc', board: 'x86' }, recordingRoot: '/data/recordings', openSegments: 1, segmentsClosed: 4,
      net: [
        stream('rtsp://or-3:8554/endoscope/hq'),
        stream('rtsp://or-3:8554/endoscope/lq', { mounted: false, mountError: 'bind EADDRINUSE 0.0.0.0:20002', dropped: 412 }),
      ],
    },
  };
  const lines = formatStatus(s).split('\n');
  const hq = lines.find((l) => l.includes('/endoscope/hq'));
  const lq = lines.find((l) => l.includes('/endoscope/lq'));
  t.match(hq, /300 frames sent, 5 SRs, capture->RTP p50 9\.2 ms p99 14\.1 ms/);
  t.match(lq, /NOT PLAYABLE: mount failed: bind EADDRINUSE 0\.0\.0\.0:20002/);
  t.notMatch(lq, /frames sent/, 'no counters that would suggest it plays');
});

t.test('a simulated device port is shown as such in status and in telemetry', async (t) => {
  const { sampleTelemetry } = await import('../telemetry.js');
  const { HealthTable, createHealthTable } = await import('../../lib/health.js');
  const { DevicePorts } = await import('../devices.js');
  const ports = new DevicePorts([
    { name: 'monitor', path: '/dev/pts/7', protocol: 'intellivue', simulated: true },
    { name: 'anesthesia', path: '/dev/ttyUSB1', protocol: 'medibus' },
  ]);
  t.ok(ports.onEvent({ type: 'state', port: 'monitor', state: 'connected' }));
  t.notOk(ports.onEvent({ type: 'gap', port: 'monitor' }), 'only state events change a port');
  const s: BoxStatus = { box: { id: 'or-3', room: '', healthy: true, uptimeMs: 1000, pid: 1 }, workers: [], rings: [], devices: ports.status() };
  const text = formatStatus(s);
  t.match(text, /device monitor \(intellivue on \/dev\/pts\/7\): connected; SIMULATED: a demo simulator, no patient/);
  t.match(text, /device anesthesia \(medibus on \/dev\/ttyUSB1\): connecting$/m);
  const m = sampleTelemetry(new HealthTable(createHealthTable()), [], ports.status(), '/nonexistent');
  t.same([m['device/monitor/connected'], m['device/monitor/simulated'], m['device/anesthesia/connected'], m['device/anesthesia/simulated']], [true, true, false, false]);
});

t.test('an uplink pair: what it sends and why, what the receiver reports, the repair it costs; an unencrypted one says so', async (t) => {
  const pair = (over: Record<string, unknown> = {}) => ({
    receiver: 'expert', channel: 'endoscope', to: '198.51.100.7:40000', sending: 'lq', srtp: true,
    choice: { want: 'lq', reason: 'lq: loss 28.3 % over 500 ms >= 20.0 %', loss: 0.283, rttMs: 21, jitterMs: 2, changedAtMs: 1000, switches: 1 },
    aus: 900, packets: 10_000, mediaBytes: 10_000_000, rtxPackets: 2500, rtxBytes: 2_600_000, fecPackets: 4000, fecBytes: 1_400_000, srs: 30,
    rtcpIn: 300, rtcpDropped: 0, receiverReport: { lossBeforeRepair: 0.283, rttMs: 21.4, jitterMs: 2.1, cumulativeLost: 2830 },
    nacks: 800, rtxRateLimited: 12, rtxNotInHistory: 0, keyframeRequests: 1, srtpDrops: {}, ...over,
  });
  const s: BoxStatus = {
    box: { id: 'or-3', room: '', healthy: true, uptimeMs: 1000, pid: 1 }, workers: [], rings: [],
    video: { profile: null, recordingRoot: '/r', openSegments: 0, segmentsClosed: 0, uplink: [pair(), pair({ receiver: 'lab', srtp: false, sending: null, receiverReport: null, srtpDrops: { 'in:AUTH_FAILED': 3 } })] },
  };
  const lines = formatStatus(s).split('\n').filter((l) => l.includes('uplink') || l.includes('receiver reports'));
  t.same(lines, [
    '  uplink expert <- endoscope (198.51.100.7:40000, SRTP): sending lq; lq: loss 28.3 % over 500 ms >= 20.0 %',
    '    receiver reports: loss before repair 28.3%, RTT 21.4 ms, jitter 2.1 ms; 800 NACKs, 2500 RTX, 4000 FEC packets, bytes sent / media 1.40, 12 repairs over the cap',
    '  uplink lab <- endoscope (198.51.100.7:40000, NOT ENCRYPTED): sending nothing yet; lq: loss 28.3 % over 500 ms >= 20.0 %',
    '    receiver reports: loss before repair -, RTT - ms, jitter - ms; 800 NACKs, 2500 RTX, 4000 FEC packets, bytes sent / media 1.40, 12 repairs over the cap, SRTP drops {"in:AUTH_FAILED":3}',
  ]);
});
