// The evstore web console: streams, events, live tail, appends, deletes,
// limits and scavenging, read streams and consumers, over evstored's HTTP API
// (same origin). Every value from the
// store is put on the page as text (textContent), never as HTML.
'use strict';

const $ = (id) => document.getElementById(id);
const state = { stream: null, next: null, live: null, streamsOffset: 0 };

function token() { return sessionStorage.getItem('evstore-token') || ''; }

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token()) headers.Authorization = 'Bearer ' + token();
  const res = await fetch(path, Object.assign({}, options, { headers }));
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = text; }
  return { status: res.status, body };
}

function streamPath(name) { return '/streams/' + encodeURIComponent(name); }

function showError(res) {
  const p = $('error');
  if (!res || res.status < 400) { p.hidden = true; return false; }
  const b = res.body || {};
  p.textContent = res.status + ' ' + (b.error || '') + (b.message ? ': ' + b.message : '') +
    (res.status === 401 ? ' (enter a token above)' : '');
  p.hidden = false;
  return true;
}

function el(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className) e.className = className;
  return e;
}

// --- status line: /health and a few /metrics figures, every 2 s
function metric(text, name) {
  const m = text.match(new RegExp('^' + name + ' ([0-9.e+]+)$', 'm'));
  return m ? Number(m[1]) : null;
}
let lastAppends = null, lastAt = 0;
async function refreshStatus() {
  const s = $('status');
  try {
    const h = await api('/health');
    if (h.status !== 200) throw new Error(String(h.status));
    s.textContent = (h.body.readOnly ? 'read-only follower' : 'ok');
    s.className = 'pill ok';
    const m = await api('/metrics');
    if (m.status === 200 && typeof m.body === 'string') {
      const appends = metric(m.body, 'evstore_appends_total'), now = Date.now();
      const rate = lastAppends !== null && now > lastAt ? Math.round((appends - lastAppends) * 1000 / (now - lastAt)) : 0;
      lastAppends = appends; lastAt = now;
      $('figures').textContent = metric(m.body, 'evstore_events') + ' events · ' + rate + ' appends/s · ' +
        metric(m.body, 'evstore_subscribers') + ' subscribers · ' + metric(m.body, 'evstore_connections') + ' connections';
    }
  } catch (e) {
    s.textContent = 'unreachable';
    s.className = 'pill bad';
  }
}

// --- stream list
async function loadStreams(more) {
  state.streamsOffset = more ? state.streamsOffset : 0;
  const res = await api('/streams?limit=200&offset=' + state.streamsOffset);
  if (showError(res)) return;
  const ul = $('streams');
  if (!more) {
    ul.replaceChildren();
    addStreamItem({ stream: '$all', kind: 'all', version: null });
  }
  for (const s of res.body) addStreamItem(s);
  state.streamsOffset += res.body.filter((s) => s.kind === 'write').length;
  $('more-streams').hidden = res.body.filter((s) => s.kind === 'write').length < 200;
  filterStreams();
}

function addStreamItem(s) {
  const li = el('li');
  const b = el('button', s.stream + ' ');
  b.dataset.stream = s.stream;
  b.appendChild(el('span', s.kind === 'all' ? 'global order' : s.kind + (s.version === null ? '' : ' · v' + s.version), 'kind'));
  b.addEventListener('click', () => { $('stream-name').value = s.stream; openStream(s.stream); });
  li.appendChild(b);
  $('streams').appendChild(li);
}

function filterStreams() {
  const q = $('stream-search').value.toLowerCase();
  for (const li of $('streams').children) {
    li.hidden = q !== '' && !li.firstChild.dataset.stream.toLowerCase().includes(q);
  }
}

// --- events of one stream
function eventRow(e, fresh) {
  const tr = el('tr', undefined, fresh ? 'fresh' : '');
  tr.appendChild(el('td', String(e.version)));
  tr.appendChild(el('td', String(e.position)));
  tr.appendChild(el('td', e.type));
  tr.appendChild(el('td', e.stream));
  tr.appendChild(el('td', new Date(e.committedAt).toISOString().replace('T', ' ').replace('Z', '')));
  const data = { data: e.data };
  if (e.metadata !== null) data.metadata = e.metadata;
  if (e.id !== null) data.id = e.id;
  tr.appendChild(el('td', JSON.stringify(e.metadata === null && e.id === null ? e.data : data, null, 1), 'data'));
  return tr;
}

