/**
 * The console's two HTML pages: sign-in (the only page served without a session) and the
 * console shell that static/app.js fills from `/api/*`. No inline script or style (the CSP
 * forbids them); every value put in the HTML is escaped.
 */
import type { Session } from '../access/index.js';

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function signInPage(message?: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>orbox: sign in</title></head><body>
<main style="max-width:20em;margin:4em auto;font-family:sans-serif">
<h1>orbox</h1>
${message ? `<p id="message" role="alert">${esc(message)}</p>` : ''}
<form method="post" action="/signin">
<p><label>Name<br><input name="user" id="user" autocomplete="username" required></label></p>
<p><label>Password<br><input name="password" id="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit" id="signin">Sign in</button></p>
</form></main></body></html>`;
}

export function consolePage(box: { id: string; room: string }, s: Session): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>orbox ${esc(box.id)}</title>
<link rel="stylesheet" href="/static/uplot.css"><link rel="stylesheet" href="/static/app.css">
<script src="/static/uplot.js" defer></script><script src="/static/hls.js" defer></script><script src="/static/app.js" defer></script></head>
<body data-role="${esc(s.role)}">
<header><h1>orbox <span id="box">${esc(box.id)}</span> <small>${esc(box.room)}</small></h1>
<span id="health" class="badge">…</span>
<span class="who">${esc(s.account)} (${esc(s.role)}) <button id="signout">Sign out</button></span></header>
<div id="alerts" role="alert"></div>
<section id="recording"><h2>Case</h2><span id="rec-state">…</span>
<button id="rec-start">Start case</button> <button id="rec-stop">Stop case</button> <span id="rec-message"></span></section>
<section><h2>Channels</h2><div id="tiles"></div></section>
<section id="vitals"><h2>Vitals</h2><div id="numerics"></div><div id="hr-plot"></div></section>
<section><h2>Cases</h2><table id="cases"><thead><tr><th>case</th><th>state</th><th>start</th><th>end</th><th>segments</th><th></th></tr></thead><tbody></tbody></table></section>
<section id="playback" hidden><h2>Recorded case <span id="pb-case"></span> <button id="pb-close">Close</button></h2>
<div id="pb-videos"></div>
<div id="pb-controls"><button id="pb-play">Play</button> <input type="range" id="pb-timeline" min="0" max="0" step="10" value="0"> <span id="pb-time"></span></div>
<div id="pb-vitals"></div></section>
<section><h2>Workers</h2><table id="workers"><thead><tr><th>worker</th><th>state</th><th>restarts</th><th>heartbeat</th></tr></thead><tbody></tbody></table></section>
<section><h2>Rings</h2><table id="rings"><thead><tr><th>ring</th><th>producer</th><th>fill</th><th>records</th><th>overruns</th></tr></thead><tbody></tbody></table></section>
<section><h2>Uplink</h2><table id="uplink"><thead><tr><th>receiver</th><th>channel</th><th>choice</th><th>detail</th></tr></thead><tbody></tbody></table></section>
<section><h2>Command log</h2><table id="commands"><thead><tr><th>when</th><th>from</th><th>command</th><th>state</th><th>message</th></tr></thead><tbody></tbody></table></section>
</body></html>`;
}
