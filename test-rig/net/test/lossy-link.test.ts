// The lossy UDP link (test-rig/net/lossy-link.ts) end to end with real sockets on 127.0.0.1:
// a sender numbers its datagrams (and stamps them with the wall clock), a receiver counts them
// and answers each to where it came from (symmetric RTP: the link), the sender counts the
// answers. Loss, delay, reordering, duplication, lossy feedback, a loss step, two ports, the CLI.
import t from 'tap';
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { LossyLink, LossyLinkError, type LossyLinkOptions } from '../lossy-link.js';
import { Impairment } from '../impairment.js';

type Teardown = { teardown(f: () => unknown): void };
const HOST = '127.0.0.1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const wallMs = () => performance.timeOrigin + performance.now();

function bind(port = 0): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(port, HOST, () => {
      s.off('error', reject);
      // Room for a stalled event loop (a shared machine) without kernel drops: the test counts every datagram.
      s.setRecvBufferSize(4 << 20);
      s.setSendBufferSize(4 << 20);
      resolve(s);
    });
  });
}

/** A datagram: seq (u32), send wall time (f64 ms), padding to 200 bytes (an RTP-ish size). */
function datagram(seq: number): Buffer {
  const b = Buffer.alloc(200);
  b.writeUInt32BE(seq, 0);
  b.writeDoubleBE(wallMs(), 4);
  return b;
}

interface Arrival { seq: number; oneWayMs: number; from: number }

/** A receiver: records every arrival; with `echo`, answers each datagram to its source. */
async function receiver(t: Teardown, echo = false): Promise<{ port: number; got: Arrival[]; sock: Socket }> {
  const sock = await bind();
  t.teardown(() => sock.close());
  const got: Arrival[] = [];
  sock.on('message', (b, r) => {
    got.push({ seq: b.readUInt32BE(0), oneWayMs: wallMs() - b.readDoubleBE(4), from: r.port });
    if (echo) sock.send(b.subarray(0, 12), r.port, r.address);
  });
  return { port: sock.address().port, got, sock };
}

/** Sends seqs [from, to) to `port` at `rate` datagrams/s, paced by the clock. */
async function send(sock: Socket, port: number, from: number, to: number, rate: number): Promise<void> {
  const t0 = performance.now();
  let seq = from;
  while (seq < to) {
    const due = from + Math.floor(((performance.now() - t0) * rate) / 1000);
    while (seq < to && seq <= due) sock.send(datagram(seq++), port, HOST);
    await sleep(1);
  }
}

async function link(t: Teardown, o: LossyLinkOptions): Promise<{ link: LossyLink; listen: number; receiverSide: number }> {
  const l = new LossyLink(o);
  const [p] = await l.start();
  t.teardown(() => l.close());
  return { link: l, listen: p!.listen, receiverSide: p!.receiverSide };
}

/** RFC 4737: arrivals below the highest sequence number already arrived (duplicates ignored). */
function reorderedCount(got: Arrival[]): number {
  const seen = new Set<number>();
  let highest = -1, n = 0;
  for (const a of got) {
    if (seen.has(a.seq)) continue;
    seen.add(a.seq);
    if (a.seq < highest) n++; else highest = a.seq;
  }
  return n;
}

const quantile = (xs: number[], q: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]!; };

