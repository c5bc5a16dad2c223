// desaster-web's browser app: plain DOM, hash routes whose query holds the filters (so a view
// can be shared by its URL), live data over server-sent events, uPlot for the charts.
'use strict';

const app = {
  csrf: '',
  users: false,       // people log in as the scheduler's ACL users
  denied: [],         // commands the logged-in user may not run
  live: true,
  events: null,       // the EventSource while live
  overview: null,     // the last dashboard snapshot
  onOverview: null,   // the current page's live hook
  charts: [],
  // Charts on a log-like scale (asinh: zero stays zero), so a bulk load of thousands in one
  // second does not flatten the ordinary rate to a line on the floor. Kept in the browser.
  logScale: localStorage.getItem('desaster.logScale') === '1',
  poll: null,         // the current page's refresh timer (the cluster page)
};

// ---- helpers ----

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  return put(el, children);
}

// Appends children to `el`: nested arrays flattened, null/undefined/false skipped.
function put(el, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const $ = (sel, root = document) => root.querySelector(sel);

async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (method !== 'GET') {
    opts.headers['X-CSRF-Token'] = app.csrf;
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body || {});
  }
  const res = await fetch(path, opts);
  const data = await res.json().catch(() => ({ error: res.statusText }));
  if (res.status === 401) {
    showLogin();
    throw new Error(data.error || 'log in first');
  }
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

function flash(message, kind = 'ok') {
  const el = $('#flash');
  el.textContent = message;
  el.className = kind;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => { el.textContent = ''; el.className = ''; }, 6000);
}

// Runs an action, reports its result (`say` words it) or error, then re-renders the page.
async function act(label, fn, say = (n) => (typeof n === 'number' ? `${label}: ${n}` : Array.isArray(n) ? `${label}: ${n.length}` : `${label}: done`)) {
  try {
    const r = await fn();
    flash(say(r && r.result));
    render();
  } catch (e) {
    flash(`${label}: ${e.message}`, 'error');
  }
}

const enc = encodeURIComponent;

// What an empty table says: why it is empty, and how data gets there.
const EMPTY = {
  queues: 'No queues yet. A queue appears when an app enqueues its first job (resque, Sidekiq, RQ, Celery and BullMQ apps '
    + 'only point their Redis URL here), or create one on the Queues page.',
  jobs: 'No jobs here: the queue is empty, or no job matches the filters.',
  attempts: 'No failed attempts.',
  workers: 'No workers. Start one on a worker host: desaster-worker --scheduler HOST:PORT --queues QUEUE. '
    + 'resque and Sidekiq processes appear here once they check in.',
  failures: 'No failures. A job that raises, exits non-zero, times out or is killed lands here, after its automatic retries.',
  delayed: 'No delayed jobs or pending retries. Jobs pushed with a delay (JOB.PUSH ... DELAY ms, resque-scheduler, '
    + "Sidekiq's perform_in) wait here.",
  schedules: 'No cron schedules yet: add one below.',
  metrics: 'No runs in this range. Every job a desaster-worker, resque or RQ worker runs is counted here by class '
    + 'and queue when it succeeds or fails.',
  completed: 'No completed jobs. Every job a desaster-worker, resque or RQ worker finishes with success is kept here '
    + '(completed-max jobs, for completed-ttl seconds), or none matches the filters.',
};

// A count with the reader's thousands separators ("12,345"); `digits` fixed decimals.
function fmtNum(n, digits = 0) {
  if (n === null || n === undefined || n === '' || Number.isNaN(Number(n))) return n ?? '';
  return Number(n).toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

// 6795264 -> "6.5 MB".
function fmtBytes(n) {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = Number(n), i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${fmtNum(v, i === 0 || v >= 100 ? 0 : 1)} ${units[i]}`;
}

// "1 job", "12,345 jobs".
function plural(n, noun) {
  return `${fmtNum(n)} ${Number(n) === 1 ? noun : `${noun}s`}`;
}

function numCell(n, digits = 0) {
  return h('td', { class: 'num', text: fmtNum(n, digits) });
}

function fmtTime(ms) {
  if (ms === null || ms === undefined || ms === '') return '';
  const d = new Date(Number(ms));
  return d.toLocaleString(undefined, { hour12: false });
}

// How far a moment is from now: "3 min 12 s ago", "in 2 h 5 min", "just now".
function fmtRelative(ms) {
  const d = Number(ms) - Date.now();
  if (Math.abs(d) < 5000) return 'just now';
  return d > 0 ? `in ${fmtDuration(d)}` : `${fmtDuration(-d)} ago`;
}

// A moment as both: the absolute time, and how long ago (or until) it is.
function fmtWhen(ms) {
  if (ms === null || ms === undefined || ms === '') return '';
  return `${fmtTime(ms)} (${fmtRelative(ms)})`;
}

function fmtDuration(ms) {
  if (ms === null || ms === undefined) return '—';  // not known
  ms = Math.max(0, Number(ms));
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

function fmtEta(ms) {
  if (ms === null || ms === undefined || ms === '') return '—';
  const d = Number(ms) - Date.now();
  return d <= 0 ? 'now' : `in ${fmtDuration(d)}`;
}

// The current route: #/a/b?x=1 -> {parts: ['a', 'b'], query: URLSearchParams}.
function route() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [path, q = ''] = hash.split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(q) };
}

function go(path, query) {
  const q = query ? new URLSearchParams([...query].filter(([, v]) => v !== '')).toString() : '';
  location.hash = '#/' + path + (q ? '?' + q : '');
}

// A table in a box that scrolls sideways on a narrow screen, so the page itself never does.
// `empty` says what an empty table means and how data gets there.
function table(headers, rows, { empty = 'Nothing here.', ...attrs } = {}) {
  return h('div', { class: 'table-scroll' }, h('table', attrs,
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: headers.length, class: 'empty', text: empty })))));
}

// A queue by its short name (resque:queue:mail is "mail"), its dialect beside it, its key on hover.
function queueLink(q) {
  return [h('a', { href: `#/queues/${enc(q.key)}`, title: q.key }, q.name || q.key),
    q.dialect && q.dialect !== 'native' ? h('span', { class: 'dialect', text: q.dialect }) : null];
}

function button(text, onclick, attrs = {}) {
  return h('button', { type: 'button', onclick, ...attrs }, text);
}

// Whether the logged-in user may run `command` (an ACL user may not run everything): actions it
// may not are left out (`may(...) && button(...)`). The scheduler refuses them anyway.
const may = (command) => !app.denied.includes(command);

function confirmAct(question, label, fn) {
  if (window.confirm(question)) act(label, fn);
}

// A filter form: fields [{name, label, type?, options?}] read from and written to the URL.
function filterForm(fields, query, onSubmit) {
  const form = h('form', { class: 'filters', onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams(query);
    for (const f of fields) q.set(f.name, form.elements[f.name].value.trim());
    q.delete('offset');
    onSubmit(q);
  } });
  for (const f of fields) {
    const value = query.get(f.name) || '';
    const input = f.options
      ? h('select', { name: f.name, id: `f-${f.name}` }, f.options.map(([v, t]) => h('option', { value: v, selected: v === value }, t)))
      : h('input', { name: f.name, id: `f-${f.name}`, value, type: f.type || 'text', placeholder: f.placeholder || '' });
    form.append(h('label', { for: `f-${f.name}` }, f.label), input);
  }
  form.append(h('button', { type: 'submit' }, 'Apply'));
  return form;
}

// Rows a page shows: the query's `limit` (the pager's choices go up to 500), or 50.
const pageLimit = (query) => Math.min(500, Math.max(1, Number(query.get('limit')) || 50));

// Pages of pageLimit rows: previous/next, the page size, and a jump to a page.
function pager(total, query, onPage) {
  const offset = Number(query.get('offset') || 0), limit = pageLimit(query);
  const pages = Math.max(1, Math.ceil(total / limit));
  const page = (o, l = limit) => { const q = new URLSearchParams(query); q.set('offset', String(o)); q.set('limit', String(l)); onPage(q); };
  const jump = h('input', { type: 'number', min: 1, max: pages, value: Math.floor(offset / limit) + 1, 'aria-label': 'page', class: 'page-number' });
  return h('div', { class: 'pager' },
    button('‹ Previous', () => page(Math.max(0, offset - limit)), { disabled: offset === 0 }),
    h('span', { class: 'range', text: total ? `${fmtNum(offset + 1)}–${fmtNum(Math.min(total, offset + limit))} of ${fmtNum(total)}` : '0 of 0' }),
    button('Next ›', () => page(offset + limit), { disabled: offset + limit >= total }),
    pages > 1 && h('form', { class: 'inline', onsubmit: (e) => {
      e.preventDefault();
      page((Math.min(pages, Math.max(1, Math.floor(Number(jump.value) || 1))) - 1) * limit);
    } }, h('label', {}, 'Page ', jump, ` of ${fmtNum(pages)}`), h('button', { type: 'submit' }, 'Go')),
    h('label', {}, 'Rows ', h('select', { 'aria-label': 'rows per page', class: 'page-size', onchange: (e) => page(0, Number(e.target.value)) },
      [25, 50, 100, 500].map((n) => h('option', { value: n, selected: n === limit }, String(n))))));
}

