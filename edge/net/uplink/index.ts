/**
 * The resilient uplink: live RTP to configured receivers with repair, SRTP and an adaptive
 * hq/lq choice (edge/config/uplink.ts for the configuration and ports), and what `orbox receive`
 * reads from its SDP. Entered here.
 */
export * from './keys.js';
export * from './index-journal.js';
export * from './sdp.js';
export * from './stream-choice.js';
export * from './receive-plan.js';
export * from './session.js';
export * from './pair-sender.js';
export * from './pair-audio.js';
export * from './uplink.js';
export * from './receive-session.js';
export * from './receive.js';
export { keyingOf } from './units.js';
