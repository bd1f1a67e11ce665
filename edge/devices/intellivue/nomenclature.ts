/**
 * Philips IntelliVue Data Export: the protocol's constant tables (Data Export Interface
 * Programming Guide: "Association Control", "Data Export Protocol", "Remote Operation" and "Poll"
 * sections): session SPDU types, the data export session id, remote operation types and linked
 * result states, command types, the nomenclature codes (object classes, partitions, actions,
 * attribute ids) this driver uses, the MeasurementState bits and the relative-time tick.
 *
 * Pure data shared by the builders (build.ts), the decoders (decode.ts), the driver and the
 * monitor simulator; no state, nothing throws.
 */
export const SPDU = { AARQ: 0x0d, AARE: 0x0e, REFUSE: 0x0c, RELEASE_REQ: 0x09, RELEASE_RES: 0x0a, ABORT: 0x19 } as const;
export const SESSION_ID = 0xe100;
export const RO = { ROIV: 1, RORS: 2, ROER: 3, ROLRS: 5 } as const;
export const RORLS = { FIRST: 1, NOT_FIRST_NOT_LAST: 2, LAST: 3 } as const;
export const CMD = { EVENT_REPORT: 0, CONFIRMED_EVENT_REPORT: 1, GET: 3, SET: 4, CONFIRMED_SET: 5, CONFIRMED_ACTION: 7 } as const;
export const NOM = {
  MOC_VMS_MDS: 0x0021,
  MOC_VMO_METRIC_NU: 0x0006,
  MOC_VMO_METRIC_SA_RT: 0x0009,
  PART_OBJ: 0x0001,
  NOTI_MDS_CREAT: 0x0d06,
  ACT_POLL_MDIB_DATA_EXT: 0xf13b,
  ATTR_TIME_PD_POLL: 0xf13e,
  ATTR_POLL_RTSA_PRIO_LIST: 0xf23a,
  ATTR_ID_HANDLE: 0x0921,
  ATTR_ID_LABEL: 0x0924,
  ATTR_ID_LABEL_STRING: 0x0927,
  ATTR_ID_MODEL: 0x0928,
  ATTR_SYS_ID: 0x0984,
  ATTR_TIME_ABS: 0x0987,
  ATTR_TIME_REL: 0x098f,
  ATTR_NU_CMPD_VAL_OBS: 0x094b,
  ATTR_NU_VAL_OBS: 0x0950,
  ATTR_SA_CMPD_VAL_OBS: 0x0967,
  ATTR_SA_SPECN: 0x096d,
  ATTR_SA_VAL_OBS: 0x096e,
  ATTR_SCALE_SPECN_I16: 0x096f,
  ATTR_TIME_PD_SAMP: 0x098d,
  ATTR_TIME_STAMP_ABS: 0x0990,
  ATTR_TIME_STAMP_REL: 0x0991,
  ATTR_UNIT_CODE: 0x0996,
} as const;
/** Measurement state bits of the Data Export MeasurementState. */
export const MEAS_STATE = {
  INVALID: 0x8000,
  QUESTIONABLE: 0x4000,
  UNAVAILABLE: 0x2000,
  CALIBRATION_ONGOING: 0x1000,
  TEST_DATA: 0x0800,
  DEMO_DATA: 0x0400,
  VALIDATED_DATA: 0x0080,
  EARLY_INDICATION: 0x0040,
  MSMT_ONGOING: 0x0020,
  MSMT_STATE_IN_ALARM: 0x0002,
  MSMT_STATE_AL_INHIBITED: 0x0001,
} as const;
/** One relative-time tick is 1/8 ms. */
export const REL_TIME_TICK_NS = 125_000n;