async function openStream(name, page) {
  stopLive();
  state.stream = name;
  for (const b of document.querySelectorAll('nav li button')) b.classList.toggle('current', b.dataset.stream === name);
  const direction = $('direction').value;
  let path = streamPath(name) + '?limit=50&direction=' + direction;
  if (page !== undefined && page !== null) path += '&from=' + page;
  const res = await api(path);
  if (showError(res)) { $('events').tBodies[0].replaceChildren(); return; }
  const body = res.body;
  if (page === undefined) $('events').tBodies[0].replaceChildren();
  for (const e of body.events) $('events').tBodies[0].appendChild(eventRow(e, false));
  state.next = body.next;
  state.version = body.version;
  $('next-page').hidden = body.next === null;
  $('stream-info').textContent = body.version === null ? 'empty' : 'last version ' + body.version;
  if ($('live').checked) startLive();
}

// --- live tail: Server-Sent Events read through fetch, so that the bearer
// token can go in a header (EventSource cannot send one)
function stopLive() {
  if (state.live) state.live.abort();
  state.live = null;
}

async function startLive() {
  stopLive();
  if (!state.stream) return;
  const controller = new AbortController();
  state.live = controller;
  const from = state.version === null || state.version === undefined ? 0 : state.version + 1;
  const headers = { Accept: 'text/event-stream' };
  if (token()) headers.Authorization = 'Bearer ' + token();
  try {
    const res = await fetch(streamPath(state.stream) + '?live=true&from=' + from, { headers, signal: controller.signal });
    if (!res.ok) { showError({ status: res.status, body: await res.json().catch(() => ({})) }); return; }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        onSseMessage(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  } catch (e) {
    if (e.name !== 'AbortError') showError({ status: 599, body: { error: 'live', message: String(e) } });
  }
}

function onSseMessage(message) {
  let event = 'message', data = '', id = null;
  for (const line of message.split('\n')) {
    if (line.startsWith('event: ')) event = line.slice(7);
    else if (line.startsWith('data: ')) data += line.slice(6);
    else if (line.startsWith('id: ')) id = Number(line.slice(4));
  }
  if (event !== 'event' || !data) return;
  const e = JSON.parse(data);
  const body = $('events').tBodies[0];
  const row = eventRow(e, true);
  if ($('direction').value === 'backward') body.insertBefore(row, body.firstChild); else body.appendChild(row);
  // The SSE id is the event's number in this stream (a version, a $all
  // position or a read-stream entry): where live resumes after a reconnect.
  if (id !== null) state.version = id;
  $('stream-info').textContent = 'last version ' + state.version + ' · live';
}

// --- forms
async function append(ev) {
  ev.preventDefault();
  let data;
  try { data = JSON.parse($('append-data').value || 'null'); } catch (e) {
    $('append-result').textContent = 'data is not JSON: ' + e.message; return;
  }
  const headers = { 'Content-Type': 'application/json' };
  if ($('append-expected').value) headers['Expected-Version'] = $('append-expected').value;
  const res = await api(streamPath($('append-stream').value), {
    method: 'POST', headers, body: JSON.stringify({ type: $('append-type').value, data }),
  });
  $('append-result').textContent = res.status === 201 ? 'appended: version ' + res.body.version + ', position ' + res.body.position
    : res.status + ' ' + (res.body && res.body.message ? res.body.message : '');
  if (res.status === 201) loadStreams(false);
}

async function readStream(ev, method) {
  ev.preventDefault();
  const name = $('read-stream-name').value;
  let body;
  if (method === 'PUT') {
    try { body = JSON.stringify({ filter: JSON.parse($('read-stream-filter').value) }); } catch (e) {
      $('read-stream-result').textContent = 'filter is not JSON: ' + e.message; return;
    }
  }
  const res = await api('/read-streams/' + encodeURIComponent(name),
    { method, body, headers: body ? { 'Content-Type': 'application/json' } : {} });
  $('read-stream-result').textContent = res.status < 300 ? (method === 'PUT' ? 'created ' : 'deleted ') + name
    : res.status + ' ' + (res.body && res.body.message ? res.body.message : '');
  loadStreams(false);
}

function answer(res) {
  return res.status + ' ' + (res.body && res.body.message ? res.body.message : '');
}

async function deleteStream(ev) {
  ev.preventDefault();
  const name = $('delete-stream').value;
  const query = [];
  if ($('delete-hard').checked) query.push('hard=true');
  if ($('delete-erase').checked) query.push('erase=true');
  const headers = {};
  if ($('delete-expected').value) headers['Expected-Version'] = $('delete-expected').value;
  $('delete-result').textContent = 'deleting…';
  const res = await api(streamPath(name) + (query.length ? '?' + query.join('&') : ''), { method: 'DELETE', headers });
  $('delete-result').textContent = res.status === 200
    ? 'deleted at version ' + res.body.version +
      (res.body.eventsErased !== undefined ? ', ' + res.body.eventsErased + ' events erased' : '')
    : answer(res);
  loadStreams(false);
}

function limit(id) {
  const v = $(id).value.trim();
  return v === '' ? null : Number(v);
}

async function setMetadata(ev) {
  ev.preventDefault();
  const body = JSON.stringify({
    maxCount: limit('metadata-max-count'), maxAge: limit('metadata-max-age'), truncateBefore: limit('metadata-truncate'),
  });
  const res = await api(streamPath($('metadata-stream').value) + '/metadata',
    { method: 'PUT', body, headers: { 'Content-Type': 'application/json' } });
  $('metadata-result').textContent = res.status === 200 ? 'limits set' : answer(res);
}

function scavengeText(b) {
  const figures = b.eventsErased + ' events erased, ' + b.bytesReleased + ' bytes given back';
  if (b.running) return 'scavenging: ' + b.streamsDone + ' of ' + b.streamsTotal + ' streams, ' + figures;
  return b.error ? 'failed: ' + b.error : 'done: ' + figures;
}

async function scavenge() {
  let res = await api('/admin/scavenge', { method: 'POST' });
  if (res.status !== 202 && res.status !== 409) { $('scavenge-result').textContent = answer(res); return; }
  // Progress until it is done: one GET a second.
  for (;;) {
    res = await api('/admin/scavenge');
    if (res.status !== 200) { $('scavenge-result').textContent = answer(res); return; }
    $('scavenge-result').textContent = scavengeText(res.body);
    if (!res.body.running) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

// The last scavenge, as the page loads (a token that may not scavenge sees nothing).
async function lastScavenge() {
  const res = await api('/admin/scavenge');
  if (res.status === 200 && res.body.startedAt !== null) $('scavenge-result').textContent = scavengeText(res.body);
}

async function consumer(ev) {
  ev.preventDefault();
  const res = await api('/consumers/' + encodeURIComponent($('consumer-name').value) + '?stream=' +
    encodeURIComponent($('consumer-stream').value));
  $('consumer-result').textContent = res.status === 200
    ? 'position ' + res.body.position + ', state ' + JSON.stringify(res.body.state)
    : res.status + ' ' + (res.body && res.body.message ? res.body.message : '');
}

document.addEventListener('DOMContentLoaded', () => {
  $('token').value = token();
  $('token').addEventListener('change', () => {
    sessionStorage.setItem('evstore-token', $('token').value);
    loadStreams(false);
    refreshStatus();
  });
  $('stream-search').addEventListener('input', filterStreams);
  $('stream-filter').addEventListener('submit', (ev) => ev.preventDefault());
  $('more-streams').addEventListener('click', () => loadStreams(true));
  $('open-stream').addEventListener('submit', (ev) => { ev.preventDefault(); openStream($('stream-name').value); });
  $('direction').addEventListener('change', () => state.stream && openStream(state.stream));
  $('live').addEventListener('change', () => ($('live').checked ? startLive() : stopLive()));
  $('next-page').addEventListener('click', () => openStream(state.stream, state.next));
  $('append').addEventListener('submit', append);
  $('read-stream').addEventListener('submit', (ev) => readStream(ev, 'PUT'));
  $('read-stream-delete').addEventListener('click', (ev) => readStream(ev, 'DELETE'));
  $('consumer').addEventListener('submit', consumer);
  $('delete').addEventListener('submit', deleteStream);
  $('metadata').addEventListener('submit', setMetadata);
  $('scavenge').addEventListener('click', scavenge);
  lastScavenge();
  refreshStatus();
  setInterval(refreshStatus, 2000);
  loadStreams(false);
  $('stream-name').value = '$all';
  openStream('$all');
});
