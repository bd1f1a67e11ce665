export * from './schema.js';
export * from './load.js';
export { demoConfig } from './demo.js';
export { defaultApiSocket } from './runtime-dir.js';
export * from './uplink.js';
export * from './voice.js';
