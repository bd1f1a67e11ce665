/**
 * WS-Discovery Probe / ProbeMatches (WS-Discovery 2005/04, as ONVIF Core §7.3 uses it) for
 * ONVIF NetworkVideoTransmitters: one Probe, then the matches that arrive within `timeoutMs`.
 *
 * Contract
 * - `to` is where the Probe goes: the multicast group 239.255.255.250:3702 (the default) or
 *   one device by unicast. Tests send it only inside a network namespace or by unicast to
 *   127.0.0.1 (test-rig/onvif): a probe from a test never reaches a real LAN.
 * - Bounded: a datagram is at most 64 KiB by UDP; at most MAX_MATCHES devices are kept; a
 *   match whose RelatesTo is not this probe's MessageID, or that is not XML, is ignored (and
 *   counted in `ignored`).
 * - Lifecycle: one call, one socket, closed when it resolves. Errors: a socket error rejects.
 * Runs on: control (`orbox cameras discover`), video-capture (an onvif source bound by match).
 */
import { randomUUID } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { elements, text } from './xml.js';

export const WS_DISCOVERY_GROUP = '239.255.255.250';
export const WS_DISCOVERY_PORT = 3702;
/** Devices kept from one probe (a room has a handful; a hospital VLAN a few hundred). */
export const MAX_MATCHES = 256;

export interface DiscoveredDevice {
  /** EndpointReference Address (urn:uuid:…): stable across reboots and address changes. */
  endpoint: string;
  /** Device service addresses. */
  xaddrs: string[];
  scopes: string[];
  /** From the onvif://www.onvif.org/hardware/ and /name/ scopes. */
  model?: string;
  name?: string;
  /** Where the match came from (host:port). */
  from: string;
}

export interface ProbeOptions {
  to?: { host: string; port: number };
  timeoutMs?: number;
  /** Local address to send from (and the multicast interface): default 0.0.0.0 / the system's choice. */
  bindAddress?: string;
}

export function probeMessage(messageId: string): string {
  return '<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" ' +
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" ' +
    'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><s:Header>' +
    `<a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action><a:MessageID>${messageId}</a:MessageID>` +
    '<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header>' +
    '<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>';
}

const scopeValue = (scopes: string[], kind: string): string | undefined => {
  const s = scopes.find((x) => x.startsWith(`onvif://www.onvif.org/${kind}/`));
  return s ? decodeURIComponent(s.slice(`onvif://www.onvif.org/${kind}/`.length)).slice(0, 128) : undefined;
};

/** The matches of one ProbeMatches message for `messageId` (empty if it is not one). */
export function parseProbeMatches(xml: string, messageId: string, from: string): DiscoveredDevice[] {
  if (text(xml, 'RelatesTo') !== messageId) return [];
  return elements(xml, 'ProbeMatch').slice(0, MAX_MATCHES).flatMap((m) => {
    const endpoint = text(elements(m, 'EndpointReference')[0] ?? '', 'Address');
    const xaddrs = (text(m, 'XAddrs') ?? '').split(/\s+/).filter((x) => /^https?:\/\//.test(x)).slice(0, 8);
    if (!endpoint || xaddrs.length === 0) return [];
    const scopes = (text(m, 'Scopes') ?? '').split(/\s+/).filter(Boolean).slice(0, 64);
    return [{ endpoint: endpoint.slice(0, 256), xaddrs, scopes, model: scopeValue(scopes, 'hardware'), name: scopeValue(scopes, 'name'), from }];
  });
}

/** Sends one Probe and collects the devices that answer within `timeoutMs` (default 2000). */
export function probe(opts: ProbeOptions = {}): Promise<{ devices: DiscoveredDevice[]; ignored: number }> {
  const to = opts.to ?? { host: WS_DISCOVERY_GROUP, port: WS_DISCOVERY_PORT };
  const messageId = `urn:uuid:${randomUUID()}`;
  const msg = Buffer.from(probeMessage(messageId));
  return new Promise((resolve, reject) => {
    const sock = createSocket({ type: 'udp4', reuseAddr: true });
    const byEndpoint = new Map<string, DiscoveredDevice>();
    let ignored = 0;
    sock.on('error', (e) => { clearTimeout(timer); sock.close(); reject(new Error(`WS-Discovery probe to ${to.host}:${to.port}: ${e.message}`)); });
    sock.on('message', (buf, rinfo) => {
      const found = parseProbeMatches(buf.toString('utf8'), messageId, `${rinfo.address}:${rinfo.port}`);
      if (found.length === 0) ignored++;
      for (const d of found) if (byEndpoint.size < MAX_MATCHES && !byEndpoint.has(d.endpoint)) byEndpoint.set(d.endpoint, d);
    });
    const timer = setTimeout(() => { sock.close(); resolve({ devices: [...byEndpoint.values()], ignored }); }, opts.timeoutMs ?? 2000);
    sock.bind(0, opts.bindAddress, () => {
      if (to.host === WS_DISCOVERY_GROUP && opts.bindAddress) sock.setMulticastInterface(opts.bindAddress);
      sock.send(msg, to.port, to.host);
    });
  });
}
