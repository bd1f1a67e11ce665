/**
 * The `ota` section (issue 22): the on-box update agent (edge/ota) that the control worker starts
 * when this section is present. RAUC is reached on `bus` (the system bus, whose RAUC policy is
 * tightened to the box's user: ota/dbus/de.pengutronix.rauc.conf).
 */
import { z } from 'zod';

export const OtaConfigSchema = z.object({
  /** D-Bus address RAUC is on. */
  bus: z.string().regex(/^unix:/, 'a unix: D-Bus address').default('unix:path=/run/dbus/system_bus_socket'),
  /** Job store and downloads (on the data partition, untouched by A/B updates). Default <box.dataDir>/ota. */
  dir: z.string().min(1).optional(),
  /** Version of the factory image, used while RAUC knows none for the booted slot. */
  firmwareVersion: z.string().regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/, 'x.y.z[-pre]').default('1.0.0'),
  /** The guard's verdict must stay healthy this long after boot before Mark good, ms. */
  healthWindowMs: z.number().int().min(1000).max(3_600_000).default(60_000),
  /** A new slot not judged healthy within this long is marked bad and rolled back, ms. */
  healthTimeoutMs: z.number().int().min(5000).max(86_400_000).default(300_000),
  maxBundleBytes: z.number().int().min(1 << 20).default(2 ** 31),
  /** PEM file of the CA(s) the bundle server's certificate chains to; default the system's. */
  httpsCa: z.string().min(1).optional(),
  /** How the box reboots into the new slot. */
  rebootCommand: z.array(z.string().min(1)).min(1).default(['systemctl', 'reboot']),
}).strict();

export type OtaConfig = z.infer<typeof OtaConfigSchema>;
