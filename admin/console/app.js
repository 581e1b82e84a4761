// Parley console: registrations, calls and call ladders from the admin
// API, kept live by the /api/stream event stream. Plain DOM code, no
// framework; every piece of SIP text goes in through textContent, never
// as HTML, because SIP headers are whatever a caller chose to send.
'use strict';
(() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const SVG = 'http://www.w3.org/2000/svg';

  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('data-')) e.setAttribute(k, v);
      else e[k] = v;
    }
    e.append(...children);
    return e;
  }

  function svg(tag, attrs = {}, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  const td = (text, cls) => el('td', cls ? { class: cls, textContent: text } : { textContent: text });

  let token = sessionStorage.getItem('parley-token') || '';
  const state = { calls: new Map(), selected: null, selectedSeq: null, stream: null, timers: {} };

  // api fetches with the token; a 401 asks for one.
  async function api(path, opts = {}) {
    const headers = { ...(opts.headers || {}) };
    if (token) headers.Authorization = 'Bearer ' + token;
    const res = await fetch(path, { ...opts, headers });
    if (res.status === 401) {
      $('#login').hidden = false;
      throw new Error('unauthorized');
    }
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new Error(body.error || res.statusText);
    }
    return res;
  }
  const getJSON = async path => (await api(path)).json();

  // later runs fn once after ms, however often it is asked in between.
  function later(name, ms, fn) {
    if (state.timers[name]) return;
    state.timers[name] = setTimeout(() => { state.timers[name] = null; fn(); }, ms);
  }

  function fmtDuration(s) {
    s = Math.max(0, Math.floor(s));
    const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = s % 60;
    const mm = String(m).padStart(2, '0'), ss = String(sec).padStart(2, '0');
    return h ? `${h}:${mm}:${ss}` : `${m}:${ss}`;
  }

  const fmtTime = iso => new Date(iso).toLocaleTimeString();

  // ---- summary

  async function loadStats() {
    const st = await getJSON('/api/stats');
    const items = [];
    const srv = st.server || {};
    if (srv.uptime_seconds !== undefined) items.push(['up', fmtDuration(srv.uptime_seconds)]);
    if (srv.registrations) items.push(['bindings', srv.registrations.bindings]);
    if (st.capture) {
      items.push(['active calls', st.capture.active_calls]);
      items.push(['calls ringing', st.capture.setup_calls]);
      items.push(['messages', st.capture.captured]);
    }
    $('#summary').replaceChildren(...items.map(([k, v]) => el('div', {}, el('dt', { textContent: k }), el('dd', { textContent: String(v) }))));
  }

  // ---- registrations

  async function loadRegistrations() {
    const form = $('#registrations form');
    const q = new URLSearchParams();
    for (const name of ['aor', 'contact', 'source']) {
      if (form[name].value.trim()) q.set(name, form[name].value.trim());
    }
    const data = await getJSON('/api/registrations?' + q);
    const regs = data.registrations;
    $('#registrations tbody').replaceChildren(...regs.map(regRow));
    $('#registrations .count').textContent = regs.length + (data.truncated ? '+' : '');
    $('#registrations .empty').hidden = regs.length > 0;
  }

  function regRow(r) {
    const remove = el('button', { class: 'remove', type: 'button', textContent: 'Remove', title: 'remove this binding' });
    remove.addEventListener('click', async () => {
      if (!confirm(`Remove ${r.contact} from ${r.aor}?`)) return;
      await api('/api/registrations?' + new URLSearchParams({ aor: r.aor, contact: r.contact }), { method: 'DELETE' });
      loadRegistrations();
    });
    return el('tr', { 'data-aor': r.aor },
      td(r.aor), td(r.contact, 'wrap'), td(r.source), td(r.transport), td(r.node || ''),
      td(fmtDuration(r.expires_in)), td(r.user_agent || ''), el('td', {}, remove));
  }

  // ---- calls

  async function loadCalls() {
    const data = await getJSON('/api/calls');
    state.calls = new Map();
    for (const c of [...data.recent, ...data.active]) state.calls.set(c.call_id, c);
    renderCalls();
  }

  function callDuration(c) {
    const from = Date.parse(c.answered || c.start);
    const to = c.end ? Date.parse(c.end) : Date.now();
    return (to - from) / 1000;
  }

  function renderCalls() {
    const calls = [...state.calls.values()];
    const live = calls.filter(c => c.state !== 'ended').sort((a, b) => b.start.localeCompare(a.start));
    const ended = calls.filter(c => c.state === 'ended').sort((a, b) => b.end.localeCompare(a.end)).slice(0, 100);
    $('#calls tbody').replaceChildren(...[...live, ...ended].map(callRow));
    $('#calls .count').textContent = `${live.length} active, ${ended.length} recent`;
    $('#calls .empty').hidden = calls.length > 0;
  }

  function callRow(c) {
    let stateText = c.state === 'ended' && c.reason ? `ended: ${c.reason}` : c.state;
    // A forked INVITE rings several phones: each is an early dialog, a branch.
    const branches = c.branches || [];
    if (branches.length > 1) stateText += ` (${branches.length} branches)`;
    const branchList = branches.map(b => `${b.tag}: ${b.state}${b.status ? ' ' + b.status : ''}`).join('\n');
    const tr = el('tr', { 'data-call-id': c.call_id, class: c.state === 'ended' ? 'ended' : '' },
      td(c.caller, 'wrap'), td(c.callee, 'wrap'),
      el('td', {}, el('span', { class: 'state ' + c.state, textContent: stateText, title: branchList })),
      td(fmtTime(c.start)), td(fmtDuration(callDuration(c)), 'duration'), td(c.source));
    if (c.call_id === state.selected) tr.classList.add('selected');
    tr.addEventListener('click', () => showLadder(c.call_id));
    return tr;
  }

  function tickDurations() {
    for (const tr of document.querySelectorAll('#calls tbody tr')) {
      const c = state.calls.get(tr.dataset.callId);
      if (c && c.state !== 'ended') $('.duration', tr).textContent = fmtDuration(callDuration(c));
    }
  }

  // ---- B2BUA calls (mode: b2bua), each with both legs and a hang-up

  async function loadB2BUA() {
    let data;
    try {
      data = await getJSON('/api/b2bua/calls');
    } catch (err) {
      if (err.message === 'unauthorized') throw err;
      $('#b2bua').hidden = true;
      return;
    }
    $('#b2bua').hidden = !data.b2bua; // not a B2BUA: nothing to show
    if (!data.b2bua) return;
    // In a cluster each call names its node (the one that holds it and
    // can hang it up): the column shows only there.
    const clustered = data.calls.some(c => c.node);
    $('#b2bua th.node').hidden = !clustered;
    $('#b2bua tbody').replaceChildren(...data.calls.map(c => b2buaRow(c, clustered)));
    $('#b2bua .count').textContent = String(data.calls.length);
    $('#b2bua .empty').hidden = data.calls.length > 0;
  }

  function b2buaRow(c, clustered) {
    const hangup = el('button', { class: 'hangup', type: 'button', textContent: 'Hang up', title: 'BYE on both legs' });
    hangup.addEventListener('click', async () => {
      if (!confirm(`Hang up ${c.caller} → ${c.callee}?`)) return;
      await api('/api/b2bua/calls/' + encodeURIComponent(c.id), { method: 'DELETE' });
      later('b2bua', 300, () => loadB2BUA().catch(() => {}));
    });
    // Each leg's tooltip names the party on it now: after a transfer,
    // the new party, and the row says who transferred the call.
    const leg = l => el('td', { class: 'wrap', title: `${l.party || ''}\n${l.state}${l.remote ? ' ' + l.remote : ''}` }, el('code', { textContent: l.call_id }));
    const node = clustered ? [el('td', { class: 'node', textContent: c.node || '' })] : [];
    const title = [c.trunk && `trunk ${c.trunk}`, c.route && `route ${c.route}`,
      c.answered_by && `picked up by ${c.answered_by}`, c.transferred_by && `transferred by ${c.transferred_by}`].filter(Boolean).join('\n');
    return el('tr', { 'data-b2bua-id': c.id, 'data-node': c.node || '', title }, ...node,
      td(c.caller, 'wrap'), td(c.callee, 'wrap'), td(c.dialled),
      el('td', {}, el('span', { class: 'state', textContent: c.state })),
      leg(c.a), leg(c.b), td(fmtTime(c.setup)), el('td', {}, hangup));
  }

  // ---- the cluster (cluster.node): every node's heartbeat and what it
  // holds, and every node's answered B2BUA calls

  async function loadCluster() {
    let data;
    try {
      data = await getJSON('/api/cluster');
    } catch (err) {
      if (err.message === 'unauthorized') throw err;
      // Only a cluster node answers 503 here (Redis down): keep the view
      // and the 3 s refresh, say that what it shows is the last read.
      // Hiding it stopped the refresh until a reload.
      $('#cluster').hidden = false;
      const note = $('#cluster .unavailable');
      note.textContent = `Cluster state unavailable (${err.message}); showing the last state read.`;
      note.hidden = false;
      return;
    }
    $('#cluster .unavailable').hidden = true;
    $('#cluster').hidden = !data.cluster; // not a cluster node: nothing to show
    if (!data.cluster) return;
    $('#cluster .count').textContent = String(data.nodes.length);
    $('#cluster .nodes tbody').replaceChildren(...data.nodes.map(n => nodeRow(n, data.self)));
    $('#cluster .cluster-calls tbody').replaceChildren(...data.calls.map(clusterCallRow));
    $('#cluster .cluster-calls').hidden = data.calls.length === 0;
    $('#cluster .empty').hidden = data.calls.length > 0;
  }

  function nodeRow(n, self) {
    return el('tr', { 'data-node': n.id, class: 'node-' + n.state },
      td(n.id + (n.id === self ? ' (this node)' : '')),
      el('td', {}, el('span', { class: 'state ' + n.state, textContent: n.state })),
      td(n.sip), td(n.admin || '—'), td(fmtTime(n.seen)),
      td(String(n.registrations)), td(String(n.calls)), td(String(n.subscriptions)));
  }

  function clusterCallRow(c) {
    return el('tr', { 'data-cluster-call': c.id },
      td(c.node), td(c.caller, 'wrap'), td(c.callee, 'wrap'), td(fmtTime(c.answered)),
      el('td', { class: 'wrap' }, el('code', { textContent: c.a_call_id })),
      el('td', { class: 'wrap' }, el('code', { textContent: c.b_call_id })));
  }

  // ---- call records, newest first, a page at a time

  async function loadCDRs(before) {
    const form = $('#cdrs form');
    const q = new URLSearchParams({ limit: '50' });
    for (const name of ['caller', 'callee', 'disposition']) {
      if (form[name].value.trim()) q.set(name, form[name].value.trim());
    }
    if (before) q.set('before', before);
    const data = await getJSON('/api/cdrs?' + q);
    const rows = data.cdrs.map(cdrRow);
    if (before) $('#cdrs tbody').append(...rows);
    else $('#cdrs tbody').replaceChildren(...rows);
    const more = $('#cdrs .more');
    more.hidden = !data.next;
    more.dataset.next = data.next || '';
    const n = $('#cdrs tbody').children.length;
    $('#cdrs .count').textContent = n + (data.next ? '+' : '');
    $('#cdrs .empty').hidden = n > 0;
  }

  function cdrRow(r) {
    const talk = r.answered ? fmtDuration((Date.parse(r.end) - Date.parse(r.answered)) / 1000) : '';
    // A picked-up call and a transfer's second record say so in the
    // row's tooltip, beside the callee they concern.
    const who = (r.answered_by ? `\npicked up by ${r.answered_by}` : '') +
      (r.transferred_by ? `\ntransferred by ${r.transferred_by}` : '');
    return el('tr', { 'data-call-id': r.call_id, title: `${r.call_id}\n${r.callee}${who}\nbillable ${r.billable} s` },
      td(new Date(r.setup).toLocaleString()), td(r.caller, 'wrap'), td(r.dialled), td(cdrRoute(r)),
      el('td', {}, el('span', { class: 'state ' + r.disposition, textContent: r.disposition })),
      td(talk), td(r.hung_up_by), td(r.status ? `${r.status} ${r.reason || ''}` : r.reason || ''));
  }

  // cdrRoute is how a record's call went: its route (a dial plan
  // route's name, or local) and the trunk it used, if any.
  function cdrRoute(r) {
    return [r.route, r.trunk && `via ${r.trunk}`].filter(Boolean).join(' ');
  }

  // ---- MESSAGEs stored for offline users, oldest first, a page at a time

  async function loadMessages(after) {
    const q = new URLSearchParams({ limit: '50' });
    const user = $('#messages form').user.value.trim();
    if (user.includes('@')) q.set('user', user);
    if (after) q.set('after', after);
    const data = await getJSON('/api/messages?' + q);
    const rows = data.messages.map(messageRow);
    if (after) $('#messages tbody').append(...rows);
    else $('#messages tbody').replaceChildren(...rows);
    const more = $('#messages .more');
    more.hidden = !data.next;
    more.dataset.next = data.next || '';
    const n = $('#messages tbody').children.length;
    $('#messages .count').textContent = n + (data.next ? '+' : '');
    $('#messages .empty').hidden = n > 0;
  }

  function messageRow(m) {
    const text = m.body === undefined ? '(binary)' : m.body.length > 80 ? m.body.slice(0, 80) + '…' : m.body;
    return el('tr', { 'data-message-id': String(m.id), title: `${m.from}\nDate: ${m.date}` },
      td(new Date(m.stored).toLocaleString()), td(m.user), td(m.from, 'wrap'), td(m.content_type),
      td(String(m.size)), td(text, 'wrap'));
  }

  // ---- ladder

  async function showLadder(id) {
    const section = $('#ladder');
    if (state.selected !== id) { // a live update of the same call keeps the message open
      $('pre.message', section).hidden = true;
      state.selectedSeq = null;
    }
    state.selected = id;
    for (const tr of document.querySelectorAll('#calls tbody tr')) tr.classList.toggle('selected', tr.dataset.callId === id);
    section.hidden = false;
    $('.call-id', section).textContent = id;
    const data = await getJSON('/api/calls/' + encodeURIComponent(id) + '/messages');
    if (state.selected === id) drawLadder(data.messages);
  }

  // columns returns the ladder's lifelines: the caller first, then Parley
  // (all its own addresses are one lifeline), then the other endpoints in
  // order of appearance.
  function columns(msgs) {
    const cols = [], index = new Map(), parleyAddrs = new Set();
    const add = key => { if (!index.has(key)) { index.set(key, cols.length); cols.push(key); } };
    for (const m of msgs) {
      parleyAddrs.add(m.local);
      add(m.direction === 'received' ? m.peer : 'parley');
      add(m.direction === 'received' ? 'parley' : m.peer);
    }
    return { cols, index, parleyAddrs: [...parleyAddrs] };
  }

  function label(m) {
    if (m.method) return m.method;
    return m.first_line.replace(/^SIP\/2\.0 /, '') + (m.cseq_method ? ` (${m.cseq_method})` : '');
  }

  function drawLadder(msgs) {
    const box = $('#ladder .diagram');
    if (!msgs.length) {
      box.replaceChildren(el('p', { class: 'empty', textContent: 'No messages of this call are held any more.' }));
      return;
    }
    const { cols, index, parleyAddrs } = columns(msgs);
    const colW = 230, left = 80, top = 56, rowH = 34;
    const x = i => left + colW * i + colW / 2;
    const height = top + msgs.length * rowH + 10;
    const s = svg('svg', { id: 'ladder-svg', width: left + colW * cols.length, height, role: 'img', 'aria-label': 'call ladder' });
    cols.forEach((key, i) => {
      const name = key === 'parley' ? 'Parley' : key;
      s.append(svg('text', { class: 'node', x: x(i), y: 18, 'text-anchor': 'middle' }, name));
      if (key === 'parley') s.append(svg('text', { class: 'time', x: x(i), y: 34, 'text-anchor': 'middle' }, parleyAddrs.join(' ')));
      s.append(svg('line', { class: 'lifeline', x1: x(i), y1: 42, x2: x(i), y2: height }));
    });
    const t0 = Date.parse(msgs[0].time);
    msgs.forEach((m, i) => s.append(arrow(m, i, { x, y: top + i * rowH + 16, t0, index })));
    box.replaceChildren(s);
  }

  function arrow(m, i, { x, y, t0, index }) {
    const from = index.get(m.direction === 'received' ? m.peer : 'parley');
    const to = index.get(m.direction === 'received' ? 'parley' : m.peer);
    const x1 = x(from), x2 = x(to), dir = x2 >= x1 ? 1 : -1;
    const cls = 'arrow' + (m.status ? ' r' + Math.floor(m.status / 100) : '');
    const g = svg('g', { class: cls + (m.seq === state.selectedSeq ? ' selected' : ''), 'data-seq': m.seq, 'data-label': label(m), tabindex: 0 });
    g.append(svg('title', {}, `${m.first_line}\n${m.src} → ${m.dst} (${m.proto})`));
    g.append(svg('text', { class: 'time', x: 4, y: y + 4 }, `+${((Date.parse(m.time) - t0) / 1000).toFixed(3)}s`));
    g.append(svg('text', { x: (x1 + x2) / 2, y: y - 5, 'text-anchor': 'middle' }, label(m)));
    g.append(svg('line', { x1, y1: y, x2: x2 - dir * 7, y2: y, stroke: 'currentColor' }));
    g.append(svg('polygon', { points: `${x2},${y} ${x2 - dir * 9},${y - 4} ${x2 - dir * 9},${y + 4}`, fill: 'currentColor' }));
    g.append(svg('line', { class: 'hit', x1, y1: y, x2, y2: y }));
    const open = () => showMessage(g, m);
    g.addEventListener('click', open);
    g.addEventListener('keydown', ev => { if (ev.key === 'Enter') open(); });
    return g;
  }

  function showMessage(g, m) {
    for (const a of document.querySelectorAll('#ladder .arrow.selected')) a.classList.remove('selected');
    g.classList.add('selected');
    state.selectedSeq = m.seq;
    const pre = $('#ladder pre.message');
    pre.textContent = `${m.time}  ${m.direction} ${m.proto} ${m.src} → ${m.dst}\n\n${m.text}`;
    pre.hidden = false;
  }

  $('#ladder .close').addEventListener('click', () => {
    state.selected = null;
    $('#ladder').hidden = true;
    for (const tr of document.querySelectorAll('#calls tbody tr.selected')) tr.classList.remove('selected');
  });

  // ---- live events, over fetch so that the token travels in a header
  // (EventSource cannot send one).

  function setLive(on) {
    const b = $('#live');
    b.classList.toggle('off', !on);
    b.textContent = on ? 'live' : 'offline';
  }

  function onEvent(kind, e) {
    if (kind === 'resync') { refreshAll(); return; }
    if (kind === 'call') {
      state.calls.set(e.call.call_id, e.call);
      later('calls', 100, renderCalls);
      later('b2bua', 300, () => loadB2BUA().catch(() => {}));
      if (e.call.state === 'ended') later('cdrs', 500, () => loadCDRs().catch(() => {})); // its record is written by then, or soon
      later('stats', 1000, loadStats);
      return;
    }
    const m = e.message;
    if (m.call_id && m.call_id === state.selected) later('ladder', 150, () => state.selected && showLadder(state.selected));
    // The registrar answers once the binding is stored: reload then.
    if (m.direction === 'sent' && m.status >= 200 && m.cseq_method === 'REGISTER') later('registrations', 100, loadRegistrations);
  }

  function dispatch(block) {
    let kind = 'message', data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) kind = line.slice(7);
      else if (line.startsWith('data: ')) data += line.slice(6);
    }
    if (data) onEvent(kind, JSON.parse(data));
  }

  async function connect() {
    if (state.stream) state.stream.abort();
    const ctl = new AbortController();
    state.stream = ctl;
    try {
      const res = await api('/api/stream', { signal: ctl.signal });
      setLive(true);
      refreshAll(); // whatever happened while not connected
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          dispatch(buf.slice(0, i));
          buf = buf.slice(i + 2);
        }
      }
    } catch (err) {
      if (ctl.signal.aborted || err.message === 'unauthorized') { setLive(false); return; }
    }
    setLive(false);
    if (state.stream === ctl) setTimeout(connect, 2000);
  }

  function refreshAll() {
    const failed = err => { if (err.message !== 'unauthorized') console.warn(err); };
    return Promise.all([loadStats(), loadRegistrations(), loadCalls(), loadCDRs(), loadMessages(), loadB2BUA(), loadCluster()])
      .then(() => { document.body.dataset.loaded = 'true'; }, failed);
  }

  $('#login').addEventListener('submit', ev => {
    ev.preventDefault();
    token = ev.target.token.value;
    sessionStorage.setItem('parley-token', token);
    $('#login').hidden = true;
    connect();
  });
  $('#registrations form').addEventListener('input', () => later('search', 250, loadRegistrations));
  $('#registrations form').addEventListener('submit', ev => ev.preventDefault());
  $('#cdrs form').addEventListener('input', () => later('cdr-search', 250, loadCDRs));
  $('#cdrs form').addEventListener('submit', ev => ev.preventDefault());
  $('#cdrs .more').addEventListener('click', ev => loadCDRs(ev.target.dataset.next));
  $('#messages form').addEventListener('input', () => later('message-search', 250, loadMessages));
  $('#messages form').addEventListener('submit', ev => ev.preventDefault());
  $('#messages .more').addEventListener('click', ev => loadMessages(ev.target.dataset.next));
  setInterval(tickDurations, 1000);
  setInterval(() => { if (!$('#cluster').hidden) loadCluster().catch(() => {}); }, 3000);
  setInterval(() => { loadRegistrations().catch(() => {}); loadStats().catch(() => {}); loadMessages().catch(() => {}); }, 10000);
  refreshAll();
  connect();
})();
