// Fuzz of the command topic through the real broker: 11 150 random, mutated, malformed and
// oversize payloads from a seeded generator, of which 10 000+ the codec rejects (mutations that
// stay valid are executed or deduplicated). Each rejected payload must produce exactly one
// `commandRejected` from the box (and an INVALID ack when its id is readable); each accepted one
// is executed or recognised as a duplicate; afterwards the box is still online on its first
// connection and answers a normal command.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { boxLinkConfig, consoleConfig, startLocalBroker } from '../../../test-rig/fleet/index.js';
import { type Ack, type CommandBody, FleetConsole, FleetLink, decodeCommand, encodeCommand } from '../index.js';
import { waitFor } from './helpers.js';

/** mulberry32: small seeded PRNG so a failing run can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.ORBOX_FUZZ_SEED ?? 0x5eed);
const COMMAND_MAX = 64 * 1024;

function payloads(rand: () => number): Buffer[] {
  const int = (n: number) => Math.floor(rand() * n);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const bodies: CommandBody[] = [
    { kind: 'recordingStart', caseId: 'c', channels: ['endo'] },
    { kind: 'recordingStop', caseId: '' },
    { kind: 'channelSettings', channel: 'endo', settings: { fps: '25' } },
    { kind: 'deviceCommand', device: 'vent', command: 'pause', args: { s: '1' } },
    { kind: 'restartWorker', worker: 'audio-encode' },
  ];
  const valid = (i: number) => encodeCommand({ commandId: `fz-${i}`, issuedAtMs: 1, expiresAtMs: 0, issuer: 'fuzz', body: bodies[i % bodies.length] });
  const out: Buffer[] = [];
  // 1. random bytes
  for (let i = 0; i < 3500; i++) out.push(bytes(int(300)));
  // 2. mutated valid commands: bit flips, byte overwrites, truncation, insertion
  for (let i = 0; i < 4500; i++) {
    const b = Buffer.from(valid(i));
    switch (i % 4) {
      case 0: for (let k = 0; k <= int(4); k++) { const p = int(b.length); b[p] = b[p]! ^ (1 << int(8)); } out.push(b); break;
      case 1: b[int(b.length)] = int(256); out.push(b); break;
      case 2: out.push(b.subarray(0, int(b.length))); break;
      default: { const p = int(b.length); out.push(Buffer.concat([b.subarray(0, p), bytes(1 + int(8)), b.subarray(p)])); }
    }
  }
  // 3. well-formed protobuf with invalid content
  for (let i = 0; i < 1000; i++) {
    const kind = i % 5;
    if (kind === 0) out.push(Buffer.from(encodeCommand({ commandId: '', issuedAtMs: 0, expiresAtMs: 0, issuer: '', body: { kind: 'rebirth' } })));
    else if (kind === 1) out.push(Buffer.from(encodeCommand({ commandId: 'x'.repeat(129 + int(50)), issuedAtMs: 0, expiresAtMs: 0, issuer: '', body: { kind: 'rebirth' } })));
    else if (kind === 2) out.push(Buffer.from(encodeCommand({ commandId: `inv-${i}`, issuedAtMs: 0, expiresAtMs: 0, issuer: '', body: { kind: 'restartWorker', worker: '' } })));
    else if (kind === 3) out.push(Buffer.concat([Buffer.from([0x0a, 6]), Buffer.from(`nob${String(i).padStart(3, '0')}`.slice(0, 6))])); // id only, no body
    else out.push(Buffer.from(encodeCommand({ commandId: `inv-${i}`, issuedAtMs: 0, expiresAtMs: 0, issuer: '', body: { kind: 'deviceCommand', device: 'v'.repeat(300), command: 'x', args: {} } })));
  }
  // 4. oversize, half with a readable id in front
  for (let i = 0; i < 150; i++) {
    const big = bytes(COMMAND_MAX + 1 + int(64 * 1024));
    if (i % 2 === 0) Buffer.from([0x0a, 5, ...Buffer.from(`big${String(i % 100).padStart(2, '0')}`)]).copy(big);
    out.push(big);
  }
  // 5. random tag/wire-type streams (field numbers 1..20, all wire types incl. invalid 6, 7)
  for (let i = 0; i < 2000; i++) {
    const parts: number[] = [];
    for (let f = 0; f < 1 + int(6); f++) {
      parts.push(((1 + int(20)) << 3) | int(8));
      for (let k = 0; k < int(6); k++) parts.push(int(256));
    }
    out.push(Buffer.from(parts));
  }
  return out;
}

const broker = await startLocalBroker({ boxIds: ['box-fz'] });
const tmp = mkdtempSync(join(tmpdir(), 'orbox-fuzz-'));
t.teardown(async () => {
  await broker.stop();
  rmSync(tmp, { recursive: true, force: true });
});

t.test(`fuzz: 10 000+ malformed/oversize command payloads (seed ${SEED}) rejected, box unaffected`, async (t) => {
  const all = payloads(prng(SEED));
  t.ok(all.length >= 10_000, `${all.length} payloads`);
  let expectRejected = 0;
  for (const p of all) {
    try { decodeCommand(p, COMMAND_MAX); } catch { expectRejected++; }
  }
  const expectAccepted = all.length - expectRejected;
  t.ok(expectRejected >= 10_000, `${expectRejected} rejected by the codec, ${expectAccepted} still valid after mutation`);

  let executed = 0;
  const link = new FleetLink(boxLinkConfig(broker, 'box-fz', join(tmp, 'box'), { commandMaxBytes: COMMAND_MAX }), {
    async onCommand() { executed++; return { state: 'finished' }; },
  });
  let rejected = 0;
  let rejectedWithId = 0;
  let done = 0;
  let duplicates = 0;
  link.on('commandRejected', (r) => { rejected++; if (r.commandId) rejectedWithId++; });
  link.on('commandDone', () => done++);
  link.on('duplicateCommand', () => duplicates++);
  await link.start();
  t.teardown(() => link.close());
  await link.waitOnline(10_000);

  const fc = new FleetConsole(consoleConfig(broker));
  const invalidAcks: Ack[] = [];
  fc.on('ack', (id, a) => { if (id === 'box-fz' && a.state === 'invalid') invalidAcks.push(a); });
  await fc.start();
  t.teardown(() => fc.close());

  const cc = consoleConfig(broker);
  const flood = await mqtt.connectAsync(broker.url, {
    protocolVersion: 5, clientId: 'fuzzer', reconnectPeriod: 0,
    ca: readFileSync(broker.caPath), cert: readFileSync(cc.cert as string), key: readFileSync(cc.key as string),
  });
  t.teardown(() => flood.endAsync());
  for (let i = 0; i < all.length; i += 500) {
    await Promise.all(all.slice(i, i + 500).map((p) => flood.publishAsync('orbox/v1/box-fz/cmd', p, { qos: 1 })));
  }

  await waitFor(() => rejected === expectRejected && done + duplicates === expectAccepted, 60_000, `all payloads handled (rejected ${rejected}/${expectRejected}, accepted ${done + duplicates}/${expectAccepted})`);
  t.equal(rejected, expectRejected, 'each malformed payload reported once');
  t.equal(link.stats.commandsRejected, expectRejected);
  t.ok(rejectedWithId > 0, `${rejectedWithId} rejections carried a readable command id`);
  await waitFor(() => invalidAcks.length > 0, 10_000, 'INVALID acks');
  t.ok(invalidAcks.every((a) => a.message.length > 0), 'INVALID acks say why');

  t.equal(link.state, 'online', 'still online');
  t.equal(link.stats.connects, 1, 'never lost its connection');
  const ack = await fc.send('box-fz', { kind: 'recordingStart', caseId: 'after-fuzz', channels: [] }, { timeoutMs: 20_000 });
  t.equal(ack?.state, 'finished', 'still answering commands');
  t.ok(executed <= expectAccepted + 1);
});