t.test('3000 datagrams/s, 20 % loss, 20 ms delay: exactly the model\'s losses, the delay on the wall clock within ~1 ms', async (t) => {
  const rx = await receiver(t);
  const { link: l, listen, receiverSide } = await link(t, { ports: [{ listen: 0, to: { host: HOST, port: rx.port } }], forward: { loss: 0.2, delayMs: 20 }, seed: 5 });
  const tx = await bind();
  t.teardown(() => tx.close());
  const n = 3000;
  await send(tx, listen, 0, n, 3000);
  await sleep(150);
  const s = l.stats.forward;
  t.equal(s.seen, n, 'the link saw every datagram');
  t.equal(rx.got.length, s.sent, `the receiver got what the link sent: ${rx.got.length}`);
  t.equal(s.sent, n - s.dropped);
  const loss = 1 - rx.got.length / n;
  t.ok(loss > 0.18 && loss < 0.22, `observed loss ${(100 * loss).toFixed(2)} %`);
  // Same seed, same order of arrival: the model alone loses the very same datagrams.
  const model = new Impairment({ loss: 0.2 }, { seed: 5 });
  const expectLost = Array.from({ length: n }, (_, i) => i).filter(() => model.decide(0).copies === 0);
  const got = new Set(rx.got.map((a) => a.seq));
  t.same(Array.from({ length: n }, (_, i) => i).filter((i) => !got.has(i)), expectLost, 'the missing sequence numbers are the seeded model\'s');
  t.ok(rx.got.every((a) => a.from === receiverSide), 'datagrams come from the link\'s receiver side');
  const d = rx.got.map((a) => a.oneWayMs);
  const p50 = quantile(d, 0.5), p99 = quantile(d, 0.99), min = Math.min(...d);
  t.ok(min >= 19.4, `min one-way ${min.toFixed(3)} ms (never before 20 ms less the 0.5 ms tolerance)`);
  // The upper bound has room for a loaded CI machine's event loops (21.3 ms was seen there).
  t.ok(p50 >= 19.5 && p50 <= 23, `median one-way ${p50.toFixed(3)} ms through 20 ms (p99 ${p99.toFixed(3)} ms: the event loops of a shared machine)`);
  t.ok(rx.got.every((a, i) => i === 0 || a.seq > rx.got[i - 1]!.seq), 'a fixed delay keeps the order');
  const del = s.delivery;
  // The median is the queue's accuracy; the tail is whatever else holds the CPU, reported only.
  t.ok(del.lateP50Ms <= 1 && del.earlyMaxMs <= 0.5, `scheduling: late p50 ${del.lateP50Ms.toFixed(2)} ms, p99 ${del.lateP99Ms.toFixed(2)} ms, mean ${del.lateMeanMs.toFixed(3)} ms, max ${del.lateMaxMs.toFixed(3)} ms, early max ${del.earlyMaxMs.toFixed(3)} ms, ${del.lateOver1Ms} of ${del.delivered} over 1 ms late`);
});

t.test('reordering: held-back datagrams and reordering jitter arrive as the link counts them (RFC 4737)', async (t) => {
  for (const forward of [{ delayMs: 5, reorder: 0.05, reorderDelayMs: 3 }, { delayMs: 5, jitterMs: 2, jitterReorders: true }]) {
    const rx = await receiver(t);
    const { link: l, listen } = await link(t, { ports: [{ listen: 0, to: { host: HOST, port: rx.port } }], forward, seed: 2 });
    const tx = await bind();
    t.teardown(() => tx.close());
    await send(tx, listen, 0, 1500, 1500);
    await sleep(100);
    const counted = reorderedCount(rx.got);
    t.equal(rx.got.length, 1500, 'no loss configured, none seen');
    t.ok(counted > 10, `${JSON.stringify(forward)}: ${counted} datagrams arrived after a later one`);
    // The link counts at decision time what the receiver sees; a datagram the event loop
    // delivers late can shift by a few.
    t.ok(Math.abs(counted - l.stats.forward.reordered) <= Math.max(3, 0.05 * counted), `the link counted ${l.stats.forward.reordered}`);
  }
});

t.test('duplication: the receiver sees the second copies the link counts', async (t) => {
  const rx = await receiver(t);
  const { link: l, listen } = await link(t, { ports: [{ listen: 0, to: { host: HOST, port: rx.port } }], forward: { duplicate: 0.05, delayMs: 2 }, seed: 3 });
  const tx = await bind();
  t.teardown(() => tx.close());
  await send(tx, listen, 0, 2000, 2000);
  await sleep(100);
  const dups = rx.got.length - new Set(rx.got.map((a) => a.seq)).size;
  t.equal(dups, l.stats.forward.duplicated, `${dups} duplicates received`);
  t.ok(dups > 60 && dups < 140, `about 5 % of 2000: ${dups}`);
});

