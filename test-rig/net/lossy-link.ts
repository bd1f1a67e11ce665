/**
 * A lossy UDP link on one host, for symmetric RTP (RFC 4961): the box sends to the link as if it
 * were the receiver, the receiver answers (RTCP feedback) to the address it got the media from,
 * which is the link, and the link carries the answer back to the box's source address. Each
 * direction has its own impairment (`impairment.ts`: loss, bursts, delay, jitter, reordering,
 * duplication) with its own seed, so feedback is lossy too. `tc netem` does the same on a real
 * host; this kernel has none (shared reference rtp-resilience.md).
 *
 * For each configured port (RTP, RTCP, FEC, ...), two sockets:
 *
 *   sender (box)               link                                  receiver
 *   src a:x ---- forward ---> [box side :listen]  ~~ forward ~~>  [receiver side :r] ---> to
 *   src a:x <--- reverse ---- [box side :listen]  <~ reverse ~~   [receiver side :r] <--- to
 *
 * - a datagram arriving at the box side is the sender's: its source address is remembered (per
 *   port) and it goes through the forward impairment to `to`, sent from the receiver side;
 * - a datagram arriving at the receiver side from `to` goes through the reverse impairment to
 *   the sender's last source address, sent from the box side (before the sender has sent
 *   anything it is dropped, as `noSender`); from any other address it is dropped as a stray.
 * Every port shares its direction's impairment: a network path loses RTP and FEC together,
 * which is what a burst does to them.
 *
 * Delivery: one DeliveryQueue per direction (a heap and one timer, not a timer per datagram);
 * the lateness it achieves against each datagram's due time is in `stats`.
 * Lifecycle: constructor validates; `start()` binds every socket (returns the bound ports);
 * `close()` drops what is in flight and closes the sockets (idempotent). `forward.set()` /
 * `reverse.set()` change an impairment at run time.
 *
 * CLI (lab use):
 *   node dist/test-rig/net/lossy-link.js --listen 5000 --to 127.0.0.1:6000 --loss 0.2 [--burst 5]
 *     [--delay-ms 10] [--jitter-ms 2] [--reorder 0.01] [--dup 0.01] [--seed 1] [--reverse-loss 0.2]
 * `--listen`/`--to` repeat in pairs for more ports; `--help` lists the rest. It prints the bound
 * ports, then one stats line per direction every `--stats-s` seconds, and final ones on SIGINT/SIGTERM.
 */
