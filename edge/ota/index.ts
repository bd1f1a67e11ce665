/**
 * The on-box OTA agent (issue 22): RAUC over D-Bus (rauc.ts), bundle download (download.ts), jobs
 * and their store (jobs.ts), the job state machine gated by the guard's health verdict (agent.ts).
 * Runs on the control worker. See README.md in this folder for the spec -> module -> test table.
 */
export { OtaAgent, type OtaAgentConfig, type OtaAgentDeps, type OtaStatus, type JobReport, type HealthVerdict, type BusyState } from './agent.js';
export { RaucClient, RaucInstallError, RaucGoneError, type RaucSlot, type RaucProgress } from './rauc.js';
export { download, DownloadError, type DownloadOptions, type DownloadResult } from './download.js';
export { JobStore, OtaStoreError, compareVersions, validateJobDocument, JOB_STATUSES, TERMINAL_JOB_STATUSES, type Job, type JobDocument, type JobStatus, type JobStep } from './jobs.js';
export { handleOtaCommand, fleetReporter, jobProgressOf, OTA_EVENT_KIND, type JobProgress } from './fleet.js';
export { Rollout, describeBundle, progressBar, type RolloutOptions, type RolloutResult, type BoxOutcome, type BundleRef } from './rollout.js';
