/**
 * Device-data bench (`make bench`): decode rate of each driver against the rate its device can
 * send (the line rate: baud / bits per character), and remote-command acknowledgement latency
 * with the simulator on a real pty (requirement < 150 ms, goal p99 < 20 ms).
 *
 * Prints `BENCH devices <metric>=<value> ...` lines.
 */
import { BoxClock } from '../../edge/lib/clock.js';
import type { DriverHost, ProtocolDriver } from '../../edge/devices/driver.js';
import { DeviceDataService } from '../../edge/devices/index.js';
import { IntelliVueDriver } from '../../edge/devices/intellivue/driver.js';
import { MedibusDriver } from '../../edge/devices/medibus/driver.js';
import { S5Driver } from '../../edge/devices/s5/driver.js';
import { createPtyPair } from '../../edge/demo/pty.js';
import { IntelliVueMonitorCore, IntelliVueSimulator } from '../../edge/demo/intellivue-sim.js';
import { MedibusDeviceCore, MedibusSimulator } from '../devices/medibus-sim.js';
import { S5MonitorCore } from '../devices/s5-sim.js';
import { VirtualLink } from '../devices/loopback.js';
import { quantile } from '../../edge/lib/stats.js';

interface Case {
  name: string;
  lineBytesPerS: number;
  capture: () => { chunks: Uint8Array[]; seconds: number };
  make: (h: DriverHost) => ProtocolDriver;
}

function capture(setup: (l: VirtualLink) => void, seconds: number): { chunks: Uint8Array[]; seconds: number } {
  const l = new VirtualLink();
  setup(l);
  const chunks: Uint8Array[] = [];
  l.mangle = (c) => {
    chunks.push(c);
    return [c];
  };
  l.driver.start();
  l.run(seconds * 1000, 16);
  return { chunks, seconds };
}

const cases: Case[] = [
  {
    name: 'intellivue',
    lineBytesPerS: 115200 / 10,
    capture: () => capture((l) => l.attach(new IntelliVueDriver(l.host, { waves: ['ECG_II', 'PLETH'] }), new IntelliVueMonitorCore(l.deviceSend, l.nowMs, { splitLinked: true })), 60),
    make: (h) => new IntelliVueDriver(h, { passive: true }),
  },
  {
    name: 's5',
    lineBytesPerS: 19200 / 11,
    capture: () => capture((l) => l.attach(new S5Driver(l.host, { intervalS: 1, waves: ['ECG1', 'PLETH'] }), new S5MonitorCore(l.deviceSend, l.nowMs, {})), 60),
    make: (h) => new S5Driver(h, {}),
  },
  {
    name: 'medibus',
    lineBytesPerS: 19200 / 10,
    capture: () => capture((l) => l.attach(new MedibusDriver(l.host, { curves: ['PAW', 'FLOW', 'CO2'] }), new MedibusDeviceCore(l.deviceSend, l.nowMs, {})), 60),
    make: (h) => new MedibusDriver(h, { curves: ['PAW', 'FLOW', 'CO2'] }),
  },
];

function decodeRate(c: Case): void {
  const cap = c.capture();
  const bytes = cap.chunks.reduce((n, x) => n + x.length, 0);
  let samples = 0;
  const host: DriverHost = { now: () => ({ wallNs: 0n, monoNs: 0n }), write: () => {}, emit: () => void samples++, setState: () => {}, setDeviceId: () => {} };
  // warm up, then run whole captures until at least 1 s has passed
  for (let i = 0; i < 3; i++) {
    const d = c.make(host);
    for (const ch of cap.chunks) d.receive(ch);
  }
  samples = 0;
  let rounds = 0;
  const t0 = process.hrtime.bigint();
  let el = 0;
  do {
    const d = c.make(host);
    for (const ch of cap.chunks) d.receive(ch);
    rounds++;
    el = Number(process.hrtime.bigint() - t0) / 1e9;
  } while (el < 1);
  const decodeBps = (bytes * rounds) / el;
  const simBps = bytes / cap.seconds;
  console.log(
    `BENCH devices ${c.name}_decode_Bps=${Math.round(decodeBps)} ${c.name}_line_Bps=${Math.round(c.lineBytesPerS)} ${c.name}_sim_Bps=${Math.round(simBps)} ` +
      `${c.name}_headroom=${(decodeBps / c.lineBytesPerS).toFixed(0)} ${c.name}_samples_per_s=${Math.round((samples / el))}`,
  );
}

const pct = (sorted: number[], p: number): number => quantile(sorted, p / 100);

async function commandLatency(name: string, protocol: 'intellivue' | 'medibus', action: string, args: Record<string, unknown>, n: number): Promise<void> {
  const pty = await createPtyPair();
  const sim = protocol === 'intellivue' ? new IntelliVueSimulator(pty.devicePath, {}) : new MedibusSimulator(pty.devicePath, {});
  await sim.start();
  let ready = false;
  const svc = new DeviceDataService({
    ports: [{ name: 'dev', path: pty.boxPath, protocol, ...(protocol === 'medibus' ? { baudRate: 19200 } : {}) }],
    onSample: () => (ready = true),
    clock: new BoxClock(),
    tickMs: 50,
  });
  svc.start();
  try {
    const end = Date.now() + 15_000;
    while (!ready && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    if (!ready) throw new Error(`${name}: no data from the simulator`);
    const lat: number[] = [];
    let failed = 0;
    for (let i = 0; i < n; i++) {
      const r = await svc.command({ transactionId: `${name}-${i}`, port: 'dev', action, args });
      if (r.state !== 'finished') failed++;
      else lat.push(Number(r.latencyNs) / 1e6);
      await new Promise((r) => setTimeout(r, 5));
    }
    lat.sort((a, b) => a - b);
    const p50 = pct(lat, 50);
    const p99 = pct(lat, 99);
    console.log(`# ${name} slowest: ${lat.slice(-8).map((x) => x.toFixed(1)).join(" ")}`);
    console.log(
      `BENCH devices ${name}_cmd_ack_p50_ms=${p50.toFixed(2)} ${name}_cmd_ack_p99_ms=${p99.toFixed(2)} ${name}_cmd_n=${lat.length} ${name}_cmd_failed=${failed} ` +
        `requirement_ms=150 requirement_met=${p99 < 150} goal_p99_ms=20 goal_met=${p99 < 20}`,
    );
  } finally {
    await svc.close();
    await sim.close();
    await pty.close();
  }
}

for (const c of cases) decodeRate(c);
await commandLatency('intellivue', 'intellivue', 'waves.select', { waves: ['ECG_II', 'PLETH'] }, 500);
await commandLatency('medibus', 'medibus', 'device.id', {}, 500);
