// ventapp status page: a hash-routed single page that reads /api/v1.
// Everything the daemon sends is put into the page as text (textContent),
// never as HTML; search fragments are split on bleve's <mark> tags and
// their escaped text decoded before it becomes text nodes.
'use strict';

const POLL_MS = 2000;
const JOBS_PAGE = 50;
const SEARCH_PAGE = 20;

let timer = null;        // the current page's refresh interval
let generation = 0;      // bumps on every navigation; stale loads are dropped

// ---- small helpers -------------------------------------------------------

// el builds an element. attrs: on* keys take functions, everything else is
// an attribute. Children are nodes or strings (added as text).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  append(e, children);
  return e;
}

function append(parent, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    parent.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

function fill(target, ...children) {
  const e = typeof target === 'string' ? document.getElementById(target) : target;
  if (!e) return;
  e.replaceChildren();
  append(e, children);
}

function human(n) {
  if (n === undefined || n === null) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + ' ' + u[i];
}

function isZeroTime(s) { return !s || s.startsWith('0001-01-01'); }

function fmtTime(s) {
  if (isZeroTime(s)) return '—';
  const d = new Date(s);
  return isNaN(d) ? s : d.toLocaleString();
}

function fmtDuration(ms) {
  if (!(ms >= 0)) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
  return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
}

function stateBadge(st) { return el('span', { class: 'state ' + st }, st); }

function hashFor(page, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== '' && v !== undefined && v !== 0) q.set(k, v);
  const qs = q.toString();
  return '#/' + page + (qs ? '?' + qs : '');
}

// ---- API -----------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function setConn(ok) {
  const c = document.getElementById('conn');
  if (!c) return;
  if (ok) {
    c.className = 'conn';
    c.textContent = 'live · ' + new Date().toLocaleTimeString();
  } else {
    c.className = 'conn down';
    c.textContent = 'reconnecting…';
  }
}

// api calls the daemon. State-changing calls carry the CSRF header that a
// token-protected listener requires with a session cookie.
async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: 'same-origin' };
  if (method !== 'GET') opts.headers['X-Ventapp-CSRF'] = '1';
  if (body !== undefined) {
    opts.body = JSON.stringify(body);
    opts.headers['Content-Type'] = 'application/json';
  }
  let resp;
  try {
    resp = await fetch(path, opts);
  } catch (e) {
    setConn(false);
    throw new ApiError(0, 'the daemon does not answer (' + e.message + ')');
  }
  setConn(resp.status < 500 || resp.status === 503);
  if (resp.status === 401) {
    location.href = '/login';
    throw new ApiError(401, 'log in first');
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!resp.ok) throw new ApiError(resp.status, (data && data.error) || text.trim() || resp.statusText);
  return data;
}

// ---- routing ---------------------------------------------------------------

const pages = {
  '': overviewPage,
  jobs: jobsPage,
  job: jobPage,
  plugins: pluginsPage,
  taps: tapsPage,
  search: searchPage,
  drop: dropPage,
};