import { createSocket, type Socket } from 'node:dgram';
import { pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { DeliveryQueue, NODE_CLOCK, type DeliveryClock, type DeliveryStats } from './delivery-queue.js';
import { Impairment, type ImpairmentSettings, type ImpairmentStats } from './impairment.js';

export interface LinkPort {
  /** Box-side port: the sender sends here. 0 picks a free one. */
  listen: number;
  /** The receiver's address. */
  to: { host: string; port: number };
  /** Receiver-side port: the receiver sees datagrams come from it and answers to it. Default 0 (a free one). */
  receiverSidePort?: number;
}

export interface LossyLinkOptions {
  ports: readonly LinkPort[];
  /** Address both sides bind to. Default 127.0.0.1. */
  host?: string;
  /** Sender -> receiver impairment. Default none. */
  forward?: Partial<ImpairmentSettings>;
  /** Receiver -> sender impairment. Default none. */
  reverse?: Partial<ImpairmentSettings>;
  /** Forward seed. Default 1. */
  seed?: number;
  /** Reverse seed. Default seed + 1. */
  reverseSeed?: number;
  /** Injected clock (ms) and timers. Default performance.now and Node's timers. */
  clock?: DeliveryClock;
  /**
   * Kernel receive and send buffer of each socket, bytes (the kernel caps it at
   * net.core.rmem_max / wmem_max). Default 4 MiB: a link that drops datagrams because its
   * event loop stalled for a few ms would add loss nobody asked for.
   */
  socketBufferBytes?: number;
}

export interface BoundPort {
  listen: number;
  receiverSide: number;
  to: { host: string; port: number };
}

export interface DirectionStats extends ImpairmentStats {
  /** Copies handed to the socket. */
  sent: number;
  sendErrors: number;
  /** Scheduling accuracy: lateness of each send against its due time. */
  delivery: DeliveryStats;
}

export interface LossyLinkStats {
  forward: DirectionStats;
  reverse: DirectionStats;
  /** Datagrams at a receiver side from an address other than the receiver's. */
  strays: number;
  /** Reverse datagrams that came before the sender had sent on their port. */
  noSender: number;
}

export class LossyLinkError extends Error {
  constructor(message: string) { super(message); this.name = 'LossyLinkError'; }
}

interface Send { sock: Socket; buf: Buffer; port: number; host: string }
interface Path { boxSide: Socket; receiverSide: Socket; to: { host: string; port: number }; sender: { address: string; port: number } | null }
type State = 'new' | 'starting' | 'running' | 'closed';

export class LossyLink {
  readonly forward: Impairment;
  readonly reverse: Impairment;
  private readonly fq: DeliveryQueue<Send>;
  private readonly rq: DeliveryQueue<Send>;
  private readonly clock: DeliveryClock;
  private readonly paths: Path[] = [];
  private readonly sockets: Socket[] = [];
  private state: State = 'new';
  private closing: Promise<void> | null = null;
  private readonly counts = { fSent: 0, fErr: 0, rSent: 0, rErr: 0, strays: 0, noSender: 0 };

  constructor(private readonly o: LossyLinkOptions) {
    if (!o.ports.length) throw new LossyLinkError('LossyLink: no port given');
    for (const p of o.ports) {
      for (const [k, v] of [['listen', p.listen], ['to.port', p.to.port], ['receiverSidePort', p.receiverSidePort ?? 0]] as const) {
        if (!Number.isInteger(v) || v < 0 || v > 65535) throw new LossyLinkError(`LossyLink port ${k}: ${v} is not a UDP port`);
      }
      if (p.to.port === 0) throw new LossyLinkError('LossyLink port to.port: 0 is not a receiver port');
    }
    const seed = o.seed ?? 1;
    this.forward = new Impairment(o.forward, { seed });
    this.reverse = new Impairment(o.reverse, { seed: o.reverseSeed ?? seed + 1 });
    this.clock = o.clock ?? NODE_CLOCK;
    this.fq = new DeliveryQueue((s) => this.send(s, true), this.clock);
    this.rq = new DeliveryQueue((s) => this.send(s, false), this.clock);
  }

  /** Binds every port's two sockets; resolves with the ports bound (in the order configured). */
  async start(): Promise<BoundPort[]> {
    if (this.state !== 'new') throw new LossyLinkError(`LossyLink.start: the link is ${this.state}`);
    this.state = 'starting';
    const host = this.o.host ?? '127.0.0.1';
    try {
      for (const p of this.o.ports) {
        const boxSide = await this.bind(host, p.listen);
        const receiverSide = await this.bind(host, p.receiverSidePort ?? 0);
        const path: Path = { boxSide, receiverSide, to: { ...p.to }, sender: null };
        boxSide.on('message', (buf, rinfo) => {
          path.sender = { address: rinfo.address, port: rinfo.port };
          this.impair(this.forward, this.fq, { sock: receiverSide, buf, port: path.to.port, host: path.to.host });
        });
        receiverSide.on('message', (buf, rinfo) => {
          if (rinfo.port !== path.to.port || !sameHost(rinfo.address, path.to.host)) { this.counts.strays++; return; }
          if (!path.sender) { this.counts.noSender++; return; }
          this.impair(this.reverse, this.rq, { sock: boxSide, buf, port: path.sender.port, host: path.sender.address });
        });
        this.paths.push(path);
      }
    } catch (e) {
      await this.close();
      throw e;
    }
    if (this.state === 'starting') this.state = 'running';
    return this.ports();
  }

  /** The ports as bound (empty before start()). */
  ports(): BoundPort[] {
    return this.paths.map((p) => ({ listen: p.boxSide.address().port, receiverSide: p.receiverSide.address().port, to: { ...p.to } }));
  }

  get stats(): LossyLinkStats {
    const c = this.counts;
    return {
      forward: { ...this.forward.stats, sent: c.fSent, sendErrors: c.fErr, delivery: this.fq.stats },
      reverse: { ...this.reverse.stats, sent: c.rSent, sendErrors: c.rErr, delivery: this.rq.stats },
      strays: c.strays, noSender: c.noSender,
    };
  }

  /** Drops what is in flight and closes every socket; idempotent. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.state = 'closed';
    this.fq.close();
    this.rq.close();
    this.closing = Promise.all(this.sockets.map((s) => new Promise<void>((r) => {
      try { s.close(() => r()); } catch { r(); }
    }))).then(() => undefined);
    return this.closing;
  }

  private impair(model: Impairment, q: DeliveryQueue<Send>, s: Send): void {
    if (this.state !== 'running') return;
    const now = this.clock.now();
    const f = model.decide(now);
    for (let i = 0; i < f.copies; i++) q.push(now + f.delayMs[i]!, s);
  }

  private send(s: Send, fwd: boolean): void {
    if (this.state !== 'running') return;
    if (fwd) this.counts.fSent++; else this.counts.rSent++;
    s.sock.send(s.buf, s.port, s.host, (err) => {
      if (err) { if (fwd) this.counts.fErr++; else this.counts.rErr++; }
    });
  }

  private bind(host: string, port: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
      s.once('error', reject);
      s.bind(port, host, () => {
        s.off('error', reject);
        s.on('error', () => undefined); // an ICMP unreachable of a closed receiver port: nothing to do
        const size = this.o.socketBufferBytes ?? 4 << 20;
        // Best effort: a kernel refusing the size leaves its default.
        try { s.setRecvBufferSize(size); s.setSendBufferSize(size); } catch { /* the default then */ }
        this.sockets.push(s);
        resolve(s);
      });
    });
  }
}

