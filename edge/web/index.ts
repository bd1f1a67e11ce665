/** The web console (HTTPS, sign-in, /api/*, static UI); hosted by the control worker. */
export { WebConsole, ROUTES, COOKIE, type ConsoleBackend, type Caller, type WebConsoleOptions } from './server.js';
export { loadOrMakeCert, type TlsFiles } from './cert.js';
