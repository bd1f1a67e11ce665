/**
 * Fleet link errors: one base class, subclasses by cause, each carrying what a caller needs to
 * react (the MQTT reason code, the byte offset of a bad payload, the config key path).
 *
 * Runs on: the control worker (box side) and the console process.
 */

export class FleetError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A configuration that does not validate; `issues` name the key path of each problem. */
export class FleetConfigError extends FleetError {
  constructor(readonly issues: readonly { path: string; message: string }[]) {
    super('invalid fleet configuration: ' + issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; '));
  }
}

/**
 * The broker refused something: CONNACK, PUBACK, SUBACK or DISCONNECT with an MQTT 5 reason
 * code >= 0x80 (e.g. 135 = 0x87 "not authorized" for a publish outside the box's ACL).
 */
export class FleetBrokerError extends FleetError {
  constructor(message: string, readonly reasonCode: number, options?: { cause?: unknown }) {
    super(`${message} (reason code ${reasonCode})`, options);
  }
}

/** The link is not in a state that allows the operation (e.g. publish after close()). */
export class FleetStateError extends FleetError {
  constructor(readonly operation: string, readonly state: string) {
    super(`${operation} not allowed in state ${state}`);
  }
}

/** A payload that could not be decoded or failed validation. `offset` is -1 when unknown. */
export class FleetDecodeError extends FleetError {
  constructor(message: string, readonly offset = -1, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A wait that ran out: connect, a command's acknowledgement, a publish's PUBACK. */
export class FleetTimeoutError extends FleetError {
  constructor(readonly operation: string, readonly timeoutMs: number) {
    super(`${operation} timed out after ${timeoutMs} ms`);
  }
}

/** Work cut short because the link or console was closed. */
export class FleetClosedError extends FleetError {
  constructor(operation: string) {
    super(`${operation}: closed`);
  }
}

/** Reason code carried by an mqtt.js error (ErrorWithReasonCode.code), if any. */
export function reasonCodeOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
