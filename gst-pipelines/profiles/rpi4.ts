/**
 * Raspberry Pi 4 / CM4 (HDMI through a TC358743 CSI-2 bridge; the Pi 5 has no H.264 encoder
 * and uses x86-x264-style software encoding).
 *
 * v4l2h264enc has no bitrate property of its own: V4L2 codec controls go in its
 * `extra-controls` structure (`video_bitrate` in bit/s, `h264_i_frame_period` in frames,
 * `repeat_sequence_header=1` for SPS/PPS before every IDR). The level must also be in the
 * caps after the encoder or negotiation fails on the bcm2835 codec. v4l2convert (the ISP)
 * scales and converts. The encoder does about one 1080p30 in total, so lq is 540p.
 */
import type { ProfileInput } from '../schema.js';

export const rpi4: ProfileInput = {
  id: 'rpi4',
  board: 'Raspberry Pi 4 / CM4',
  compatible: ['brcm,bcm2711'],
  rawFormat: 'I420',
  capture: { source: { factory: 'v4l2src' }, convert: [{ factory: 'v4l2convert' }] },
  encode: {
    convert: [{ factory: 'v4l2convert' }],
    format: 'I420',
    scaling: { by: 'caps' },
  },
  roles: {
    hq: {
      width: 1920, height: 1080, fps: 30, bitrateBps: 8_000_000, gopFrames: 30,
      encoder: {
        factory: 'v4l2h264enc',
        props: {
          'extra-controls': {
            structure: 'controls',
            fields: { video_bitrate: 8_000_000, h264_i_frame_period: 30, repeat_sequence_header: 1, h264_profile: 4, h264_level: 11 },
          },
        },
      },
      outputCaps: 'video/x-h264,level=(string)4',
    },
    lq: {
      width: 960, height: 540, fps: 30, bitrateBps: 1_500_000, gopFrames: 15, leaky: true,
      encoder: {
        factory: 'v4l2h264enc',
        props: {
          'extra-controls': {
            structure: 'controls',
            fields: { video_bitrate: 1_500_000, h264_i_frame_period: 15, repeat_sequence_header: 1, h264_profile: 0, h264_level: 10 },
          },
        },
      },
      outputCaps: 'video/x-h264,level=(string)3.1',
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
