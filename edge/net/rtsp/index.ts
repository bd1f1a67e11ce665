/** RTSP serving for net-send. See rtsp-out.ts (API) and server-child.ts (the guarded package). */
export * from './rtsp-out.js';
export type { MountStats } from './protocol.js';