function sameHost(a: string, b: string): boolean {
  const norm = (h: string) => (h === 'localhost' ? '127.0.0.1' : h.replace(/^::ffff:/, ''));
  return norm(a) === norm(b);
}

/** One line of a direction's stats, as the CLI prints it. */
export function formatDirection(name: string, s: DirectionStats): string {
  const pct = (n: number) => (s.seen ? ((100 * n) / s.seen).toFixed(2) : '0.00');
  const d = s.delivery;
  return `${name}: seen ${s.seen}, dropped ${s.dropped} (${pct(s.dropped)} %, mean burst ${s.meanBurst.toFixed(2)}), ` +
    `duplicated ${s.duplicated}, reordered ${s.reordered}, sent ${s.sent}` + (s.sendErrors ? ` (${s.sendErrors} send errors)` : '') +
    `, late p50 ${d.lateP50Ms.toFixed(2)} ms p99 ${d.lateP99Ms.toFixed(2)} ms max ${d.lateMaxMs.toFixed(2)} ms, >1 ms late ${d.lateOver1Ms}`;
}

function parseUnit(v: string): number {
  const n = Number(v);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError(`${v} is not within 0..1`);
  return n;
}
function parseMs(v: string): number {
  const n = Number(v);
  if (!(n >= 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`${v} is not a number of ms >= 0`);
  return n;
}
function parsePort(v: string, acc: number[] = []): number[] {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`${v} is not a UDP port`);
  return [...acc, n];
}
function parseAddr(v: string, acc: { host: string; port: number }[] = []): { host: string; port: number }[] {
  const m = /^(.+):(\d+)$/.exec(v);
  const port = Number(m?.[2]);
  if (!m || !(port > 0 && port <= 65535)) throw new InvalidArgumentError(`${v} is not host:port`);
  return [...acc, { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port }];
}

