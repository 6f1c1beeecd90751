// SPDX-License-Identifier: MIT
// The observer page: talks to /api/v1/... of the endpoint that served it,
// with the token the address's fragment brought (kept in this tab's
// sessionStorage). No framework, no build step, no other origin
// (docs/observer.md).

const TOKEN_KEY = 'ctrace.token';
const view = document.getElementById('view');
const statusLine = document.getElementById('status');

// ---- Small helpers. ----

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

function bytes(n) {
  if (n === null || n === undefined) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return (i === 0 ? String(v) : v.toFixed(1)) + ' ' + units[i];
}

function duration(ms) {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const parts = [];
  if (d) parts.push(d + 'd');
  if (d || h) parts.push(h + 'h');
  if (d || h || m) parts.push(m + 'm');
  parts.push((s % 60) + 's');
  return parts.join(' ');
}

function say(text, bad) {
  statusLine.textContent = text;
  statusLine.classList.toggle('bad', !!bad);
}

// ---- The token and the API. ----

function takeTokenFromFragment() {
  const m = /^#token=([^&]*)/.exec(location.hash);
  if (!m) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
  // Out of the address bar and the history at once.
  history.replaceState(null, '', location.pathname + '#/system');
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || 'HTTP ' + status);
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, body, headers) {
  const h = Object.assign({ Authorization: 'Bearer ' + token() }, headers);
  const init = { method, headers: h, cache: 'no-store' };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    if (!h['Content-Type']) h['Content-Type'] = 'application/json';
  }
  const r = await fetch(path, init);
  const text = await r.text();
  let v = null;
  try {
    v = text ? JSON.parse(text) : null;
  } catch (e) {
    v = { detail: text };
  }
  if (r.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin('The endpoint refused the token: ' + ((v && v.detail) || ''));
    throw new ApiError(401, v);
  }
  if (!r.ok) throw new ApiError(r.status, v);
  return { value: v, etag: r.headers.get('ETag') };
}

const get = (path) => api('GET', path).then((r) => r.value);

// ---- Views: each has start(params) and stop(). ----

let current = null;
let readOnly = null; // the endpoint's read_only, learnt once

// A read-only endpoint refuses every write; the page then hides its write
// controls (class "write") and shows why (class "ro-note").
async function learnEndpoint() {
  if (readOnly !== null) return;
  const s = await get('/api/v1/system');
  readOnly = !!s.read_only;
  document.getElementById('program').textContent = `${s.program} (pid ${s.pid})`;
  document.body.classList.toggle('read-only', readOnly);
  document.getElementById('mode').textContent = readOnly ? 'read-only' : '';
}

async function route() {
  takeTokenFromFragment();
  if (!token()) {
    showLogin();
    return;
  }
  try {
    await learnEndpoint();
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) say(e.message, true);
    return;
  }
  const hash = location.hash || '#/system';
  const [path, query] = hash.slice(1).split('?');
  const parts = path.split('/').filter(Boolean);
  const params = new URLSearchParams(query || '');
  let next;
  let tab = parts[0] || 'system';
  if (tab === 'system') next = systemView();
  else if (tab === 'procs') next = procsView();
  else if (tab === 'proc' && parts[1]) {
    next = procView(decodeURIComponent(parts[1]));
    tab = 'procs';
  } else if (tab === 'points') next = pointsView();
  else if (tab === 'tree') next = treeView();
  else if (tab === 'memory') next = memoryView();
  else if (tab === 'ports') next = portsView();
  else if (tab === 'metrics') next = metricsView();
  else if (tab === 'trace') next = traceView(params);
  else {
    location.hash = '#/system';
    return;
  }
  if (current) current.stop();
  current = next;
  for (const a of document.querySelectorAll('#tabs a')) {
    if (a.dataset.tab === tab) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  view.replaceChildren();
  current.start();
}

function showLogin(why) {
  if (current) current.stop();
  current = null;
  const input = el('input', {
    id: 'token', type: 'password', autocomplete: 'off', size: 40,
    'aria-label': 'token',
  });
  const form = el('form', { class: 'login', id: 'login' },
    el('h1', { text: 'A token is needed' }),
    el('p', {}, 'Open the address the service printed when it started its ',
      'admin endpoint (it ends in ', el('code', { text: '#token=…' }),
      '), or paste the token from its token file (',
      el('code', { text: '~/.ctrace/token' }),
      ' unless the service names another; the service prints its path).'),
    why ? el('p', { class: 'error', role: 'alert', text: why }) : null,
    el('label', { for: 'token', text: 'Token ' }), input, ' ',
    el('button', { type: 'submit', text: 'Open' }));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    if (location.hash === '#/system') route();
    else location.hash = '#/system';
  });
  view.replaceChildren(form);
  input.focus();
}

