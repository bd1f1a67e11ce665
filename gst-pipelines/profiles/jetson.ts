/**
 * NVIDIA Jetson Orin NX / AGX (L4T accelerated GStreamer). Orin Nano has no NVENC and uses
 * the software profile.
 *
 * nvv4l2h264enc takes `bitrate` in bit/s, `iframeinterval` (GOP) and `idrinterval` in
 * frames, `control-rate=1` for constant bitrate and `insert-sps-pps` to repeat parameter sets
 * at every IDR. Frames reach it in NVMM memory through nvvidconv, which also scales.
 */
import type { ProfileInput } from '../schema.js';

export const jetson: ProfileInput = {
  id: 'jetson',
  board: 'NVIDIA Jetson Orin NX / AGX',
  compatible: ['nvidia,tegra234'],
  rawFormat: 'NV12',
  capture: { source: { factory: 'v4l2src' }, convert: [{ factory: 'nvvidconv' }] },
  encode: {
    convert: [{ factory: 'nvvidconv' }],
    memory: 'memory:NVMM',
    format: 'NV12',
    scaling: { by: 'caps' },
  },
  roles: {
    hq: {
      width: 1920, height: 1080, fps: 30, bitrateBps: 8_000_000, gopFrames: 30,
      encoder: {
        factory: 'nvv4l2h264enc',
        props: { bitrate: 8_000_000 /* bit/s */, iframeinterval: 30, idrinterval: 30, 'control-rate': 1, 'insert-sps-pps': true, 'maxperf-enable': true },
      },
    },
    lq: {
      width: 1280, height: 720, fps: 30, bitrateBps: 1_500_000, gopFrames: 15, leaky: true,
      encoder: {
        factory: 'nvv4l2h264enc',
        props: { bitrate: 1_500_000 /* bit/s */, iframeinterval: 15, idrinterval: 15, 'control-rate': 1, 'insert-sps-pps': true, 'maxperf-enable': true },
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
