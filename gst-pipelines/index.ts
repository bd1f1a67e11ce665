/**
 * gst-pipelines: per-board pipeline profiles, the probe that picks one, and the builder of
 * a channel's gst-launch description. Entered through this index.
 */
export { ROLES, H264_ROLES, ProfileError, validateProfile, profileSchema } from './schema.js';
export type { Role, H264Role, Profile, ProfileInput, ElementSpec, PropValue, ProfileIssue } from './schema.js';
export { ENCODER_FACTS } from './encoder-facts.js';
export type { EncoderFacts } from './encoder-facts.js';
export { buildChannelPipeline, buildSegmentPipeline, profileFactories, BuildError } from './build.js';
export type { ChannelPipeline, SegmentPipeline, SegmentTarget, ChannelPipelineOptions, AppsrcInput, DescriptionInput } from './build.js';
export { probeProfile, allProfiles, clearProbeCache, trialEncode, NoProfileError } from './probe.js';
export type { ProbeOptions, ProbeReport, ProfileTrial } from './probe.js';
export { renderElement, renderValue, renderCaps, toLaunchArgv } from './launch.js';
export { runLaunch, parseCheck, factoryExists, gstVersion } from './gst-launch.js';
export type { LaunchResult, LaunchOptions, ParseCheck } from './gst-launch.js';
