/**
 * The box's CPU wake-up latency request (Linux PM QoS, /dev/cpu_dma_latency).
 *
 * Why: a worker waiting on a ring sleeps until the producer wakes it, and most of that hop is
 * the time its CPU takes to leave the idle state it went into: a deep ARM idle state's exit
 * latency (as the board's device tree declares it), or milliseconds for a halted virtual CPU. While the box runs it asks the kernel to keep
 * idle CPUs in states they leave within `cpu.wakeLatencyUs` (0: the shallowest only, WFI on
 * ARM; polling on x86). Measured with the ring bench's hop on the 2-vCPU development VM, six
 * runs each, alternating: p50 43-54 us and p99 382-2,661 us without the request, p50 37-42 us
 * and p99 154-723 us with it.
 *
 * Owns: one open descriptor on the device, holding a signed 32-bit request in microseconds.
 * The kernel drops the request when the descriptor closes, so a box killed with -9 leaves
 * nothing behind. Lifecycle: requestCpuWakeLatency() on start, release() on stop (idempotent);
 * `state` is plain data (status carries it to the control worker).
 * Errors: a box that cannot make the request (no such device, no permission: on the box the
 * udev rule in provision/udev gives the orbox group the device) runs without it; the result
 * says why, and `orbox status` shows it.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';

export const CPU_LATENCY_DEVICE = '/dev/cpu_dma_latency';

export interface CpuLatencyState {
  /** What the configuration asks for, us; null: no request. */
  requestedUs: number | null;
  held: boolean;
  /** Why the request is not held (device and error), when it was asked for. */
  error?: string;
}

export interface CpuLatencyRequest {
  readonly state: CpuLatencyState;
  release(): void;
}

const errorCode = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? String(err);

export function requestCpuWakeLatency(us: number | null, device = CPU_LATENCY_DEVICE): CpuLatencyRequest {
  const state: CpuLatencyState = { requestedUs: us, held: false };
  const notHeld = { state, release() {} };
  if (us === null) return notHeld;
  let fd: number;
  try {
    fd = openSync(device, 'r+');
  } catch (err) {
    state.error = `cannot open ${device}: ${errorCode(err)}`;
    return notHeld;
  }
  const value = Buffer.alloc(4);
  value.writeInt32LE(us);
  try {
    // Four bytes are taken as a binary value; any other length would be parsed as hex text.
    writeSync(fd, value);
  } catch (err) {
    closeSync(fd);
    state.error = `cannot write ${us} us to ${device}: ${errorCode(err)}`;
    return notHeld;
  }
  state.held = true;
  return {
    state,
    release() {
      if (!state.held) return;
      state.held = false;
      closeSync(fd);
    },
  };
}

/** The limit the kernel applies now: the lowest request held by anyone, us (2e9 when none). */
export function effectiveCpuWakeLatencyUs(device = CPU_LATENCY_DEVICE): number {
  const fd = openSync(device, 'r');
  try {
    const b = Buffer.alloc(4);
    if (readSync(fd, b, 0, 4, null) !== 4) throw new Error(`short read from ${device}`);
    return b.readInt32LE(0);
  } finally {
    closeSync(fd);
  }
}
