/**
 * Configuration of the device-data ports, as zod schemas the box configuration embeds
 * (`devices: { ports: [...] }`). Errors name the key path (e.g. `ports.0.baudRate`).
 *
 * Defaults follow each protocol's line settings on the reference page: IntelliVue 115200 8N1 no
 * handshake, S/5 19200 8E1 RTS/CTS, MEDIBUS 9600 8N1 (parity varies by device: set it).
 */
import { z } from 'zod';
import type { Protocol } from './sample.js';
import { parseUdpPath } from './port-path.js';

export const LINE_DEFAULTS: Record<Protocol, { baudRate: number; parity: 'none' | 'even' | 'odd'; dataBits: 7 | 8; stopBits: 1 | 2; rtscts: boolean }> = {
  intellivue: { baudRate: 115200, parity: 'none', dataBits: 8, stopBits: 1, rtscts: false },
  s5: { baudRate: 19200, parity: 'even', dataBits: 8, stopBits: 1, rtscts: true },
  medibus: { baudRate: 9600, parity: 'none', dataBits: 8, stopBits: 1, rtscts: false },
};

const BAUD_RATES = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] as const;

export const PortConfigSchema = z
  .object({
    /** Port name used in samples, events and logs (e.g. "monitor", "anesthesia"). */
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/, 'letters, digits, _ . - (1..32)'),
    /**
     * Serial device path (e.g. /dev/ttyUSB0 or a pty link), or for an IntelliVue on the LAN
     * `udp://<monitor address>[:24105]`.
     */
    path: z.string().min(1),
    protocol: z.enum(['intellivue', 's5', 'medibus']),
    baudRate: z.union(BAUD_RATES.map((b) => z.literal(b)) as unknown as [z.ZodLiteral<number>, z.ZodLiteral<number>, ...z.ZodLiteral<number>[]]).optional(),
    parity: z.enum(['none', 'even', 'odd']).optional(),
    dataBits: z.union([z.literal(7), z.literal(8)]).optional(),
    stopBits: z.union([z.literal(1), z.literal(2)]).optional(),
    rtscts: z.boolean().optional(),
    /** Keep a raw device-to-box byte log here (replayable with `orbox devices replay`). */
    rawLogPath: z.string().min(1).optional(),
    /** Upper bound of the raw log in bytes; logging stops (counted) beyond it. Default 256 MiB. */
    rawLogMaxBytes: z.number().int().positive().optional(),
    /** Silence limit before re-association, ms (protocol default otherwise). */
    silenceMs: z.number().int().min(500).max(600_000).optional(),
    /** Waves / curves to request at start (protocol-specific names, see README). */
    waves: z.array(z.string()).max(8).optional(),
    /** S/5 displayed-values interval, s. */
    intervalS: z.number().int().min(1).max(3600).optional(),
    /** MEDIBUS poll period, ms. */
    pollMs: z.number().int().min(100).max(60_000).optional(),
    /**
     * The device on this port is a simulator (the demo's monitor), not a patient's: every sample
     * is flagged SIMULATED, and status and telemetry say so.
     */
    simulated: z.boolean().optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (!p.path.startsWith('udp://')) return;
    if (p.protocol !== 'intellivue') ctx.addIssue({ code: 'custom', path: ['path'], message: `only IntelliVue speaks UDP; ${p.protocol} needs a serial path` });
    else if (!parseUdpPath(p.path)) ctx.addIssue({ code: 'custom', path: ['path'], message: `expected udp://<host>[:<port>], got "${p.path}"` });
  });

export type PortConfigInput = z.input<typeof PortConfigSchema>;
export type PortConfig = z.output<typeof PortConfigSchema>;

/** A port config with the line settings resolved from the protocol defaults. */
export interface ResolvedPortConfig extends PortConfig {
  baudRate: number;
  parity: 'none' | 'even' | 'odd';
  dataBits: 7 | 8;
  stopBits: 1 | 2;
  rtscts: boolean;
}

export const DevicesConfigSchema = z
  .object({
    ports: z.array(PortConfigSchema).superRefine((ports, ctx) => {
      const seen = new Map<string, number>();
      ports.forEach((p, i) => {
        const prev = seen.get(p.name);
        if (prev !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate port name ${p.name} (also ports.${prev}.name)` });
        seen.set(p.name, i);
      });
    }),
  })
  .strict();
export type DevicesConfig = z.output<typeof DevicesConfigSchema>;

export function resolvePortConfig(p: PortConfig): ResolvedPortConfig {
  const d = LINE_DEFAULTS[p.protocol];
  return {
    ...p,
    baudRate: p.baudRate ?? d.baudRate,
    parity: p.parity ?? d.parity,
    dataBits: p.dataBits ?? d.dataBits,
    stopBits: p.stopBits ?? d.stopBits,
    rtscts: p.rtscts ?? d.rtscts,
  };
}

/** Formats zod issues as `path: message` lines, the path joined with dots. */
export function formatConfigIssues(err: z.ZodError, prefix = ''): string[] {
  return err.issues.map((i) => `${[prefix, ...i.path.map(String)].filter(Boolean).join('.')}: ${i.message}`);
}
