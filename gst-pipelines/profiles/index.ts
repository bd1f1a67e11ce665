/**
 * The profile list, in probe order: hardware encoders first (each exists only on its board),
 * then VA-API, then software. The probe picks the first whose elements exist and work.
 */
import type { ProfileInput } from '../schema.js';
import { rk3588 } from './rk3588.js';
import { rpi4 } from './rpi4.js';
import { imx8mpVpu, imx8mpV4l2 } from './imx8mp.js';
import { jetson } from './jetson.js';
import { x86Vaapi } from './x86-vaapi.js';
import { x86X264 } from './x86-x264.js';
import { x86OpenH264 } from './x86-openh264.js';

export const PROFILE_DATA: readonly ProfileInput[] = [rk3588, rpi4, imx8mpVpu, imx8mpV4l2, jetson, x86Vaapi, x86X264, x86OpenH264];
