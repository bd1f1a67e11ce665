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
  rows('#cases', c.cases.slice().reverse(), (x) => [x.uid, x.state, fmtTime(x.startNs), fmtTime(x.endNs), x.segments, '']);
  if (!canPlay()) return;
  $('#cases tbody').querySelectorAll('tr').forEach((tr, i) => {
    const x = c.cases[c.cases.length - 1 - i];
    if (!x.segments) return;
    const b = el('button', { class: 'play-case', 'data-case': String(x.id) }, 'Play');
    b.addEventListener('click', () => openCase(x.id, x.uid).catch((e) => { $('#pb-time').textContent = e.message; }));
    tr.lastChild.append(b);
  });
}

// ---- recorded cases: every channel of a case side by side on one timeline, its vitals under
// them. Each channel plays its HLS playlist (/media/cases/<id>/<channel>.m3u8, the segments
// remuxed to MPEG-TS by the box) through hls.js; the timeline is the box's wall clock, mapped to
// each channel's playlist time through its segments' times (a new recording restarts a
// channel's timeline; its playlist marks the discontinuity). ----
const canPlay = () => ['clinician', 'engineer', 'admin'].includes(document.body.dataset.role);
let player = null;
window.orboxPlayer = () => player; // tests read the player's state

function wallToMedia(ch, wallMs) {
  for (const s of ch.segs) if (wallMs < s.wallMs + s.d * 1000) return s.at + Math.max(0, wallMs - s.wallMs) / 1000;
  return ch.duration;
}
function mediaToWall(ch, t) {
  for (const s of ch.segs) if (t < s.at + s.d) return s.wallMs + (t - s.at) * 1000;
  const last = ch.segs[ch.segs.length - 1];
  return last.wallMs + last.d * 1000;
}

async function openCase(id, uid) {
  closeCase();
  const [m, v] = await Promise.all([api(`/api/cases/${id}/media`), api(`/api/cases/${id}/vitals`)]);
  $('#pb-case').textContent = uid;
  const chans = m.channels.map((c) => {
    let at = 0;
    const segs = c.segments.map((s) => { const d = Number(BigInt(s.endNs) - BigInt(s.startNs)) / 1e9; const x = { wallMs: Number(BigInt(s.startNs) / 1000000n), at, d }; at += d; return x; });
    const video = el('video', { class: 'recorded', playsinline: '', 'data-channel': c.channel });
    video.muted = true;
    const still = el('button', { class: 'still-dl', 'data-channel': c.channel }, 'Download still');
    still.addEventListener('click', () => downloadStill(uid, c.channel, video));
    $('#pb-videos').append(el('figure', {}, video, el('figcaption', {}, c.channel, ' ', still)));
    const hls = new Hls({ enableWorker: false });
    hls.loadSource(`/media/cases/${id}/${c.channel}.m3u8`);
    hls.attachMedia(video);
    return { channel: c.channel, video, hls, segs, duration: at };
  }).filter((c) => c.segs.length);
  if (!chans.length) throw new Error('nothing of this case is on the box any more');
  const t0 = Math.min(...chans.map((c) => c.segs[0].wallMs));
  const t1 = Math.max(...chans.map((c) => { const l = c.segs[c.segs.length - 1]; return l.wallMs + l.d * 1000; }));
  const range = $('#pb-timeline');
  range.max = String(t1 - t0);
  range.value = '0';
  player = { id, t0, t1, chans, nowMs: t0, plot: null };
  const master = chans[0];
  master.video.addEventListener('timeupdate', () => {
    if (!player) return;
    player.nowMs = mediaToWall(master, master.video.currentTime);
    range.value = String(player.nowMs - t0);
    showTime();
    // Keep the others on the master's clock (each drifts by its own buffering).
    for (const c of chans.slice(1)) {
      const want = wallToMedia(c, player.nowMs);
      if (!c.video.seeking && Math.abs(c.video.currentTime - want) > 0.3) c.video.currentTime = want;
    }
  });
  range.addEventListener('input', () => seekCase(t0 + Number(range.value)));
  // The vitals under the videos, on the same timeline (x: seconds since its start).
  const caseStartMs = Number(BigInt(m.case.startNs) / 1000000n);
  const key = Object.keys(v.series).find((k) => k.endsWith('/HR')) ?? Object.keys(v.series)[0];
  if (key && window.uPlot) {
    const s = v.series[key];
    const data = [s.t.map((t) => (caseStartMs + t - t0) / 1000), s.v];
    const cursorLine = (u) => {
      const x = u.valToPos((player.nowMs - t0) / 1000, 'x', true);
      u.ctx.save(); u.ctx.strokeStyle = '#06c'; u.ctx.lineWidth = 2; u.ctx.beginPath();
      u.ctx.moveTo(x, u.bbox.top); u.ctx.lineTo(x, u.bbox.top + u.bbox.height); u.ctx.stroke(); u.ctx.restore();
    };
    player.plot = new uPlot({ width: 640, height: 160, title: `${key} over the case`, scales: { x: { time: false, range: [0, (t1 - t0) / 1000] } },
      series: [{ label: 's' }, { label: `${key} ${s.unit}`, stroke: '#d22', width: 2 }], hooks: { draw: [cursorLine] } }, data, $('#pb-vitals'));
  }
  $('#playback').hidden = false;
  showTime();
}

function seekCase(wallMs) {
  if (!player) return;
  player.nowMs = Math.min(Math.max(wallMs, player.t0), player.t1);
  for (const c of player.chans) c.video.currentTime = wallToMedia(c, player.nowMs);
  showTime();
}

function showTime() {
  if (!player) return;
  $('#pb-time').textContent = `${new Date(player.nowMs).toLocaleTimeString()} (${((player.nowMs - player.t0) / 1000).toFixed(1)} s of ${((player.t1 - player.t0) / 1000).toFixed(1)} s)`;
  player.plot?.redraw(false, false);
}

function closeCase() {
  if (!player) return;
  for (const c of player.chans) { c.hls.destroy(); c.video.removeAttribute('src'); }
  player.plot?.destroy();
  $('#pb-videos').replaceChildren();
  $('#pb-vitals').replaceChildren();
  $('#playback').hidden = true;
  player = null;
}

/** The frame on screen as a PNG download (case, channel and its wall time in the name). */
function downloadStill(uid, channel, video) {
  const c = document.createElement('canvas');
  c.width = video.videoWidth; c.height = video.videoHeight;
  c.getContext('2d').drawImage(video, 0, 0);
  const at = new Date(player ? player.nowMs : Date.now()).toISOString().replace(/[:.]/g, '-');
  c.toBlob((b) => {
    const a = el('a', { href: URL.createObjectURL(b), download: `${uid}-${channel}-${at}.png` });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }, 'image/png');
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
  $('#pb-close').addEventListener('click', closeCase);
  $('#pb-play').addEventListener('click', () => {
    if (!player) return;
    const paused = player.chans[0].video.paused;
    for (const c of player.chans) { if (paused) c.video.play().catch(() => undefined); else c.video.pause(); }
    $('#pb-play').textContent = paused ? 'Pause' : 'Play';
  });
  every(2000, async () => { await refreshStatus(); await Promise.all([...tiles.keys()].map(refreshStill)); });
  every(1000, refreshVitals);
  every(3000, refreshCases);
  every(3000, refreshCommands);
});