// Row selection with "everything matching this filter".
// `noun`: one of what the rows are ("job"), for "3 jobs selected".
function selection(total, noun) {
  const sel = { ids: new Set(), all: false };
  sel.bar = h('div', { class: 'bulk' });
  sel.update = () => {
    sel.bar.replaceChildren(...[
      h('span', { class: 'count', text: `${sel.describe()} selected` }),
      total > 0 ? button(sel.all ? 'Select only checked rows' : `Select all ${fmtNum(total)} matching`, () => { sel.all = !sel.all; sel.update(); }, { class: 'link', id: 'select-all-matching' }) : null,
      ...sel.actions()].filter(Boolean));
  };
  sel.checkbox = (id) => h('input', { type: 'checkbox', 'aria-label': `select ${id}`, class: 'row-select', 'data-id': id, onchange: (e) => {
    e.target.checked ? sel.ids.add(id) : sel.ids.delete(id);
    sel.update();
  } });
  sel.pageBox = () => h('input', { type: 'checkbox', 'aria-label': 'select this page', onchange: (e) => {
    document.querySelectorAll('.row-select').forEach((box) => {
      box.checked = e.target.checked;
      e.target.checked ? sel.ids.add(box.dataset.id) : sel.ids.delete(box.dataset.id);
    });
    sel.update();
  } });
  sel.actions = () => [];
  // What is selected, in words: "3 jobs", "all 12,345 matching jobs".
  sel.describe = () => (sel.all ? `all ${plural(total, `matching ${noun}`)}` : plural(sel.ids.size, noun));
  return sel;
}

// ---- live data ----

function setLive(on) {
  app.live = on;
  const b = $('#live');
  b.textContent = on ? 'Live: on' : 'Live: paused';
  b.setAttribute('aria-pressed', String(on));
  if (on && !app.events) {
    app.events = new EventSource('/api/events');
    app.events.addEventListener('overview', (e) => {
      app.overview = JSON.parse(e.data);
      navCounts(app.overview);
      if (app.onOverview) app.onOverview(app.overview);
    });
    app.events.addEventListener('error', () => { /* EventSource reconnects by itself */ });
  } else if (!on && app.events) {
    app.events.close();
    app.events = null;
  }
}

// How many jobs are in each state, from a dashboard snapshot; a part the user may not read
// (null) gives no count.
function jobCounts(o) {
  return {
    enqueued: o.queues && sum(o.queues.map((q) => q.ready)),
    busy: o.workers && sum(o.workers.map((w) => (w.jobs || []).length)),
    retrying: o.failed && o.failed.retrying,
    dead: o.failed && o.failed.dead,
    scheduled: o.queues && sum(o.queues.map((q) => q.scheduled)),
  };
}

// The counts of jobCounts beside the navigation's links.
function navCounts(o) {
  const counts = jobCounts(o);
  const links = { enqueued: 'queues', busy: 'workers', retrying: 'failed', dead: 'failed', scheduled: 'scheduled' };
  for (const [state, n] of Object.entries(counts)) {
    const link = $(`#nav a[href="#/${links[state]}"]`);
    let badge = $(`.count[data-state="${state}"]`, link);
    if (n === null || n === undefined) { if (badge) badge.remove(); continue; }
    if (!badge) badge = put(link, h('span', { class: 'count', 'data-state': state, title: state })).lastChild;
    badge.textContent = fmtNum(n);
    badge.setAttribute('aria-label', `${fmtNum(n)} ${state}`);
  }
}

// ---- pages ----

// A time chart of `lines` ([label, colour property]) over `data` (uPlot's columns: the times in
// seconds, then one column per line), in the log scale when that is on.
function plotChart(title, width, lines, data, unit) {
  const el = h('div', { class: 'chart' });
  // uPlot draws on a canvas, which CSS does not reach: the axes take the theme's colours (dark
  // mode) from the page's custom properties.
  const color = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  const axis = { stroke: color('--fg'), grid: { stroke: color('--line') }, ticks: { stroke: color('--line') } };
  const opts = {
    title, width, height: 220,
    scales: { x: { time: true }, y: app.logScale ? { distr: 4, log: 10, asinh: 1, range: (u, min, max) => [0, Math.max(10, max)] } : {} },
    series: [{}, ...lines.map(([label, colour]) => ({ label, stroke: color(colour), width: 1.5, spanGaps: false }))],
    axes: [{ ...axis }, { ...axis, label: unit, splits: app.logScale ? powersOfTen : undefined }],
  };
  const plot = new uPlot(opts, data, el);
  app.charts.push(plot);
  return { el, plot };
}

function chart(title, series, width) {
  const lines = [['enqueued', '--accent'], ['dequeued', '--ok'], ['failed', '--danger']];
  const c = plotChart(title, width, lines, seriesData(series), 'jobs');
  return { el: c.el, update: (s) => c.plot.setData(seriesData(s)), plot: c.plot };
}

function logScaleButton() {
  return button(app.logScale ? 'Log scale: on' : 'Log scale: off', () => {
    app.logScale = !app.logScale;
    localStorage.setItem('desaster.logScale', app.logScale ? '1' : '0');
    render();
  }, { id: 'log-scale', 'aria-pressed': String(app.logScale), title: 'Show small and large values together' });
}

// The log scale's lines and labels: 0, 1, 10, 100, ... (not at every 2..9 between).
function powersOfTen(u, axis, min, max) {
  const splits = [0];
  for (let v = 1; v <= max; v *= 10) splits.push(v);
  return splits;
}

function seriesData(s) {
  const n = s.enqueued.length, xs = [];
  for (let i = 0; i < n; i++) xs.push((s.last_bucket_at - (n - 1 - i) * s.bucket_ms) / 1000);
  return [xs, s.enqueued, s.dequeued, s.failed];
}

function sum(xs) { return xs.reduce((a, b) => a + b, 0); }

function dashboard(main) {
  const cards = h('section', { class: 'cards', 'aria-label': 'totals' });
  const charts = h('section', { class: 'charts' });
  const queues = h('section', {});
  const node = h('section', { class: 'node' });
  put(main, h('h1', { text: 'Dashboard' }), cards, charts, queues, node);
  const width = Math.max(240, Math.min(1100, $('#main').clientWidth - 40));
  let perSecond = null, perMinute = null;
  const card = (id, label, value, sub) => h('div', { class: 'card' }, h('div', { class: 'label', text: label }), h('div', { class: 'value', id, text: fmtNum(value) }), sub ? h('div', { class: 'sub', text: sub }) : null);
  const draw = (o) => {
    const counts = jobCounts(o);
    // (A part the logged-in user may not read is null: its card or section is left out.)
    const lastMinute = (k) => sum(o.seconds[k].slice(-60));
    cards.replaceChildren();
    put(cards,
      card('stat-enqueued', 'Queued', counts.enqueued, `${fmtNum(counts.scheduled)} scheduled`),
      o.seconds && card('stat-rate', 'Processed / min', lastMinute('dequeued'), `${fmtNum(lastMinute('enqueued'))} enqueued / min`),
      o.workers && card('stat-busy', 'Busy', counts.busy, `${fmtNum(o.workers.length)} workers`),
      o.failed && card('stat-failed', 'Failed', o.failed.total, `${fmtNum(counts.retrying)} retrying · ${fmtNum(counts.dead)} dead`),
      card('stat-taken', 'Taken since start', sum(o.queues.map((q) => Number(q.taken))), `${fmtNum(sum(o.queues.map((q) => Number(q.pushed))))} pushed since start`));
    cards.dataset.updated = String(o.time);
    if (!o.seconds || !o.minutes) {
      charts.replaceChildren();
    } else if (!perSecond) {
      perSecond = chart('Jobs per second, last 5 minutes', o.seconds, width);
      perMinute = chart('Jobs per minute, last 24 hours', o.minutes, width);
      charts.replaceChildren(h('div', { class: 'chart-tools' }, logScaleButton()), perSecond.el, perMinute.el);
    } else {
      perSecond.update(o.seconds);
      perMinute.update(o.minutes);
    }
    const now = o.time;
    queues.replaceChildren(h('h2', { text: 'Queues' }), table(['Queue', 'Ready', 'Scheduled', 'Rate /s', 'Oldest job', 'State'],
      o.queues.map((q) => h('tr', { 'data-queue': q.key },
        h('td', {}, queueLink(q)),
        numCell(q.ready), numCell(q.scheduled),
        numCell(q.rate, 2),
        h('td', { text: q.ready ? fmtDuration(q.latency_ms) : '—' }),
        h('td', { text: q.config.paused ? 'paused' : 'active' }))), { empty: EMPTY.queues }));
    const n = o.node;
    if (!n) return node.replaceChildren();
    node.replaceChildren(h('h2', { text: 'Node' }), h('dl', {},
      h('dt', { text: 'Role' }), h('dd', { text: n.role || 'master' }),
      h('dt', { text: 'Version' }), h('dd', { id: 'node-version', text: n.desaster_version ? `desaster ${n.desaster_version} (Redis ${n.redis_version} compatible)` : n.redis_version || '' }),
      h('dt', { text: 'Up for' }), h('dd', { text: fmtDuration(Number(n.uptime_in_seconds || 0) * 1000) }),
      h('dt', { text: 'Clients' }), h('dd', { text: n.connected_clients || '' }),
      h('dt', { text: 'Memory' }), h('dd', { text: n.used_memory_human || '' }),
      h('dt', { text: 'Persistence' }), h('dd', { text: n.loading === '1' ? 'loading…' : 'LevelDB' }),
      h('dt', { text: 'Snapshot at' }), h('dd', { text: fmtTime(now) })));
  };
  app.onOverview = draw;
  if (app.overview) draw(app.overview);
  else api('GET', '/api/overview').then((o) => { navCounts(o); draw(o); }).catch((e) => flash(e.message, 'error'));
}

