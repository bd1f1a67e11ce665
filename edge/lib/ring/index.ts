/**
 * Ring FIFOs: the only data path between workers. `ring.ts` holds framed records
 * (encoded video, audio, vitals, commands); `slot-ring.ts` holds raw video frames by buffer
 * exchange. Each module documents its memory layout, ordering argument and overrun policy.
 */
export * from './ring.js';
export * from './slot-ring.js';
