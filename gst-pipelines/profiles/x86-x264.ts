/**
 * x86-64 software encoding with x264 (development, CI, lab; also any board without a usable
 * hardware encoder, such as Jetson Orin Nano or Raspberry Pi 5).
 *
 * x264enc takes `bitrate` in kbit/s and the GOP as `key-int-max` in frames. Its defaults
 * (lookahead, B-frames) add about 0.9 s of latency per frame, so both roles use
 * `tune=zerolatency` (no B-frames, no lookahead, sliced threads); hq spends a little more CPU
 * per frame (`superfast`) than lq (`ultrafast`).
 */
import type { ProfileInput } from '../schema.js';

export const x86X264: ProfileInput = {
  id: 'x86-x264',
  board: 'x86-64 (software x264)',
  rawFormat: 'NV12',
  capture: { source: { factory: 'v4l2src' }, convert: [{ factory: 'videoconvert' }] },
  encode: {
    convert: [{ factory: 'videoscale' }, { factory: 'videoconvert' }],
    // x264enc takes NV12 (the raw rings' format) as it is: with I420 here every frame of
    // every role went through a full-size videoconvert before the encoder.
    format: 'NV12',
    scaling: { by: 'caps' },
  },
  roles: {
    hq: {
      width: 1920, height: 1080, fps: 30, bitrateBps: 8_000_000, gopFrames: 30,
      encoder: {
        factory: 'x264enc',
        props: {
          bitrate: 8000, // kbit/s
          'key-int-max': 30, // frames: 1 s at 30 fps
          tune: 'zerolatency',
          'speed-preset': 'superfast',
          bframes: 0,
          'vbv-buf-capacity': 1000, // ms
        },
      },
    },
    lq: {
      width: 1280, height: 720, fps: 30, bitrateBps: 1_500_000, gopFrames: 15, leaky: true,
      encoder: {
        factory: 'x264enc',
        props: {
          bitrate: 1500, // kbit/s
          'key-int-max': 15, // frames: 0.5 s, so a viewer joins or recovers fast
          tune: 'zerolatency',
          'speed-preset': 'ultrafast',
          bframes: 0,
          'vbv-buf-capacity': 300, // ms: a small VBV keeps frame sizes even for the network
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
  recording: { muxer: 'matroskamux', extension: 'mkv' },
};