function queueForm(disciplines, current, onSubmit) {
  const c = current ? current.config : {};
  const params = Object.entries(c.params || {}).map(([k, v]) => `${k}=${v}`).join('\n');
  const form = h('form', { class: 'stack', onsubmit: (e) => {
    e.preventDefault();
    const f = form.elements, body = {};
    if (!current) body.queue = f.queue.value.trim();
    body.discipline = f.discipline.value;
    body.params = {};
    for (const line of f.params.value.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) body.params[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
    if (current) for (const k of Object.keys(c.params || {})) if (!(k in body.params)) body.params[k] = '';
    body.unique = f.unique.checked;
    body.unique_by = f.unique_by.value.trim();
    if (f.retry.value !== '') body.retry = Number(f.retry.value);
    body.backoff = f.backoff.value.trim();
    body.capability = f.capability.value.trim();
    onSubmit(body);
  } },
  current ? null : [h('label', { for: 'q-queue' }, 'Queue key'), h('input', { id: 'q-queue', name: 'queue', required: true, placeholder: 'e.g. mail or resque:queue:mail' })],
  h('label', { for: 'q-discipline' }, 'Discipline'),
  h('select', { id: 'q-discipline', name: 'discipline' }, Object.entries(disciplines).map(([name, summary]) => h('option', { value: name, selected: name === (c.discipline || 'fifo'), title: summary }, `${name} — ${summary}`))),
  h('label', { for: 'q-params' }, 'Parameters (name=value per line)'),
  h('textarea', { id: 'q-params', name: 'params', rows: 3, placeholder: 'weight.tenant-a=3' }, params),
  h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'unique', checked: !!c.unique }), 'Unique (drop a push whose job is queued already)'),
  h('label', { for: 'q-unique-by' }, 'Unique by JSON field'), h('input', { id: 'q-unique-by', name: 'unique_by', value: c.unique_by || '' }),
  h('label', { for: 'q-retry' }, 'Retries'), h('input', { id: 'q-retry', name: 'retry', type: 'number', min: 0, max: 1000, value: c.retry ?? '' }),
  h('label', { for: 'q-backoff' }, 'Backoff (poly, exp or seconds)'), h('input', { id: 'q-backoff', name: 'backoff', value: c.backoff || '' }),
  h('label', { for: 'q-capability' }, 'Required capability'), h('input', { id: 'q-capability', name: 'capability', value: c.capability || '' }),
  h('button', { type: 'submit' }, current ? 'Save configuration' : 'Create queue'));
  return form;
}

async function queuesPage(main) {
  const [list, disc] = await Promise.all([api('GET', '/api/queues'), api('GET', '/api/disciplines')]);
  const body = h('div', {});
  const create = may('queue.create') && h('details', { class: 'panel' }, h('summary', { text: 'Create a queue' }),
    queueForm(disc.result, null, (b) => act(`created ${b.queue}`, () => api('POST', '/api/queues', b))));
  put(main, h('h1', { text: 'Queues' }), create, body);
  // Failed jobs per queue (their records, retrying and dead), read again at most every 5 s as
  // live updates come; null when the user may not read them.
  let failed = {}, failedAt = 0;
  const countFailed = async () => {
    if (Date.now() - failedAt < 5000) return;
    failedAt = Date.now();
    failed = await api('GET', '/api/failed/groups?by=queue&state=all')
      .then((r) => Object.fromEntries(r.result.map((g) => [g.group, g.count]))).catch(() => null);
  };
  const draw = (queues) => {
    body.replaceChildren(table(['Queue', 'Discipline', 'Ready', 'Scheduled', 'Pushed', 'Taken', 'Failed', 'Rate /s', 'Oldest job', 'State', 'Actions'],
      queues.map((q) => h('tr', { 'data-queue': q.key },
        h('td', {}, queueLink(q)),
        h('td', { text: q.config.discipline }),
        numCell(q.ready), numCell(q.scheduled),
        h('td', { class: 'num pushed', text: fmtNum(q.pushed), title: 'since the scheduler started' }),
        h('td', { class: 'num taken', text: fmtNum(q.taken), title: 'since the scheduler started' }),
        h('td', { class: 'num failed', text: failed ? fmtNum(failed[q.key] || 0) : '—' }),
        numCell(q.rate, 2),
        h('td', { text: q.ready ? fmtDuration(q.latency_ms) : '—' }),
        h('td', { text: q.config.paused ? 'paused' : 'active' }),
        h('td', { class: 'actions' },
          queueActions(q),
          may('queue.delete') && button('Delete', () => confirmAct(`Delete queue ${q.key} with its jobs?`, `deleted ${q.key}`, () => api('DELETE', `/api/queues/${enc(q.key)}`)), { class: 'danger' })))), { empty: EMPTY.queues }));
  };
  await countFailed();
  draw(list.result);
  app.onOverview = async (o) => {
    await countFailed();
    if (!document.activeElement || !create || !create.contains(document.activeElement)) draw(o.queues);
  };
}

const jobFilters = [
  { name: 'match', label: 'Search', placeholder: 'text in payload or id' },
  { name: 'class', label: 'Class' },
  { name: 'args', label: 'Args contain' },
  { name: 'flow', label: 'Flow' },
  { name: 'state', label: 'State', options: [['', 'ready + scheduled'], ['ready', 'ready'], ['scheduled', 'scheduled'], ['running', 'running'], ['all', 'all']] },
  { name: 'priority_min', label: 'Priority ≥', type: 'number' },
  { name: 'sort', label: 'Sort', options: [['', 'dispatch order'], ['eta', 'ETA'], ['enqueued', 'enqueued'], ['priority', 'priority'], ['class', 'class'], ['id', 'id']] },
  { name: 'order', label: 'Order', options: [['', 'ascending'], ['desc', 'descending']] },
];

function jobQuery(query) {
  const q = new URLSearchParams();
  for (const f of jobFilters) if (query.get(f.name)) q.set(f.name, query.get(f.name));
  return q;
}