function route() {
  if (timer) { clearInterval(timer); timer = null; }
  generation++;
  const h = location.hash.replace(/^#\/?/, '');
  const [pathPart, query] = h.split('?', 2);
  const parts = pathPart.split('/').map(decodeURIComponent);
  const page = pages[parts[0]] ? parts[0] : '';
  for (const a of document.querySelectorAll('header nav a')) {
    const p = a.dataset.page === 'overview' ? '' : a.dataset.page;
    a.classList.toggle('active', p === page || (page === 'job' && p === 'jobs'));
  }
  const main = document.getElementById('main');
  main.replaceChildren();
  pages[page](main, parts.slice(1), new URLSearchParams(query || ''), generation);
}

// live runs load now and every POLL_MS while the page stays open.
function live(gen, load) {
  const tick = () => { if (gen === generation) load().catch(() => {}); };
  tick();
  timer = setInterval(tick, POLL_MS);
}

// ---- overview --------------------------------------------------------------

function overviewPage(main, _parts, _q, gen) {
  main.append(
    el('h2', {}, 'Overview'),
    el('div', { class: 'grid' },
      el('section', { class: 'card', id: 'ov-drop' }, el('h3', {}, 'Drop folder'),
        el('div', { id: 'ov-folder', class: 'path' }, '—'),
        el('div', {}, el('span', { id: 'ov-free', class: 'big' }, '—'), ' free')),
      el('section', { class: 'card' }, el('h3', {}, 'Jobs'),
        el('div', { class: 'nums' },
          ...['queued', 'running', 'done', 'failed', 'cancelled'].map((s) =>
            el('div', {}, el('a', { class: 'big', id: 'ov-' + s, href: hashFor('jobs', { state: s }) }, '—'),
              el('span', { class: 'label' }, s))))),
      el('section', { class: 'card' }, el('h3', {}, 'Throughput, last hour'),
        el('div', {}, el('span', { id: 'ov-throughput', class: 'big' }, '—'), ' jobs finished'),
        el('div', { id: 'ov-spark' })),
      el('section', { class: 'card' }, el('h3', {}, 'Services'),
        el('div', {}, 'containerd: ', el('span', { id: 'ov-containerd' }, '—')),
        el('div', {}, 'index: ', el('span', { id: 'ov-index' }, '—'))),
      el('section', { class: 'card' }, el('h3', {}, 'Plugins'),
        el('div', { id: 'ov-plugins' }, '—')),
      el('section', { class: 'card' }, el('h3', {}, 'GPUs'), el('div', { id: 'ov-gpus' }, '—')),
      el('section', { class: 'card' }, el('h3', {}, 'Taps'), el('div', { id: 'ov-taps' }, '—')),
      el('section', { class: 'card wide', id: 'ov-warnings-card', hidden: true }, el('h3', {}, 'Warnings'),
        el('ul', { id: 'ov-warnings' }))));

  let tick = 0;
  live(gen, async () => {
    const every5 = tick++ % 5 === 0;
    await Promise.all([
      loadStatus(),
      every5 ? loadThroughput() : null,
      every5 ? loadGPUs() : null,
      loadTapsSummary(),
    ]);
  });
}

async function loadStatus() {
  let s;
  try {
    s = await api('GET', '/api/v1/status');
  } catch (e) {
    fill('ov-containerd', el('span', { class: 'bad' }, e.message));
    return;
  }
  fill('ov-folder', s.drop.folder);
  fill('ov-free', human(s.drop.free_bytes));
  for (const st of ['queued', 'running', 'done', 'failed', 'cancelled']) fill('ov-' + st, String(s.jobs[st] || 0));
  fill('ov-containerd', s.containerd.healthy
    ? el('span', { class: 'ok' }, 'ok ' + (s.containerd.version || ''))
    : el('span', { class: 'bad' }, 'unavailable: ' + (s.containerd.error || 'unknown')));
  fill('ov-index', s.index.healthy
    ? el('span', { class: 'ok' }, 'ok, ' + s.index.docs + ' documents')
    : el('span', { class: 'bad' }, 'error: ' + (s.index.error || 'unknown')));
  fill('ov-plugins', el('span', { class: 'big' }, String(s.plugins.installed)), ' installed, ',
    String(s.plugins.built), ' built, ', String(s.plugins.enabled), ' enabled');
  const warns = s.warnings || [];
  const card = document.getElementById('ov-warnings-card');
  if (card) card.hidden = warns.length === 0;
  fill('ov-warnings', warns.map((w) => el('li', { class: 'warn' }, w)));
  fill('footer', 'ventapp ' + s.version + ' · up ' + s.uptime);
}

// loadThroughput counts jobs finished in the last hour in five-minute bins.
async function loadThroughput() {
  const [done, failed] = await Promise.all([
    api('GET', '/api/v1/jobs?state=done&limit=1000'),
    api('GET', '/api/v1/jobs?state=failed&limit=1000'),
  ]);
  const now = Date.now();
  const bins = new Array(12).fill(0);
  let total = 0;
  for (const j of [...done, ...failed]) {
    if (isZeroTime(j.finished_at)) continue;
    const age = now - new Date(j.finished_at).getTime();
    if (age < 0 || age >= 3600e3) continue;
    bins[11 - Math.floor(age / 300e3)]++;
    total++;
  }
  fill('ov-throughput', String(total));
  fill('ov-spark', sparkline(bins));
}

function sparkline(bins) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', '0 0 120 40');
  svg.setAttribute('preserveAspectRatio', 'none');
  const max = Math.max(1, ...bins);
  bins.forEach((n, i) => {
    const h = n === 0 ? 0.5 : (n / max) * 38;
    const r = document.createElementNS(ns, 'rect');
    r.setAttribute('x', String(i * 10 + 1));
    r.setAttribute('width', '8');
    r.setAttribute('y', String(40 - h));
    r.setAttribute('height', String(h));
    const t = document.createElementNS(ns, 'title');
    t.textContent = n + ' jobs, ' + (60 - i * 5) + ' to ' + (55 - i * 5) + ' minutes ago';
    r.appendChild(t);
    svg.appendChild(r);
  });
  return svg;
}