// A timer that runs `fn` now and every `ms`, and reports failures.
function poller(fn, ms) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    try {
      await fn();
      if (!stopped) say('');
    } catch (e) {
      if (!stopped && !(e instanceof ApiError && e.status === 401))
        say(e.message, true);
      if (e instanceof ApiError && e.status === 401) stopped = true;
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// ---- System. ----

function chart(title, unit) {
  const W = 320;
  const H = 90;
  const box = el('figure', { class: 'chart' });
  const cap = el('figcaption', { text: title });
  const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title });
  const line = svg('polyline', { class: 'line', points: '' });
  const grid = svg('line', { class: 'grid', x1: 0, y1: H - 1, x2: W, y2: H - 1 });
  const max = svg('text', { x: 2, y: 10, class: 'axis' });
  s.append(grid, line, max);
  box.append(cap, s);
  return {
    node: box,
    points: 0,
    set(values) {
      const top = Math.max(1, ...values.map((v) => v.y));
      const t0 = values.length ? values[0].t : 0;
      const span = Math.max(1, (values.length ? values[values.length - 1].t : 1) - t0);
      line.setAttribute('points', values
        .map((v) => `${(((v.t - t0) / span) * W).toFixed(1)},${(H - 2 - (v.y / top) * (H - 14)).toFixed(1)}`)
        .join(' '));
      max.textContent = unit === 'bytes' ? bytes(top) : `${+top.toFixed(2)} ${unit}`;
      this.points = values.length;
      box.dataset.points = String(values.length);
    },
  };
}

function systemView() {
  let stop = null;
  return {
    start() {
      const cards = el('dl', { class: 'cards', id: 'system-cards' });
      const charts = {
        cpu: chart('CPU %', '%'),
        rss: chart('Resident memory', 'bytes'),
        procs: chart('Processes', ''),
        mailbox: chart('Messages waiting in mailboxes', ''),
        events: chart('Trace events / s', '/s'),
        drops: chart('Dropped events / s', '/s'),
      };
      const grid = el('div', { class: 'charts', id: 'system-charts' },
        ...Object.values(charts).map((c) => c.node));
      view.append(el('h1', { text: 'System' }), cards, grid);
      stop = poller(async () => {
        const [sys, hist] = await Promise.all([
          get('/api/v1/system'), get('/api/v1/system/history')]);
        document.getElementById('program').textContent =
          `${sys.program} (pid ${sys.pid})`;
        const s = hist.samples;
        const rate = (f, scale) => s.slice(1).map((v, i) => ({
          t: v.t_ms,
          y: Math.max(0, ((f(v) - f(s[i])) * scale) / Math.max(1, v.t_ms - s[i].t_ms)),
        }));
        const cpuPct = rate((v) => v.cpu_ms, 100);
        const last = cpuPct.length ? cpuPct[cpuPct.length - 1].y : 0;
        const rows = [
          ['Program', sys.program], ['Version', sys.version],
          ['Build', sys.build ? sys.build.compiler : ''],
          ['Pid', sys.pid], ['Uptime', duration(sys.uptime_ms)],
          ['CPU time', (sys.cpu_ms / 1000).toFixed(2) + ' s'],
          ['CPU (last second)', last.toFixed(1) + ' %'],
          ['Resident memory', bytes(sys.rss_bytes)], ['Threads', sys.threads],
          ['Processes', sys.processes], ['Trace points', sys.points],
          ['Sessions', `${sys.sessions.running} of ${sys.sessions.max} (all: ${sys.sessions.all})`],
          ['Event streams', `${sys.streams.open} of ${sys.streams.max}`],
          ['Events', sys.events], ['Dropped', sys.dropped],
          ['Queue memory', `${bytes(sys.memory.queues_bytes)} of ${bytes(sys.memory.limit_bytes)}`],
        ];
        if (sys.machine)
          rows.push(['Machine', `${sys.machine.cpus} CPUs, load ${sys.machine.load.map((x) => x.toFixed(2)).join(' ')}`]);
        cards.replaceChildren(...rows.flatMap(([k, v]) => [
          el('dt', { text: k }), el('dd', { text: String(v) })]));
        charts.cpu.set(cpuPct);
        charts.rss.set(s.map((v) => ({ t: v.t_ms, y: v.rss_bytes })));
        charts.procs.set(s.map((v) => ({ t: v.t_ms, y: v.processes })));
        charts.mailbox.set(s.map((v) => ({ t: v.t_ms, y: v.mailbox })));
        charts.events.set(rate((v) => v.events, 1000));
        charts.drops.set(rate((v) => v.dropped, 1000));
      }, 1000);
    },
    stop() {
      if (stop) stop();
    },
  };
}

// ---- Memory. ----

function memoryView() {
  let stop = null;
  return {
    start() {
      const groups = el('div', { class: 'memory', id: 'memory' });
      const rss = chart('Resident size', 'bytes');
      const vm = chart('Virtual size', 'bytes');
      view.append(el('h1', { text: 'Memory' }), groups,
        el('div', { class: 'charts', id: 'memory-charts' }, rss.node, vm.node));
      const group = (title, rows) => el('section', {}, el('h2', { text: title }),
        el('dl', { class: 'cards' }, ...rows.flatMap(([k, v]) => [
          el('dt', { text: k }), el('dd', { text: v })])));
      stop = poller(async () => {
        const [m, hist] = await Promise.all([get('/api/v1/memory'), get('/api/v1/system/history')]);
        groups.replaceChildren(
          group('The process (/proc/self/status)', [
            ['Resident', bytes(m.process.rss_bytes)], ['Resident, peak', bytes(m.process.rss_peak_bytes)],
            ['Virtual', bytes(m.process.vm_bytes)], ['Virtual, peak', bytes(m.process.vm_peak_bytes)],
            ['Data segment', bytes(m.process.data_bytes)]]),
          group('The allocator (glibc mallinfo2)', [
            ['Arenas, from the system', bytes(m.malloc.arena_bytes)], ['In use', bytes(m.malloc.in_use_bytes)],
            ['Free in the arenas', bytes(m.malloc.free_bytes)], ['Releasable at the top', bytes(m.malloc.releasable_bytes)],
            ['mmapped', `${bytes(m.malloc.mmapped_bytes)} in ${m.malloc.mmapped_chunks} chunks`]]),
          group('ctrace itself', [
            ['Session queues', `${bytes(m.ctrace.queues_bytes)} of ${bytes(m.ctrace.queues_limit_bytes)}`],
            ['Process table', `${bytes(m.ctrace.process_table_bytes)} for ${m.ctrace.processes_kept} processes`]]));
        rss.set(hist.samples.map((v) => ({ t: v.t_ms, y: v.rss_bytes })));
        vm.set(hist.samples.map((v) => ({ t: v.t_ms, y: v.vm_bytes })));
      }, 2000);
    },
    stop() {
      if (stop) stop();
    },
  };
}