t.test('feedback is lossy too: the receiver answers to the link, the sender gets ~70 % of the answers at 30 % reverse loss', async (t) => {
  const rx = await receiver(t, true);
  const { link: l, listen } = await link(t, {
    ports: [{ listen: 0, to: { host: HOST, port: rx.port } }],
    forward: { loss: 0.1, delayMs: 3 }, reverse: { loss: 0.3, delayMs: 7 }, seed: 7,
  });
  const tx = await bind();
  t.teardown(() => tx.close());
  const answers: { seq: number; rttMs: number; from: number }[] = [];
  tx.on('message', (b, r) => answers.push({ seq: b.readUInt32BE(0), rttMs: wallMs() - b.readDoubleBE(4), from: r.port }));
  await send(tx, listen, 0, 2000, 2000);
  await sleep(150);
  const s = l.stats;
  t.equal(s.reverse.seen, rx.got.length, 'every answer reached the link\'s reverse path');
  t.equal(answers.length, s.reverse.sent, `${answers.length} answers back at the sender`);
  const back = answers.length / rx.got.length;
  t.ok(back > 0.66 && back < 0.74, `${(100 * back).toFixed(1)} % of the answers survived 30 % reverse loss`);
  t.ok(answers.every((a) => a.from === listen), 'answers come from the port the sender sent to (symmetric RTP)');
  const rtt = quantile(answers.map((a) => a.rttMs), 0.5);
  t.ok(rtt >= 9.5 && rtt <= 12.5, `median round trip ${rtt.toFixed(2)} ms through 3 + 7 ms`);
  t.equal(s.strays, 0);
});

t.test('a run-time set() step: 5 % loss, then 40 %', async (t) => {
  const rx = await receiver(t);
  const { link: l, listen } = await link(t, { ports: [{ listen: 0, to: { host: HOST, port: rx.port } }], forward: { loss: 0.05 }, seed: 4 });
  const tx = await bind();
  t.teardown(() => tx.close());
  await send(tx, listen, 0, 1500, 3000);
  await sleep(50);
  l.forward.set({ loss: 0.4 });
  await send(tx, listen, 1500, 3000, 3000);
  await sleep(50);
  const before = 1 - rx.got.filter((a) => a.seq < 1500).length / 1500;
  const after = 1 - rx.got.filter((a) => a.seq >= 1500).length / 1500;
  t.ok(before > 0.025 && before < 0.075, `before the step ${(100 * before).toFixed(2)} % lost`);
  t.ok(after > 0.36 && after < 0.44, `after set({ loss: 0.4 }) ${(100 * after).toFixed(2)} % lost`);
});

t.test('two ports (RTP and FEC) share one forward impairment; strays and early answers are dropped and counted', async (t) => {
  const rtp = await receiver(t), fec = await receiver(t, true);
  const l = new LossyLink({ ports: [{ listen: 0, to: { host: HOST, port: rtp.port } }, { listen: 0, to: { host: HOST, port: fec.port } }], forward: { loss: 0.25, burst: 4 }, seed: 9 });
  const [p1, p2] = await l.start();
  t.teardown(() => l.close());
  // An answer before the sender has sent anything on that port has nowhere to go.
  fec.sock.send(Buffer.from('early'), p2!.receiverSide, HOST);
  // Someone other than the receiver writing to the receiver side.
  const stranger = await bind();
  t.teardown(() => stranger.close());
  stranger.send(Buffer.from('stray'), p1!.receiverSide, HOST);
  await sleep(50);
  const tx = await bind();
  t.teardown(() => tx.close());
  await Promise.all([send(tx, p1!.listen, 0, 1000, 1000), send(tx, p2!.listen, 0, 1000, 1000)]);
  await sleep(100);
  const s = l.stats;
  t.equal(s.forward.seen, 2000, 'one impairment saw both ports');
  t.equal(rtp.got.length + fec.got.length, s.forward.sent, `${rtp.got.length} RTP + ${fec.got.length} FEC delivered`);
  const loss = 1 - s.forward.sent / 2000;
  t.ok(loss > 0.17 && loss < 0.33, `${(100 * loss).toFixed(1)} % lost over both, mean burst ${s.forward.meanBurst.toFixed(2)} in arrival order`);
  t.equal(s.noSender, 1, 'the early answer');
  t.equal(s.strays, 1, 'the stranger');
  t.equal(s.reverse.seen, fec.got.length, 'the FEC receiver\'s answers took the reverse path');
});

