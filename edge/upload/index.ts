export { S3Client, S3Error, multipartEtag, type S3Target } from './s3.js';
export { UploadJournal, type UploadRow, type UploadState } from './journal.js';
export { MIN_PART_BYTES, Uploader, type UploadCandidate, type UploadEvent, type UploaderOptions, type UploaderStatus } from './uploader.js';
