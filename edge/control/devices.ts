/**
 * The device ports as control sees them: each configured port's connection state, followed
 * from device-data's `state` events, for `orbox status` and the fleet's telemetry.
 *
 * A port configured `simulated` (the demo's monitor) is shown as such everywhere it appears,
 * as its samples are flagged in the vitals ring and track: a simulator's numbers must never
 * pass for a patient's. Runs on the control worker; no I/O.
 */
import type { ConnectionState, PortConfigInput } from '../devices/index.js';

export interface DeviceStatus {
  name: string;
  protocol: string;
  path: string;
  /** 'connecting' until device-data reports otherwise. */
  state: ConnectionState;
  simulated: boolean;
}

export class DevicePorts {
  private readonly states = new Map<string, ConnectionState>();
  constructor(private readonly ports: readonly PortConfigInput[]) {}

  /** Takes a device-data event; true when it was a port's state change. */
  onEvent(e: { type?: string; port?: string; state?: string }): boolean {
    if (e.type !== 'state' || !e.port) return false;
    this.states.set(e.port, e.state as ConnectionState);
    return true;
  }

  status(): DeviceStatus[] {
    return this.ports.map((p) => ({ name: p.name, protocol: p.protocol, path: p.path, state: this.states.get(p.name) ?? 'connecting', simulated: p.simulated === true }));
  }
}