t.test('lifecycle and refusals', async (t) => {
  t.throws(() => new LossyLink({ ports: [] }), LossyLinkError);
  t.throws(() => new LossyLink({ ports: [{ listen: 70000, to: { host: HOST, port: 1 } }] }), /listen: 70000 is not a UDP port/);
  t.throws(() => new LossyLink({ ports: [{ listen: 0, to: { host: HOST, port: 0 } }] }), /to.port: 0/);
  t.throws(() => new LossyLink({ ports: [{ listen: 0, to: { host: HOST, port: 9 } }], forward: { loss: 2 } }), /impairment setting loss: 2/);
  const l = new LossyLink({ ports: [{ listen: 0, to: { host: HOST, port: 9 } }] });
  const [p] = await l.start();
  await t.rejects(l.start(), /the link is running/);
  const taken = new LossyLink({ ports: [{ listen: p!.listen, to: { host: HOST, port: 9 } }] });
  await t.rejects(taken.start(), /EADDRINUSE/, 'a port in use fails start()');
  await taken.close();
  await Promise.all([l.close(), l.close()]);
  await l.close();
  await t.rejects(l.start(), /the link is closed/);
  const again = await bind(p!.listen);
  t.pass('close() released the port');
  again.close();
});

t.test('the CLI: a child process with --listen 0, prints the ports, stats lines, and final stats on SIGINT', async (t) => {
  const rx = await receiver(t, true);
  const cli = fileURLToPath(new URL('../lossy-link.js', import.meta.url));
  const child = spawn(process.execPath, [cli, '--listen', '0', '--to', `${HOST}:${rx.port}`, '--loss', '0.2', '--burst', '3', '--delay-ms', '5',
    '--seed', '3', '--reverse-loss', '0.5', '--stats-s', '0.3'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const deadline = Date.now() + 10_000;
  let m: RegExpExecArray | null = null;
  while (!(m = /lossy-link: 127\.0\.0\.1:(\d+) -> 127\.0\.0\.1:(\d+), receiver side 127\.0\.0\.1:(\d+)/.exec(out)) && Date.now() < deadline) await sleep(20);
  t.ok(m, `the CLI printed its ports: ${out.split('\n')[0]}`);
  if (!m) return;
  t.equal(Number(m[2]), rx.port);
  const tx = await bind();
  t.teardown(() => tx.close());
  let answers = 0;
  tx.on('message', () => answers++);
  await send(tx, Number(m[1]), 0, 1000, 2000);
  await sleep(500);
  child.kill('SIGINT');
  t.equal(await exited, 0, 'SIGINT ends it cleanly');
  const fwd = [...out.matchAll(/forward: seen (\d+), dropped (\d+) \(([\d.]+) %, mean burst ([\d.]+)\).*sent (\d+)/g)];
  const rev = [...out.matchAll(/reverse: seen (\d+), dropped (\d+).*sent (\d+)/g)];
  t.ok(fwd.length >= 2, `${fwd.length} forward stats lines (periodic and final)`);
  const last = fwd[fwd.length - 1]!, lastRev = rev[rev.length - 1]!;
  t.equal(Number(last[1]), 1000, 'forward: seen 1000');
  t.equal(Number(last[5]), rx.got.length, `forward: sent ${last[5]}, received ${rx.got.length}`);
  const loss = Number(last[2]) / 1000;
  t.ok(loss > 0.14 && loss < 0.26, `forward loss ${(100 * loss).toFixed(1)} %, mean burst ${last[4]} (asked 3)`);
  t.equal(Number(lastRev[1]), rx.got.length, 'reverse: every answer seen');
  t.equal(Number(lastRev[3]), answers, `reverse: ${answers} answers back, ${lastRev[2]} dropped`);
  t.ok(answers > 0.4 * rx.got.length && answers < 0.6 * rx.got.length, 'about half the answers lost');
});
