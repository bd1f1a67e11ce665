/**
 * The fleet link (issue 5): box side (FleetLink, wrapped by the control worker), console side
 * (FleetConsole and the `orbox fleet` commands), the protobuf codec of edge/proto/fleet.proto,
 * the metric set, and the on-disk outbox/command ledger. See README.md in this folder for the
 * spec -> module -> test table.
 */
export { FleetLink, type LinkState, type FleetLinkDeps, type FleetLinkEvents, type FleetLinkStats } from './link.js';
export type { CommandResult, CommandContext, FleetLinkHandlers, CommandRejection, Timers } from './commands.js';
export { FleetLinkConfigSchema, ReconnectSchema, parseFleetLinkConfig, type FleetLinkConfig, type FleetLinkConfigInput } from './config.js';
export { FleetConsole, FleetConsoleConfigSchema, type FleetConsoleConfigInput, type BoxStatus, type BoxLiveness, type BoxMetric, type TelemetryUpdate, type SendOptions, type FleetConsoleEvents } from './console.js';
export { registerFleetCommands, parseCommandArgs, SEND_COMMANDS, type FleetCliDeps } from './cli.js';
export { MetricSet, standardMetrics, type MetricDefinition, type MetricLayout } from './metrics.js';
export {
  type Ack, type AckState, ACK_STATES, TERMINAL_ACK_STATES, type Birth, type Death, type Telemetry, type FleetCommand, type CommandBody, type CommandKind,
  type FleetEvent, type Severity, type MetricType, type MetricValue, type WireMetric, MAX_COMMAND_BYTES, MAX_ACK_BYTES,
  encodeAck, decodeAck, encodeBirth, decodeBirth, encodeDeath, decodeDeath, encodeTelemetry, decodeTelemetry, encodeCommand, decodeCommand, encodeEvent, decodeEvent, salvageCommandId,
} from './codec.js';
export { FleetError, FleetConfigError, FleetBrokerError, FleetStateError, FleetDecodeError, FleetTimeoutError, FleetClosedError } from './errors.js';
export { nextSeq, seqDistance } from './seq.js';
export { topicFor, parseTopic, isBoxId, TOPIC_ROOT } from './topics.js';
export { disableNagle } from './nagle.js';