async function queuePage(main, key, query) {
  const base = `/api/queues/${enc(key)}`;
  const q = jobQuery(query);
  q.set('offset', query.get('offset') || '0');
  q.set('limit', String(pageLimit(query)));
  const [info, jobs, queues, metrics] = await Promise.all([api('GET', base), api('GET', `${base}/jobs?${q}`), api('GET', '/api/queues'),
    may('metrics.range') ? api('GET', `/api/metrics/queue/${enc(key)}?last=3600`) : null]);
  const qi = info.result, total = jobs.result.total;
  const header = h('div', { class: 'title' }, h('h1', {}, 'Queue ', h('code', { text: qi.name || key }), qi.dialect && qi.dialect !== 'native' ? h('span', { class: 'dialect', text: qi.dialect }) : null),
    h('span', { class: 'meta', id: 'queue-meta', text: `${key} · ${qi.config.discipline} · ${fmtNum(qi.ready)} ready · ${fmtNum(qi.scheduled)} scheduled · ${fmtNum(qi.rate, 2)}/s${qi.config.paused ? ' · paused' : ''}` }));
  put(main, header, h('div', { class: 'actions' }, queueActions(qi, { configuring: !!query.get('configure') })));
  if (metrics) {
    const t = metrics.result.total;
    put(main, h('p', { class: 'meta', id: 'queue-metrics' }, `Last hour: ${plural(t.processed, 'run')} succeeded, ${fmtNum(t.failed)} failed`
      + (t.duration_p50 !== null ? ` · duration p50 ${fmtDuration(t.duration_p50)}, p95 ${fmtDuration(t.duration_p95)}` : '')
      + (t.wait_p95 !== null ? ` · wait p95 ${fmtDuration(t.wait_p95)}` : '') + ' · ',
    h('a', { href: `#/metrics?dim=queue&name=${enc(key)}` }, 'metrics')));
  }
  if (may('job.push')) put(main, addJobForm(key));
  if (query.get('configure') && may('queue.config')) {
    const disc = await api('GET', '/api/disciplines');
    put(main, h('section', { class: 'panel' }, h('h2', { text: 'Configuration' }),
      queueForm(disc.result, qi, (b) => act(`configured ${key}`, () => api('POST', `${base}/config`, b)))));
  }
  put(main, filterForm(jobFilters, query, (nq) => go(`queues/${enc(key)}`, nq)));
  const sel = selection(total, 'job');
  const targets = () => (sel.all ? { where: { queue: key, ...Object.fromEntries(jobQuery(query)) } } : { ids: [...sel.ids] });
  const bulk = (label, action, extra = {}) => act(label, () => api('POST', `/api/jobs/${action}`, { ...targets(), ...extra }));
  sel.actions = () => {
    const none = !sel.all && sel.ids.size === 0;
    const moveTo = h('input', { id: 'move-to', placeholder: 'queue key', 'aria-label': 'destination queue', list: 'queue-keys' });
    const prio = h('input', { id: 'set-priority', type: 'number', placeholder: 'priority', 'aria-label': 'new priority' });
    const flow = h('input', { id: 'set-flow', placeholder: 'flow', 'aria-label': 'new flow' });
    return [
      may('job.delete') && button('Delete', () => confirmAct(`Delete ${sel.describe()}?`, 'deleted', () => api('POST', '/api/jobs/delete', targets())), { disabled: none, class: 'danger', id: 'bulk-delete' }),
      may('job.run') && button('Run now', () => bulk('made ready', 'run'), { disabled: none, id: 'bulk-run' }),
      may('job.move') && h('span', { class: 'group' }, moveTo, button('Move', () => bulk(`moved to ${moveTo.value}`, 'move', { to: moveTo.value.trim() }), { disabled: none, id: 'bulk-move' })),
      may('job.update') && h('span', { class: 'group' }, prio, button('Set priority', () => bulk('reprioritised', 'update', { set: { priority: Number(prio.value) } }), { disabled: none, id: 'bulk-priority' })),
      may('job.update') && h('span', { class: 'group' }, flow, button('Set flow', () => bulk('moved to flow', 'update', { set: { flow: flow.value.trim() } }), { disabled: none, id: 'bulk-flow' })),
    ];
  };
  sel.update();
  // Existing queues offered as move targets (any key may still be typed).
  put(main, h('datalist', { id: 'queue-keys' }, queues.result.filter((x) => x.key !== key).map((x) => h('option', { value: x.key }, x.name || x.key))));
  put(main, sel.bar, table([sel.pageBox(), 'Job', 'Class', 'Args', 'Flow', 'Priority', 'State', 'Position', 'ETA', 'Enqueued'],
    jobs.result.jobs.map((j) => h('tr', { 'data-job': j.id },
      h('td', {}, sel.checkbox(j.id)),
      h('td', {}, h('a', { href: `#/jobs/${enc(j.id)}` }, h('code', { text: j.id }))),
      h('td', { text: j.class || '' }), h('td', { class: 'args', text: j.args || '' }),
      h('td', { text: j.flow }), numCell(j.priority), h('td', { text: j.state }),
      numCell(j.position ?? ''), h('td', { text: j.state === 'scheduled' ? fmtWhen(j.run_at) : fmtEta(j.eta) }),
      h('td', { text: fmtWhen(j.enqueued_at) }))), { id: 'jobs', empty: EMPTY.jobs }),
  pager(total, query, (nq) => go(`queues/${enc(key)}`, nq)));
}

// What can be done to queue `q` (QUEUE.INFO) on the queues page and on its own: pause or resume
// it, configure it (unless its configuration is open), clear it (saying how many jobs go).
function queueActions(q, { configuring = false } = {}) {
  const base = `/api/queues/${enc(q.key)}`, queued = Number(q.ready) + Number(q.scheduled);
  return [
    q.config.paused
      ? may('queue.resume') && button('Resume', () => act(`resumed ${q.key}`, () => api('POST', `${base}/resume`)), { class: 'resume' })
      : may('queue.pause') && button('Pause', () => act(`paused ${q.key}`, () => api('POST', `${base}/pause`)), { class: 'pause' }),
    may('queue.config') && !configuring && button('Configure', () => go(`queues/${enc(q.key)}`, new URLSearchParams('configure=1'))),
    may('queue.clear') && button('Clear', () => confirmAct(`Delete ${plural(queued, 'job')} of ${q.key}?`, `cleared ${q.key}`,
      () => api('POST', `${base}/clear`)), { class: 'clear danger', disabled: queued === 0 }),
  ];
}

// A job pushed by hand (JOB.PUSH through POST /api/queues/KEY/jobs): payload, delay, priority, flow.
function addJobForm(key) {
  const form = h('form', { class: 'stack', id: 'add-job', onsubmit: (e) => {
    e.preventDefault();
    const f = form.elements;
    const body = { payload: f.payload.value };
    for (const name of ['delay_ms', 'priority', 'flow']) if (f[name].value.trim()) body[name] = f[name].value.trim();
    act('pushed', () => api('POST', `/api/queues/${enc(key)}/jobs`, body),
      (id) => (id === null ? 'not pushed: a duplicate in a unique queue' : `pushed job ${id}`));
  } },
  h('label', { for: 'j-payload' }, 'Payload'), h('textarea', { id: 'j-payload', name: 'payload', rows: 3, required: true, placeholder: '{"class":"Report","args":[1]}' }),
  h('label', { for: 'j-delay' }, 'Delay (ms)'), h('input', { id: 'j-delay', name: 'delay_ms', type: 'number', min: 0 }),
  h('label', { for: 'j-priority' }, 'Priority'), h('input', { id: 'j-priority', name: 'priority', type: 'number' }),
  h('label', { for: 'j-flow' }, 'Flow'), h('input', { id: 'j-flow', name: 'flow' }),
  h('button', { type: 'submit' }, 'Push job'));
  return h('details', { class: 'panel' }, h('summary', { text: 'Add a job' }), form);
}

async function jobPage(main, id) {
  const r = await api('GET', `/api/jobs/${enc(id)}`);
  const j = r.result;
  put(main, h('h1', {}, 'Job ', h('code', { text: id })));
  if (!j) {
    put(main, h('p', { text: 'No such job: it finished long ago, or never existed.' }));
    return;
  }
  const payload = pretty(j.payload);
  const fields = ['queue', 'state', 'class', 'flow', 'priority', 'capability', 'attempts', 'position', 'worker'];
  const dest = h('input', { id: 'job-move-to', placeholder: 'queue key', 'aria-label': 'destination queue' });
  const prio = h('input', { id: 'job-priority', type: 'number', value: j.priority, 'aria-label': 'priority' });
  const flow = h('input', { id: 'job-flow', value: j.flow || '', placeholder: 'flow', 'aria-label': 'flow' });
  if (j.runs) return finishedJobPage(main, id, j, payload);
  put(main, h('dl', { class: 'detail' },
    fields.map((f) => [h('dt', { text: f }), h('dd', { text: j[f] ?? '' })]),
    h('dt', { text: 'ETA' }), h('dd', { text: j.state === 'scheduled' ? fmtWhen(j.run_at) : fmtEta(j.eta) }),
    h('dt', { text: 'enqueued' }), h('dd', { text: fmtWhen(j.enqueued_at) }),
    j.state === 'running' && j.started_at ? [h('dt', { text: 'running for' }), h('dd', { id: 'job-running-for', text: fmtDuration(Date.now() - Number(j.started_at)) })] : null),
  h('div', { class: 'actions' },
    j.state === 'running' && may('job.kill') ? button('Kill', () => confirmAct('Kill this running job?', 'kill requested', () => api('POST', `/api/jobs/${enc(id)}/kill`)), { class: 'danger', id: 'job-kill' }) : null,
    j.state === 'scheduled' && may('job.run') ? button('Run now', () => act('made ready', () => api('POST', '/api/jobs/run', { ids: [id] }))) : null,
    may('job.move') && h('span', { class: 'group' }, dest, button('Move', () => act(`moved to ${dest.value}`, () => api('POST', '/api/jobs/move', { ids: [id], to: dest.value.trim() })))),
    may('job.update') && h('span', { class: 'group' }, prio, flow, button('Update', () => act('updated', () => api('POST', '/api/jobs/update', { ids: [id], set: { priority: Number(prio.value), flow: flow.value.trim() } })))),
    may('job.delete') && button('Delete', () => confirmAct('Delete this job?', 'deleted', () => api('POST', '/api/jobs/delete', { ids: [id] })), { class: 'danger' })),
  j.state === 'running' ? liveOutput(id) : null,
  h('h2', { text: 'Payload' }), h('pre', { class: 'payload', text: payload }),
  await historyOf(id),
  j.result ? [h('h2', { text: 'Result' }), h('pre', { class: 'payload', text: JSON.stringify(j.result, null, 2) })] : null);
}