// ---- Metrics. ----

// The Prometheus text of /metrics (fetched with the token: a plain link
// would carry none), and per trace point its events a second over the last
// two minutes, from the counters the service keeps once a second
// (/api/v1/points/history): every session's events, whoever started it.
function metricsView() {
  let stop = null;
  return {
    start() {
      const text = el('pre', { id: 'metrics-text', class: 'json' });
      const charts = el('div', { class: 'charts', id: 'point-charts' });
      const none = el('p', { id: 'point-charts-none', class: 'hint',
        text: 'No trace point has been armed in the last two minutes. Start a trace (here, in the Trace tab or with the ctrace CLI): each of its trace points gets a chart of its events a second here.' });
      const untracked = el('p', { id: 'points-untracked', class: 'hint', hidden: true });
      view.append(el('h1', { text: 'Metrics' }),
        el('h2', { text: 'Per trace point, while traced' }), none, untracked, charts,
        el('h2', { text: '/metrics (Prometheus text)' }), text);
      const byPoint = new Map(); // point -> chart
      stop = poller(async () => {
        const [r, h] = await Promise.all([
          fetch('/metrics', { headers: { Authorization: 'Bearer ' + token() }, cache: 'no-store' }),
          get('/api/v1/points/history'),
        ]);
        text.textContent = await r.text();
        none.hidden = h.points.length > 0;
        untracked.hidden = h.points_untracked === 0;
        untracked.textContent = `${h.points_untracked} armed points found the history full (it keeps 32 at once) and have no chart.`;
        for (const p of h.points) {
          let c = byPoint.get(p.point);
          if (!c) {
            c = chart(p.point + ', events / s', '/s');
            c.node.dataset.point = p.point;
            byPoint.set(p.point, c);
            charts.append(c.node);
          }
          // The counter's rise between two ticks, over their distance;
          // 0 where the point was not armed at either.
          const values = [];
          for (let i = 1; i < h.t_ms.length; i++) {
            const a = p.events[i - 1];
            const b = p.events[i];
            const dt = (h.t_ms[i] - h.t_ms[i - 1]) / 1000;
            const y = a === null || b === null || dt <= 0 ? 0 : (b - a) / dt;
            values.push({ t: h.t_ms[i] / 1000, y });
          }
          c.set(values);
        }
      }, 2000);
    },
    stop() {
      if (stop) stop();
    },
  };
}

// ---- Ports: the file descriptors. ----

function portsView() {
  let stop = null;
  return {
    start() {
      const filter = el('input', {
        id: 'fd-filter', type: 'search', placeholder: 'filter: socket, LISTEN, 8080, /path',
        'aria-label': 'filter file descriptors',
      });
      const summary = el('p', { id: 'fd-summary' });
      const body = el('tbody', { id: 'fd-rows' });
      const cols = ['fd', 'Type', 'What', 'Local', 'Remote', 'State', 'Send queue', 'Receive queue'];
      view.append(el('h1', { text: 'Ports' }),
        el('p', { class: 'hint', text: 'The process\'s file descriptors (/proc/self/fd), and for sockets what /proc/self/net says: protocol, addresses, state and the bytes waiting in each direction.' }),
        el('div', { class: 'toolbar' }, filter), summary,
        el('table', { class: 'fds', id: 'fds' }, el('thead', {}, el('tr', {},
          ...cols.map((c) => el('th', { scope: 'col', text: c })))), body));
      let last = null;
      const draw = () => {
        if (!last) return;
        const f = filter.value.toLowerCase();
        const t = last.by_type;
        summary.textContent = `${last.total} open: ${t.socket} sockets, ${t.file} files, ${t.pipe} pipes, ${t.other} other`;
        const rows = last.fds.filter((d) => !f || JSON.stringify(d).toLowerCase().includes(f));
        body.replaceChildren(...rows.map((d) => el('tr', { 'data-fd': d.fd, 'data-type': d.type },
          el('td', { text: d.fd }), el('td', { text: d.type }),
          el('td', { text: d.proto ? `${d.proto}${d.path ? ' ' + d.path : ''}` : d.target }),
          el('td', { text: d.local || '' }), el('td', { text: d.remote || '' }),
          el('td', { text: d.state || '' }),
          el('td', { text: d.tx_queue === undefined ? '' : d.tx_queue }),
          el('td', { text: d.rx_queue === undefined ? '' : d.rx_queue }))));
      };
      filter.addEventListener('input', draw);
      stop = poller(async () => {
        last = await get('/api/v1/fds?limit=100000');
        draw();
      }, 2000);
    },
    stop() {
      if (stop) stop();
    },
  };
}