async function loadGPUs() {
  let g;
  try {
    g = await api('GET', '/api/v1/gpus');
  } catch (e) {
    fill('ov-gpus', el('span', { class: 'muted' }, e.status === 404 ? 'not available' : e.message));
    return;
  }
  const devs = Array.isArray(g) ? g : (g && g.devices) || [];
  if (devs.length === 0) {
    fill('ov-gpus', el('span', { class: 'muted' }, 'none' + (g && (g.reason || g.error) ? ': ' + (g.reason || g.error) : '')));
    return;
  }
  fill('ov-gpus', devs.map((d) => el('div', {}, d.index + ': ' + d.name + ' · ' +
    (d.util_percent >= 0 ? d.util_percent + '% busy · ' : '') + d.mem_used_mb + ' / ' + d.mem_total_mb + ' MiB')));
}

async function loadTapsSummary() {
  let taps;
  try {
    taps = await api('GET', '/api/v1/taps');
  } catch (e) {
    fill('ov-taps', el('span', { class: 'muted' }, e.status === 404 ? 'not available' : e.message));
    return;
  }
  const running = taps.filter((t) => t.state === 'running').length;
  let pk = 0, drops = 0;
  for (const t of taps) { pk += t.stats.packets; drops += t.stats.kernel_drops; }
  fill('ov-taps', el('span', { class: 'big' }, String(taps.length)), ' taps, ' + running + ' running · ' +
    pk + ' packets, ' + drops + ' dropped');
}

// ---- jobs --------------------------------------------------------------------

function jobsPage(main, _parts, q, gen) {
  const f = { state: q.get('state') || '', tool: q.get('tool') || '', file: q.get('file') || '' };
  const offset = parseInt(q.get('offset') || '0', 10) || 0;
  const stateSel = el('select', { name: 'state', id: 'jobs-state' }, el('option', { value: '' }, 'any state'),
    ...['queued', 'running', 'done', 'failed', 'cancelled'].map((s) =>
      el('option', { value: s, selected: s === f.state }, s)));
  const tool = el('input', { name: 'tool', placeholder: 'tool', value: f.tool });
  const file = el('input', { name: 'file', placeholder: 'file contains…', value: f.file });
  main.append(
    el('h2', {}, 'Jobs'),
    el('form', {
      class: 'inline', id: 'jobs-filter', onsubmit: (ev) => {
        ev.preventDefault();
        location.hash = hashFor('jobs', { state: stateSel.value, tool: tool.value.trim(), file: file.value.trim() });
      },
    }, stateSel, tool, file, el('button', { type: 'submit' }, 'Filter')),
    el('div', { id: 'jobs-msg', class: 'msg' }),
    el('table', { id: 'jobs-table' },
      el('thead', {}, el('tr', {}, ...['Job', 'Tool', 'File', 'State', 'Created', 'Finished', 'Exit'].map((h) => el('th', {}, h)))),
      el('tbody', { id: 'jobs-body' })),
    el('div', { class: 'pager', id: 'jobs-pager' }));

  live(gen, async () => {
    const p = new URLSearchParams({ limit: String(JOBS_PAGE + 1), offset: String(offset) });
    for (const [k, v] of Object.entries(f)) if (v) p.set(k, v);
    let list;
    try {
      list = await api('GET', '/api/v1/jobs?' + p);
    } catch (e) {
      fill('jobs-msg', el('span', { class: 'error' }, e.message));
      return;
    }
    fill('jobs-msg', list.length === 0 ? el('span', { class: 'muted' }, 'No jobs match.') : null);
    const more = list.length > JOBS_PAGE;
    fill('jobs-body', list.slice(0, JOBS_PAGE).map((j) => el('tr', {},
      el('td', {}, el('a', { href: '#/job/' + encodeURIComponent(j.id) }, j.id)),
      el('td', {}, j.tool),
      el('td', { class: 'path' }, j.file),
      el('td', {}, stateBadge(j.state)),
      el('td', {}, fmtTime(j.created_at)),
      el('td', {}, fmtTime(j.finished_at)),
      el('td', {}, j.exit_code === undefined || j.exit_code === null ? '' : String(j.exit_code)))));
    fill('jobs-pager',
      offset > 0 ? el('a', { href: hashFor('jobs', { ...f, offset: Math.max(0, offset - JOBS_PAGE) }) }, '← newer') : null,
      el('span', { class: 'muted' }, 'jobs ' + (list.length ? offset + 1 : 0) + '–' + (offset + Math.min(list.length, JOBS_PAGE))),
      more ? el('a', { href: hashFor('jobs', { ...f, offset: offset + JOBS_PAGE }) }, 'older →') : null);
  });
}