// A running job's output as it comes and the progress it reports (JOB.OUTPUT, asked every
// second for what is new since the last answer). The page keeps the last 64 kB, as the
// scheduler does.
function liveOutput(id) {
  const bar = h('progress', { id: 'job-progress', max: 100, hidden: true });
  const status = h('span', { id: 'job-progress-message' });
  const out = h('pre', { class: 'payload output', id: 'job-output' });
  let from = 0;
  const poll = async () => {
    const r = (await api('GET', `/api/jobs/${enc(id)}/output?from=${from}`)).result;
    if (!r) {
      // It ended: its page shows its life now.
      if (from > 0) render();
      return;
    }
    if (Number(r.from) > from && from > 0) out.textContent += '\n[…]\n';
    out.textContent = (out.textContent + r.output).slice(-65536);
    from = Number(r.total);
    if (r.progress !== null) {
      bar.hidden = false;
      bar.value = Number(r.progress);
      bar.textContent = `${fmtNum(Number(r.progress), 0)} %`;
    }
    status.textContent = r.progress !== null ? `${fmtNum(Number(r.progress), 0)} % ${r.message}` : r.message;
  };
  poll().catch(() => {});
  app.poll = setInterval(() => poll().catch(() => {}), 1000);
  return [h('h2', { text: 'Output' }), h('div', { class: 'progress' }, bar, status), out];
}

// JSON text indented for reading; other text as it is.
function pretty(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; }
}

// A job that left its queue (JOB.INFO of the completed or the failed store): its outcome and
// its life, from enqueue through every run.
function finishedJobPage(main, id, j, payload) {
  const done = j.state === 'done';
  put(main, h('dl', { class: 'detail' },
    ['state', 'queue', 'class', 'worker', done ? 'attempt' : 'error', done ? null : 'message'].filter(Boolean).map((f) => [h('dt', { text: f }), h('dd', { text: j[f] ?? '' })]),
    done ? [h('dt', { text: 'duration' }), h('dd', { id: 'job-duration', text: fmtDuration(j.duration) }), h('dt', { text: 'finished' }), h('dd', { text: fmtWhen(j.finished_at) })]
      : [h('dt', { text: 'failure' }), h('dd', {}, h('a', { href: `#/failed/${enc(j.failure)}` }, j.failure))]),
  h('div', { class: 'actions' },
    done && may('completed.rerun') && !j.redacted ? button('Run again', () => act('pushed again', async () => {
      const r = await api('POST', '/api/completed/rerun', { ids: [id] });
      if (r.result && r.result[0]) location.hash = `#/jobs/${enc(r.result[0])}`;
      return r;
    }), { id: 'job-rerun' }) : null,
    done && j.redacted ? h('span', { class: 'note', text: 'Its secrets were redacted: it cannot run again.' }) : null),
  h('h2', { text: 'Life' }),
  table(['Attempt', 'Started', 'Finished', 'Duration', 'Worker', 'Outcome', 'Message'], [
    j.enqueued_at ? h('tr', { 'data-run': 'enqueued' }, h('td', { text: '' }), h('td', { colspan: 6, text: `enqueued ${fmtWhen(j.enqueued_at)}` })) : null,
    ...j.runs.map((run) => h('tr', { 'data-run': run.attempt, class: run.outcome === 'done' ? 'ok' : 'failed' },
      numCell(run.attempt), h('td', { text: run.started_at ? fmtWhen(run.started_at) : 'unknown' }), h('td', { text: fmtWhen(run.finished_at) }),
      h('td', { class: 'num duration', text: run.duration === null ? '' : fmtDuration(run.duration) }), h('td', { text: run.worker }),
      h('td', { class: 'outcome', text: run.outcome }), h('td', { class: 'msg', text: run.message })))], { id: 'life' }),
  h('h2', { text: 'Payload' }), h('pre', { class: 'payload', text: payload }),
  done ? [h('h2', { text: 'Result' }), h('pre', { class: 'payload', id: 'job-result', text: pretty(j.result) })] : null);
}

// A job's failed runs, newest first: its failure record's latest failure, then the earlier
// runs in the record's history (FAILED.LIST JOB id; a job keeps its id across retries).
async function historyOf(id) {
  const found = (await api('GET', `/api/failed?job=${enc(id)}&state=all&limit=1`)).result.failures;
  const runs = found.flatMap((f) => [f, ...f.history.slice().reverse()].map((run) => ({ ...run, record: f.id })));
  return [h('h2', { text: 'History' }), table(['Attempt', 'Failed at', 'Error', 'Message', 'Worker'], runs.map((f) => h('tr', { 'data-failure': f.record },
    numCell(f.attempt), h('td', {}, h('a', { href: `#/failed/${enc(f.record)}` }, fmtWhen(f.failed_at))),
    h('td', { text: f.error }), h('td', { class: 'msg', text: f.message }), h('td', { text: f.worker }))), { id: 'history', empty: EMPTY.attempts })];
}

// Why attaching `key` to worker `w` may be a mistake ("" when it looks right): the queue does
// not exist yet, or it needs a capability the worker did not announce.
async function attachDoubt(w, key) {
  let info;
  try {
    info = (await api('GET', `/api/queues/${enc(key)}`)).result;
  } catch (e) {
    return `There is no queue ${key} yet. Attach it to ${w.id} anyway?`;
  }
  const needs = info.config && info.config.capability;
  const has = [w.adapters, w.capabilities].flat().filter(Boolean);
  if (needs && !has.includes(needs)) {
    return `${key} needs capability "${needs}", which ${w.id} does not have (${has.join(', ') || 'none'}): it would take none of its jobs. Attach anyway?`;
  }
  return '';
}

async function workersPage(main) {
  put(main, h('h1', { text: 'Workers' }));
  const body = h('div', {});
  put(main, body);
  const attach = async (w, key) => {
    const doubt = await attachDoubt(w, key);
    if (doubt && !window.confirm(doubt)) return;
    act(`attached ${key}`, () => api('POST', `/api/workers/${enc(w.id)}/attach`, { queues: [key] }));
  };
  const draw = (workers) => {
    const now = Date.now();
    body.replaceChildren(table(['Kind', 'Worker', 'Host', 'Adapters / capabilities', 'Labels', 'Busy', 'Memory', 'Processed', 'Failed', 'Last heartbeat', 'Queues', 'Running', 'Actions'],
      workers.map((w) => {
        const native = w.kind === 'native';
        const add = h('input', { placeholder: 'queue key', 'aria-label': `queue to attach to ${w.id}`, class: 'attach-queue' });
        const running = (w.jobs || []).length;
        return h('tr', { 'data-worker': w.id },
          h('td', { text: w.kind }),
          h('td', {}, h('code', { text: w.id }), w.health ? h('div', { class: 'unhealthy', text: w.health.startsWith('gone') ? w.health : `unhealthy: ${w.health}` }) : null),
          h('td', { text: `${w.host || ''}${w.pid ? ':' + w.pid : ''}` }),
          h('td', { text: [w.adapters, w.capabilities].flat().filter(Boolean).join(', ') }),
          h('td', {}, (w.labels || []).map((l) => h('span', { class: 'chip', text: l }))),
          h('td', { class: 'num busy', text: (native ? `${running} / ${w.concurrency}` : String(running)) + (w.quiet ? ' · quiet' : '') }),
          h('td', { class: 'num rss', text: w.rss === null || w.rss === undefined ? '—' : fmtBytes(w.rss) }),
          h('td', { class: 'num processed', text: w.processed === null || w.processed === undefined ? '—' : fmtNum(w.processed) }),
          h('td', { class: 'num failed', text: w.failed === null || w.failed === undefined ? '—' : fmtNum(w.failed) }),
          h('td', { class: 'heartbeat', text: w.last_seen ? `${fmtDuration(now - Number(w.last_seen))} ago` : '—' }),
          h('td', {}, (w.queues || []).map((q) => h('span', { class: 'chip' }, q,
            native && may('worker.detach') ? button('×', () => act(`detached ${q}`, () => api('POST', `/api/workers/${enc(w.id)}/detach`, { queues: [q] })), { 'aria-label': `detach ${q}`, class: 'chip-x' }) : null)),
          native && may('worker.attach') ? h('form', { class: 'inline', onsubmit: (e) => { e.preventDefault(); attach(w, add.value.trim()); } }, add, h('button', { type: 'submit' }, 'Attach')) : null),
          h('td', {}, (w.jobs || []).map((j) => h('div', {}, h('a', { href: `#/jobs/${enc(j.id || '')}` }, (() => { try { return JSON.parse(j.payload).class || j.id; } catch (e) { return j.id || j.queue; } })()),
            ` ${j.queue} · ${j.run_at ? fmtDuration(now - Number(j.run_at)) : ''}`))),
          h('td', { class: 'actions' }, native && may('worker.quiet') ? (w.quiet
            ? button('Resume', () => act(`${w.id} takes jobs again`, () => api('POST', `/api/workers/${enc(w.id)}/unquiet`)), { class: 'unquiet' })
            : button('Quiet', () => act(`${w.id} quiet`, () => api('POST', `/api/workers/${enc(w.id)}/quiet`)), { class: 'quiet', title: 'finish running jobs, take no new ones' })) : null,
          native && may('worker.stop') ? button('Stop', () => confirmAct(`Stop worker ${w.id} after its running jobs?`, 'stop requested', () => api('POST', `/api/workers/${enc(w.id)}/stop`))) : null));
      }), { empty: EMPTY.workers }));
  };
  draw((await api('GET', '/api/workers')).result);
  app.onOverview = (o) => { if (o.workers && !body.contains(document.activeElement)) draw(o.workers); };
}

