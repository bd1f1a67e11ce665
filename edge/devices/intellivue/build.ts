/**
 * Philips IntelliVue Data Export: the messages the host sends (Data Export Interface Programming
 * Guide: "Association Control", "Data Export Protocol", "Remote Operation" and "Poll" sections):
 * association and release requests, the MDS Create Event Result, the extended poll and the
 * Set of the real-time sample array priority list. Everything is big-endian.
 *
 *   session SPDU     type u8 (0x0D AARQ, 0x09 release request, ...), length indicator (LI), body
 *   data export      SPpdu { session_id u16 = 0xE100, p_context_id u16 }
 *                    ROapdus { ro_type u16, length u16 }
 *                      ro_type 1 ROIV  { invoke_id u16, command_type u16, length u16 } argument
 *                      ro_type 2 RORS  { invoke_id u16, command_type u16, length u16 } result
 *
 * Each builder returns one message (frame.ts frames it for RS-232; on the LAN it is one datagram);
 * sessionSpdu() also builds the monitor simulator's session answers. Pure; nothing throws.
 */
import { BeWriter } from './be-writer.js';
import { CMD, NOM, RO, SESSION_ID, SPDU } from './nomenclature.js';

/** Receive MTU we announce (frame.ts holds frames up to this size). */
export const ANNOUNCED_MTU = 8000;

/**
 * Association request (session SPDU 0x0D). The user information is the MDSEUserInfoStd of the
 * programming guide: protocol version, nomenclature version, functional units, system type
 * (client), startup mode (hot start), option list, and the supported application profiles with
 * the poll profile (min poll period, MTUs, options) and its extension (1 s numeric period,
 * real-time sample arrays).
 *
 * Known simplification: the session/presentation/ACSE envelope around the user information is
 * encoded here as a length-indicated block, not the vendor's full ASN.1 prefix; the simulator
 * accepts it, a real monitor must be checked against the guide's example bytes (README).
 */
export function buildAssociationRequest(): Uint8Array {
  const u = new BeWriter();
  u.u32(0x80000000); // protocol_version MDDL_VERSION1
  u.u32(0x40000000); // nomenclature_version NOMEN_VERSION
  u.u32(0); // functional_units
  u.u32(0x80000000); // system_type SYST_CLIENT
  u.u32(0x20000000); // startup_mode HOT_START
  u.u16(0).u16(0); // option_list: empty
  u.u16(1); // supported_aprofiles: count
  const apLen = u.lengthMark();
  u.u16(0x0001); // NOM_POLL_PROFILE_SUPPORT
  const ppLen = u.lengthMark();
  u.u32(0x80000000); // poll_profile_revision
  u.u32(8000); // min_poll_period: 1 s in 125 us ticks
  u.u32(ANNOUNCED_MTU); // max_mtu_rx
  u.u32(ANNOUNCED_MTU); // max_mtu_tx
  u.u32(0xffffffff); // max_bw_tx: no limit
  u.u32(0x60000000); // options: dynamic create/delete of objects
  u.u16(1); // optional_packages: count
  const opLen = u.lengthMark();
  u.u16(0xf001); // NOM_ATTR_POLL_PROFILE_EXT
  const extLen = u.lengthMark();
  u.u32(0x88000000); // POLL_EXT_PERIOD_NU_1SEC | POLL_EXT_PERIOD_RTSA
  u.u16(0).u16(0); // ext_attr: empty
  extLen();
  opLen();
  ppLen();
  apLen();
  const user = u.finish();
  return sessionSpdu(SPDU.AARQ, user);
}

/** A session SPDU: type, length indicator (1 byte, or 0xFF + u16), body. */
export function sessionSpdu(type: number, body: Uint8Array): Uint8Array {
  const w = new BeWriter().u8(type);
  if (body.length < 0xff) w.u8(body.length);
  else w.u8(0xff).u16(body.length);
  return w.bytes(body).finish();
}

export function buildReleaseRequest(): Uint8Array {
  return sessionSpdu(SPDU.RELEASE_REQ, new Uint8Array(0));
}

function dataExportHeader(w: BeWriter, roType: number): () => void {
  w.u16(SESSION_ID).u16(2); // SPpdu: session id, presentation context id
  w.u16(roType);
  return w.lengthMark();
}

/** MDS Create Event Result: the host's answer to the monitor's MDS Create Event Report. */
export function buildMdsCreateResult(invokeId: number, eventTime: number): Uint8Array {
  const w = new BeWriter();
  const roLen = dataExportHeader(w, RO.RORS);
  w.u16(invokeId).u16(CMD.CONFIRMED_EVENT_REPORT);
  const rsLen = w.lengthMark();
  w.u16(NOM.MOC_VMS_MDS).u16(0).u16(0); // managed object
  w.u32(eventTime >>> 0);
  w.u16(NOM.NOTI_MDS_CREAT);
  w.u16(0); // event_reply_info length
  rsLen();
  roLen();
  return w.finish();
}

/**
 * Extended poll request (action NOM_ACT_POLL_MDIB_DATA_EXT) for one object class, with the
 * period attribute NOM_ATTR_TIME_PD_POLL in 125 us ticks: the monitor sends linked results for
 * that period, the host re-polls before it ends.
 */
export function buildExtendedPoll(invokeId: number, pollNumber: number, objectClass: number, periodTicks: number): Uint8Array {
  const w = new BeWriter();
  const roLen = dataExportHeader(w, RO.ROIV);
  w.u16(invokeId).u16(CMD.CONFIRMED_ACTION);
  const ivLen = w.lengthMark();
  w.u16(NOM.MOC_VMS_MDS).u16(0).u16(0); // managed object
  w.u32(0); // scope
  w.u16(NOM.ACT_POLL_MDIB_DATA_EXT);
  const argLen = w.lengthMark();
  w.u16(pollNumber);
  w.u16(NOM.PART_OBJ).u16(objectClass);
  w.u16(0); // polled_attr_grp: all
  w.u16(1); // poll_ext_attr: count
  const attrLen = w.lengthMark();
  w.u16(NOM.ATTR_TIME_PD_POLL).u16(4).u32(periodTicks >>> 0);
  attrLen();
  argLen();
  ivLen();
  roLen();
  return w.finish();
}

/** Confirmed Set of the real-time sample array priority list (which waves the monitor sends). */
export function buildSetRtsaPriorityList(invokeId: number, labels: readonly number[]): Uint8Array {
  const w = new BeWriter();
  const roLen = dataExportHeader(w, RO.ROIV);
  w.u16(invokeId).u16(CMD.CONFIRMED_SET);
  const ivLen = w.lengthMark();
  w.u16(NOM.MOC_VMS_MDS).u16(0).u16(0);
  w.u32(0); // scope
  w.u16(1); // modification list: count
  const modLen = w.lengthMark();
  w.u16(0); // modify_operator REPLACE
  w.u16(NOM.ATTR_POLL_RTSA_PRIO_LIST);
  const avaLen = w.lengthMark();
  w.u16(labels.length);
  const listLen = w.lengthMark();
  for (const l of labels) w.u32(l >>> 0);
  listLen();
  avaLen();
  modLen();
  ivLen();
  roLen();
  return w.finish();
}