// ---- Processes. ----

const PROC_COLUMNS = [
  ['pid', 'Pid'], ['label', 'Name or initial call'], ['status', 'Status'],
  ['memory', 'Memory'], ['reductions', 'Reductions'],
  ['delta', 'Reductions / interval'], ['cpu', 'CPU %'], ['message_queue_len', 'Mailbox'],
  ['current', 'Current trace point'],
];
const PAGE_ROWS = 200;

function pidNumber(pid) {
  const m = /<0\.(\d+)\.0>/.exec(pid);
  return m ? Number(m[1]) : 0;
}

function procsView() {
  let stop = null;
  const state = { sort: 'pid', desc: false, filter: '', window: false, page: 0 };
  const prev = new Map(); // pid -> reductions at the last refresh
  let prevAt = 0; // when that was, performance.now()
  const rows = new Map(); // pid -> tr, updated in place
  return {
    start() {
      const filter = el('input', {
        id: 'proc-filter', type: 'search', placeholder: 'filter: name, pid, status, trace point',
        'aria-label': 'filter processes',
      });
      const windowBox = el('input', { id: 'proc-window', type: 'checkbox' });
      const total = el('span', { id: 'proc-total' });
      const pager = el('span', { class: 'pager' });
      const head = el('tr', {}, ...PROC_COLUMNS.map(([k, label]) => el('th', { scope: 'col' },
        el('button', { type: 'button', 'data-sort': k, text: label }))));
      const body = el('tbody', { id: 'proc-rows' });
      const table = el('table', { class: 'procs', id: 'procs' }, el('thead', {}, head), body);
      view.append(el('h1', { text: 'Processes' }),
        el('div', { class: 'toolbar' }, filter, ' ',
          el('label', {}, windowBox, ' top reductions over the last second (recon proc_window)'),
          ' ', total, ' ', pager),
        table);
      filter.addEventListener('input', () => {
        state.filter = filter.value.toLowerCase();
        state.page = 0;
        draw();
      });
      windowBox.addEventListener('change', () => {
        state.window = windowBox.checked;
        refresh();
      });
      head.addEventListener('click', (e) => {
        const k = e.target.dataset && e.target.dataset.sort;
        if (!k) return;
        state.desc = state.sort === k ? !state.desc : k !== 'pid' && k !== 'label' && k !== 'status' && k !== 'current';
        state.sort = k;
        draw();
      });
      let list = [];
      const draw = () => {
        const f = state.filter;
        let shown = f ? list.filter((p) =>
          [p.pid, p.label, p.status, p.current, p.initial_call].some((v) => v && v.toLowerCase().includes(f)))
          : list.slice();
        const k = state.sort;
        shown.sort((a, b) => {
          let x = a[k];
          let y = b[k];
          if (k === 'pid') {
            x = pidNumber(a.pid);
            y = pidNumber(b.pid);
          }
          const c = typeof x === 'number' && typeof y === 'number' ? x - y
            : String(x || '').localeCompare(String(y || ''));
          return state.desc ? -c : c;
        });
        for (const th of head.querySelectorAll('button')) {
          const on = th.dataset.sort === k;
          th.parentNode.setAttribute('aria-sort', on ? (state.desc ? 'descending' : 'ascending') : 'none');
        }
        const pages = Math.max(1, Math.ceil(shown.length / PAGE_ROWS));
        state.page = Math.min(state.page, pages - 1);
        shown = shown.slice(state.page * PAGE_ROWS, (state.page + 1) * PAGE_ROWS);
        const ended = list.filter((p) => p.dead).length;
        total.textContent = `${list.length - ended} processes` + (ended ? `, ${ended} ended` : '');
        pager.replaceChildren(
          el('button', { type: 'button', text: '‹', 'aria-label': 'previous page', disabled: state.page === 0,
            onclick: () => { state.page--; draw(); } }),
          ` page ${state.page + 1} of ${pages} `,
          el('button', { type: 'button', text: '›', 'aria-label': 'next page', disabled: state.page >= pages - 1,
            onclick: () => { state.page++; draw(); } }));
        const keep = new Set();
        const order = [];
        for (const p of shown) {
          keep.add(p.pid);
          let tr = rows.get(p.pid);
          if (!tr) {
            tr = el('tr', { 'data-pid': p.pid });
            for (const [c] of PROC_COLUMNS) tr.append(el('td', { 'data-col': c }));
            tr.firstChild.append(el('a', { href: '#/proc/' + encodeURIComponent(p.pid), text: p.pid }));
            rows.set(p.pid, tr);
          }
          PROC_COLUMNS.forEach(([c], i) => {
            if (c === 'pid') return;
            const v = c === 'label' ? (p.label || p.initial_call || '') : p[c];
            const text = v === undefined || v === null ? '' : String(v);
            const td = tr.children[i];
            if (td.textContent !== text) td.textContent = text;
          });
          tr.classList.toggle('dead', !!p.dead);
          order.push(tr);
        }
        for (const [pid, tr] of rows) if (!keep.has(pid)) { tr.remove(); rows.delete(pid); }
        // Re-append only what moved: rows that stay in place are not touched.
        order.forEach((tr, i) => {
          if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null);
        });
      };
      const refresh = async () => {
        let fresh;
        if (state.window) {
          const w = await get('/api/v1/procs/window?attr=reductions&limit=50&ms=1000');
          // A reduction is a microsecond of the process's CPU time.
          fresh = w.procs.map((p) => Object.assign({}, p, { delta: p.value, cpu: +(p.value / 10000).toFixed(1) }));
        } else {
          const v = await get('/api/v1/procs?limit=100000&dead=1');
          const now = performance.now();
          const us = Math.max(1, (now - (prevAt || now)) * 1000);
          prevAt = now;
          fresh = v.procs;
          for (const p of fresh) {
            p.delta = prev.has(p.pid) ? p.reductions - prev.get(p.pid) : 0;
            // A reduction is a microsecond of the process's CPU time.
            p.cpu = +((p.delta / us) * 100).toFixed(1);
          }
          prev.clear();
          for (const p of fresh) prev.set(p.pid, p.reductions);
        }
        // Ended processes stay, greyed, with their exit reason, for as long
        // as the table keeps them.
        for (const p of fresh) {
          p.dead = p.status === 'dead';
          if (p.dead) p.status = 'dead: ' + (p.exit_reason || '?');
        }
        list = fresh;
        draw();
      };
      stop = poller(refresh, 2000);
    },
    stop() {
      if (stop) stop();
    },
  };
}