function jobPage(main, parts, _q, gen) {
  const id = parts[0] || '';
  main.append(
    el('p', {}, el('a', { href: '#/jobs' }, '← all jobs')),
    el('h2', {}, 'Job ', id),
    el('div', { class: 'actions' },
      el('button', { id: 'job-retry', onclick: () => jobAction(id, 'retry') }, 'Retry'),
      el('button', { id: 'job-cancel', onclick: () => jobAction(id, 'cancel') }, 'Cancel')),
    el('div', { id: 'job-msg', class: 'msg' }),
    el('section', { class: 'card' }, el('dl', { class: 'kv', id: 'job-fields' })),
    el('h3', { style: null }, 'Log tail'),
    el('pre', { class: 'log', id: 'job-log' }));

  live(gen, async () => {
    let j;
    try {
      j = await api('GET', '/api/v1/jobs/' + encodeURIComponent(id));
    } catch (e) {
      fill('job-msg', el('span', { class: 'error' }, e.message));
      return;
    }
    const ran = !isZeroTime(j.started_at) && !isZeroTime(j.finished_at)
      ? fmtDuration(new Date(j.finished_at) - new Date(j.started_at)) : '—';
    const rows = [
      ['State', stateBadge(j.state)],
      ['Tool', el('a', { href: hashFor('jobs', { tool: j.tool }) }, j.tool)],
      ['File', el('a', { href: hashFor('jobs', { file: j.file }) }, j.file)],
      ['SHA-256', j.file_sha256],
      ['Size', human(j.file_size)],
      ['Created', fmtTime(j.created_at)],
      ['Started', fmtTime(j.started_at)],
      ['Finished', fmtTime(j.finished_at)],
      ['Ran for', ran],
      ['Exit code', j.exit_code === undefined || j.exit_code === null ? '—' : String(j.exit_code)],
      ['Reason', j.reason || '—'],
      ['Attempts', String(j.attempts)],
      ['Container', j.container || '—'],
      ['Output', el('a', { href: hashFor('search', { q: 'job_id:' + j.id }) }, 'search this job\'s output')],
    ];
    fill('job-fields', rows.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
    fill('job-log', (j.log_tail || []).join('\n') || '(no output kept)');
    document.getElementById('job-cancel').disabled = j.state === 'done' || j.state === 'failed' || j.state === 'cancelled';
  });
}

async function jobAction(id, act) {
  fill('job-msg', el('span', { class: 'muted' }, act + '…'));
  try {
    const j = await api('POST', '/api/v1/jobs/' + encodeURIComponent(id) + '/' + act);
    fill('job-msg', el('span', { class: 'ok' }, act === 'retry' ? 'queued again' : 'cancelled'), ' (now ' + j.state + ')');
  } catch (e) {
    fill('job-msg', el('span', { class: 'error' }, act + ' refused: ' + e.message));
  }
}

// ---- plugins -------------------------------------------------------------------

const PLUGIN_DOING = {
  build: 'building…', start: 'starting…', stop: 'stopping…', update: 'updating…',
  enable: 'enabling…', disable: 'disabling…', process: 'queueing…',
};
const PLUGIN_LABEL = { process: 'run on dropped files' };
const PLUGIN_DONE = {
  build: 'built', start: 'started', stop: 'stopped', update: 'updated', enable: 'enabled', disable: 'disabled',
};

function pluginsPage(main, _parts, _q, gen) {
  main.append(
    el('h2', {}, 'Plugins'),
    el('div', { id: 'plugins-msg', class: 'msg' }),
    el('table', { id: 'plugins-table' },
      el('thead', {}, el('tr', {}, ...['Tool', 'Name', 'Image', 'Built', 'Enabled', 'File types', 'Actions'].map((h) => el('th', {}, h)))),
      el('tbody', { id: 'plugins-body' })));
  const busy = new Map();

  const load = async () => {
    let list;
    let builds = {};
    try {
      list = await api('GET', '/api/v1/plugins');
    } catch (e) {
      fill('plugins-msg', el('span', { class: 'error' }, e.message));
      return;
    }
    try {
      builds = (await api('GET', '/api/v1/plugins/builds')) || {};
    } catch (e) {
      builds = {}; // an older daemon has no build progress
    }
    if (list.length === 0) fill('plugins-msg', el('span', { class: 'muted' }, 'No plugins installed. Add some with `ventapp plugins add DIR`.'));
    fill('plugins-body', list.map((p) => el('tr', {},
      el('td', {}, p.name),
      el('td', {}, p.link_name),
      el('td', { class: 'path' }, p.image,
        builds[p.name] ? el('div', { class: 'muted build-step' }, 'building: ' + builds[p.name]) : null,
        p.build_error ? el('div', { class: 'error' }, p.build_error) : null),
      el('td', {}, p.built ? el('span', { class: 'ok' }, 'yes') : 'no'),
      el('td', {}, p.enabled ? el('span', { class: 'ok' }, 'yes') : 'no'),
      el('td', {}, ((p.settings && p.settings.ext_types) || []).join(', ')),
      el('td', {}, ...pluginActions(p).map((act) => el('button', {
        'data-act': act, 'data-tool': p.name,
        disabled: busy.has(p.name) || (act === 'enable' && p.enabled) || (act === 'disable' && !p.enabled),
        onclick: () => pluginAction(p.name, act),
      }, busy.has(p.name) && busy.get(p.name) === act ? PLUGIN_DOING[act] : (PLUGIN_LABEL[act] || act)))))));
  };

  // A service tool (no file types) can be started and stopped; a tool that
  // takes files can be run on the files already in the drop folder; a tool
  // from a git repository can be updated.
  function pluginActions(p) {
    const acts = ['build'];
    if (!((p.settings && p.settings.ext_types) || []).length) acts.push('start', 'stop');
    else acts.push('process');
    if (p.repo_url) acts.push('update');
    acts.push('enable', 'disable');
    return acts;
  }

  // processDropped queues the files already in the drop folder that the
  // tool claims and has not run on, and says how many jobs that made.
  async function processDropped(name) {
    const s = await api('GET', '/api/v1/status');
    const res = (await api('POST', '/api/v1/process', { paths: [s.drop.folder], tools: [name] })) || [];
    const queued = res.reduce((n, r) => n + ((r.jobs && r.jobs.length) || 0), 0);
    const files = res.filter((r) => r.jobs && r.jobs.length).length;
    const count = (n, noun) => n + ' ' + noun + (n === 1 ? '' : 's');
    fill('plugins-msg', el('span', { class: 'ok' }, name + ': ' + count(queued, 'job') + ' queued for ' +
      count(files, 'file') + ' already in the drop folder'), ' · ',
    el('a', { href: hashFor('jobs', { tool: name }) }, 'its jobs'));
  }

  async function pluginAction(name, act) {
    busy.set(name, act);
    fill('plugins-msg', el('span', { class: 'muted' }, PLUGIN_DOING[act] + ' ' + name));
    await load();
    try {
      if (act === 'process') {
        await processDropped(name);
      } else {
        await api('POST', '/api/v1/plugins/' + encodeURIComponent(name) + '/' + act);
        fill('plugins-msg', el('span', { class: 'ok' }, name + ': ' + PLUGIN_DONE[act]));
      }
    } catch (e) {
      fill('plugins-msg', el('span', { class: 'error' }, name + ': ' + act + ' failed: ' + e.message));
    }
    busy.delete(name);
    await load();
  }

  live(gen, load);
}

// ---- taps ------------------------------------------------------------------------

function tapsPage(main, _parts, _q, gen) {
  const form = el('form', { class: 'inline', id: 'tap-create', onsubmit: createTap },
    el('input', { name: 'id', placeholder: 'tap id', required: true, pattern: '[A-Za-z0-9_.-]+' }),
    el('input', { name: 'nic', placeholder: 'interface', required: true, list: 'tap-nics' }),
    el('datalist', { id: 'tap-nics' }),
    el('input', { name: 'interval', type: 'number', min: '1', value: '60', title: 'seconds per file' }),
    el('input', { name: 'iters', type: 'number', min: '0', value: '0', title: 'intervals (0: until stopped)' }),
    el('input', { name: 'filter', placeholder: 'filter, e.g. tcp port 80' }),
    el('label', {}, el('input', { name: 'strip_payload', type: 'checkbox' }), ' strip payloads'),
    el('button', { type: 'submit', class: 'primary' }, 'Create and start'));
  main.append(
    el('h2', {}, 'Taps'),
    el('div', { id: 'taps-msg', class: 'msg' }),
    el('div', { id: 'taps-area' }));

  let available = null;
  const load = async () => {
    let taps;
    try {
      taps = await api('GET', '/api/v1/taps');
    } catch (e) {
      if (e.status === 404) {
        available = false;
        fill('taps-area', el('p', { class: 'muted', id: 'taps-na' }, 'Taps are not available on this daemon.'));
      } else {
        fill('taps-msg', el('span', { class: 'error' }, e.message));
      }
      return;
    }
    if (available !== true) {
      available = true;
      fill('taps-area', form, el('table', { id: 'taps-table' },
        el('thead', {}, el('tr', {}, ...['Tap', 'Interface', 'Filter', 'State', 'Packets', 'Drops', 'Bytes', 'Files', 'Reason', 'Actions'].map((h) => el('th', {}, h)))),
        el('tbody', { id: 'taps-body' })));
      api('GET', '/api/v1/taps/nics').then((nics) =>
        fill('tap-nics', (nics || []).map((n) => el('option', { value: n.name })))).catch(() => {});
    }
    fill('taps-body', taps.map((t) => el('tr', {},
      el('td', {}, t.id), el('td', {}, t.config.nic), el('td', { class: 'path' }, t.config.filter || '—'),
      el('td', {}, stateBadge(t.state)), el('td', {}, String(t.stats.packets)), el('td', {}, String(t.stats.kernel_drops)),
      el('td', {}, human(t.stats.bytes)), el('td', {}, String(t.stats.files)), el('td', {}, t.reason || ''),
      el('td', {}, ...['start', 'stop', 'delete'].map((act) => el('button', { onclick: () => tapAction(t.id, act) }, act))))));
  };

  async function tapAction(id, act) {
    if (act === 'delete' && !confirm('Delete tap ' + id + '?')) return;
    try {
      const path = '/api/v1/taps/' + encodeURIComponent(id);
      await api(act === 'delete' ? 'DELETE' : 'POST', act === 'delete' ? path : path + '/' + act);
      fill('taps-msg', el('span', { class: 'ok' }, id + ': ' + { start: 'started', stop: 'stopped', delete: 'deleted' }[act]));
    } catch (e) {
      fill('taps-msg', el('span', { class: 'error' }, id + ': ' + act + ' failed: ' + e.message));
    }
    await load();
  }

  async function createTap(ev) {
    ev.preventDefault();
    const fd = new FormData(form);
    const body = {
      id: fd.get('id'), nic: fd.get('nic'), interval: Number(fd.get('interval')) || 60,
      iters: Number(fd.get('iters')) || 0, filter: fd.get('filter') || '',
      strip_payload: fd.get('strip_payload') === 'on', start: true,
    };
    try {
      const st = await api('POST', '/api/v1/taps', body);
      fill('taps-msg', el('span', { class: 'ok' }, 'tap ' + st.id + ': ' + st.state));
      form.reset();
    } catch (e) {
      fill('taps-msg', el('span', { class: 'error' }, 'create failed: ' + e.message));
    }
    await load();
  }

  live(gen, load);
}

// ---- search ----------------------------------------------------------------------

const HELP = [
  ['error timeout', 'lines with either word (bare words search the message)'],
  ['+error +timeout', 'lines with both words'],
  ['"connection reset"', 'a phrase'],
  ['tool:zeek', 'a field: tool, job_id, file, file_sha256, container, stream, line, time, message, fields.NAME'],
  ['+fields.query:www.tcpdump.org +fields.qtype:A', 'values of a JSON line (its keys are not words: fields.qtype:* finds lines with the key)'],
  ['line:>=100  time:>="2024-03-10T00:00:00Z"', 'ranges (time to the millisecond; ranges on fields.NAME need [index] numeric_fields = yes)'],
  ['-stream:stderr', 'exclude matches'],
  ['dns*  /10\\.0\\.[0-9]+\\..*/', 'wildcards and regular expressions'],
];

function searchPage(main, _parts, q) {
  const text = q.get('q') || '';
  const offset = parseInt(q.get('offset') || '0', 10) || 0;
  const input = el('input', { type: 'search', id: 'q', name: 'q', value: text, placeholder: 'bleve query, e.g. +tool:zeek dns', autofocus: true });
  main.append(
    el('h2', {}, 'Search'),
    el('form', {
      id: 'search-form', class: 'search-box', onsubmit: (ev) => {
        ev.preventDefault();
        const v = input.value.trim();
        const want = hashFor('search', { q: v });
        if (location.hash === want) route(); else location.hash = want;
      },
    }, input, el('button', { type: 'submit', class: 'primary' }, 'Search'),
    el('span', { id: 'search-error', class: 'error', role: 'alert' })),
    el('details', { class: 'help' }, el('summary', {}, 'Query syntax'),
      el('table', {}, el('tbody', {}, HELP.map(([ex, what]) => el('tr', {}, el('td', {}, el('code', {}, ex)), el('td', {}, what)))))),
    el('div', { id: 'search-summary', class: 'muted' }),
    el('div', { id: 'results' }),
    el('div', { class: 'pager', id: 'search-pager' }));
  if (text) runSearch(text, offset);
}

async function runSearch(text, offset) {
  const p = new URLSearchParams({ q: text, limit: String(SEARCH_PAGE), offset: String(offset), highlight: '1' });
  let res;
  try {
    res = await api('GET', '/api/v1/search?' + p);
  } catch (e) {
    fill('search-error', e.message);
    return;
  }
  fill('search-error');
  const hits = res.hits || [];
  fill('search-summary', res.total + ' matching lines' + (hits.length ? ', showing ' + (offset + 1) + '–' + (offset + hits.length) : ''));
  const terms = queryTerms(text);
  fill('results', hits.map((h) => renderHit(h, terms)));
  fill('search-pager',
    offset > 0 ? el('a', { href: hashFor('search', { q: text, offset: Math.max(0, offset - SEARCH_PAGE) }) }, '← previous') : null,
    offset + hits.length < res.total ? el('a', { href: hashFor('search', { q: text, offset: offset + SEARCH_PAGE }) }, 'next →') : null);
}

// queryTerms picks the values a query looks for (`word`, `field:value`,
// `"a phrase"`), so matches in structured fields, which the index does not
// highlight, can be marked in the line's text.
function queryTerms(q) {
  const out = [];
  const re = /(?:^|\s)[+-]?(?:[\w.]+:)?("[^"]+"|[^\s()"]+)/g;
  let m;
  while ((m = re.exec(q || '')) !== null) {
    let t = m[1].replace(/^"|"$/g, '');
    if (/^(AND|OR|NOT)$/.test(t) || /^[<>=]/.test(t) || /[*?]/.test(t) || t.length < 2) continue;
    out.push(t.toLowerCase());
  }
  return out;
}