// The cluster as this node sees it through etcd (CLUSTER.STATUS), refreshed every second: after a
// failover desaster-web reaches the new master through any node it knows (--scheduler a,b,c).
async function clusterPage(main) {
  put(main, h('h1', { text: 'Cluster' }));
  const body = h('div', {});
  put(main, body);
  const cell = (col, value) => h('td', { 'data-col': col, text: value === undefined || value === null || value === '' ? '—' : String(value) });
  const draw = (s) => {
    if (!s.enabled) {
      body.replaceChildren(h('p', { text: 'This scheduler runs alone (no --cluster): there is no cluster to show.' }));
      return;
    }
    const now = Date.now();
    const fact = (name, label, value) => [h('dt', { text: label }), h('dd', { 'data-field': name, text: value })];
    body.replaceChildren(
      h('dl', { class: 'detail' },
        fact('name', 'Cluster', s.name),
        fact('master', 'Master', s.master ? s.master.address : 'none: an election is running'),
        fact('epoch', 'Epoch', String(s.epoch)),
        fact('node', 'Answered by', `${s.node} (${s.role})`),
        fact('session', 'etcd session', s.session)),
      h('h2', { text: 'Nodes' }),
      table(['Node', 'Address', 'Role', 'Log applied', 'Behind', 'Sentinel', 'Reported'], s.nodes.map((n) => h('tr', { 'data-row': '' },
        cell('id', n.id), cell('address', n.address), cell('role', n.role), cell('applied', n.applied),
        cell('lag', n.lag), cell('sentinel', n.sentinel),
        cell('reported', n.reported ? `${fmtDuration(now - Number(n.reported))} ago` : 'itself'))), { class: 'nodes' }),
      h('h2', { text: 'Masters' }),
      table(['Epoch', 'Node', 'Address', 'Since'], s.history.map((m) => h('tr', { 'data-row': '' },
        cell('epoch', m.epoch), cell('node', m.node), cell('address', m.address), cell('since', fmtWhen(Number(m.since))))), { class: 'history' }));
  };
  draw((await api('GET', '/api/cluster')).result);
  app.poll = setInterval(() => api('GET', '/api/cluster').then((r) => draw(r.result), () => {}), 1000);
}

const failedFilters = [
  { name: 'match', label: 'Search', placeholder: 'class, args, error, message, backtrace' },
  { name: 'queue', label: 'Queue' },
  { name: 'class', label: 'Class' },
  { name: 'error', label: 'Error class' },
  { name: 'fingerprint', label: 'Fingerprint' },
  { name: 'state', label: 'State', options: [['', 'all'], ['retrying', 'retrying'], ['retried', 'retried'], ['dead', 'dead']] },
  { name: 'sort', label: 'Sort', options: [['', 'newest first'], ['queue', 'queue'], ['class', 'class']] },
  { name: 'group', label: 'Group by', options: [['', 'no grouping'], ['queue', 'queue'], ['class', 'class'], ['fingerprint', 'error fingerprint']] },
];

function failedQuery(query, keep = []) {
  const q = new URLSearchParams();
  for (const f of failedFilters) if (f.name !== 'group' && f.name !== 'sort' && query.get(f.name)) q.set(f.name, query.get(f.name));
  for (const k of keep) if (query.get(k)) q.set(k, query.get(k));
  if (!q.get('state')) q.set('state', 'all');
  return q;
}

// The failed store's views, as Sidekiq has them: every failed job, those waiting for their
// retry, those back in their queue, the dead; with how many jobs each holds.
async function failedViews(query) {
  const counts = (await api('GET', '/api/failed/counts')).result;
  const current = query.get('state') || '';
  const view = (state, label, n) => {
    const q = new URLSearchParams(query);
    q.delete('offset');
    state ? q.set('state', state) : q.delete('state');
    return h('a', { href: `#/failed?${q}`, class: state === current ? 'current' : '', 'data-view': state || 'all' }, `${label} (${n})`);
  };
  return h('nav', { class: 'views', 'aria-label': 'failed job views' },
    view('', 'All', counts.total), view('retrying', 'Retrying', counts.retrying), view('dead', 'Dead', counts.dead),
    view('retried', 'Retried', counts.retried), h('a', { href: '#/scheduled' }, 'Scheduled'));
}

async function failedPage(main, query) {
  put(main, h('h1', { text: 'Failed jobs' }), await failedViews(query), filterForm(failedFilters, query, (nq) => go('failed', nq)));
  const where = Object.fromEntries(failedQuery(query));
  if (query.get('group')) {
    const by = query.get('group');
    const groups = (await api('GET', `/api/failed/groups?by=${by}&${failedQuery(query)}`)).result;
    const filterOf = (g) => (by === 'fingerprint' ? { fingerprint: g.group } : by === 'queue' ? { queue: g.group } : { class: g.group });
    put(main, table(['Group', 'Count', 'Newest error', 'Last failed', 'Actions'], groups.map((g) => h('tr', { 'data-group': g.group },
      h('td', {}, h('code', { text: by === 'fingerprint' ? `${g.queue} · ${g.class || '(no class)'} · ${g.error}` : g.group })),
      numCell(g.count), h('td', { class: 'msg', text: g.message }), h('td', { text: fmtWhen(g.last_failed_at) }),
      h('td', { class: 'actions' },
        button('Show', () => { const q = new URLSearchParams(query); q.delete('group'); for (const [k, v] of Object.entries(filterOf(g))) q.set(k, v); go('failed', q); }),
        may('failed.retry') && button('Retry all', () => act(`retried ${g.count}`, () => api('POST', '/api/failed/retry', { where: { ...where, ...filterOf(g) } })), { class: 'retry-group' }),
        may('failed.remove') && button('Remove all', () => confirmAct(`Remove ${plural(g.count, 'failure')}?`, 'removed', () => api('POST', '/api/failed/remove', { where: { ...where, ...filterOf(g) } })), { class: 'danger' })))), { empty: EMPTY.failures }));
    return;
  }
  const q = failedQuery(query, ['sort', 'offset']);
  q.set('limit', String(pageLimit(query)));
  const list = (await api('GET', `/api/failed?${q}`)).result;
  const sel = selection(list.total, 'failure');
  const targets = () => (sel.all ? { where } : { ids: [...sel.ids] });
  sel.actions = () => {
    const none = !sel.all && sel.ids.size === 0;
    return [
      may('failed.retry') && button('Retry', () => act('retried', () => api('POST', '/api/failed/retry', targets())), { disabled: none, id: 'failed-retry' }),
      may('failed.cancel') && button('Cancel retries', () => act('cancelled', () => api('POST', '/api/failed/cancel', targets())), { disabled: none }),
      may('failed.remove') && button('Remove', () => confirmAct(`Remove ${sel.describe()}?`, 'removed', () => api('POST', '/api/failed/remove', targets())), { disabled: none, class: 'danger', id: 'failed-remove' }),
    ];
  };
  sel.update();
  put(main, sel.bar, table([sel.pageBox(), 'Failed at', 'Queue', 'Class', 'Error', 'Message', 'Attempt', 'State'],
    list.failures.map((f) => h('tr', { 'data-failure': f.id },
      h('td', {}, sel.checkbox(f.id)), h('td', {}, h('a', { href: `#/failed/${enc(f.id)}` }, fmtWhen(f.failed_at))),
      h('td', { text: f.queue }), h('td', { text: f.class }), h('td', { text: f.error }), h('td', { class: 'msg', text: f.message }),
      numCell(f.attempt), h('td', { text: f.state + (f.state === 'retrying' ? ` (${fmtEta(f.retry_at)})` : '') }))), { empty: EMPTY.failures }),
  pager(list.total, query, (nq) => go('failed', nq)));
}

const completedFilters = [
  { name: 'match', label: 'Search', placeholder: 'class, arguments, result, worker, id' },
  { name: 'queue', label: 'Queue' },
  { name: 'class', label: 'Class' },
  { name: 'worker', label: 'Worker' },
  { name: 'duration_min', label: 'Took at least (ms)', type: 'number' },
  { name: 'sort', label: 'Sort', options: [['', 'newest first'], ['finished_at', 'finished'], ['duration', 'duration'], ['wait', 'wait in queue'], ['queue', 'queue'], ['class', 'class']] },
  { name: 'order', label: 'Order', options: [['', 'ascending'], ['desc', 'descending']] },
];

