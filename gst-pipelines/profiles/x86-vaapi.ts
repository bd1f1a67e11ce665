/**
 * x86-64 with an Intel/AMD GPU through VA-API (lab boxes with an iGPU).
 *
 * vaapih264enc takes `bitrate` in kbit/s and the GOP as `keyframe-period` in frames;
 * vaapipostproc scales and converts into VA surfaces. The elements register only where a
 * VA display opens, so on a machine without a GPU the probe skips this profile.
 */
import type { ProfileInput } from '../schema.js';

export const x86Vaapi: ProfileInput = {
  id: 'x86-vaapi',
  board: 'x86-64 (VA-API)',
  rawFormat: 'NV12',
  capture: { source: { factory: 'v4l2src' }, convert: [{ factory: 'videoconvert' }] },
  encode: {
    convert: [{ factory: 'vaapipostproc' }],
    memory: 'memory:VASurface',
    format: 'NV12',
    scaling: { by: 'caps' },
  },
  roles: {
    hq: {
      width: 1920, height: 1080, fps: 30, bitrateBps: 8_000_000, gopFrames: 30,
      encoder: {
        factory: 'vaapih264enc',
        props: { bitrate: 8000 /* kbit/s */, 'keyframe-period': 30, 'rate-control': 'cbr', 'max-bframes': 0 },
      },
    },
    lq: {
      width: 1280, height: 720, fps: 30, bitrateBps: 1_500_000, gopFrames: 15, leaky: true,
      encoder: {
        factory: 'vaapih264enc',
        props: { bitrate: 1500 /* kbit/s */, 'keyframe-period': 15, 'rate-control': 'cbr', 'max-bframes': 0, 'quality-level': 7 },
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
