/**
 * ONVIF errors, each naming the device (its address) and what went wrong there.
 * Runs on: control, video-capture.
 */

/** The device refused the credentials (HTTP 401 or a SOAP NotAuthorized fault). */
export class OnvifAuthError extends Error {
  constructor(readonly device: string, readonly operation: string, detail: string) {
    super(`ONVIF device ${device}: ${operation} refused the credentials (${detail})`);
    this.name = 'OnvifAuthError';
  }
}

/** No usable reply: timeout, too large, not SOAP, a fault, or missing fields. */
export class OnvifReplyError extends Error {
  constructor(readonly device: string, readonly operation: string, detail: string) {
    super(`ONVIF device ${device}: ${operation}: ${detail}`);
    this.name = 'OnvifReplyError';
  }
}
