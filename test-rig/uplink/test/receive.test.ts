/**
 * The uplink to `orbox receive` and on to a local player: a real box pushes one channel over
 * SRTP with RTX and SMPTE 2022-1 FEC to an UplinkReceiver on this host (the code `orbox receive`
 * runs), which re-serves it over RTSP; GStreamer's rtspsrc decodes it.
 */
import t from 'tap';
import { callLocalApi } from '../../../edge/control/local-api.js';
import { UplinkReceiver } from '../../../edge/net/uplink/index.js';
import { Supervisor } from '../../../edge/supervisor/supervisor.js';
import { freeTcpPort, rtspH264Viewer } from '../../rtp/gst-peers.js';
import { sleep, videoConfig } from '../../video/helpers.js';

const portBase = () => 40_000 + 20 * Math.floor(Math.random() * 1000);

t.test('box -> SRTP + RTX + FEC uplink -> orbox receive -> rtspsrc decodes; no loss on the way, nothing to repair', async (t) => {
  const rx = portBase();
  const cfg = videoConfig(await freeTcpPort(), [{ name: 'endoscope', width: 640, height: 360 }], {
    uplink: { portStart: portBase(), receivers: [{ name: 'expert', host: '127.0.0.1', port: rx, channels: ['endoscope'] }] },
  });
  const sup = new Supervisor(cfg);
  t.teardown(() => sup.stop());
  await sup.start();
  // Generous timeouts: a loaded CI machine is slow to start nine workers.
  const { sdp } = (await callLocalApi(cfg.api.socket, 'uplinkSdp', { receiver: 'expert' }, 15_000)) as { sdp: string };
  const receiver = new UplinkReceiver({ sdp, rtspPort: await freeTcpPort(), rtspRtpPortStart: 24_000 + 2 * Math.floor(Math.random() * 2000), latencyMs: 200 });
  t.teardown(() => receiver.close());
  await receiver.start();
  const deadline = Date.now() + 20_000;
  while (!receiver.stats()[0]!.mounted && Date.now() < deadline) await sleep(100);
  const st0 = receiver.stats()[0]!;
  t.ok(st0.mounted, `re-served at ${st0.url}`);
  const viewer = rtspH264Viewer(st0.url, 100);
  try {
    await viewer.waitFrames(1, 15_000);
    const n0 = viewer.frameCount;
    await sleep(5000);
    const fps = (viewer.frameCount - n0) / 5;
    t.ok(fps > 25, `the local player decodes ${fps.toFixed(1)} fps`);
  } finally {
    const r = await viewer.stop();
    t.same(r.complaints, [], 'no decoder or depayloader warning');
  }
  const st = receiver.stats()[0]!;
  t.ok(st.originals > 100, `${st.originals} packets came`);
  t.equal(st.srtpDropped, 0, 'every packet authenticated');
  t.equal(st.residualLost, 0, 'nothing lost');
  t.ok(st.rrsSent > 20, `${st.rrsSent} receiver reports sent back`);
  type Pair = { receiver: string; fecPackets: number; receiverReport: { rttMs: number | null } | null; sending: string };
  const pairOf = async () => ((await callLocalApi(cfg.api.socket, 'status', {}, 15_000)) as { video?: { uplink?: Pair[] } }).video?.uplink?.find((x) => x.receiver === 'expert');
  let u = await pairOf();
  for (let i = 0; i < 20 && !u?.receiverReport; i++) { await sleep(500); u = await pairOf(); } // net-stats come every 2 s
  if (!u) throw new Error('the box\'s status shows no uplink pair');
  t.ok(u.fecPackets > 0, `the box sent ${u.fecPackets} FEC packets`);
  t.ok(u.receiverReport && u.receiverReport.rttMs !== null && u.receiverReport.rttMs < 50, `and reads the receiver's reports: RTT ${u.receiverReport?.rttMs} ms`);
  t.equal(u.sending, 'hq', 'a clean link stays on hq');
});
