/**
 * The explicit mapping from each protocol's own codes to IEEE 11073-10101 (MDC) codes and units.
 *
 * Why a table and not arithmetic: IntelliVue codes happen to be MDC codes of the SCADA partition
 * ((2 << 16) | code), but S/5 and MEDIBUS codes are not, and even IntelliVue has private codes.
 * A code missing from a table is NOT dropped: the sample keeps vendorCode with mdcCode 0.
 *
 * MDC values: IEEE 11073-10101 nomenclature (partition << 16 | term code); the IntelliVue
 * physio ids are those of the Philips Data Export Interface Programming Guide. Codes below were
 * checked against the reference page where it gives them (HR 147842, SpO2 150456, NIBP SYS
 * 150021); the others follow the same nomenclature and are marked in the README as
 * "verify against the standard" until an auditor has ticked them.
 */

/** MDC unit codes (partition 4, dimensions). */
export const Unit = {
  NONE: { code: 512 + (4 << 16), text: '' },
  PERCENT: { code: 544 + (4 << 16), text: '%' },
  BPM: { code: 2720 + (4 << 16), text: 'bpm' },
  RPM: { code: 2784 + (4 << 16), text: 'rpm' },
  MMHG: { code: 3872 + (4 << 16), text: 'mmHg' },
  KPA: { code: 3843 + (4 << 16), text: 'kPa' },
  CMH2O: { code: 3904 + (4 << 16), text: 'cmH2O' },
  DEGC: { code: 6048 + (4 << 16), text: 'degC' },
  MV: { code: 4274 + (4 << 16), text: 'mV' },
  UV: { code: 4275 + (4 << 16), text: 'uV' },
  L_PER_MIN: { code: 3072 + (4 << 16), text: 'L/min' },
  ML: { code: 1618 + (4 << 16), text: 'mL' },
} as const;
export type UnitDef = { readonly code: number; readonly text: string };

export interface CodeMapping {
  readonly mdc: number;
  readonly label: string;
  readonly unit: UnitDef;
}

const SCADA = 2 << 16;

/** IntelliVue physio id (u16) -> MDC. Units come from the monitor's unit code when it sends one. */
export const INTELLIVUE_CODES: ReadonlyMap<number, CodeMapping> = new Map([
  [0x4182, { mdc: SCADA | 0x4182, label: 'HR', unit: Unit.BPM }],
  [0x4bb8, { mdc: SCADA | 0x4bb8, label: 'SpO2', unit: Unit.PERCENT }],
  [0x4822, { mdc: SCADA | 0x4822, label: 'PULSE', unit: Unit.BPM }],
  [0x4a04, { mdc: SCADA | 0x4a04, label: 'NIBP', unit: Unit.MMHG }],
  [0x4a05, { mdc: SCADA | 0x4a05, label: 'NIBP_SYS', unit: Unit.MMHG }],
  [0x4a06, { mdc: SCADA | 0x4a06, label: 'NIBP_DIA', unit: Unit.MMHG }],
  [0x4a07, { mdc: SCADA | 0x4a07, label: 'NIBP_MEAN', unit: Unit.MMHG }],
  [0x4a14, { mdc: SCADA | 0x4a14, label: 'ABP', unit: Unit.MMHG }],
  [0x4a15, { mdc: SCADA | 0x4a15, label: 'ABP_SYS', unit: Unit.MMHG }],
  [0x4a16, { mdc: SCADA | 0x4a16, label: 'ABP_DIA', unit: Unit.MMHG }],
  [0x4a17, { mdc: SCADA | 0x4a17, label: 'ABP_MEAN', unit: Unit.MMHG }],
  [0x50b0, { mdc: SCADA | 0x50b0, label: 'EtCO2', unit: Unit.MMHG }],
  [0x500a, { mdc: SCADA | 0x500a, label: 'RR', unit: Unit.RPM }],
  [0x4b5c, { mdc: SCADA | 0x4b5c, label: 'TEMP', unit: Unit.DEGC }],
  [0x0102, { mdc: SCADA | 0x0102, label: 'ECG_II', unit: Unit.MV }],
  [0x4bb4, { mdc: SCADA | 0x4bb4, label: 'PLETH', unit: Unit.NONE }],
]);

/** IntelliVue unit codes (u16, partition DIM) -> MDC unit. */
export function intellivueUnit(code: number): UnitDef {
  for (const u of Object.values(Unit)) if ((u.code & 0xffff) === code && u.code >> 16 === 4) return u;
  return { code: code === 0 ? 0 : (4 << 16) | code, text: code === 0 ? '' : `unit:0x${code.toString(16)}` };
}