// ---- Tree. ----

// Children with the same initial call, no name and no children of their
// own, past this many, fold into one line with a count.
const FOLD_AT = 3;

function treeView() {
  let stop = null;
  const open = new Set(); // keys of folded groups the user expanded
  let drawn = ''; // the structure last drawn, to redraw only on a change
  return {
    start() {
      const box = el('div', { id: 'tree', class: 'tree' });
      const count = el('p', { id: 'tree-count' });
      view.append(el('h1', { text: 'Tree' }),
        el('p', { class: 'hint', text: 'Processes under the process that began them (their parent); roots are those without one: servers, threads and explicit processes. Request processes of the same initial call fold into one line; open it to see them.' }),
        count, box);
      let procs = [];
      const draw = () => {
        const byPid = new Map(procs.map((p) => [p.pid, p]));
        const kids = new Map();
        const roots = [];
        for (const p of procs) {
          if (p.parent && byPid.has(p.parent)) {
            if (!kids.has(p.parent)) kids.set(p.parent, []);
            kids.get(p.parent).push(p);
          } else roots.push(p);
        }
        const byPidOrder = (a, b) => pidNumber(a.pid) - pidNumber(b.pid);
        const label = (p) => p.name || p.label || p.initial_call || p.pid;
        const item = (p) => {
          const li = el('li', { 'data-pid': p.pid },
            el('a', { href: '#/proc/' + encodeURIComponent(p.pid), text: p.pid }), ' ',
            el('span', { class: 'kind-' + p.kind, text: label(p) }),
            el('span', { class: 'muted', text: ` ${p.kind}, ${p.status}` }));
          const sub = list(kids.get(p.pid) || [], p.pid);
          if (sub) li.append(sub);
          return li;
        };
        const list = (nodes, parentKey) => {
          if (!nodes.length) return null;
          nodes.sort(byPidOrder);
          const groups = new Map();
          const single = [];
          for (const p of nodes) {
            const foldable = !p.name && !kids.has(p.pid) && p.initial_call;
            if (!foldable) {
              single.push(p);
              continue;
            }
            if (!groups.has(p.initial_call)) groups.set(p.initial_call, []);
            groups.get(p.initial_call).push(p);
          }
          const ul = el('ul', {});
          for (const p of single) ul.append(item(p));
          for (const [call, members] of groups) {
            if (members.length <= FOLD_AT) {
              for (const p of members) ul.append(item(p));
              continue;
            }
            const key = parentKey + ' ' + call;
            const details = el('details', { 'data-group': call });
            if (open.has(key)) details.open = true;
            details.addEventListener('toggle', () => {
              if (details.open) open.add(key);
              else open.delete(key);
            });
            details.append(el('summary', { text: `${members.length} × ${call}` }),
              el('ul', {}, ...members.map(item)));
            ul.append(el('li', { class: 'fold' }, details));
          }
          return ul;
        };
        // Redraw only when who is under whom changed (status too).
        const shape = procs.map((p) => `${p.pid}<${p.parent || ''}:${p.status}`).join(',') + [...open].join(',');
        if (shape === drawn) return;
        drawn = shape;
        count.textContent = `${procs.length} processes, ${roots.length} roots`;
        box.replaceChildren(list(roots, '') || el('p', { text: 'No processes.' }));
      };
      stop = poller(async () => {
        procs = (await get('/api/v1/procs?limit=100000&dead=1')).procs;
        draw();
      }, 2000);
    },
    stop() {
      if (stop) stop();
    },
  };
}

// ---- One process. ----

