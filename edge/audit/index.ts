export { AuditError, AuditLog, FIELD_MAX, GENESIS, auditPath, readAudit, recordHash, verifyAudit } from './log.js';
export type { AuditEntry, AuditHead, AuditRecord, AuditVerdict } from './log.js';
