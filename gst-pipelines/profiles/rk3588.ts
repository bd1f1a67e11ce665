/**
 * Rockchip RK3588 (vendor BSP with gstreamer-rockchip).
 *
 * mpph264enc takes `bps` in bit/s and `gop` in frames, `rc-mode` vbr/cbr/fixqp, and
 * `header-mode=each-idr` repeats SPS/PPS before every IDR (a receiver joining mid-stream needs
 * them). The BSP encoder scales on the RGA itself through its `width`/`height` properties,
 * so no CPU scaler sits in front of it. Not verified on hardware from this repository yet.
 */
import type { ProfileInput } from '../schema.js';

export const rk3588: ProfileInput = {
  id: 'rk3588',
  board: 'Rockchip RK3588',
  compatible: ['rockchip,rk3588'],
  notes: 'HDMI-RX on board is a V4L2 capture device; mpph264enc from the vendor BSP',
  rawFormat: 'NV12',
  capture: { source: { factory: 'v4l2src', props: { 'io-mode': 'dmabuf' } }, convert: [] },
  encode: {
    convert: [],
    format: 'NV12',
    scaling: { by: 'encoder', widthProp: 'width', heightProp: 'height' },
  },
  roles: {
    hq: {
      width: 1920, height: 1080, fps: 30, bitrateBps: 8_000_000, gopFrames: 30,
      encoder: {
        factory: 'mpph264enc',
        props: { bps: 8_000_000 /* bit/s */, gop: 30, 'rc-mode': 'cbr', 'header-mode': 'each-idr' },
      },
    },
    lq: {
      width: 1280, height: 720, fps: 30, bitrateBps: 1_500_000, gopFrames: 15, leaky: true,
      encoder: {
        factory: 'mpph264enc',
        props: { bps: 1_500_000 /* bit/s */, gop: 15, 'rc-mode': 'cbr', 'header-mode': 'each-idr' },
      },
    },
    snapshot: {
      width: 640, height: 360, intervalS: 1,
      convert: [{ factory: 'videoscale' }, { factory: 'videoconvert' }],
      format: 'I420',
      encoder: { factory: 'jpegenc', props: { quality: 85 } },
    },
  },
  recording: { muxer: 'matroskamux', extension: 'mkv' },
};
