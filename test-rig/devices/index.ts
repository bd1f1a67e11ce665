/** Device simulators for tests, benches and the `make run` demo. */
export { createPtyPair, type PtyPair } from './pty.js';
export { VitalsScript, type VitalsScriptOptions } from './script.js';
export { mulberry32 } from './prng.js';
export { IntelliVueMonitorCore, IntelliVueSimulator, IntelliVueUdpSimulator, startDemoIntelliVue, type IntelliVueSimOptions } from './intellivue-sim.js';
export { S5MonitorCore, S5Simulator, type S5SimOptions } from './s5-sim.js';
export { MedibusDeviceCore, MedibusSimulator, type MedibusSimOptions } from './medibus-sim.js';
export type { DeviceSimulator } from './sim-port.js';
