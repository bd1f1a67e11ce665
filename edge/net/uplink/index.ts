/**
 * The resilient uplink: live RTP to configured receivers with repair, SRTP and an adaptive
 * hq/lq choice (edge/config/uplink.ts for the configuration and ports). Entered here.
 */
import { join } from 'node:path';
import type { BoxConfig } from '../../config/index.js';
import { UplinkKeyStore, type ReceiverKeys } from './keys.js';
import { buildUplinkSdp, UplinkSdpError } from './sdp.js';

export * from './keys.js';
export * from './index-journal.js';
export * from './sdp.js';
export * from './stream-choice.js';
export * from './receive-plan.js';

/** Where the uplink keeps its keys and index journal: `<dataDir>/uplink/`. */
export function uplinkDir(dataDir: string): string {
  return join(dataDir, 'uplink');
}

export function uplinkKeyStore(dataDir: string): UplinkKeyStore {
  return new UplinkKeyStore({ dir: join(uplinkDir(dataDir), 'keys') });
}

export function uplinkJournalFile(dataDir: string): string {
  return join(uplinkDir(dataDir), 'srtp-index.json');
}

/** The keys of a configured receiver (made on first use). @throws UplinkSdpError for an unknown receiver. */
export function receiverKeys(cfg: BoxConfig, receiver: string): ReceiverKeys {
  const r = cfg.uplink.receivers.find((x) => x.name === receiver);
  if (!r) throw new UplinkSdpError(`no uplink receiver "${receiver}" (receivers: ${cfg.uplink.receivers.map((x) => x.name).join(', ') || 'none configured'})`);
  return uplinkKeyStore(cfg.box.dataDir).get(r.name, r.srtp.suite, r.channels.map((name) => ({ name, mediaSsrc0: r.fec.enabled })));
}

/** The SDP of a configured receiver. @throws UplinkSdpError, UplinkKeyError. */
export function receiverSdp(cfg: BoxConfig, receiver: string): string {
  const keys = receiverKeys(cfg, receiver);
  return buildUplinkSdp({ boxId: cfg.box.id, receiver: cfg.uplink.receivers.find((x) => x.name === receiver)!, keys });
}
