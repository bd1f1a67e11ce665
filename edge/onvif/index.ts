/**
 * ONVIF cameras (Profile S subset): WS-Discovery, the device and media services' GetCapabilities,
 * GetProfiles and GetStreamUri with UsernameToken digest, typed errors naming the device.
 * Imported by capture and the CLI; imports nothing of theirs.
 */
export { OnvifAuthError, OnvifReplyError } from './errors.js';
export { OnvifClient, MAX_REPLY_BYTES, securityHeader } from './soap.js';
export type { Credentials, OnvifProfile, SoapOptions } from './soap.js';
export { probe, probeMessage, parseProbeMatches, WS_DISCOVERY_GROUP, WS_DISCOVERY_PORT, MAX_MATCHES } from './discovery.js';
export type { DiscoveredDevice, ProbeOptions } from './discovery.js';
export { registerCamerasCommands, describeCamera } from './cli.js';
export type { CameraReport } from './cli.js';
