/**
 * NXP i.MX 8M Plus, two encoder paths: NXP's imx-gst1.0-plugin `vpuenc_h264` (bitrate in
 * kbit/s, `gop-size` in frames) and the V4L2 stateful encoder `v4l2h264enc` (controls in
 * `extra-controls`). Both scale and convert on the 2D GPU with `imxvideoconvert_g2d`.
 */
import type { ProfileInput } from '../schema.js';

const snapshot: ProfileInput['roles']['snapshot'] = {
  width: 640, height: 360, intervalS: 1,
  convert: [{ factory: 'videoscale' }, { factory: 'videoconvert' }],
  format: 'I420',
  encoder: { factory: 'jpegenc', props: { quality: 85 } },
};

export const imx8mpVpu: ProfileInput = {
  id: 'imx8mp-vpu',
  board: 'NXP i.MX 8M Plus (vpuenc_h264)',
  compatible: ['fsl,imx8mp'],
  rawFormat: 'NV12',
  capture: { source: { factory: 'v4l2src' }, convert: [{ factory: 'imxvideoconvert_g2d' }] },
  encode: { convert: [{ factory: 'imxvideoconvert_g2d' }], format: 'NV12', scaling: { by: 'caps' } },
  roles: {
    hq: {
      width: 1920, height: 1080, fps: 30, bitrateBps: 8_000_000, gopFrames: 30,
      encoder: { factory: 'vpuenc_h264', props: { bitrate: 8000 /* kbit/s */, 'gop-size': 30 } },
    },
    lq: {
      width: 1280, height: 720, fps: 30, bitrateBps: 1_500_000, gopFrames: 15, leaky: true,
      encoder: { factory: 'vpuenc_h264', props: { bitrate: 1500 /* kbit/s */, 'gop-size': 15 } },
    },
    snapshot,
  },
  recording: { muxer: 'matroskamux', extension: 'mkv' },
};

export const imx8mpV4l2: ProfileInput = {
  id: 'imx8mp-v4l2',
  board: 'NXP i.MX 8M Plus (v4l2h264enc)',
  compatible: ['fsl,imx8mp'],
  rawFormat: 'NV12',
  capture: { source: { factory: 'v4l2src' }, convert: [{ factory: 'imxvideoconvert_g2d' }] },
  encode: { convert: [{ factory: 'imxvideoconvert_g2d' }], format: 'NV12', scaling: { by: 'caps' } },
  roles: {
    hq: {
      width: 1920, height: 1080, fps: 30, bitrateBps: 8_000_000, gopFrames: 30,
      encoder: {
        factory: 'v4l2h264enc',
        props: {
          'extra-controls': {
            structure: 'controls',
            fields: { video_bitrate: 8_000_000, h264_i_frame_period: 30, video_gop_size: 30 },
          },
        },
      },
    },
    lq: {
      width: 1280, height: 720, fps: 30, bitrateBps: 1_500_000, gopFrames: 15, leaky: true,
      encoder: {
        factory: 'v4l2h264enc',
        props: {
          'extra-controls': {
            structure: 'controls',
            fields: { video_bitrate: 1_500_000, h264_i_frame_period: 15, video_gop_size: 15 },
          },
        },
      },
    },
    snapshot,
  },
  recording: { muxer: 'matroskamux', extension: 'mkv' },
};
