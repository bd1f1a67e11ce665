export * from './schema.js';
export * from './load.js';
export { demoConfig } from './demo.js';
