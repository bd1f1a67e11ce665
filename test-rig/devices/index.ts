/** Device simulators for tests, benches and the `make run` demo. */
export { createPtyPair, type PtyPair } from '../../edge/demo/pty.js';
export { VitalsScript, type VitalsScriptOptions } from '../../edge/demo/script.js';
export { mulberry32 } from '../../edge/demo/prng.js';
export { IntelliVueMonitorCore, IntelliVueSimulator, IntelliVueUdpSimulator, startDemoIntelliVue, type IntelliVueSimOptions } from '../../edge/demo/intellivue-sim.js';
export { S5MonitorCore, S5Simulator, type S5SimOptions } from './s5-sim.js';
export { MedibusDeviceCore, MedibusSimulator, type MedibusSimOptions } from './medibus-sim.js';
export type { DeviceSimulator } from '../../edge/demo/sim-port.js';