/** The CLI: runs a link until SIGINT/SIGTERM. */
export async function main(argv: string[]): Promise<void> {
  const cmd = new Command('lossy-link')
    .description('a seeded lossy UDP link for symmetric RTP: sender -> --listen -> --to, feedback back to the sender')
    .requiredOption('--listen <port>', 'box-side port the sender sends to (repeat for more ports)', parsePort)
    .requiredOption('--to <host:port>', "the receiver's address for the --listen of the same rank", parseAddr)
    .option('--receiver-port <port>', 'receiver-side port of the same rank (default: a free one)', parsePort)
    .option('--host <addr>', 'address to bind', '127.0.0.1')
    .option('--loss <p>', 'forward mean loss', parseUnit, 0)
    .option('--burst <n>', 'forward mean loss-burst length (simple Gilbert); default independent loss', Number)
    .option('--delay-ms <ms>', 'one-way delay, both directions', parseMs, 0)
    .option('--jitter-ms <ms>', 'jitter bound, both directions', parseMs, 0)
    .option('--jitter-shape <shape>', 'uniform or normal', 'uniform')
    .option('--jitter-reorders', 'let jitter reorder datagrams', false)
    .option('--reorder <p>', 'forward probability of holding a datagram back', parseUnit, 0)
    .option('--reorder-delay-ms <ms>', 'how long a reordered datagram is held back', parseMs, 5)
    .option('--dup <p>', 'forward duplication probability', parseUnit, 0)
    .option('--reverse-loss <p>', 'reverse (feedback) mean loss', parseUnit, 0)
    .option('--reverse-burst <n>', 'reverse mean loss-burst length', Number)
    .option('--seed <n>', 'forward seed (reverse: seed + 1)', Number, 1)
    .option('--stats-s <s>', 'seconds between stats lines', Number, 5)
    .exitOverride();
  cmd.parse(argv, { from: 'user' });
  const o = cmd.opts<{
    listen: number[]; to: { host: string; port: number }[]; receiverPort?: number[]; host: string; loss: number; burst?: number;
    delayMs: number; jitterMs: number; jitterShape: 'uniform' | 'normal'; jitterReorders: boolean; reorder: number;
    reorderDelayMs: number; dup: number; reverseLoss: number; reverseBurst?: number; seed: number; statsS: number;
  }>();
  if (o.listen.length !== o.to.length) throw new LossyLinkError(`lossy-link: ${o.listen.length} --listen but ${o.to.length} --to: give them in pairs`);
  const common = { delayMs: o.delayMs, jitterMs: o.jitterMs, jitterShape: o.jitterShape, jitterReorders: o.jitterReorders, reorderDelayMs: o.reorderDelayMs };
  const link = new LossyLink({
    host: o.host, seed: o.seed,
    ports: o.listen.map((listen, i) => ({ listen, to: o.to[i]!, receiverSidePort: o.receiverPort?.[i] ?? 0 })),
    forward: { ...common, loss: o.loss, burst: o.burst ?? null, reorder: o.reorder, duplicate: o.dup },
    reverse: { ...common, loss: o.reverseLoss, burst: o.reverseBurst ?? null },
  });
  for (const p of await link.start()) {
    console.log(`lossy-link: ${o.host}:${p.listen} -> ${p.to.host}:${p.to.port}, receiver side ${o.host}:${p.receiverSide}`);
  }
  const print = (): void => {
    const s = link.stats;
    console.log(formatDirection('forward', s.forward));
    console.log(formatDirection('reverse', s.reverse) + (s.strays || s.noSender ? `; strays ${s.strays}, before any sender ${s.noSender}` : ''));
  };
  const timer = setInterval(print, Math.max(0.1, o.statsS) * 1000);
  await new Promise<void>((resolve) => {
    const stop = (): void => { process.off('SIGINT', stop); process.off('SIGTERM', stop); resolve(); };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  clearInterval(timer);
  print();
  await link.close();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    const code = (e as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version') process.exit(0);
    if (!(typeof code === 'string' && code.startsWith('commander.'))) console.error(e instanceof Error ? e.message : e);
    process.exit(2);
  });
}
