/**
 * Where a receiver's session lives on the box: its keys and the SRTP index journal under
 * `<dataDir>/uplink/`, and the SDP made from them. A fresh SDP (`fresh`) is a new session: new
 * keys, so a receiver starting from it begins at ROC 0 (SDES carries no rollover counter, RFC 4568;
 * a receiver joining a stream whose ROC moved on could not decrypt), and net-send is told to
 * restart the receiver's pairs with them.
 * Runs on: control, net-send.
 */
import { join } from 'node:path';
import type { BoxConfig } from '../../config/index.js';
import { UplinkKeyStore, type ReceiverKeys } from './keys.js';
import { buildUplinkSdp, UplinkSdpError } from './sdp.js';

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

function receiverConfig(cfg: BoxConfig, receiver: string) {
  const r = cfg.uplink.receivers.find((x) => x.name === receiver);
  if (!r) throw new UplinkSdpError(`no uplink receiver "${receiver}" (receivers: ${cfg.uplink.receivers.map((x) => x.name).join(', ') || 'none configured'})`);
  return r;
}

/**
 * The keys of a configured receiver (made on first use; new ones with `fresh`).
 * @throws UplinkSdpError for an unknown receiver, UplinkKeyError for a damaged key file.
 */
export function receiverKeys(cfg: BoxConfig, receiver: string, fresh = false): ReceiverKeys {
  const r = receiverConfig(cfg, receiver);
  const store = uplinkKeyStore(cfg.box.dataDir);
  const channels = r.channels.map((name) => ({ name, mediaSsrc0: r.fec.enabled, audio: channelAudio(cfg, name) !== undefined }));
  return fresh ? store.rekey(r.name, r.srtp.suite, channels) : store.get(r.name, r.srtp.suite, channels);
}

/**
 * The audio a channel sends on the uplink: its audio input's channel count, or undefined when
 * the channel has no audio (or names an input the configuration lacks; the schema refuses that).
 */
export function channelAudio(cfg: BoxConfig, channel: string): { input: string; channels: 1 | 2 } | undefined {
  const name = cfg.channels.find((c) => c.name === channel)?.audio;
  const input = name ? cfg.audio.inputs.find((a) => a.name === name) : undefined;
  return input ? { input: input.name, channels: input.channels as 1 | 2 } : undefined;
}

/** The SDP of a configured receiver; `fresh` starts a new session (new keys). @throws UplinkSdpError, UplinkKeyError. */
export function receiverSdp(cfg: BoxConfig, receiver: string, fresh = false): string {
  const keys = receiverKeys(cfg, receiver, fresh);
  const r = receiverConfig(cfg, receiver);
  const audio: Record<string, { channels: 1 | 2 }> = {};
  for (const ch of r.channels) { const a = channelAudio(cfg, ch); if (a) audio[ch] = { channels: a.channels }; }
  return buildUplinkSdp({ boxId: cfg.box.id, receiver: r, keys, audio, version: String(Math.floor(Date.parse(keys.createdAt) / 1000) || 1) });
}
