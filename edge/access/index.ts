/** Accounts, sessions and sign-in throttling of the box (web console now, RTSP Digest with #21). */
export * from './accounts.js';
export * from './sessions.js';
export * from './throttle.js';
