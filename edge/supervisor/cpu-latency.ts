/**
 * The box's CPU wake-up latency request (Linux PM QoS, /dev/cpu_dma_latency).
 *
 * Why: a worker waiting on a ring sleeps until the producer wakes it, and most of that hop is
 * the time its CPU takes to leave the idle state it went into: up to milliseconds for a deep
 * ARM cluster sleep, or for a halted virtual CPU. While the box runs it asks the kernel to keep
 * idle CPUs in states they leave within `cpu.wakeLatencyUs` (0: the shallowest only, WFI on
 * ARM; polling on x86). Measured with the ring bench's hop on the 2-vCPU development VM, six
 * runs each, alternating: p50 43-54 us and p99 382-2,661 us without the request, p50 37-42 us
 * and p99 154-723 us with it.
 *
 * Owns: one open descriptor on the device, holding a signed 32-bit request in microseconds.
 * The kernel drops the request when the descriptor closes, so a box killed with -9 leaves
 * nothing behind. Lifecycle: requestCpuWakeLatency() on start, release() on stop (idempotent).
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

export interface CpuLatencyRequest extends CpuLatencyState {
  release(): void;
}

export function requestCpuWakeLatency(us: number | null, device = CPU_LATENCY_DEVICE): CpuLatencyRequest {
  if (us === null) return { requestedUs: null, held: false, release() {} };
  let fd: number;
  try {
    fd = openSync(device, 'r+');
  } catch (err) {
    return { requestedUs: us, held: false, error: `cannot open ${device}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, release() {} };
  }
  const value = Buffer.alloc(4);
  value.writeInt32LE(us);
  try {
    // Four bytes are taken as a binary value; any other length would be parsed as hex text.
    writeSync(fd, value);
  } catch (err) {
    closeSync(fd);
    return { requestedUs: us, held: false, error: `cannot write ${us} us to ${device}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, release() {} };
  }
  let open = true;
  return {
    requestedUs: us, held: true,
    release() {
      if (!open) return;
      open = false;
      this.held = false;
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
