// The orbox console page: fills the shell from /api/* (same-origin, the session cookie goes
// along by itself). Plain browser JS, no build step; uPlot (window.uPlot) draws the heart rate.
'use strict';
const $ = (s) => document.querySelector(s);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const k of kids) e.append(k);
  return e;
};
const api = async (path, opts = {}) => {
  const r = await fetch(path, { ...opts, headers: opts.body ? { 'Content-Type': 'application/json' } : {} });
  if (r.status === 401) { location.href = '/signin'; throw new Error('signed out'); }
  const j = await r.json();
  if (!r.ok) throw new Error(j.error || r.statusText);
  return j;
};
const rows = (sel, list, cells) => {
  const tb = $(sel + ' tbody');
  tb.replaceChildren(...list.map((x) => el('tr', {}, ...cells(x).map((c) => el('td', {}, String(c ?? ''))))));
};
const fmtTime = (ns) => (ns ? new Date(Number(BigInt(ns) / 1000000n)).toLocaleTimeString() : '');

// ---- channel tiles: the latest still, refreshed (a new object URL per still) ----
const tiles = new Map();
function tile(name) {
  let t = tiles.get(name);
  if (t) return t;
  const img = el('img', { alt: `latest still of ${name}`, class: 'still' });
  const cap = el('span', { class: 'caption' }, name);
  const age = el('span', { class: 'age' });
  const snap = el('button', { class: 'capture' }, 'Capture still');
  snap.addEventListener('click', async () => {
    try { const r = await api(`/api/stills/${name}`, { method: 'POST', body: '{}' }); age.textContent = `saved ${r.saved?.path ?? ''}`; } catch (e) { age.textContent = e.message; }
  });
  const video = el('video', { class: 'live', muted: '', playsinline: '', hidden: '' });
  const live = el('button', { class: 'play' }, 'Live (lq)');
  live.addEventListener('click', () => toggleLive(name, video, img, live).catch((e) => { age.textContent = e.message; }));
  const div = el('div', { class: 'tile', 'data-channel': name }, img, video, el('div', {}, cap, ' ', age), snap, ' ', live);
  $('#tiles').append(div);
  t = { img, age, url: null, captureNs: null, updates: 0 };
  tiles.set(name, t);
  return t;
}
async function refreshStill(name) {
  const t = tile(name);
  const r = await fetch(`/api/stills/${name}.jpg`);
  if (!r.ok) { t.age.textContent = (await r.json()).error; return; }
  const ns = r.headers.get('X-Capture-Ns');
  if (ns === t.captureNs) return;
  const url = URL.createObjectURL(await r.blob());
  t.img.src = url;
  if (t.url) URL.revokeObjectURL(t.url);
  t.url = url; t.captureNs = ns; t.updates++;
  t.img.dataset.captureNs = ns; t.img.dataset.updates = String(t.updates);
  t.age.textContent = `captured ${fmtTime(ns)}`;
}

