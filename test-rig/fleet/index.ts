/**
 * The hospital's fleet side for tests, benchmarks and the demo: a real mosquitto with a
 * generated device PKI (broker.ts, pki.ts), and helpers that wire a box or console to it.
 */
import type { FleetConsoleConfigInput, FleetLinkConfigInput } from '../../edge/fleet/index.js';
import type { LocalBroker } from './broker.js';

export { startLocalBroker, freeLoopbackPort, type LocalBroker, type LocalBrokerOptions, type ClientCredentials } from './broker.js';
export { TestPki } from './pki.js';

/** A FleetLink config for `boxId` on `broker` (certificate issued on first use). */
export function boxLinkConfig(broker: LocalBroker, boxId: string, queueDir: string, extra: Partial<FleetLinkConfigInput> = {}): FleetLinkConfigInput {
  const c = broker.credentials(boxId);
  return {
    url: broker.url,
    boxId,
    ca: broker.caPath,
    cert: c.cert,
    key: c.key,
    queueDir,
    durability: 'normal',
    reconnect: { minMs: 50, maxMs: 1000, jitter: 0.5 },
    ...extra,
  };
}

/** A FleetConsole config with the broker's console certificate. */
export function consoleConfig(broker: LocalBroker): FleetConsoleConfigInput {
  return { url: broker.url, ca: broker.caPath, cert: broker.consoleCredentials.cert, key: broker.consoleCredentials.key };
}

/** Environment variables the `orbox fleet` commands read. */
export function consoleEnv(broker: LocalBroker): Record<string, string> {
  return {
    ORBOX_FLEET_URL: broker.url,
    ORBOX_FLEET_CA: broker.caPath,
    ORBOX_FLEET_CERT: broker.consoleCredentials.cert,
    ORBOX_FLEET_KEY: broker.consoleCredentials.key,
  };
}