// markTerms returns text as text nodes with each occurrence of a term in
// a <mark>, ignoring case.
function markTerms(text, terms) {
  if (!terms.length || !text) return [document.createTextNode(text || '')];
  const lower = text.toLowerCase();
  const out = [];
  let i = 0;
  while (i < text.length) {
    let best = -1;
    let len = 0;
    for (const t of terms) {
      const j = lower.indexOf(t, i);
      if (j >= 0 && (best < 0 || j < best)) { best = j; len = t.length; }
    }
    if (best < 0) break;
    if (best > i) out.push(document.createTextNode(text.slice(i, best)));
    out.push(el('mark', {}, document.createTextNode(text.slice(best, best + len))));
    i = best + len;
  }
  if (i < text.length) out.push(document.createTextNode(text.slice(i)));
  return out;
}

function renderHit(h, terms) {
  const frags = h.fragments || {};
  const body = [];
  const fields = Object.keys(frags).sort((a, b) => (a === 'message' ? -1 : b === 'message' ? 1 : a.localeCompare(b)));
  for (const f of fields) {
    for (const s of frags[f] || []) {
      body.push(el('div', { class: 'frag' }, f === 'message' ? null : el('span', { class: 'muted' }, f + ': '), ...fragmentNodes(s)));
    }
  }
  if (!fields.includes('message')) body.unshift(el('div', { class: 'frag' }, ...markTerms(h.message, terms || [])));
  return el('div', { class: 'hit' },
    el('div', { class: 'meta' },
      h.tool, ' · ',
      el('a', { href: '#/job/' + encodeURIComponent(h.job_id), class: 'job-link' }, 'job ' + h.job_id), ' · ',
      el('a', { href: hashFor('jobs', { file: h.file }), class: 'file-link' }, h.file), ' · ',
      h.stream + ':' + h.line, ' · ', fmtTime(h.time)),
    body);
}