function procView(pid) {
  let stop = null;
  return {
    start() {
      const info = el('dl', { class: 'cards', id: 'proc-info' });
      const server = el('section', { id: 'server' });
      const traceLink = el('a', {
        class: 'button write', id: 'trace-proc',
        href: '#/trace?procs=' + encodeURIComponent(pid), text: 'Trace this process',
      });
      view.append(el('h1', { text: 'Process ' + pid }), el('p', {}, traceLink), info, server);
      let shownServer = false;
      let specs = null; // what "Trace this process" traces, found once
      stop = poller(async () => {
        const p = await get('/api/v1/procs/' + encodeURIComponent(pid));
        if (specs === null) {
          // Its messages, and the calls of its initial call's module when
          // that module has trace points (a spec selecting none is refused).
          specs = ['send', 'receive'];
          const mod = (p.initial_call || '').split(':')[0];
          if (mod) {
            const pts = await get('/api/v1/points?match=' + encodeURIComponent(mod));
            if (pts.points.length) specs.push(mod + ':_ -> return');
          }
        }
        traceLink.setAttribute('href', '#/trace?procs=' + encodeURIComponent(p.pid) +
          '&spec=' + encodeURIComponent(specs.join('\n')));
        const link = (q) => el('a', { href: '#/proc/' + encodeURIComponent(q), text: q });
        const rows = [
          ['Pid', p.pid], ['Registered name', p.name || ''], ['Label', p.label || ''],
          ['Kind', p.kind], ['Status', p.status], ['Initial call', p.initial_call || ''],
          ['Current trace point', p.current || ''], ['Memory', bytes(p.memory)],
          ['Reductions', p.reductions], ['Mailbox', p.message_queue_len],
          ['Parent', p.parent ? link(p.parent) : 'none'],
          ['Links', p.links && p.links.length ? el('span', {}, ...p.links.flatMap((q, i) => [i ? ', ' : '', link(q)])) : 'none'],
          ['Thread id', p.tid], ['Exit reason', p.exit_reason || ''],
          ['Started', p.start_us ? new Date(p.start_us / 1000).toISOString() : ''],
        ];
        info.replaceChildren(...rows.flatMap(([k, v]) => [
          el('dt', { text: k }), el('dd', {}, v instanceof Node ? v : String(v === undefined || v === null ? '' : v))]));
        if (p.kind === 'server' && !shownServer) {
          shownServer = true;
          serverPanel(server, p.pid);
        }
      }, 2000);
    },
    stop() {
      if (stop) stop();
    },
  };
}

function serverPanel(box, pid) {
  const base = '/api/v1/procs/' + encodeURIComponent(pid);
  const stateView = el('pre', { id: 'state', class: 'json' });
  const statusView = el('pre', { id: 'status-view', class: 'json' });
  const message = el('p', { id: 'server-message', role: 'status' });
  const editor = el('textarea', { id: 'state-editor', rows: 10, cols: 60, 'aria-label': 'new state (JSON)' });
  const log = el('pre', { id: 'sys-log' });
  const unchanged = el('input', { type: 'checkbox', id: 'if-unchanged', checked: true });
  const stats = el('pre', { id: 'sys-stats' });
  let version = null;
  const show = (text, bad) => {
    message.textContent = text;
    message.classList.toggle('error', !!bad);
  };
  const sys = async (body) => {
    try {
      const r = await api('POST', base + '/sys', body);
      return r.value;
    } catch (e) {
      show(e.message, true);
      throw e;
    }
  };
  const loadState = async () => {
    try {
      const r = await api('GET', base + '/state');
      stateView.textContent = JSON.stringify(r.value.state, null, 2);
      version = r.value.version;
    } catch (e) {
      // 409: no format_state, or a state the server declares private.
      stateView.textContent = e.status === 409 ? 'This server does not show its state: ' + e.message : e.message;
    }
    await loadStatus();
  };
  const loadStatus = async () => {
    try {
      statusView.textContent = JSON.stringify((await api('GET', base + '/status')).value, null, 2);
    } catch (e) {
      statusView.textContent = e.message;
    }
  };
  const button = (id, text, fn) => el('button', { type: 'button', id, text, onclick: fn });
  box.append(
    el('h2', { text: 'Server' }),
    el('p', { class: 'ro-note', text: 'This endpoint is read-only: the server can be looked at, not suspended, changed or switched.' }),
    el('div', { class: 'toolbar write' },
      button('suspend', 'Suspend', async () => { await sys({ command: 'suspend' }); show('suspended'); loadStatus(); }),
      button('resume', 'Resume', async () => { await sys({ command: 'resume' }); show('resumed'); loadStatus(); }),
      button('refresh-state', 'Refresh state', loadState)),
    message,
    el('h3', { text: 'State' }), stateView,
    el('div', { class: 'write' },
    el('h3', { text: 'Replace the state' }),
    el('p', { text: 'The server checks the new state; when it refuses, the old one stays and its reason shows here.' }),
    editor, el('br'),
    el('label', {}, unchanged, ' only if unchanged since it was read (If-Match)'), el('br'),
    button('edit-state', 'Edit the current state', () => { editor.value = stateView.textContent; }), ' ',
    button('replace-state', 'Replace', async () => {
      let body;
      try {
        body = JSON.stringify(JSON.parse(editor.value));
      } catch (e) {
        show('not JSON: ' + e.message, true);
        return;
      }
      try {
        const guard = unchanged.checked && version ? { 'If-Match': '"' + version + '"' } : {};
        await api('PUT', base + '/state', body, guard);
        show('state replaced');
      } catch (e) {
        if (e.status === 412)
          show('not replaced: the state changed since it was read; refresh it, or untick "only if unchanged"', true);
        else show('refused: ' + e.message, true);
      }
      loadState();
    })),
    el('h3', { text: 'Status' }), statusView,
    el('h3', { class: 'write', text: 'sys statistics and log' }),
    el('div', { class: 'toolbar write' },
      button('stats-on', 'Statistics on', async () => { await sys({ command: 'statistics', action: 'on' }); show('statistics on'); }),
      button('stats-get', 'Get statistics', async () => {
        stats.textContent = JSON.stringify((await sys({ command: 'statistics', action: 'get' })).statistics, null, 2);
      }),
      button('stats-off', 'Statistics off', async () => { await sys({ command: 'statistics', action: 'off' }); show('statistics off'); }),
      button('log-on', 'Log on (10)', async () => { await sys({ command: 'log', action: 'on', n: 10 }); show('log on'); }),
      button('log-get', 'Show log', async () => { log.textContent = (await sys({ command: 'log', action: 'get' })).log.join('\n'); }),
      button('log-off', 'Log off', async () => { await sys({ command: 'log', action: 'off' }); show('log off'); })),
    stats, log);
  loadState();
}