/**
 * S/5 basic-class displayed values: offset in the class block -> MDC, scale to the unit.
 * Offsets are those of the reference page (basic physiological class of the S/5 Computer
 * Interface). `scale` multiplies the raw int16.
 */
export interface S5Field extends CodeMapping {
  readonly offset: number;
  readonly scale: number;
}
export const S5_BASIC_FIELDS: readonly S5Field[] = [
  { offset: 6, scale: 1, mdc: SCADA | 0x4182, label: 'HR', unit: Unit.BPM },
  { offset: 78, scale: 0.01, mdc: SCADA | 0x4a05, label: 'NIBP_SYS', unit: Unit.MMHG },
  { offset: 80, scale: 0.01, mdc: SCADA | 0x4a06, label: 'NIBP_DIA', unit: Unit.MMHG },
  { offset: 82, scale: 0.01, mdc: SCADA | 0x4a07, label: 'NIBP_MEAN', unit: Unit.MMHG },
  { offset: 124, scale: 0.01, mdc: SCADA | 0x4bb8, label: 'SpO2', unit: Unit.PERCENT },
  { offset: 126, scale: 1, mdc: SCADA | 0x4822, label: 'PULSE', unit: Unit.BPM },
  // EtCO2 is sent in 0.01 %; converted to mmHg with the ambient pressure (s5/record.ts).
  { offset: 138, scale: 0.01, mdc: SCADA | 0x50b0, label: 'EtCO2', unit: Unit.MMHG },
  { offset: 142, scale: 1, mdc: SCADA | 0x500a, label: 'RR', unit: Unit.RPM },
];
/** Offset of the ambient pressure (0.1 mmHg) in the basic class block. */
export const S5_AMBIENT_PRESSURE_OFFSET = 144;
/** Offset of the group header (status u32 + label u16) of each S/5 field's group. */
export const S5_GROUP_OF: ReadonlyMap<number, number> = new Map([
  [6, 0], [78, 72], [80, 72], [82, 72], [124, 118], [126, 118], [138, 132], [142, 132],
]);

/** S/5 wave ids -> MDC, unit, scale (raw int16 * scale), sample period. */
export interface S5Wave extends CodeMapping {
  readonly scale: number;
  readonly periodNs: bigint;
}
export const S5_WAVES: ReadonlyMap<number, S5Wave> = new Map([
  [1, { mdc: SCADA | 0x0102, label: 'ECG1', unit: Unit.MV, scale: 0.001, periodNs: 3_333_333n }],
  [4, { mdc: SCADA | 0x4a14, label: 'INVP1', unit: Unit.MMHG, scale: 0.01, periodNs: 10_000_000n }],
  [8, { mdc: SCADA | 0x4bb4, label: 'PLETH', unit: Unit.PERCENT, scale: 0.01, periodNs: 10_000_000n }],
  [9, { mdc: SCADA | 0x5000, label: 'CO2', unit: Unit.PERCENT, scale: 0.01, periodNs: 40_000_000n }],
]);

/** MEDIBUS measured-data codes (one byte, sent as 2 hex digits) -> MDC. */
export const MEDIBUS_CODES: ReadonlyMap<number, CodeMapping> = new Map([
  [0xe6, { mdc: SCADA | 0x50b0, label: 'EtCO2', unit: Unit.MMHG }],
  [0xeb, { mdc: SCADA | 0x4bb8, label: 'SpO2', unit: Unit.PERCENT }],
  [0xe1, { mdc: SCADA | 0x4822, label: 'PULSE', unit: Unit.BPM }],
  [0xf0, { mdc: SCADA | 0x5284, label: 'FiO2', unit: Unit.PERCENT }],
  [0x78, { mdc: SCADA | 0x510c, label: 'PEEP', unit: Unit.CMH2O }],
  [0xd6, { mdc: SCADA | 0x5012, label: 'RR', unit: Unit.RPM }],
]);

/** MEDIBUS.X real-time curve ids -> MDC (curve scaling comes from the device's configuration). */
export const MEDIBUS_CURVES: ReadonlyMap<number, CodeMapping> = new Map([
  [0x00, { mdc: SCADA | 0x5074, label: 'PAW', unit: Unit.CMH2O }],
  [0x01, { mdc: SCADA | 0x50d4, label: 'FLOW', unit: Unit.L_PER_MIN }],
  [0x06, { mdc: SCADA | 0x5000, label: 'CO2', unit: Unit.MMHG }],
]);