// fragmentNodes turns one bleve HTML fragment (escaped text with <mark>
// tags around the matches) into text nodes and <mark> elements.
function fragmentNodes(s) {
  const out = [];
  let marked = false;
  for (const part of s.split(/(<mark>|<\/mark>)/)) {
    if (part === '<mark>') { marked = true; continue; }
    if (part === '</mark>') { marked = false; continue; }
    if (!part) continue;
    const t = document.createTextNode(unescapeHTML(part));
    out.push(marked ? el('mark', {}, t) : t);
  }
  return out;
}

function unescapeHTML(s) {
  const ents = { lt: '<', gt: '>', amp: '&', quot: '"', apos: '\'', '#39': '\'', '#34': '"' };
  return s.replace(/&(lt|gt|amp|quot|apos|#39|#34);/g, (_m, e) => ents[e]);
}

// ---- drop ---------------------------------------------------------------------------

function dropPage(main) {
  const file = el('input', { type: 'file', id: 'drop-file', required: true });
  const bar = el('progress', { id: 'drop-progress', max: '100', value: '0', hidden: true });
  main.append(
    el('h2', {}, 'Drop a file'),
    el('p', { class: 'muted' }, 'The file is written into the drop folder and processed by every plugin that claims it.'),
    el('form', { class: 'inline', id: 'drop-form', onsubmit: (ev) => { ev.preventDefault(); upload(file, bar); } },
      file, el('button', { type: 'submit', class: 'primary' }, 'Upload'), bar),
    el('div', { id: 'drop-msg', class: 'msg' }));
}

function upload(input, bar) {
  const f = input.files && input.files[0];
  if (!f) return;
  const xhr = new XMLHttpRequest();
  xhr.open('POST', '/api/v1/drop?' + new URLSearchParams({ name: f.name }));
  xhr.setRequestHeader('X-Ventapp-CSRF', '1');
  xhr.setRequestHeader('Content-Type', 'application/octet-stream');
  bar.hidden = false;
  xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) bar.value = (100 * ev.loaded) / ev.total; };
  xhr.onload = () => {
    let data = null;
    try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
    if (xhr.status === 201 && data) {
      fill('drop-msg', el('span', { class: 'ok' }, 'Placed as ' + data.path), ' · ',
        el('a', { href: hashFor('jobs', { file: data.path }) }, 'its jobs'));
      input.value = '';
    } else {
      fill('drop-msg', el('span', { class: 'error' }, 'Upload failed: ' + ((data && data.error) || xhr.statusText)));
    }
    bar.hidden = true;
  };
  xhr.onerror = () => { fill('drop-msg', el('span', { class: 'error' }, 'Upload failed: the daemon does not answer')); bar.hidden = true; };
  fill('drop-msg', el('span', { class: 'muted' }, 'Uploading ' + f.name + ' (' + human(f.size) + ')…'));
  xhr.send(f);
}

window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', route);
