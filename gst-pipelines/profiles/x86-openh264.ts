/**
 * x86-64 software encoding with Cisco's OpenH264 (fallback where x264 is not installed).
 *
 * openh264enc takes `bitrate` in bit/s and the GOP as `gop-size` in frames. It records to
 * MPEG-TS here so that the second crash-safe container is exercised on every test run.
 */
import type { ProfileInput } from '../schema.js';

export const x86OpenH264: ProfileInput = {
  id: 'x86-openh264',
  board: 'x86-64 (software OpenH264)',
  rawFormat: 'NV12',
  capture: { source: { factory: 'v4l2src' }, convert: [{ factory: 'videoconvert' }] },
  encode: {
    convert: [{ factory: 'videoscale' }, { factory: 'videoconvert' }],
    format: 'I420',
    scaling: { by: 'caps' },
  },
  roles: {
    hq: {
      width: 1920, height: 1080, fps: 30, bitrateBps: 8_000_000, gopFrames: 30,
      encoder: {
        factory: 'openh264enc',
        props: {
          bitrate: 8_000_000, // bit/s
          'gop-size': 30, // frames
          'rate-control': 'bitrate',
          'usage-type': 'camera',
          complexity: 'low',
        },
      },
    },
    lq: {
      width: 960, height: 540, fps: 30, bitrateBps: 1_500_000, gopFrames: 15, leaky: true,
      encoder: {
        factory: 'openh264enc',
        props: {
          bitrate: 1_500_000, // bit/s
          'gop-size': 15,
          'rate-control': 'bitrate',
          'usage-type': 'camera',
          complexity: 'low',
        },
      },
    },
    snapshot: {
      width: 640, height: 360, intervalS: 1,
      convert: [{ factory: 'videoscale' }, { factory: 'videoconvert' }],
      format: 'I420',
      encoder: { factory: 'jpegenc', props: { quality: 85 } },
    },
  },
  recording: { muxer: 'mpegtsmux', extension: 'ts' },
};