// ---- Trace points. ----

function pointsView() {
  let stop = null;
  return {
    start() {
      const filter = el('input', {
        id: 'point-filter', type: 'search', placeholder: 'glob: cat_*:enter, *:leave, module',
        'aria-label': 'filter trace points',
      });
      const body = el('tbody', { id: 'point-rows' });
      view.append(el('h1', { text: 'Trace points' }), el('div', { class: 'toolbar' }, filter),
        el('table', { class: 'points' }, el('thead', {}, el('tr', {},
          ...['Point', 'Arity', 'Where', 'Armed by sessions', ''].map((t) => el('th', { scope: 'col', text: t })))), body));
      const load = async () => {
        const q = filter.value.trim();
        const v = await get('/api/v1/points' + (q ? '?match=' + encodeURIComponent(q) : ''));
        body.replaceChildren(...v.points.map((p) => {
          const spec = `${p.module}:${p.function}/${p.arity}`;
          return el('tr', {},
            el('td', { text: `${p.module}:${p.function}` }), el('td', { text: p.arity }),
            el('td', { text: `${p.file}:${p.line}` }), el('td', { text: p.armed }),
            el('td', {}, el('a', { href: '#/trace?spec=' + encodeURIComponent(spec), text: 'trace' })));
        }));
      };
      let t = null;
      filter.addEventListener('input', () => {
        clearTimeout(t);
        t = setTimeout(() => load().catch((e) => say(e.message, true)), 200);
      });
      stop = poller(load, 5000);
    },
    stop() {
      if (stop) stop();
    },
  };
}

// ---- Trace. ----

// Sessions started from this page outlive the Trace view: their streams
// keep filling their tables while another tab is shown.
const traces = [];
const MAX_EVENT_ROWS = 2000;
let shownTrace = null;

function traceView(params) {
  return {
    start() {
      const spec = el('textarea', {
        id: 'spec', rows: 2, cols: 60, spellcheck: 'false',
        'aria-describedby': 'spec-error', 'aria-label': 'trace patterns, one per line',
      });
      spec.value = params.get('spec') || 'cat_traveler:enter/2 -> return';
      const specError = el('p', { id: 'spec-error', class: 'error', role: 'alert' });
      const field = (id, label, value, attrs) => {
        const input = el('input', Object.assign({ id, name: id, value }, attrs || {}));
        return [el('label', { for: id, text: label }), input];
      };
      const format = el('select', { id: 'format' },
        ...['redbug', 'recon', 'json'].map((f) => el('option', { value: f, text: f })));
      const form = el('form', { id: 'trace-form', class: 'trace-form' },
        el('label', { for: 'spec', text: 'Patterns' }), spec, specError,
        el('div', { class: 'limits' },
          ...field('procs', 'Processes', params.get('procs') || 'all', { size: 14 }),
          ...field('msgs', 'Messages', '10', { type: 'number', min: 0 }),
          ...field('time', 'Time (ms)', '15000', { type: 'number', min: 0 }),
          ...field('rate', 'Rate (N/MS)', '', { size: 8, placeholder: 'none' }),
          ...field('max_msg_size', 'Max message size', '256', { type: 'number', min: 1 }),
          ...field('print_depth', 'Print depth', '0', { type: 'number', min: 0 }),
          el('label', { for: 'format', text: 'Format' }), format),
        el('p', { class: 'hint', text: 'Limits are always on: at most 10 events and 15 s unless you say otherwise, as redbug.' }),
        el('p', { class: 'ro-note', id: 'trace-read-only', text: 'This endpoint is read-only: patterns can be checked here, not traced.' }),
        el('button', { type: 'submit', id: 'start-trace', class: 'write', text: 'Start' }));
      const tabs = el('div', { class: 'trace-tabs', id: 'trace-tabs', role: 'tablist' });
      const panel = el('div', { id: 'trace-panel' });
      view.append(el('h1', { text: 'Trace' }), form, tabs, panel);

      let checkTimer = null;
      const check = async () => {
        const lines = spec.value.split('\n').map((s) => s.trim()).filter(Boolean);
        for (const [i, s] of lines.entries()) {
          try {
            await api('POST', '/api/v1/pattern', { spec: s });
          } catch (e) {
            if (e.status === 401) return false;
            const col = e.body && e.body.column;
            const where = (lines.length > 1 ? `line ${i + 1}, ` : '') + (col ? `column ${col}: ` : '');
            // The spec and a caret under the column, as the command line shows it.
            specError.replaceChildren(where + e.message,
              col ? el('pre', { class: 'caret', text: `${s}\n${' '.repeat(Math.max(0, col - 1))}^` }) : '');
            spec.setAttribute('aria-invalid', 'true');
            return false;
          }
        }
        specError.textContent = '';
        spec.removeAttribute('aria-invalid');
        return true;
      };
      spec.addEventListener('input', () => {
        clearTimeout(checkTimer);
        checkTimer = setTimeout(check, 250);
      });
      check();
      const drawTabs = () => {
        tabs.replaceChildren(...traces.map((t) => el('button', {
          type: 'button', role: 'tab', 'aria-selected': t === shownTrace ? 'true' : 'false',
          'data-session': t.id, text: `#${t.id} ${t.state}`,
          onclick: () => { shownTrace = t; drawTabs(); panel.replaceChildren(t.node); },
        })));
      };
      for (const t of traces) t.onchange = drawTabs;
      drawTabs();
      if (shownTrace) panel.replaceChildren(shownTrace.node);
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        if (readOnly || !(await check())) return;
        const body = {
          specs: spec.value.split('\n').map((s) => s.trim()).filter(Boolean),
          msgs: Number(document.getElementById('msgs').value),
          time_ms: Number(document.getElementById('time').value),
          max_msg_size: Number(document.getElementById('max_msg_size').value),
          print_depth: Number(document.getElementById('print_depth').value),
          format: format.value,
        };
        const procs = document.getElementById('procs').value.trim();
        if (procs && procs !== 'all') body.procs = procs;
        const rate = document.getElementById('rate').value.trim();
        if (rate) body.rate = rate;
        try {
          const r = await api('POST', '/api/v1/sessions', body);
          const t = startTrace(r.value.id, r.value.events, body);
          t.onchange = drawTabs;
          shownTrace = t;
          drawTabs();
          panel.replaceChildren(t.node);
        } catch (err) {
          specError.textContent = err.message;
        }
      });
    },
    stop() {
      for (const t of traces) t.onchange = null;
    },
  };
}

