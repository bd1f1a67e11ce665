/**
 * Where each H.264 encoder keeps its bitrate and its GOP length, and in which unit.
 *
 * Owns: one table, read by the profile schema to check that a profile's literal encoder
 * properties say what its role claims (8 Mb/s is `bitrate=8000` on x264enc but
 * `bitrate=8000000` on openh264enc; the GOP is `key-int-max` on one and `gop-size` on the
 * other). Getting a unit wrong by 1000x is the classic mistake here, so it is checked, not
 * trusted.
 *
 * Sources (read, not copied): `gst-inspect-1.0` on this machine for x264enc and openh264enc;
 * the GStreamer documentation for vaapih264enc ("bitrate ... expressed in kbps",
 * `keyframe-period`); the Rockchip gstreamer-rockchip mppenc source (`bps` in bit/s, `gop`
 * in frames, `rc-mode`); NXP imx-gst1.0-plugin usage (`vpuenc_h264 bitrate=<kbit/s>
 * gop-size=<frames>`); NVIDIA's Jetson accelerated GStreamer guide (`nvv4l2h264enc bitrate`
 * in bit/s, `iframeinterval`); the V4L2 codec controls (`video_bitrate` in bit/s,
 * `h264_i_frame_period` in frames) passed through v4l2h264enc's `extra-controls`.
 *
 * Runs on: any thread; pure data.
 */

export interface EncoderFacts {
  /** Property holding the target bitrate. `a.b` means field `b` of structure property `a`. */
  readonly bitrateProp: string;
  /** Bits per second in one unit of `bitrateProp` (1000 for kbit/s, 1 for bit/s). */
  readonly bitrateUnitBps: number;
  /** Property holding the keyframe interval, in frames. */
  readonly gopProp: string;
  /** Human unit for messages. */
  readonly bitrateUnit: 'kbit/s' | 'bit/s';
}

export const ENCODER_FACTS: Readonly<Record<string, EncoderFacts>> = {
  x264enc: { bitrateProp: 'bitrate', bitrateUnitBps: 1000, bitrateUnit: 'kbit/s', gopProp: 'key-int-max' },
  openh264enc: { bitrateProp: 'bitrate', bitrateUnitBps: 1, bitrateUnit: 'bit/s', gopProp: 'gop-size' },
  vaapih264enc: { bitrateProp: 'bitrate', bitrateUnitBps: 1000, bitrateUnit: 'kbit/s', gopProp: 'keyframe-period' },
  mpph264enc: { bitrateProp: 'bps', bitrateUnitBps: 1, bitrateUnit: 'bit/s', gopProp: 'gop' },
  vpuenc_h264: { bitrateProp: 'bitrate', bitrateUnitBps: 1000, bitrateUnit: 'kbit/s', gopProp: 'gop-size' },
  nvv4l2h264enc: { bitrateProp: 'bitrate', bitrateUnitBps: 1, bitrateUnit: 'bit/s', gopProp: 'iframeinterval' },
  v4l2h264enc: {
    bitrateProp: 'extra-controls.video_bitrate',
    bitrateUnitBps: 1,
    bitrateUnit: 'bit/s',
    gopProp: 'extra-controls.h264_i_frame_period',
  },
};
