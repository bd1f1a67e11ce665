/**
 * The protocol -> driver table: the one place that knows every driver class.
 */
import type { ResolvedPortConfig } from './config.js';
import type { DriverHost, ProtocolDriver } from './driver.js';
import { IntelliVueDriver } from './intellivue/driver.js';
import { MedibusDriver } from './medibus/driver.js';
import { S5Driver } from './s5/driver.js';
import { isUdpPath } from './port-path.js';

/** Builds the driver of a port; `passive` (replay) decodes without having run the session. */
export function createDriver(cfg: ResolvedPortConfig, host: DriverHost, passive = false): ProtocolDriver {
  const base = cfg.silenceMs !== undefined ? { silenceMs: cfg.silenceMs } : {};
  switch (cfg.protocol) {
    case 'intellivue':
      return new IntelliVueDriver(host, { ...base, waves: cfg.waves ?? [], passive, datagram: isUdpPath(cfg.path) });
    case 's5':
      return new S5Driver(host, { ...base, waves: cfg.waves ?? [], ...(cfg.intervalS ? { intervalS: cfg.intervalS } : {}) });
    case 'medibus':
      return new MedibusDriver(host, { ...base, curves: cfg.waves ?? [], ...(cfg.pollMs ? { pollMs: cfg.pollMs } : {}) });
  }
}