function startTrace(id, path, body) {
  const rows = el('tbody', {});
  const stopLine = el('p', { class: 'stop-line', 'data-session': id });
  const received = [];
  const t = { id, state: 'running', node: null, onchange: null };
  const stopButton = el('button', {
    type: 'button', class: 'stop-trace', text: 'Stop',
    onclick: () => api('DELETE', '/api/v1/sessions/' + id).catch((e) => say(e.message, true)),
  });
  const download = el('button', {
    type: 'button', class: 'download', text: 'Download JSON lines',
    onclick: () => {
      const blob = new Blob(received.map((e) => JSON.stringify(e) + '\n'), { type: 'application/x-ndjson' });
      const a = el('a', { href: URL.createObjectURL(blob), download: `ctrace-session-${id}.jsonl` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    },
  });
  t.node = el('section', { class: 'trace', 'data-session': id },
    el('p', {}, el('code', { text: body.specs.join('  ') }),
      ` msgs ${body.msgs}, time ${body.time_ms} ms `, stopButton, ' ', download),
    el('table', { class: 'events' }, el('thead', {}, el('tr', {},
      ...['Time', 'Pid', 'Process', 'Event', 'Value', 'Duration'].map((h) => el('th', { scope: 'col', text: h })))), rows),
    stopLine);
  traces.push(t);
  const changed = () => t.onchange && t.onchange();
  const add = (ev) => {
    received.push(ev);
    // The table keeps the newest MAX_EVENT_ROWS; the download has them all.
    if (rows.children.length >= MAX_EVENT_ROWS) rows.firstChild.remove();
    const what = ev.kind === 'call' ? ev.text
      : ev.kind === 'return' ? `${ev.module}:${ev.function}/${ev.arity}`
        : ev.kind;
    const value = ev.kind === 'return' ? '→ ' + ev.result_text
      : ev.kind === 'send' || ev.kind === 'receive' ? ev.message_text
        : ev.kind === 'exit' ? ev.reason : ev.peer || ev.name || '';
    const tr = el('tr', { class: 'event ' + ev.kind, 'data-kind': ev.kind },
      el('td', { text: ev.time }), el('td', {}, el('a', { href: '#/proc/' + encodeURIComponent(ev.pid), text: ev.pid })),
      el('td', { text: ev.process || '' }), el('td', { text: what }), el('td', { text: value || '' }),
      el('td', { text: ev.kind === 'return' ? (ev.duration_ns / 1000).toFixed(1) + ' µs' : '' }));
    if (ev.stack) tr.title = ev.stack.join('\n');
    rows.append(tr);
  };
  (async () => {
    try {
      const r = await fetch(path, { headers: { Authorization: 'Bearer ' + token() }, cache: 'no-store' });
      if (!r.ok) throw new Error('event stream: HTTP ' + r.status);
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let at;
        while ((at = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, at);
          buf = buf.slice(at + 2);
          let type = 'message';
          let data = '';
          for (const line of frame.split('\n')) {
            if (line.startsWith('event: ')) type = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (!data) continue;
          const v = JSON.parse(data);
          if (type === 'trace') add(v.event);
          else if (type === 'stopped') {
            t.state = 'stopped';
            stopLine.textContent = `stopped: ${v.reason} (${v.events} events, ${v.dropped} dropped)`;
            stopButton.disabled = true;
            changed();
          }
        }
      }
    } catch (e) {
      stopLine.textContent = 'stream ended: ' + e.message;
    }
    if (t.state !== 'stopped') {
      t.state = 'ended';
      changed();
    }
  })();
  return t;
}

window.addEventListener('hashchange', () => { route(); });
route();