// ---- live view: WHEP (POST the offer with a bearer token, set the answer) into a <video> ----
const lives = new Map();
window.orboxLive = (name) => lives.get(name)?.pc; // tests read getStats() from here
async function toggleLive(name, video, img, button) {
  const cur = lives.get(name);
  if (cur) {
    lives.delete(name);
    cur.pc.close();
    fetch(cur.location, { method: 'DELETE', headers: { Authorization: `Bearer ${cur.token}` } }).catch(() => undefined);
    video.hidden = true; img.hidden = false; button.textContent = 'Live (lq)';
    return;
  }
  const { token } = await api('/api/whep-token', { method: 'POST', body: '{}' });
  const pc = new RTCPeerConnection();
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.ontrack = (e) => { video.srcObject = new MediaStream([e.track]); video.play().catch(() => undefined); };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((r) => { if (pc.iceGatheringState === 'complete') r(); else pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') r(); }); });
  const r = await fetch(`/whep/${name}/lq`, { method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` }, body: pc.localDescription.sdp });
  if (r.status !== 201) { pc.close(); throw new Error(`live view refused: ${await r.text()}`); }
  await pc.setRemoteDescription({ type: 'answer', sdp: await r.text() });
  lives.set(name, { pc, token, location: r.headers.get('Location') });
  video.hidden = false; img.hidden = true; button.textContent = 'Stop live';
}

// ---- status: health, recording state, workers, rings, uplink ----
async function refreshStatus() {
  const s = await api('/api/status');
  $('#health').textContent = s.box.healthy ? 'healthy' : 'unhealthy';
  $('#health').className = 'badge ' + (s.box.healthy ? 'ok' : 'bad');
  // What a nurse or engineer must act on: the storage alarm, a recording that stopped.
  const alerts = [];
  if (s.upload?.alarm) alerts.push(`Storage alarm: ${s.upload.alarm}`);
  for (const [ch, r] of Object.entries(s.video?.recording ?? {})) if (r.reason) alerts.push(`${ch}: ${r.reason}`);
  $('#alerts').replaceChildren(...alerts.map((a) => el('div', { class: 'alert' }, a)));
  rows('#workers', s.workers, (w) => [w.name, w.stateName + (w.lastFault && w.lastFault !== 'none' ? ` (${w.lastFault})` : ''), w.restarts, w.heartbeatAgeMs !== undefined ? `${w.heartbeatAgeMs} ms` : '']);
  rows('#rings', s.rings, (r) => [r.name, r.producer, `${Math.round(r.fill * 100)} %`, r.records, r.consumers.reduce((a, c) => a + c.overruns, 0)]);
  rows('#uplink', s.video?.uplink ?? [], (p) => [p.receiver, p.channel, p.sending ?? 'none', `${p.packets} packets, ${p.rtxPackets} rtx, srtp ${p.srtp}`]);
  for (const ch of Object.keys(s.video?.stills ?? {})) tile(ch);
  return s;
}
async function refreshCases() {
  const c = await api('/api/cases');
  const cur = c.cases.find((x) => x.state === 'recording');
  $('#rec-state').textContent = cur ? `recording ${cur.uid}` : 'not recording';
  $('#rec-state').dataset.state = cur ? 'recording' : 'idle';
  rows('#cases', c.cases.slice().reverse(), (x) => [x.uid, x.state, fmtTime(x.startNs), fmtTime(x.endNs), x.segments]);
}
async function refreshCommands() {
  if (!['engineer', 'admin'].includes(document.body.dataset.role)) return;
  const c = await api('/api/commands');
  rows('#commands', c.entries, (e) => [new Date(e.atMs).toLocaleTimeString(), e.origin, `${e.kind} ${e.summary}`, e.state, e.message]);
}

// ---- vitals: live numbers and a scrolling heart-rate plot ----
let plot = null;
window.orboxPlot = () => plot; // tests read the plotted data from here
async function refreshVitals() {
  const v = await api('/api/vitals');
  $('#numerics').replaceChildren(...v.numerics.map((n) => el('span', { class: 'numeric' + (n.alarm ? ' alarm' : ''), 'data-label': n.label },
    el('b', {}, n.label), ' ', n.value === null ? '—' : String(n.value), ' ', el('small', {}, n.unit + (n.simulated ? ' (simulated)' : '')))));
  const key = Object.keys(v.series).find((k) => k.endsWith('/HR'));
  if (!key || !window.uPlot) return;
  const s = v.series[key];
  const data = [s.t.map((t) => t / 1000), s.v];
  if (!plot) {
    plot = new uPlot({ width: 600, height: 200, title: `heart rate (${key})`, series: [{}, { label: 'HR /min', stroke: '#d22', width: 2 }], scales: { y: { range: [30, 180] } } }, data, $('#hr-plot'));
  } else plot.setData(data);
}

function every(ms, f) { const run = () => f().catch((e) => console.warn(e.message)); run(); return setInterval(run, ms); }

document.addEventListener('DOMContentLoaded', () => {
  $('#signout').addEventListener('click', async () => { await fetch('/signout', { method: 'POST' }); location.href = '/signin'; });
  const record = (what) => async () => {
    try { const r = await api(`/api/record/${what}`, { method: 'POST', body: '{}' }); $('#rec-message').textContent = r.message; } catch (e) { $('#rec-message').textContent = e.message; }
    await refreshCases();
  };
  $('#rec-start').addEventListener('click', record('start'));
  $('#rec-stop').addEventListener('click', record('stop'));
  every(2000, async () => { await refreshStatus(); await Promise.all([...tiles.keys()].map(refreshStill)); });
  every(1000, refreshVitals);
  every(3000, refreshCases);
  every(3000, refreshCommands);
});
