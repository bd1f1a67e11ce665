/**
 * The syntax of a device port's path: a serial device (`/dev/ttyUSB0`) or an IntelliVue on
 * the LAN (`udp://host[:port]`). Pure, so the configuration can check a path without loading
 * a transport (config.ts), and the transports and drivers read it the same way.
 */

/** IntelliVue Data Export's UDP port (monitors announce themselves on 24005). */
export const INTELLIVUE_UDP_PORT = 24105;

export const isUdpPath = (path: string): boolean => path.startsWith('udp://');

/** `udp://host[:port]` -> host and port, or undefined when malformed. */
export function parseUdpPath(path: string): { host: string; port: number } | undefined {
  const m = /^udp:\/\/(\[[0-9a-fA-F:]+\]|[^:/\s]+)(?::(\d{1,5}))?\/?$/.exec(path);
  if (!m) return undefined;
  const host = m[1].replace(/^\[|\]$/g, '');
  const port = m[2] ? Number(m[2]) : INTELLIVUE_UDP_PORT;
  if (port < 1 || port > 65535) return undefined;
  return { host, port };
}
