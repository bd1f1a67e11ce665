/**
 * Ring FIFOs: the only data path between workers. The record ring holds framed records
 * (encoded video, audio, vitals, commands): `layout.ts` its memory layout and createRing(),
 * `producer.ts` and `consumer.ts` its two sides, `stats.ts` its counters; `slot-ring.ts` holds
 * raw video frames by buffer exchange. Each module documents its part of the layout, ordering
 * argument and overrun policy.
 */
export { RING_MAGIC, RING_VERSION, RECORD_HEADER_BYTES, FLAG_SYNC, MAX_CONSUMERS, RingLayoutError, ringBytes, createRing } from './layout.js';
export * from './producer.js';
export * from './consumer.js';
export * from './stats.js';
export * from './slot-ring.js';
export * from './fanout.js';
