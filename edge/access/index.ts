/** Accounts, sessions and sign-in throttling of the box (web console), and RTSP Digest (#21). */
export * from './accounts.js';
export * from './digest.js';
export * from './sessions.js';
export * from './throttle.js';