// Jobs that succeeded, newest first (COMPLETED.LIST): searched, sorted and paged on the
// server; run again or removed a page's selection or everything the filters match.
async function completedPage(main, query) {
  put(main, h('h1', { text: 'Completed jobs' }), filterForm(completedFilters, query, (nq) => go('completed', nq)));
  const where = {};
  for (const f of completedFilters) if (!['sort', 'order'].includes(f.name) && query.get(f.name)) where[f.name] = query.get(f.name);
  const q = new URLSearchParams(where);
  for (const k of ['sort', 'order', 'offset']) if (query.get(k)) q.set(k, query.get(k));
  q.set('limit', String(pageLimit(query)));
  const list = (await api('GET', `/api/completed?${q}`)).result;
  const sel = selection(list.total, 'job');
  const targets = () => (sel.all ? { where } : { ids: [...sel.ids] });
  sel.actions = () => {
    const none = !sel.all && sel.ids.size === 0;
    return [
      may('completed.rerun') && button('Run again', () => confirmAct(`Run ${sel.describe()} again?`, 'pushed again', () => api('POST', '/api/completed/rerun', targets())), { disabled: none, id: 'completed-rerun' }),
      may('completed.remove') && button('Remove', () => confirmAct(`Remove ${sel.describe()}?`, 'removed', () => api('POST', '/api/completed/remove', targets())), { disabled: none, class: 'danger', id: 'completed-remove' }),
    ];
  };
  sel.update();
  put(main, sel.bar, table([sel.pageBox(), 'Finished', 'Queue', 'Class', 'Duration', 'Waited', 'Worker', 'Result', 'Attempt'],
    list.jobs.map((j) => h('tr', { 'data-job': j.id },
      h('td', {}, sel.checkbox(j.id)), h('td', {}, h('a', { href: `#/jobs/${enc(j.id)}` }, fmtWhen(j.finished_at))),
      h('td', { text: j.queue }), h('td', { text: j.class }), h('td', { class: 'num duration', text: fmtDuration(j.duration) }),
      h('td', { class: 'num', text: fmtDuration(j.wait) }), h('td', { text: j.worker }), h('td', { class: 'msg', text: j.result }),
      numCell(j.attempt))), { empty: EMPTY.completed }),
  pager(list.total, query, (nq) => go('completed', nq)));
}

// Runs per class or per queue over a time range (METRICS.TOP), and one series (or all of them)
// bucket by bucket (METRICS.RANGE): runs, failures and duration and wait percentiles, which the
// server takes from summed histograms.
const METRIC_RANGES = [['1h', 'Last hour', 3600], ['8h', '8 hours', 8 * 3600], ['24h', '24 hours', 86400],
  ['7d', '7 days', 7 * 86400], ['30d', '30 days', 30 * 86400]];

async function metricsPage(main, query) {
  const dim = query.get('dim') === 'queue' ? 'queue' : 'class';
  const range = METRIC_RANGES.find(([key]) => key === query.get('range')) || METRIC_RANGES[0];
  const name = query.get('name') || '';
  const link = (changes) => {
    const q = new URLSearchParams(query);
    for (const [k, v] of Object.entries(changes)) if (v) q.set(k, v); else q.delete(k);
    return `#/metrics?${q}`;
  };
  const choice = (attr, options, current) => h('nav', { class: 'views', 'aria-label': attr },
    options.map(([value, label]) => h('a', { href: link({ [attr]: value, ...(attr === 'dim' ? { name: '' } : {}) }),
      class: value === current ? 'current' : '', [`data-${attr}`]: value }, label)));
  const last = String(range[2]);
  const [topReply, series, queueList] = await Promise.all([
    api('GET', `/api/metrics/${dim}?last=${last}`),
    api('GET', `/api/metrics/${dim}/${enc(name || '*')}?last=${last}`),
    dim === 'queue' ? api('GET', '/api/queues') : null]);
  const top = topReply.result, ranged = series.result;
  // A queue by its short name with its dialect, as on the Queues page.
  const queues = new Map((queueList ? queueList.result : []).map((q) => [q.key, q]));
  const seriesName = (m) => {
    const q = queues.get(m.name);
    return [h('a', { href: link({ name: m.name }), title: m.name }, q ? q.name || q.key : m.name),
      q && q.dialect && q.dialect !== 'native' ? h('span', { class: 'dialect', text: q.dialect }) : null];
  };
  const ms = (v) => h('td', { class: 'num', 'data-ms': String(v), text: fmtDuration(v) });
  const rate = (m) => (m.processed + m.failed ? `${fmtNum((100 * m.failed) / (m.processed + m.failed), 1)} %` : '—');
  put(main, h('h1', { text: 'Metrics' }), choice('dim', [['class', 'By class'], ['queue', 'By queue']], dim),
    choice('range', METRIC_RANGES.map(([key, label]) => [key, label]), range[0]),
    h('p', { class: 'hint', text: `Per ${top.resolution}, since ${fmtTime(top.since)}. Percentiles come from histograms `
      + 'summed over the range (within 3 %). The busiest names (metrics-top) are kept apart; the rest count as (other).' }));
  put(main, table([dim === 'class' ? 'Class' : 'Queue', 'Processed', 'Failed', 'Failure rate', 'Duration p50', 'p95', 'max', 'Wait p50', 'p95'],
    top.series.map((m) => h('tr', { 'data-series': m.name, class: m.name === name ? 'current' : '' },
      h('td', {}, seriesName(m)), numCell(m.processed), numCell(m.failed),
      h('td', { class: 'num', text: rate(m) }), ms(m.duration_p50), ms(m.duration_p95), ms(m.duration_max),
      ms(m.wait_p50), ms(m.wait_p95))),
    { empty: EMPTY.metrics, id: 'metrics-table' }));
  // The chart's buckets: every one of the range, zero where nothing ran (the reply holds only
  // those that counted something), percentiles left out where nothing ran.
  const byStart = new Map(ranged.buckets.map((b) => [b.start, b]));
  const step = ranged.bucket_ms, first = ranged.since - (ranged.since % step);
  const cols = [[], [], [], [], [], []];
  for (let t = first; t <= ranged.until; t += step) {
    const b = byStart.get(t);
    cols[0].push(t / 1000);
    cols[1].push(b ? b.processed : 0);
    cols[2].push(b ? b.failed : 0);
    cols[3].push(b ? b.duration_p50 : null);
    cols[4].push(b ? b.duration_p95 : null);
    cols[5].push(b ? b.wait_p95 : null);
  }
  const width = Math.max(240, Math.min(1100, $('#main').clientWidth - 40));
  const what = name || `every ${dim}`;
  const t = ranged.total;
  put(main, h('h2', { id: 'metrics-series', text: `${what}: ${plural(t.processed, 'run')} succeeded, ${fmtNum(t.failed)} failed` }),
    h('div', { class: 'chart-tools' }, logScaleButton(), name ? h('a', { href: link({ name: '' }) }, `Show every ${dim}`) : null),
    plotChart(`Runs per ${ranged.resolution}`, width, [['processed', '--ok'], ['failed', '--danger']], cols.slice(0, 3), 'runs').el,
    plotChart(`Duration and wait per ${ranged.resolution} (ms)`, width,
      [['duration p50', '--accent'], ['duration p95', '--fg'], ['wait p95', '--muted']], [cols[0], ...cols.slice(3)], 'ms').el);
}

async function failurePage(main, id) {
  const f = (await api('GET', `/api/failed/${enc(id)}`)).result;
  put(main, h('h1', {}, 'Failure ', h('code', { text: id })));
  if (!f) return put(main, h('p', { text: 'No such failure.' }));
  put(main, h('dl', { class: 'detail' }, ['state', 'queue', 'class', 'args', 'error', 'message', 'worker', 'attempt', 'fingerprint', 'retry_job'].map((k) => [h('dt', { text: k }), h('dd', { text: f[k] ?? '' })]),
    h('dt', { text: 'failed at' }), h('dd', { text: fmtWhen(f.failed_at) })),
  h('div', { class: 'actions' },
    may('failed.retry') && button('Retry', () => act('retried', () => api('POST', '/api/failed/retry', { ids: [id] }))),
    may('failed.remove') && button('Remove', () => act('removed', () => api('POST', '/api/failed/remove', { ids: [id] })), { class: 'danger' })),
  h('h2', { text: 'Backtrace' }), h('pre', { class: 'payload', text: f.backtrace || '' }),
  h('h2', { text: 'Payload' }), h('pre', { class: 'payload', text: f.payload || '' }),
  h('h2', { text: 'Earlier runs' }), table(['Attempt', 'Failed at', 'Error', 'Message', 'Worker'], (f.history || []).slice().reverse().map((a) => h('tr', {},
    numCell(a.attempt), h('td', { text: fmtWhen(a.failed_at) }), h('td', { text: a.error }),
    h('td', { class: 'msg', text: a.message }), h('td', { text: a.worker }))), { id: 'earlier-runs', empty: EMPTY.attempts }));
}

