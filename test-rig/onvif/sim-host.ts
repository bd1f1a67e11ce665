/**
 * The ONVIF simulator as its own process (for a network namespace: `ip netns exec T node
 * sim-host.js`): answers WS-Discovery on 239.255.255.250:3702 joined on 127.0.0.1 and its
 * SOAP services on 127.0.0.1; prints `{"deviceUrl":…,"endpoint":…}` when ready and runs until killed.
 * Usage: node sim-host.js [user] [password] [rtspUri]
 */
import { OnvifSimulator } from './simulator.js';

const [user, password, rtspUri] = process.argv.slice(2);
const sim = new OnvifSimulator({ user, password, rtspUri, model: 'OR Cam 4K', name: 'ceiling left', discoveryPort: 3702, multicast: { group: '239.255.255.250', iface: '127.0.0.1' } });
await sim.start();
process.stdout.write(JSON.stringify({ deviceUrl: sim.deviceUrl, endpoint: sim.endpoint }) + '\n');
process.on('SIGTERM', () => { void sim.stop().then(() => process.exit(0)); });
