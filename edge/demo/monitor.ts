/**
 * The demo's patient monitor as its own process: a simulated IntelliVue on a pseudo-terminal.
 * Prints the box-side serial path as one JSON line on stdout, then runs until SIGTERM.
 * A process of its own because it stands for another device, and because the serialport
 * binding must be used by one thread per process (the box's device-data worker).
 */
import { startDemoIntelliVue } from './intellivue-sim.js';

const monitor = await startDemoIntelliVue();
process.stdout.write(JSON.stringify({ path: monitor.path }) + '\n');
const stop = async () => { await monitor.close(); process.exit(0); };
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
// Exit with the box: stdin closes when the parent goes away.
process.stdin.resume();
process.stdin.on('end', () => void stop());