// Delayed jobs and pending retries of every queue (or one), soonest first, a page at a time: a
// page of all queues merges each queue's first offset + limit (QUEUE.JOBS pages at most 10,000).
async function scheduledJobs(queues, offset, limit) {
  const pages = await Promise.all(queues.map((q) => api('GET',
    `/api/queues/${enc(q.key)}/jobs?state=scheduled&sort=eta&limit=${Math.min(10000, offset + limit)}`)));
  return pages.flatMap((r) => r.result.jobs).sort((a, b) => Number(a.run_at) - Number(b.run_at)).slice(offset, offset + limit);
}

async function scheduledPage(main, query) {
  const [queues, schedules] = await Promise.all([api('GET', '/api/queues'), api('GET', '/api/schedules')]);
  const offset = Number(query.get('offset') || 0), limit = pageLimit(query);
  const waiting = queues.result.filter((q) => q.scheduled > 0);
  const shown = waiting.filter((q) => !query.get('queue') || q.key === query.get('queue'));
  const total = shown.reduce((n, q) => n + Number(q.scheduled), 0);
  const delayed = await scheduledJobs(shown, offset, limit);
  const filters = [{ name: 'queue', label: 'Queue', options: [['', 'all queues'], ...waiting.map((q) => [q.key, `${q.key} (${q.scheduled})`])] }];
  put(main, h('h1', { text: 'Scheduled' }), h('h2', { text: 'Delayed jobs and pending retries' }),
    filterForm(filters, query, (nq) => go('scheduled', nq)),
    table(['Runs at', 'Queue', 'Job', 'Class', 'Attempts', 'Actions'], delayed.map((j) => h('tr', { 'data-job': j.id },
      h('td', { text: fmtWhen(j.run_at) }), h('td', { text: j.queue }),
      h('td', {}, h('a', { href: `#/jobs/${enc(j.id)}` }, h('code', { text: j.id }))), h('td', { text: j.class }), numCell(j.attempts),
      h('td', { class: 'actions' }, may('job.run') && button('Run now', () => act('made ready', () => api('POST', '/api/jobs/run', { ids: [j.id] }))),
        may('job.delete') && button('Cancel', () => confirmAct('Delete this scheduled job?', 'deleted', () => api('POST', '/api/jobs/delete', { ids: [j.id] })), { class: 'danger' })))), { empty: EMPTY.delayed }),
    pager(total, new URLSearchParams({ ...Object.fromEntries(query), limit: String(limit) }), (nq) => go('scheduled', nq)));
  const form = h('form', { class: 'stack', onsubmit: (e) => {
    e.preventDefault();
    const f = form.elements;
    const body = { name: f.name.value.trim(), cron: f.cron.value.trim(), queue: f.queue.value.trim(), payload: f.payload.value, tz: f.tz.value.trim() };
    act(`saved ${body.name}`, () => api('POST', '/api/schedules', body));
  } },
  h('label', { for: 's-name' }, 'Name'), h('input', { id: 's-name', name: 'name', required: true }),
  h('label', { for: 's-cron' }, 'Cron (min hour day month weekday)'), h('input', { id: 's-cron', name: 'cron', required: true, placeholder: '*/5 * * * *' }),
  h('label', { for: 's-queue' }, 'Queue'), h('input', { id: 's-queue', name: 'queue', required: true }),
  h('label', { for: 's-payload' }, 'Payload'), h('textarea', { id: 's-payload', name: 'payload', rows: 2, placeholder: '{"class":"Report","args":[]}' }),
  h('label', { for: 's-tz' }, 'Time zone'), h('input', { id: 's-tz', name: 'tz', placeholder: 'UTC' }),
  h('button', { type: 'submit' }, 'Save schedule'));
  const edit = (s) => {
    const f = form.elements;
    f.name.value = s.name; f.cron.value = s.cron; f.queue.value = s.queue; f.payload.value = s.payload; f.tz.value = s.tz;
    form.closest('details').open = true;
    f.cron.focus();
  };
  put(main, h('h2', { text: 'Cron schedules' }), table(['Name', 'Cron', 'Zone', 'Queue', 'Next run', 'Last run', 'Actions'], schedules.result.map((s) => h('tr', { 'data-schedule': s.name },
    h('td', { text: s.name }), h('td', {}, h('code', { text: s.cron })), h('td', { text: s.tz || 'UTC' }), h('td', { text: s.queue }),
    h('td', { text: s.paused ? 'paused' : fmtWhen(s.next_run_at) }), h('td', { text: fmtWhen(s.last_run_at) }),
    h('td', { class: 'actions' }, may('schedule.run') && button('Run now', () => act(`ran ${s.name}`, () => api('POST', `/api/schedules/${enc(s.name)}/run`))),
      may('schedule.set') && button('Edit', () => edit(s)),
      may('schedule.delete') && button('Delete', () => confirmAct(`Delete schedule ${s.name}?`, 'deleted', () => api('DELETE', `/api/schedules/${enc(s.name)}`)), { class: 'danger' })))), { empty: EMPTY.schedules }),
  may('schedule.set') && h('details', { class: 'panel' }, h('summary', { text: 'Add or edit a schedule' }), form));
}

// The session as the server describes it (GET /api/session, POST /api/login).
function useSession(s) {
  app.csrf = s.csrf;
  app.denied = s.denied || [];
  $('#logout').textContent = s.user ? `Log out ${s.user}` : 'Log out';
  $('#logout').hidden = false;
}

function showLogin() {
  setLive(false);
  const main = $('#main');
  const form = h('form', { class: 'stack login', onsubmit: async (e) => {
    e.preventDefault();
    const f = form.elements;
    try {
      useSession(await api('POST', '/api/login', { user: f.user ? f.user.value : undefined, password: f.password.value }));
      setLive(true);
      render();
    } catch (err) {
      flash(err.message, 'error');
    }
  } }, h('h1', { text: 'Log in' }),
  app.users && [h('label', { for: 'user' }, 'User'), h('input', { id: 'user', name: 'user', autocomplete: 'username', required: true })],
  h('label', { for: 'password' }, 'Password'),
  h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
  h('button', { type: 'submit' }, 'Log in'));
  main.replaceChildren(form);
  (form.elements.user || form.elements.password).focus();
}

// One render at a time, the latest address winning: a page still loading when the address
// changes is dropped, not shown over the newer one, and the render that follows undoes what it
// started (polls, charts).
let rendering = false;
let renderAgain = false;
async function render() {
  if (rendering) {
    renderAgain = true;
    return;
  }
  rendering = true;
  try {
    do {
      renderAgain = false;
      await renderPage();
    } while (renderAgain);
  } finally {
    rendering = false;
  }
}

async function renderPage() {
  const main = $('#main');
  const { parts, query } = route();
  app.onOverview = null;
  clearInterval(app.poll);
  app.charts.forEach((c) => c.destroy());
  app.charts = [];
  document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('current', a.getAttribute('href') === `#/${parts[0] || ''}`));
  const page = h('div', {});
  try {
    if (!parts.length) dashboard(page);
    else if (parts[0] === 'queues' && parts.length === 1) await queuesPage(page);
    else if (parts[0] === 'queues') await queuePage(page, parts[1], query);
    else if (parts[0] === 'jobs') await jobPage(page, parts[1]);
    else if (parts[0] === 'workers') await workersPage(page);
    else if (parts[0] === 'failed' && parts.length === 1) await failedPage(page, query);
    else if (parts[0] === 'failed') await failurePage(page, parts[1]);
    else if (parts[0] === 'completed') await completedPage(page, query);
    else if (parts[0] === 'metrics') await metricsPage(page, query);
    else if (parts[0] === 'scheduled') await scheduledPage(page, query);
    else if (parts[0] === 'cluster') await clusterPage(page);
    else page.append(h('h1', { text: 'Not found' }));
  } catch (e) {
    page.append(h('p', { class: 'error', text: e.message }));
  }
  if (!renderAgain) main.replaceChildren(page);
}

async function start() {
  $('#live').addEventListener('click', () => setLive(!app.live));
  $('#logout').addEventListener('click', async () => { await api('POST', '/api/logout'); app.csrf = ''; showLogin(); });
  // Before any login: pages must follow the address after one, too.
  window.addEventListener('hashchange', () => (app.csrf ? render() : showLogin()));
  // The charts' canvases take the theme's colours when drawn: a switch to or from dark mode
  // draws the page again.
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => app.csrf && render());
  const s = await (await fetch('/api/session')).json();
  app.users = s.users;
  if (s.login_required && !s.authenticated) return showLogin();
  useSession(s);
  $('#logout').hidden = !s.login_required;
  setLive(true);
  render();
}

start();
