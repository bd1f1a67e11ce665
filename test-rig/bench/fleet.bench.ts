/**
 * Fleet link benchmark (issue 5). Starts its own mosquitto (test-rig/fleet), a box-side
 * FleetLink in a child process (its own event loop, like the control worker) and a FleetConsole
 * here, then measures:
 *  - command round trip console -> broker -> box (decode, ledger write, handler, ack into the
 *    outbox) -> broker -> console, p50/p99/max over 1 000 sequential commands, with the box's
 *    default durability (one fsync per command: the ledger row). Requirement p99 < 150 ms; goal p99 < 20 ms.
 *  - baseline in the same run: a bare MQTT QoS 1 echo over the same broker and TLS, Nagle off as in
 *    the link (no protobuf, no disk), so the link's own cost is the difference.
 *  - telemetry size: protobuf (aliases after birth) against JSON of the same content, for a
 *    full report of every metric, a typical by-exception message, and the birth.
 *
 * Output: `BENCH fleet <metric>=<value> ...` lines; exit 0 unless something broke.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { FleetConsole, MetricSet, disableNagle, encodeBirth, encodeTelemetry, standardMetrics } from '../../edge/fleet/index.js';
import { boxLinkConfig, consoleConfig, startLocalBroker } from '../fleet/index.js';
import { quantile } from '../../edge/lib/stats.js';

const COMMANDS = 1000;
const WARMUP = 50;

const pct = (sorted: number[], p: number): number => quantile(sorted, p / 100);
const ms = (v: number) => v.toFixed(2);

async function main(): Promise<void> {
  const broker = await startLocalBroker({ boxIds: ['bench-box', 'bench-echo'] });
  const tmp = mkdtempSync(join(tmpdir(), 'orbox-bench-fleet-'));
  const script = fileURLToPath(new URL('../fleet/box-child.js', import.meta.url));
  const child = spawn(process.execPath, [script, JSON.stringify(boxLinkConfig(broker, 'bench-box', join(tmp, 'box'), { durability: (process.env.ORBOX_BENCH_DURABILITY as 'full' | 'normal' | undefined) ?? 'full' }))], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const cleanup = async () => {
    child.kill('SIGKILL');
    await broker.stop();
    rmSync(tmp, { recursive: true, force: true });
  };
  try {
    let online = false;
    createInterface({ input: child.stdout! }).on('line', (l) => { if (l === 'STATE online') online = true; });
    const deadline = Date.now() + 15_000;
    while (!online) {
      if (Date.now() > deadline) throw new Error('box did not come online');
      await new Promise((r) => setTimeout(r, 10));
    }

    // ---- command round trip through the link -------------------------------------------
    const fc = new FleetConsole(consoleConfig(broker));
    await fc.start();
    const rtt: number[] = [];
    for (let i = 0; i < WARMUP + COMMANDS; i++) {
      const t0 = process.hrtime.bigint();
      const ack = await fc.send('bench-box', { kind: 'channelSettings', channel: 'endo', settings: { bitrate_kbps: String(4000 + i) } }, { timeoutMs: 10_000 });
      const dt = Number(process.hrtime.bigint() - t0) / 1e6;
      if (ack?.state !== 'finished') throw new Error(`command ${i}: ${ack?.state}`);
      if (i >= WARMUP) rtt.push(dt);
    }
    await fc.close();
    rtt.sort((a, b) => a - b);

    // ---- baseline: bare MQTT QoS 1 echo ------------------------------------------------
    const cc = consoleConfig(broker);
    const tls = (cert: string, key: string) => ({ ca: readFileSync(broker.caPath), cert: readFileSync(cert), key: readFileSync(key) });
    const echoCreds = broker.credentials('bench-echo');
    const echo = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'bench-echo', reconnectPeriod: 0, ...tls(echoCreds.cert, echoCreds.key) });
    disableNagle(echo);
    await echo.subscribeAsync('orbox/v1/bench-echo/cmd', { qos: 1 });
    echo.on('message', (_t, p) => echo.publish('orbox/v1/bench-echo/ack', p, { qos: 1 }));
    const con = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'bench-con', reconnectPeriod: 0, ...tls(cc.cert as string, cc.key as string) });
    disableNagle(con);
    await con.subscribeAsync('orbox/v1/bench-echo/ack', { qos: 1 });
    let waiting: (() => void) | undefined;
    con.on('message', () => waiting?.());
    const base: number[] = [];
    for (let i = 0; i < WARMUP + COMMANDS; i++) {
      const t0 = process.hrtime.bigint();
      const got = new Promise<void>((r) => (waiting = r));
      await con.publishAsync('orbox/v1/bench-echo/cmd', Buffer.alloc(48, i), { qos: 1 });
      await got;
      if (i >= WARMUP) base.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    await con.endAsync();
    await echo.endAsync();
    base.sort((a, b) => a - b);

    const p99 = pct(rtt, 99);
    console.log(`# command round trip over ${COMMANDS} commands (box in its own process, ledger fsync per command), loopback TLS`);
    console.log(
      `BENCH fleet cmd_rtt_p50_ms=${ms(pct(rtt, 50))} cmd_rtt_p99_ms=${ms(p99)} cmd_rtt_max_ms=${ms(rtt.at(-1)!)} commands=${COMMANDS}` +
        ` baseline_mqtt_echo_p50_ms=${ms(pct(base, 50))} baseline_mqtt_echo_p99_ms=${ms(pct(base, 99))}` +
        ` requirement_met=${p99 < 150} goal_met=${p99 < 20}`,
    );

    // ---- telemetry size -------------------------------------------------------------------
    const defs = standardMetrics({
      workers: ['control', 'guard', 'device-data', 'video-capture', 'audio-capture', 'video-encode', 'audio-encode', 'net-send', 'duplex-voice'],
      rings: ['endo.raw', 'room.raw', 'endo.h264', 'room.h264', 'mic.pcm', 'vitals'],
      channels: ['endo', 'room', 'micro', 'us'],
      devices: ['monitor', 'anesthesia', 'ventilator'],
    });
    const set = new MetricSet(defs);
    const values: Record<string, number | bigint | boolean | string | null> = {};
    for (const d of defs) {
      const n = d.name;
      values[n] =
        d.type === 'bool' ? true
        : d.type === 'string' ? (n.endsWith('state') ? 'recording' : 'case-2026-0142')
        : d.type === 'double' ? (n.includes('temperature') ? 61.5 : 29.97)
        : n.includes('bitrate') ? 8_000_000n : n.includes('free_bytes') ? 412_345_678_901n : 3n;
    }
    set.set(values);
    const birthMetrics = set.takeBirth();
    const now = Date.now();
    const jsonValue = (v: unknown) => (typeof v === 'bigint' ? Number(v) : v);
    const birthPb = encodeBirth({ timestampMs: now, bdSeq: 17, seq: 0, metrics: birthMetrics, firmwareVersion: '1.4.2', bootId: 0x1234_5678_9abc_def0n }).length;
    const birthJson = Buffer.byteLength(JSON.stringify({
      timestampMs: now, bdSeq: 17, seq: 0, firmwareVersion: '1.4.2', bootId: '1311768467463790320',
      metrics: birthMetrics.map((m) => ({ name: m.name, type: m.type, ...(m.unit ? { unit: m.unit } : {}), value: jsonValue(m.value) })),
    }));
    const full = birthMetrics.map((m) => ({ alias: m.alias, type: m.type, value: m.value }));
    const fullPb = encodeTelemetry({ timestampMs: now, seq: 42, metrics: full }).length;
    const fullJson = Buffer.byteLength(JSON.stringify({ timestampMs: now, seq: 42, metrics: Object.fromEntries(birthMetrics.map((m) => [m.name, jsonValue(m.value)])) }));
    const typicalNames = ['channel/endo/fps', 'channel/endo/bitrate', 'channel/endo/dropped_frames', 'system/temperature_c'];
    const typical = birthMetrics.filter((m) => typicalNames.includes(m.name!));
    const typPb = encodeTelemetry({ timestampMs: now, seq: 43, metrics: typical.map((m) => ({ alias: m.alias, type: m.type, value: m.value })) }).length;
    const typJson = Buffer.byteLength(JSON.stringify({ timestampMs: now, seq: 43, metrics: Object.fromEntries(typical.map((m) => [m.name, jsonValue(m.value)])) }));
    console.log(`# telemetry size, ${defs.length} metrics (9 workers, 6 rings, 4 channels, 3 devices); JSON keyed by metric name`);
    console.log(
      `BENCH fleet telemetry_full_pb_bytes=${fullPb} telemetry_full_json_bytes=${fullJson} telemetry_full_ratio=${(fullPb / fullJson).toFixed(3)}` +
        ` telemetry_typical_pb_bytes=${typPb} telemetry_typical_json_bytes=${typJson} telemetry_typical_ratio=${(typPb / typJson).toFixed(3)}` +
        ` birth_pb_bytes=${birthPb} birth_json_bytes=${birthJson} birth_ratio=${(birthPb / birthJson).toFixed(3)}`,
    );
  } finally {
    await cleanup();
  }
}

await main();
