/**
 * The built-in demo configuration `make run` uses: two test-pattern channels (and, when the
 * demo camera runs, an rtsp camera channel), a simulated
 * patient monitor, RTSP out, the endoscope's uplink to a receiver on this machine, local
 * recording under ./var, the local API on the machine's
 * fixed socket (edge/config/runtime-dir.ts). Every value passes the schema;
 * `orbox config demo` prints it as a starting point for a real box.
 */
import type { BoxConfig } from './schema.js';
import { validateConfig } from './load.js';

/** The demo's first admin (`admin`); printed by `make run`. */
export const DEMO_ADMIN_PASSWORD = 'orbox-demo';

export interface DemoParts {
  /** Serial path of the simulated patient monitor (an IntelliVue on a pseudo-terminal). */
  monitorPath?: string;
  /** The demo's simulated IP camera (edge/demo/camera.ts): a `field` channel, passed through
   *  and decoded for its lq and stills. */
  camera?: { url: string; width: number; height: number; fps: number; gop: number };
}

export function demoConfig(dataDir = 'var', parts: DemoParts = {}): BoxConfig {
  return validateConfig({
    box: { id: 'orbox-demo', room: 'Demo OR', dataDir },
    channels: [
      {
        name: 'endoscope',
        source: { type: 'test-pattern', pattern: 'smpte', width: 1920, height: 1080, fps: 30 },
        hq: { width: 1920, height: 1080, bitrateKbps: 8000, gop: 20 },
        lq: { width: 960, height: 540, bitrateKbps: 1500, gop: 15 },
        audio: 'room-mic',
      },
      {
        name: 'room',
        source: { type: 'test-pattern', pattern: 'ball', width: 1280, height: 720, fps: 30 },
        hq: { width: 1280, height: 720, bitrateKbps: 4000, gop: 20 },
        lq: { width: 640, height: 360, bitrateKbps: 800, gop: 15 },
        audio: 'room-mic',
      },
      ...(parts.camera ? [{
        name: 'field',
        source: { type: 'rtsp', url: parts.camera.url, decode: true, width: parts.camera.width, height: parts.camera.height, fps: parts.camera.fps },
        // hq is the camera's own H.264 (these numbers size its ring); lq and stills from a decode.
        hq: { width: parts.camera.width, height: parts.camera.height, bitrateKbps: 1500, gop: parts.camera.gop },
        // Half the camera's size, kept even (4:2:0).
        lq: { width: Math.max(16, Math.floor(parts.camera.width / 4) * 2), height: Math.max(16, Math.floor(parts.camera.height / 4) * 2), bitrateKbps: 400, gop: 15 },
      }] : []),
    ],
    audio: { inputs: [{ name: 'room-mic', device: 'test-tone', rate: 48000, channels: 1 }] },
    devices: { ports: parts.monitorPath ? [{ name: 'monitor', path: parts.monitorPath, protocol: 'intellivue', simulated: true }] : [] },
    rtsp: { host: '0.0.0.0', port: 8554 },
    // The web console on loopback, a self-signed certificate, and a known demo admin (a real box
    // gets its first admin's password from provisioning, or a random one printed once).
    web: { enabled: true, host: '127.0.0.1', port: 8443, firstAdmin: { name: 'admin', password: DEMO_ADMIN_PASSWORD } },
    // The uplink's demo: the endoscope pushed, over SRTP with RTX and FEC, to a receiver on this
    // machine (`orbox uplink sdp expert -o expert.sdp`, then `orbox receive --sdp expert.sdp`).
    uplink: { receivers: [{ name: 'expert', host: '127.0.0.1', port: 5004, channels: ['endoscope'] }] },
  }, 'built-in demo configuration');
}
