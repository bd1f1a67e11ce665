/**
 * A stand-in net-send process for tests: starts RtspOut with one stream and prints
 * `{"childPid":…, "port":…}` on stdout, then waits to be killed. The test kills it with
 * SIGKILL and checks that the RTSP server child does not outlive it (no stale mount).
 * Usage: node rtsp-out-host.js <port> <rtpPortStart>
 */
import { RtspOut } from '../../edge/net/rtsp/rtsp-out.js';

const out = new RtspOut({ host: '127.0.0.1', port: Number(process.argv[2]), rtpPortStart: Number(process.argv[3]), rtpPortCount: 20 });
await out.start();
const sps = Buffer.from([0x67, 0x42, 0xc0, 0x1e, 0xd9]);
const pps = Buffer.from([0x68, 0xcb, 0x83, 0xcb]);
await out.addStream('ghost', 'hq', { sps, pps }).ready;
process.stdout.write(JSON.stringify({ childPid: out.childPid, port: out.port }) + '\n');
setInterval(() => undefined, 1 << 30);
