/**
 * The ONVIF client (edge/onvif) against the simulated camera (test-rig/onvif/simulator.ts):
 * discovery by unicast to 127.0.0.1 (no probe leaves the machine), profiles and the stream URI
 * with a UsernameToken digest the simulator checks, a wrong password as an error naming the
 * device, and hostile replies (endless, slow, garbage, faults) bounded in size and time.
 */
import t from 'tap';
import { OnvifAuthError, OnvifClient, OnvifReplyError, MAX_REPLY_BYTES, probe } from '../../../edge/onvif/index.js';
import { OnvifSimulator } from '../simulator.js';

const PASSWORD = 'onvif-pw-not-in-messages';

async function sim(t: { teardown(f: () => unknown): void }, over: ConstructorParameters<typeof OnvifSimulator>[0] = {}): Promise<OnvifSimulator> {
  const s = new OnvifSimulator({ user: 'admin', password: PASSWORD, rtspUri: 'rtsp://127.0.0.1:8554/stream', model: 'OR Cam 4K', name: 'ceiling left', ...over });
  await s.start();
  t.teardown(() => s.stop());
  return s;
}

t.test('discovery by unicast finds the camera, its model, name and device service', async (t) => {
  const s = await sim(t);
  const { devices, ignored } = await probe({ to: { host: '127.0.0.1', port: s.discoveryPort }, timeoutMs: 500 });
  t.equal(devices.length, 1);
  t.equal(ignored, 0);
  const d = devices[0];
  t.equal(d.endpoint, s.endpoint);
  t.same(d.xaddrs, [s.deviceUrl]);
  t.equal(d.model, 'OR Cam 4K');
  t.equal(d.name, 'ceiling left');
});

t.test('profiles and stream URI with the digest; a wrong password is an error naming the device', async (t) => {
  const s = await sim(t);
  const c = new OnvifClient(s.deviceUrl, { credentials: { user: 'admin', password: PASSWORD } });
  const profiles = await c.profiles();
  t.same(profiles, [{ token: 'main', name: 'MainStream', encoding: 'H264', width: 640, height: 360, fps: 30 }]);
  t.equal(await c.streamUri('main'), 'rtsp://127.0.0.1:8554/stream');
  const bad = new OnvifClient(s.deviceUrl, { credentials: { user: 'admin', password: 'wrong' } });
  const e = await bad.profiles().catch((x: Error) => x);
  t.type(e, OnvifAuthError);
  t.equal((e as Error).message, `ONVIF device 127.0.0.1:${s.httpPort}: GetCapabilities refused the credentials (SOAP fault NotAuthorized)`);
  const none = await new OnvifClient(s.deviceUrl).streamUri('main', `http://127.0.0.1:${s.httpPort}/onvif/media_service`).catch((x: Error) => x);
  t.type(none, OnvifAuthError, 'no credentials at all: refused too');
  t.notOk([(e as Error).message, (none as Error).message].some((m) => m.includes(PASSWORD)));
  t.throws(() => new OnvifClient('http://admin:pw@10.0.0.1/onvif/device_service'), /credentials go in a credentials file/);
});

t.test('hostile replies are bounded', async (t) => {
  const s = await sim(t);
  const c = new OnvifClient(s.deviceUrl, { credentials: { user: 'admin', password: PASSWORD }, timeoutMs: 800 });
  s.mode = 'huge';
  let t0 = performance.now();
  const huge = await c.profiles().catch((x: Error) => x);
  t.type(huge, OnvifReplyError);
  t.match((huge as Error).message, `reply larger than ${MAX_REPLY_BYTES} bytes`);
  t.comment(`endless reply cut after ${Math.round(performance.now() - t0)} ms`);
  s.mode = 'slow';
  t0 = performance.now();
  const slow = await c.profiles().catch((x: Error) => x);
  const slowMs = performance.now() - t0;
  t.match((slow as Error).message, 'no complete reply within 800 ms');
  t.ok(slowMs < 1500, `a reply that never ends is given up after ${Math.round(slowMs)} ms`);
  s.mode = 'garbage';
  t.match(((await c.profiles().catch((x: Error) => x)) as Error).message, 'GetCapabilities: the reply is not a SOAP envelope');
  const disc = await probe({ to: { host: '127.0.0.1', port: s.discoveryPort }, timeoutMs: 300 });
  t.same([disc.devices.length, disc.ignored], [0, 1], 'a garbage ProbeMatch is ignored and counted');
  s.mode = 'fault';
  t.match(((await c.profiles().catch((x: Error) => x)) as Error).message, 'SOAP fault: simulated failure');
  s.mode = 'ok';
  t.equal((await c.profiles()).length, 1, 'and the same client works again');
  await s.stop();
  const gone = await c.profiles().catch((x: Error) => x);
  t.match((gone as Error).message, new RegExp(`^ONVIF device 127.0.0.1:${s.httpPort}: GetCapabilities: (connect ECONNREFUSED|socket hang up|read ECONNRESET)`), `an unplugged camera, named: ${(gone as Error).message}`);
});
