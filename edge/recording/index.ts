/**
 * edge/recording: crash-safe recording segments (naming, fsync policy, fast frame scan), the
 * files of saved stills, and the catalog of cases, segments and stills. Entered through this index.
 */
export { utcStamp, parseUtcStamp, recordingLocation, parseSegmentPath, prepareRecordingDir, fsyncDir, CHANNEL_RE } from './naming.js';
export type { RecordingLocation, SegmentName, SegmentExtension } from './naming.js';
export { SegmentSyncer } from './durability.js';
export { stillPath, parseStillPath, writeStillFile } from './still-file.js';
export type { SyncPoint, SyncerOptions, SyncStats } from './durability.js';
export { scanSegment } from './frame-scan.js';
export type { FrameScan } from './frame-scan.js';
export { Catalog, CatalogError, CATALOG_VERSION } from './catalog.js';
export type { StillRecord, AddStill, CaseRecord, SegmentRecord, RecoveryReport, CatalogOptions, OpenSegment, CloseSegment, CaseState, SegmentState, CatalogErrorCode } from './catalog.js';
