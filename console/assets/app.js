// The cceone console: plain JavaScript, no build step, no dependencies.
//
// Every page is drawn with DOM calls (h() below) and text nodes, never innerHTML, so object
// names and messages (user input) are always shown as text. Data comes from the federation API
// through /console/k8s/ (the server adds the signed-in user's token): each kind is listed once
// and then followed with a watch, and the page is redrawn from what the watches hold.
'use strict';

const API = '/console/k8s';
const CSRF = { 'x-cceone-console': '1' };

// ---------------------------------------------------------------------------------------------
// DOM helpers

/** An element: h('td', {class: 'x', onclick: f}, 'text', child, ...). Strings become text. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, ...children);
  return el;
}

function append(el, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

function alertBox(message, kind = 'error') {
  const box = document.getElementById('alerts');
  const item = h('div', { class: `alert ${kind}` }, h('span', {}, message),
    h('button', { type: 'button', class: 'link', 'aria-label': 'Dismiss', onclick: () => item.remove() }, '×'));
  box.append(item);
  if (kind !== 'error') setTimeout(() => item.remove(), 6000);
}

// ---------------------------------------------------------------------------------------------
// API access

/** An API failure carrying the API's own Status message. */
class ApiError extends Error {
  constructor(code, message) { super(message); this.code = code; }
}

async function failure(resp) {
  let message = `${resp.status} ${resp.statusText}`;
  try {
    const v = await resp.json();
    if (v && v.message) message = v.message;
  } catch (_) { /* not JSON */ }
  if (resp.status === 401) signedOut();
  return new ApiError(resp.status, message);
}

async function call(method, url, body, contentType = 'application/json') {
  const headers = { ...CSRF, accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = contentType;
  const resp = await fetch(url, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
  });
  if (!resp.ok) throw await failure(resp);
  const text = await resp.text();
  return text ? JSON.parse(text) : null;
}

const api = {
  get: (path) => call('GET', API + path),
  post: (path, obj) => call('POST', API + path, obj),
  mergePatch: (path, patch) => call('PATCH', API + path, patch, 'application/merge-patch+json'),
  action: (name, body) => call('POST', `/console/actions/${name}`, body),
};

// ---------------------------------------------------------------------------------------------
// Watched collections

const KINDS = {
  regc: '/apis/platform.cceone.io/v1alpha1/registeredclusters',
  clusters: '/apis/cluster.karmada.io/v1alpha1/clusters',
  bindings: '/apis/work.karmada.io/v1alpha2/resourcebindings',
  cbindings: '/apis/work.karmada.io/v1alpha2/clusterresourcebindings',
  pp: '/apis/policy.karmada.io/v1alpha1/propagationpolicies',
  cpp: '/apis/policy.karmada.io/v1alpha1/clusterpropagationpolicies',
  op: '/apis/policy.karmada.io/v1alpha1/overridepolicies',
  cop: '/apis/policy.karmada.io/v1alpha1/clusteroverridepolicies',
  works: '/apis/work.karmada.io/v1alpha1/works',
  fleets: '/apis/platform.cceone.io/v1alpha1/fleets',
  usage: '/apis/platform.cceone.io/v1alpha1/usagerecords',
  grants: '/apis/platform.cceone.io/v1alpha1/grants',
};

// Sections whose API may not exist on every server: their links show once it answers.
const OPTIONAL = { fleets: 'fleets', usage: 'usage', permissions: 'grants' };

function keyOf(o) {
  const m = o.metadata || {};
  return m.namespace ? `${m.namespace}/${m.name}` : m.name;
}

/** One kind: listed, then watched from the list's resourceVersion, re-listed when too old. */
class Collection {
  constructor(name, path) {
    this.name = name;
    this.path = path;
    this.items = new Map();
    this.state = 'loading'; // loading | ready | forbidden | error
    this.error = '';
  }

  list() {
    return [...this.items.values()].sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
  }

  get(key) { return this.items.get(key); }

  async run(signal) {
    let rv = '';
    let backoff = 500;
    while (!signal.aborted) {
      try {
        if (!rv) {
          const list = await callWithSignal(`${API}${this.path}`, signal);
          this.items = new Map(list.items.map((o) => [keyOf(o), o]));
          rv = list.metadata.resourceVersion;
          this.state = 'ready';
          changed();
        }
        rv = await this.watch(rv, signal);
        backoff = 500;
      } catch (e) {
        if (signal.aborted) return;
        if (e.code === 403 || e.code === 404) {
          this.state = e.code === 403 ? 'forbidden' : 'error';
          this.error = e.message;
          changed();
          return;
        }
        if (e.code === 410) { rv = ''; continue; }
        if (e.code === 401) return;
        this.error = e.message;
        setLive(false);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 5000);
        rv = '';
      }
    }
  }

  /** Follow the watch until it ends; the resourceVersion to resume from ('' to re-list). */
  async watch(rv, signal) {
    const url = `${API}${this.path}?watch=1&allowWatchBookmarks=true&timeoutSeconds=240&resourceVersion=${encodeURIComponent(rv)}`;
    const resp = await fetch(url, { headers: CSRF, credentials: 'same-origin', signal });
    if (!resp.ok) throw await failure(resp);
    setLive(true);
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return rv;
      buf += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const ev = JSON.parse(line);
        if (ev.type === 'ERROR') {
          if (ev.object && ev.object.code === 410) return '';
          throw new ApiError(ev.object && ev.object.code || 500, ev.object && ev.object.message || 'watch failed');
        }
        const o = ev.object;
        if (o && o.metadata && o.metadata.resourceVersion) rv = o.metadata.resourceVersion;
        if (ev.type === 'BOOKMARK') continue;
        if (ev.type === 'DELETED') this.items.delete(keyOf(o));
        else this.items.set(keyOf(o), o);
        changed();
      }
    }
  }
}

async function callWithSignal(url, signal) {
  const resp = await fetch(url, { headers: { ...CSRF, accept: 'application/json' }, credentials: 'same-origin', signal });
  if (!resp.ok) throw await failure(resp);
  return resp.json();
}

const store = {};
let watching = null;

function startWatches() {
  stopWatches();
  watching = new AbortController();
  for (const [name, path] of Object.entries(KINDS)) {
    store[name] = new Collection(name, path);
    store[name].run(watching.signal);
  }
}

function stopWatches() {
  if (watching) watching.abort();
  watching = null;
}

function setLive(on) {
  const el = document.getElementById('live');
  el.classList.toggle('off', !on);
  el.textContent = on ? 'live' : 'reconnecting';
}

// Redraws are batched: a burst of watch events draws once.
let pending = null;
function changed() {
  for (const [section, kind] of Object.entries(OPTIONAL)) {
    const link = document.querySelector(`#nav a[data-section=${section}]`);
    if (link && store[kind]) link.hidden = store[kind].state !== 'ready';
  }
  if (pending) return;
  pending = setTimeout(() => { pending = null; if (current && current.update) current.update(); }, 40);
}

// ---------------------------------------------------------------------------------------------
// Values

const UNITS = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };

/** A Kubernetes quantity ("3500m", "16Gi") as a number. */
function quantity(q) {
  if (q === undefined || q === null || q === '') return 0;
  const m = /^([0-9.]+(?:e[0-9]+)?)([a-zA-Z]*)$/.exec(String(q));
  if (!m) return 0;
  return parseFloat(m[1]) * (UNITS[m[2]] || 1);
}

function fmtNumber(n) {
  return Number.isInteger(n) ? String(n) : n.toFixed(n < 10 ? 2 : 1).replace(/\.?0+$/, '');
}

function fmtBytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${fmtNumber(Math.round(n * 10) / 10)} ${units[i]}`;
}

function age(ts) {
  if (!ts) return '';
  const s = Math.max(0, (Date.now() - Date.parse(ts)) / 1000);
  if (s < 120) return `${Math.floor(s)}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function when(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  return h('time', { datetime: ts, title: d.toISOString() }, d.toLocaleString());
}

const PHASES = ['Running', 'Pending', 'Creating', 'Updating', 'Disconnected', 'AccessTimeout', 'Unsubscribing', 'Unsubscribed'];
const PHASE_LOOK = {
  Running: ['ok', '●'], Pending: ['warn', '◐'], Creating: ['info', '◌'], Updating: ['info', '↻'],
  Disconnected: ['bad', '✕'], AccessTimeout: ['bad', '⌛'], Unsubscribing: ['muted', '…'], Unsubscribed: ['muted', '○'],
};

function phaseChip(phase) {
  const p = phase || 'Unknown';
  const [cls, icon] = PHASE_LOOK[p] || ['muted', '?'];
  return h('span', { class: `chip ${cls}`, dataset: { phase: p } }, h('span', { 'aria-hidden': 'true' }, icon), ` ${p}`);
}

function healthChip(health) {
  const cls = health === 'Healthy' ? 'ok' : health === 'Unhealthy' ? 'bad' : 'muted';
  const icon = health === 'Healthy' ? '✓' : health === 'Unhealthy' ? '✕' : '?';
  return h('span', { class: `chip ${cls}` }, h('span', { 'aria-hidden': 'true' }, icon), ` ${health || 'Unknown'}`);
}

function condition(obj, type) {
  return ((obj.status || {}).conditions || []).find((c) => c.type === type);
}

function conditionChip(obj, type) {
  const c = condition(obj, type);
  const st = c ? c.status : 'Unknown';
  const cls = st === 'True' ? 'ok' : st === 'False' ? 'bad' : 'warn';
  return h('span', { class: `chip ${cls}`, title: c ? `${c.reason || ''}: ${c.message || ''}` : 'not reported' },
    `${type} ${st}`);
}

function bar(label, used, total, fmt) {
  const pct = total > 0 ? Math.min(100, (used / total) * 100) : 0;
  const fill = h('span', { class: `fill ${pct > 85 ? 'bad' : pct > 60 ? 'warn' : 'ok'}` });
  fill.style.width = `${pct.toFixed(1)}%`;
  return h('div', { class: 'meter' },
    h('div', { class: 'meter-label' }, h('span', {}, label),
      h('span', { class: 'muted' }, fmt ? `${fmt(used)} / ${fmt(total)} (${pct.toFixed(0)}%)` : `${pct.toFixed(0)}%`)),
    h('div', { class: 'bar', role: 'meter', 'aria-label': label, 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round(pct) }, fill));
}

/** A plain object as YAML (for reading; the API gets JSON). */
function toYaml(v, indent = '') {
  const scalar = (x) => {
    if (x === null || x === undefined) return 'null';
    if (typeof x === 'number' || typeof x === 'boolean') return String(x);
    const str = String(x);
    if (str === '' || /^[\s-?:,[\]{}#&*!|>'"%@`]|: |\s#|\s$|^(true|false|null|yes|no|on|off|~)$/i.test(str) || !Number.isNaN(Number(str)) || str.includes('\n')) {
      return JSON.stringify(str);
    }
    return str;
  };
  if (Array.isArray(v)) {
    if (!v.length) return '[]';
    return v.map((x) => {
      if (x && typeof x === 'object' && !Array.isArray(x) && Object.keys(x).length) {
        const inner = toYaml(x, `${indent}  `);
        return `${indent}- ${inner.slice(indent.length + 2)}`;
      }
      return `${indent}- ${x && typeof x === 'object' ? toYaml(x, `${indent}  `).trim() : scalar(x)}`;
    }).join('\n');
  }
  if (v && typeof v === 'object') {
    const keys = Object.keys(v);
    if (!keys.length) return '{}';
    return keys.map((k) => {
      const x = v[k];
      if (x && typeof x === 'object' && (Array.isArray(x) ? x.length : Object.keys(x).length)) {
        return `${indent}${scalar(k)}:\n${toYaml(x, Array.isArray(x) ? indent : `${indent}  `)}`;
      }
      return `${indent}${scalar(k)}: ${x && typeof x === 'object' ? toYaml(x) : scalar(x)}`;
    }).join('\n');
  }
  return indent + scalar(v);
}

function withoutNoise(o) {
  const copy = JSON.parse(JSON.stringify(o));
  if (copy.metadata) delete copy.metadata.managedFields;
  return copy;
}

function copyButton(getText, label = 'Copy') {
  return h('button', {
    type: 'button', class: 'secondary',
    onclick: async (e) => {
      try {
        await navigator.clipboard.writeText(getText());
        e.target.textContent = 'Copied';
        setTimeout(() => { e.target.textContent = label; }, 1500);
      } catch (_) { alertBox('The browser refused the clipboard; select the text and copy it.'); }
    },
  }, label);
}

function download(filename, text) {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/yaml' }));
  const a = h('a', { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** What a collection cannot show (still loading, or refused by RBAC). */
function unavailable(name, what) {
  const c = store[name];
  if (!c || c.state === 'loading') return h('p', { class: 'muted' }, `Loading ${what}…`);
  if (c.state === 'forbidden') return h('p', { class: 'muted', dataset: { forbidden: name } }, `You may not list ${what}: ${c.error}`);
  if (c.state === 'error') return h('p', { class: 'muted' }, `${what} unavailable: ${c.error}`);
  return null;
}

function table(headers, rows, attrs = {}) {
  return h('div', { class: 'table-wrap' }, h('table', attrs,
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: headers.length, class: 'muted' }, 'Nothing yet.')))));
}

function card(title, ...body) {
  return h('section', { class: 'card' }, h('h2', {}, title), ...body);
}

// ---------------------------------------------------------------------------------------------
// Pages. A page is mount(main, params) -> {update}: mount draws what stays (headings, forms,
// filters), update redraws what follows the watches.

/** Totals of the registered clusters' reported status. */
function fleetTotals() {
  const t = { clusters: 0, phases: {}, types: {}, regions: {}, nodes: 0, readyNodes: 0, vcpus: 0,
    cpu: [0, 0], memory: [0, 0] };
  for (const c of store.regc.list()) {
    const st = c.status || {};
    const spec = c.spec || {};
    t.clusters += 1;
    const phase = st.phase || 'Unknown';
    t.phases[phase] = (t.phases[phase] || 0) + 1;
    t.types[spec.type || 'unknown'] = (t.types[spec.type || 'unknown'] || 0) + 1;
    t.regions[spec.region || 'unknown'] = (t.regions[spec.region || 'unknown'] || 0) + 1;
    const ns = st.nodeSummary || {};
    t.nodes += ns.total || 0;
    t.readyNodes += ns.ready || 0;
    t.vcpus += quantity(st.vcpus);
    const rs = st.resourceSummary || {};
    t.cpu[0] += quantity((rs.allocated || {}).cpu);
    t.cpu[1] += quantity((rs.allocatable || {}).cpu);
    t.memory[0] += quantity((rs.allocated || {}).memory);
    t.memory[1] += quantity((rs.allocatable || {}).memory);
  }
  return t;
}

/** Ready and desired replicas of a binding, from its aggregated status. */
function bindingReplicas(b) {
  const agg = (b.status || {}).aggregatedStatus || [];
  const ready = agg.reduce((n, a) => n + (((a.status || {}).readyReplicas) || 0), 0);
  return { ready, desired: (b.spec || {}).replicas || 0 };
}

function bindingHealth(b) {
  const agg = (b.status || {}).aggregatedStatus || [];
  const placed = ((b.spec || {}).clusters || []).length;
  if (!placed) return 'Unscheduled';
  if (agg.length >= placed && agg.every((a) => a.applied && a.health === 'Healthy')) return 'Healthy';
  if (agg.some((a) => a.health === 'Unhealthy' || a.applied === false)) return 'Unhealthy';
  return 'Progressing';
}

function countList(counts, order) {
  if (!Object.keys(counts).length) return h('p', { class: 'muted' }, 'None yet.');
  const keys = Object.keys(counts).sort((a, b) => (order ? order.indexOf(a) - order.indexOf(b) : counts[b] - counts[a] || a.localeCompare(b)));
  const max = Math.max(1, ...Object.values(counts));
  return h('ul', { class: 'counts' }, keys.map((k) => {
    const fill = h('span', { class: 'fill info' });
    fill.style.width = `${(counts[k] / max) * 100}%`;
    return h('li', { dataset: { key: k } }, h('span', { class: 'count-key' }, order ? phaseChip(k) : k),
      h('span', { class: 'bar small' }, fill), h('span', { class: 'count-n' }, counts[k]));
  }));
}

// vCPUs seen over this session (the chart vCPU-hours will fill once metering is in the API).
const vcpuSamples = [];
function sampleVcpus(v) {
  const now = Date.now();
  const last = vcpuSamples[vcpuSamples.length - 1];
  if (!last || last.v !== v || now - last.t > 60000) vcpuSamples.push({ t: now, v });
  if (vcpuSamples.length > 500) vcpuSamples.shift();
}

function sparkline(samples) {
  const w = 320; const hgt = 60;
  if (!samples.length) return h('p', { class: 'muted' }, 'No samples yet.');
  const pts = samples.concat([{ t: Date.now(), v: samples[samples.length - 1].v }]);
  const t0 = pts[0].t; const t1 = Math.max(pts[pts.length - 1].t, t0 + 1);
  const vmax = Math.max(1, ...pts.map((p) => p.v));
  let d = '';
  pts.forEach((p, i) => {
    const x = ((p.t - t0) / (t1 - t0)) * w;
    const y = hgt - 4 - (p.v / vmax) * (hgt - 8);
    d += i === 0 ? `M${x.toFixed(1)},${y.toFixed(1)}` : `H${x.toFixed(1)}V${y.toFixed(1)}`;
  });
  return s('svg', { viewBox: `0 0 ${w} ${hgt}`, class: 'spark', role: 'img', 'aria-label': `vCPUs over this session, now ${fmtNumber(pts[pts.length - 1].v)}` },
    s('path', { d, fill: 'none', stroke: 'currentColor', 'stroke-width': 2 }));
}

/** UsageRecords summed per billing hour, oldest first: [{hour, vcpuHours, amount}]. */
function usageByHour() {
  const by = new Map();
  for (const r of store.usage.list()) {
    const sp = r.spec || {};
    const x = by.get(sp.hour) || { hour: sp.hour, vcpuHours: 0, amount: 0 };
    x.vcpuHours += parseFloat(sp.vcpuHours || sp.vcpus || '0') || 0;
    x.amount += parseFloat(sp.amount || '0') || 0;
    by.set(sp.hour, x);
  }
  return [...by.values()].sort((a, b) => String(a.hour).localeCompare(String(b.hour)));
}

function usageChart(hours) {
  if (!hours.length) return h('p', { class: 'muted' }, 'No usage recorded yet.');
  const w = 480; const hgt = 120; const max = Math.max(1, ...hours.map((x) => x.vcpuHours));
  // At least a day's slots, so a few hours do not fill the chart with a block.
  const bw = w / Math.max(hours.length, 24);
  const svg = s('svg', { viewBox: `0 0 ${w} ${hgt + 16}`, class: 'chart', role: 'img',
    'aria-label': `vCPU-hours per hour over the last ${hours.length} hours; latest ${fmtNumber(hours[hours.length - 1].vcpuHours)}` });
  hours.forEach((x, i) => {
    const bh = (x.vcpuHours / max) * hgt;
    svg.append(s('rect', { x: (i * bw + 1).toFixed(1), y: (hgt - bh).toFixed(1), width: Math.max(1, bw - 2).toFixed(1), height: bh.toFixed(1), class: 'chart-bar' },
      s('title', {}, `${x.hour}: ${fmtNumber(x.vcpuHours)} vCPU-hours, ${x.amount.toFixed(4)} CNY`)));
  });
  svg.append(s('text', { x: 0, y: hgt + 13, class: 'chart-label' }, String(hours[0].hour).slice(5, 16).replace('T', ' ')));
  if (hours.length > 1) svg.append(s('text', { x: bw * hours.length, y: hgt + 13, class: 'chart-label', 'text-anchor': 'end' }, String(hours[hours.length - 1].hour).slice(5, 16).replace('T', ' ')));
  return svg;
}

const pages = {};

pages.overview = (main) => {
  const body = h('div', { class: 'grid' });
  append(clear(main), h('h1', {}, 'Overview'), body);
  return {
    update() {
      const missing = unavailable('regc', 'registered clusters');
      if (missing) { append(clear(body), missing); return; }
      const t = fleetTotals();
      sampleVcpus(t.vcpus);
      // When the overview first showed the fleet (read by the browser test and by people
      // profiling the page: performance.getEntriesByName('cceone:overview')).
      if (!performance.getEntriesByName('cceone:overview').length) performance.mark('cceone:overview');
      const bindings = store.bindings.list().concat(store.cbindings.list());
      const health = {};
      for (const b of bindings) { const x = bindingHealth(b); health[x] = (health[x] || 0) + 1; }
      const ops = [];
      for (const c of store.regc.list()) for (const o of ((c.status || {}).operations || [])) ops.push({ cluster: c.metadata.name, ...o });
      ops.sort((a, b) => String(b.time).localeCompare(String(a.time)));
      append(clear(body),
        h('section', { class: 'card stats', 'aria-label': 'Totals' },
          stat('Clusters', t.clusters, 'clusters'),
          stat('Running', t.phases.Running || 0, 'running'),
          stat('Nodes', `${t.readyNodes}/${t.nodes}`, 'nodes', 'ready / total'),
          stat('vCPUs', fmtNumber(t.vcpus), 'vcpus', 'billable, Ready nodes'),
          stat('Workloads', bindings.length, 'workloads', 'propagated')),
        card('Clusters by phase', countList(t.phases, PHASES.concat(['Unknown']))),
        card('Allocation', bar('CPU', t.cpu[0], t.cpu[1], fmtNumber), bar('Memory', t.memory[0], t.memory[1], fmtBytes)),
        card('Workloads', store.bindings.state === 'ready' ? countList(health) : unavailable('bindings', 'workloads')),
        card('Clusters by type', countList(t.types)),
        card('Clusters by region', countList(t.regions)),
        store.usage && store.usage.state === 'ready' && store.usage.items.size
          ? card('vCPU-hours by hour (UTC+8)', usageChart(usageByHour().slice(-24)), h('p', { class: 'muted small' }, h('a', { href: '#/usage' }, 'Usage and amounts')))
          : card('vCPUs over time', sparkline(vcpuSamples),
            h('p', { class: 'muted small' }, 'Sampled while this page is open; vCPU-hours by hour appear here once the meter has records.')),
        h('section', { class: 'card wide' }, h('h2', {}, 'Recent operations'),
          table(['Time', 'Cluster', 'Operation', 'Reason', 'Message', 'By'], ops.slice(0, 8).map((o) => h('tr', {},
            h('td', {}, when(o.time)), h('td', {}, h('a', { href: `#/clusters/${encodeURIComponent(o.cluster)}` }, o.cluster)),
            h('td', {}, o.type || ''), h('td', {}, o.reason || ''), h('td', {}, o.message || ''),
            h('td', {}, o.user || h('span', { class: 'muted' }, 'platform')))))));
    },
  };
};

function stat(label, value, id, hint) {
  return h('div', { class: 'stat', dataset: { stat: id } }, h('div', { class: 'stat-value' }, value),
    h('div', { class: 'stat-label' }, label), hint ? h('div', { class: 'muted small' }, hint) : null);
}

pages.clusters = (main) => {
  const search = h('input', { type: 'search', id: 'q', placeholder: 'name, region, provider, label', 'aria-label': 'Search clusters' });
  const phase = h('select', { id: 'phase', 'aria-label': 'Phase' }, h('option', { value: '' }, 'Any phase'), PHASES.map((p) => h('option', { value: p }, p)));
  const type = h('select', { id: 'type', 'aria-label': 'Type' }, h('option', { value: '' }, 'Any type'),
    ['ctyun', 'local', 'third-party'].map((p) => h('option', { value: p }, p)));
  const count = h('span', { class: 'muted' });
  const body = h('div');
  const page = { update };
  for (const el of [search, phase, type]) el.addEventListener('input', () => update());
  append(clear(main), h('div', { class: 'title-row' }, h('h1', {}, 'Registered clusters'),
    h('a', { class: 'button', href: '#/register' }, 'Register a cluster')),
  h('div', { class: 'filters' }, search, phase, type, count), body);
  function update() {
    const missing = unavailable('regc', 'registered clusters');
    if (missing) { append(clear(body), missing); return; }
    const q = search.value.trim().toLowerCase();
    const all = store.regc.list();
    const shown = all.filter((c) => {
      const spec = c.spec || {};
      if (phase.value && (c.status || {}).phase !== phase.value) return false;
      if (type.value && spec.type !== type.value) return false;
      if (!q) return true;
      const hay = [c.metadata.name, spec.region, spec.zone, spec.provider, ...Object.entries(c.metadata.labels || {}).map(([k, v]) => `${k}=${v}`)].join(' ').toLowerCase();
      return hay.includes(q);
    });
    count.textContent = `${shown.length} of ${all.length}`;
    append(clear(body), table(['Name', 'Type', 'Provider', 'Version', 'Region', 'Created', 'Phase', 'vCPUs', 'Delete protection'],
      shown.map((c) => {
        const spec = c.spec || {}; const st = c.status || {};
        return h('tr', { dataset: { name: c.metadata.name } },
          h('td', {}, h('a', { href: `#/clusters/${encodeURIComponent(c.metadata.name)}` }, c.metadata.name)),
          h('td', {}, spec.type || ''), h('td', {}, spec.provider || ''), h('td', {}, st.kubernetesVersion || ''),
          h('td', {}, spec.region || ''), h('td', { title: c.metadata.creationTimestamp }, age(c.metadata.creationTimestamp)),
          h('td', { class: 'phase' }, phaseChip(st.phase)), h('td', { class: 'vcpus num' }, st.vcpus || '0'),
          h('td', { class: 'protection' }, spec.deleteProtection ? h('span', { class: 'chip info' }, '🔒 On') : h('span', { class: 'muted' }, 'Off')));
      }), { id: 'cluster-table' }));
  }
  return page;
};

pages.cluster = (main, name) => {
  const ui = pages.cluster.ui[name] || (pages.cluster.ui[name] = { agent: null, kubeconfig: null });
  const head = h('div', { class: 'title-row' });
  const body = h('div', { class: 'grid' });
  const output = h('div');
  // What an action handed out (the agent settings to copy) comes first, above the details.
  append(clear(main), h('p', {}, h('a', { href: '#/clusters' }, '← Registered clusters')), head, output, body);
  drawOutput();

  function drawOutput() {
    clear(output);
    if (ui.agent) {
      append(output, h('section', { class: 'card wide output', id: 'agent-output' },
        h('h2', {}, ui.agent.format === 'env' ? 'Agent settings (env file)' : 'Agent YAML'),
        h('p', { class: 'muted' }, ui.agent.format === 'env'
          ? 'cceone-cluster-agent --env-file agent.env --kubeconfig member.kubeconfig'
          : 'In the member cluster: kubectl apply -f agent.yaml. The bootstrap token in it works once, for an hour.'),
        h('div', { class: 'actions' }, copyButton(() => ui.agent.text),
          h('button', { type: 'button', class: 'secondary', onclick: () => download(ui.agent.format === 'env' ? `${name}.env` : `${name}-agent.yaml`, ui.agent.text) }, 'Download')),
        h('pre', { class: 'code', tabindex: 0 }, ui.agent.text)));
    }
    if (ui.kubeconfig) {
      append(output, h('section', { class: 'card wide output' }, h('h2', {}, 'Proxy kubeconfig issued'),
        h('p', {}, `Downloaded as ${name}.kubeconfig. It reaches the member's API through the hub; revoke it with `,
          h('code', {}, `cceonectl cluster revoke-kubeconfig ${ui.kubeconfig.id}`), '.')));
    }
  }

  /** As acting(), with the control's label showing the action is under way. */
  async function act(control, what, f) {
    const label = control.textContent;
    if (label) control.textContent = `${label}…`;
    try {
      return await acting(control, what, f);
    } finally {
      if (label) control.textContent = label;
    }
  }

  return {
    update() {
      const missing = unavailable('regc', 'registered clusters');
      if (missing) { append(clear(body), missing); return; }
      const c = store.regc.get(name);
      if (!c) { append(clear(head), h('h1', {}, name)); append(clear(body), h('p', { class: 'muted' }, 'No such registered cluster (or it was deleted).')); return; }
      const spec = c.spec || {}; const st = c.status || {};
      const ns = st.nodeSummary || {}; const rs = st.resourceSummary || {};
      const protect = h('input', { type: 'checkbox', id: 'protect', role: 'switch', checked: !!spec.deleteProtection });
      protect.addEventListener('change', () => act(protect, 'Delete protection', async () => {
        await api.mergePatch(`${KINDS.regc}/${encodeURIComponent(name)}`, { spec: { deleteProtection: protect.checked } });
        alertBox(`Delete protection ${protect.checked ? 'on' : 'off'} for ${name}.`, 'ok');
      }).then((done) => { if (!done) protect.checked = !protect.checked; }));
      const unsubscribe = h('button', { type: 'button', class: 'danger', id: 'unsubscribe', disabled: !!spec.unsubscribed }, spec.unsubscribed ? 'Unsubscribed' : 'Unsubscribe');
      unsubscribe.addEventListener('click', () => {
        if (!window.confirm(`Unsubscribe ${name}? Its agent is disconnected and its workloads leave the federation.`)) return;
        act(unsubscribe, 'Unsubscribe', async () => {
          await api.mergePatch(`${KINDS.regc}/${encodeURIComponent(name)}`,
            { metadata: { resourceVersion: c.metadata.resourceVersion }, spec: { unsubscribed: true } });
          alertBox(`${name} unsubscribed.`, 'ok');
        });
      });
      const agentButton = (format, label) => {
        const b = h('button', { type: 'button', class: 'secondary', dataset: { agent: format } }, label);
        b.addEventListener('click', () => act(b, 'Agent settings', async () => {
          ui.agent = await api.action('agent', { cluster: name, format });
          drawOutput();
        }));
        return b;
      };
      const ttl = h('select', { id: 'kc-ttl', 'aria-label': 'Kubeconfig lifetime' },
        h('option', { value: '24' }, 'expires in 24 h'), h('option', { value: '1' }, 'expires in 1 h'),
        h('option', { value: '168' }, 'expires in 7 days'), h('option', { value: '0' }, 'does not expire'));
      const kcButton = h('button', { type: 'button', class: 'secondary', id: 'kubeconfig' }, 'Download proxy kubeconfig');
      kcButton.addEventListener('click', () => act(kcButton, 'Proxy kubeconfig', async () => {
        const r = await api.action('kubeconfig', { cluster: name, ttlHours: Number(ttl.value) });
        ui.kubeconfig = { id: r.id };
        download(`${name}.kubeconfig`, r.text);
        drawOutput();
      }));
      append(clear(head), h('h1', {}, name, ' ', phaseChip(st.phase)));
      const labels = Object.entries(c.metadata.labels || {});
      append(clear(body),
        card('Details', dl([
          ['Type', spec.type], ['Provider', spec.provider], ['Region', spec.region], ['Zone', spec.zone],
          ['Fleet', spec.fleet || '—'], ['Kubernetes', st.kubernetesVersion],
          ['Labels', labels.length ? labels.map(([k, v]) => h('span', { class: 'chip muted' }, `${k}=${v}`)) : '—'],
          ['Created', when(c.metadata.creationTimestamp)],
        ])),
        card('Capacity', dl([
          ['Nodes', `${ns.ready || 0} ready of ${ns.total || 0}`], ['vCPUs', st.vcpus || '0'],
          ['CPU capacity', (rs.capacity || {}).cpu], ['Memory capacity', (rs.capacity || {}).memory ? fmtBytes(quantity(rs.capacity.memory)) : ''],
        ]), bar('CPU allocated', quantity((rs.allocated || {}).cpu), quantity((rs.allocatable || {}).cpu), fmtNumber),
        bar('Memory allocated', quantity((rs.allocated || {}).memory), quantity((rs.allocatable || {}).memory), fmtBytes)),
        card('Agent', dl([
          ['Transport', st.transport], ['Agent version', st.agentVersion], ['Agent id', st.agentId],
          ['Connected since', when(st.connectedSince)], ['Last heartbeat', when(st.lastHeartbeatTime)],
          ['Certificate until', when(st.certificateNotAfter)],
        ])),
        card('Actions',
          h('div', { class: 'field' }, h('label', { for: 'protect', class: 'switch' }, protect, ' Delete protection'),
            h('p', { class: 'muted small' }, 'While on, the API refuses to unsubscribe or delete the cluster.')),
          h('div', { class: 'actions' }, agentButton('yaml', 'Agent YAML'), agentButton('env', 'Agent env file')),
          h('div', { class: 'actions' }, ttl, kcButton),
          h('div', { class: 'actions' }, unsubscribe)),
        h('section', { class: 'card wide' }, h('h2', {}, 'Operation log'),
          table(['Time', 'Operation', 'Reason', 'Message', 'By'], [...(st.operations || [])].reverse().map((o) => h('tr', {},
            h('td', {}, when(o.time)), h('td', {}, o.type || ''), h('td', {}, o.reason || ''), h('td', {}, o.message || ''),
            h('td', { class: 'by' }, o.user || h('span', { class: 'muted' }, 'platform')))), { id: 'operations' })));
    },
  };
};
pages.cluster.ui = {};

function dl(pairs) {
  return h('dl', { class: 'details' }, pairs.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v === undefined || v === null || v === '' ? '—' : v)]));
}

function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('p', { class: 'muted small' }, hint) : null);
}

pages.register = (main) => {
  const name = h('input', { id: 'r-name', required: true, pattern: '[a-z0-9]([a-z0-9\\-]*[a-z0-9])?', maxlength: 63, autocomplete: 'off' });
  const type = h('select', { id: 'r-type' }, ['ctyun', 'local', 'third-party'].map((t) => h('option', { value: t }, t)));
  const provider = h('input', { id: 'r-provider' });
  const region = h('input', { id: 'r-region' });
  const zone = h('input', { id: 'r-zone' });
  const labels = h('input', { id: 'r-labels', placeholder: 'env=prod, team=web' });
  const protect = h('input', { type: 'checkbox', id: 'r-protect' });
  const endpoint = h('select', { id: 'r-endpoint' }, h('option', { value: 'public' }, 'public endpoint'), h('option', { value: 'private' }, 'private endpoint'));
  const format = h('select', { id: 'r-format' }, h('option', { value: 'yaml' }, 'agent YAML (kubectl apply)'), h('option', { value: 'env' }, 'env file (--format env)'));
  const submit = h('button', { type: 'submit' }, 'Register');
  const out = h('div');
  const form = h('form', { class: 'card form' },
    field('Name', name, 'Lower-case letters, digits and dashes.'), field('Type', type), field('Provider', provider),
    field('Region', region), field('Zone', zone), field('Labels', labels, 'key=value, comma separated'),
    h('div', { class: 'field' }, h('label', { for: 'r-protect', class: 'switch' }, protect, ' Delete protection')),
    field('Agent dials the hub at its', endpoint), field('Hand out', format), h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    try {
      const lbl = {};
      for (const part of labels.value.split(',').map((x) => x.trim()).filter(Boolean)) {
        const [k, ...v] = part.split('=');
        lbl[k.trim()] = v.join('=').trim();
      }
      const r = await api.action('register', { name: name.value, type: type.value, provider: provider.value,
        region: region.value, zone: zone.value, labels: lbl, deleteProtection: protect.checked,
        endpoint: endpoint.value, format: format.value });
      pages.cluster.ui[r.cluster] = { agent: r, kubeconfig: null };
      flash = [`${r.cluster} registered; it shows Pending until its agent joins.`, 'ok'];
      window.location.hash = `#/clusters/${encodeURIComponent(r.cluster)}`;
    } catch (err) {
      alertBox(`Register: ${err.message}`);
    } finally { submit.disabled = false; }
  });
  append(clear(main), h('p', {}, h('a', { href: '#/clusters' }, '← Registered clusters')), h('h1', {}, 'Register a cluster'), form, out);
  return {};
};

const FED_TABS = [['members', 'Member clusters'], ['workloads', 'Workloads'], ['policies', 'Policies'], ['works', 'Works'], ['apply', 'Apply YAML']];

function fedTabs(active) {
  return h('nav', { class: 'tabs', 'aria-label': 'Federation' }, FED_TABS.map(([id, label]) =>
    h('a', { href: `#/federation/${id}`, 'aria-current': id === active ? 'page' : false }, label)));
}

pages.federation = (main, tab) => {
  tab = tab || 'members';
  const body = h('div');
  append(clear(main), h('h1', {}, 'Federation'), fedTabs(tab), body);
  const draw = fedPages[tab] || fedPages.members;
  return draw(body);
};

const fedPages = {};

fedPages.members = (body) => ({
  update() {
    const missing = unavailable('clusters', 'member clusters');
    if (missing) { append(clear(body), missing); return; }
    append(clear(body), table(['Name', 'Version', 'Mode', 'Ready', 'Taints', 'Nodes', 'Region', 'Age'],
      store.clusters.list().map((c) => {
        const st = c.status || {}; const spec = c.spec || {};
        const ready = condition(c, 'Ready');
        return h('tr', { dataset: { name: c.metadata.name } },
          h('td', {}, h('a', { href: `#/clusters/${encodeURIComponent(c.metadata.name)}` }, c.metadata.name)),
          h('td', {}, st.kubernetesVersion || ''), h('td', {}, spec.syncMode || ''),
          h('td', { class: 'ready' }, h('span', { class: `chip ${ready && ready.status === 'True' ? 'ok' : ready && ready.status === 'False' ? 'bad' : 'warn'}`, title: ready ? ready.message || '' : '' }, ready ? ready.status : 'Unknown')),
          h('td', { class: 'taints' }, (spec.taints || []).length ? spec.taints.map((t) => h('span', { class: 'chip warn' }, `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`)) : h('span', { class: 'muted' }, 'none')),
          h('td', {}, `${(st.nodeSummary || {}).readyNum || 0}/${(st.nodeSummary || {}).totalNum || 0}`),
          h('td', {}, spec.region || ''), h('td', {}, age(c.metadata.creationTimestamp)));
      }), { id: 'member-table' }));
  },
});

fedPages.workloads = (body) => ({
  update() {
    const missing = unavailable('bindings', 'resource bindings');
    if (missing) { append(clear(body), missing); return; }
    const all = store.bindings.list().concat(store.cbindings.state === 'ready' ? store.cbindings.list() : []);
    append(clear(body), table(['Workload', 'Policy', 'Ready', 'Health', 'Placement (replicas, applied, health per cluster)', 'Conditions'],
      all.map((b) => {
        const res = (b.spec || {}).resource || {};
        const agg = new Map(((b.status || {}).aggregatedStatus || []).map((a) => [a.clusterName, a]));
        const { ready, desired } = bindingReplicas(b);
        const ann = b.metadata.annotations || {};
        const policy = ann['propagationpolicy.karmada.io/name'] || ann['clusterpropagationpolicy.karmada.io/name'] || '';
        return h('tr', { dataset: { name: `${res.kind}/${res.namespace ? `${res.namespace}/` : ''}${res.name}`, binding: keyOf(b) } },
          h('td', {}, h('span', { class: 'muted' }, `${res.kind} `), res.namespace ? `${res.namespace}/` : '', h('strong', {}, res.name)),
          h('td', {}, policy),
          h('td', { class: 'replicas num' }, desired ? `${ready}/${desired}` : '—'),
          h('td', { class: 'health' }, healthChip(bindingHealth(b))),
          h('td', { class: 'placement' }, ((b.spec || {}).clusters || []).map((tc) => {
            const a = agg.get(tc.name) || {};
            const r = (a.status || {}).readyReplicas;
            return h('span', { class: `placed ${a.health === 'Healthy' ? 'ok' : a.health === 'Unhealthy' ? 'bad' : 'warn'}`, dataset: { cluster: tc.name, replicas: tc.replicas || 0 } },
              h('strong', {}, tc.name), ` ×${tc.replicas || 0}`, r !== undefined ? ` (${r} ready)` : '',
              ` · ${a.applied ? 'applied' : 'not applied'} · ${a.health || 'Unknown'}`);
          })),
          h('td', {}, conditionChip(b, 'Scheduled'), ' ', conditionChip(b, 'FullyApplied')));
      }), { id: 'workload-table' }));
  },
});

fedPages.policies = (body) => {
  const list = h('div');
  const shown = h('div');
  let selected = null;
  const newPP = h('a', { class: 'button', href: '#/new-policy/propagation' }, 'New propagation policy');
  const newOP = h('a', { class: 'button secondary', href: '#/new-policy/override' }, 'New override policy');
  append(body, h('div', { class: 'actions' }, newPP, newOP), list, shown);
  const kinds = [['pp', 'PropagationPolicy'], ['cpp', 'ClusterPropagationPolicy'], ['op', 'OverridePolicy'], ['cop', 'ClusterOverridePolicy']];
  return {
    update() {
      const rows = [];
      for (const [k, kind] of kinds) {
        if (store[k].state !== 'ready') continue;
        for (const p of store[k].list()) {
          const sel = ((p.spec || {}).resourceSelectors || []).map((r) => `${r.kind}${r.name ? `/${r.name}` : ''}`).join(', ');
          const view = h('button', { type: 'button', class: 'link', onclick: () => { selected = [k, keyOf(p)]; drawSelected(); } }, 'YAML');
          rows.push(h('tr', { dataset: { name: keyOf(p), kind } }, h('td', {}, kind), h('td', {}, p.metadata.namespace || '—'),
            h('td', {}, p.metadata.name), h('td', {}, sel), h('td', {}, view)));
        }
      }
      append(clear(list), table(['Kind', 'Namespace', 'Name', 'Selects', ''], rows, { id: 'policy-table' }));
      drawSelected();
    },
  };
  function drawSelected() {
    clear(shown);
    if (!selected) return;
    const p = store[selected[0]].get(selected[1]);
    if (!p) return;
    const text = toYaml(withoutNoise(p));
    append(shown, h('section', { class: 'card wide' }, h('h2', {}, `${p.kind} ${selected[1]}`),
      h('div', { class: 'actions' }, copyButton(() => text)), h('pre', { class: 'code', tabindex: 0 }, text)));
  }
};

fedPages.works = (body) => ({
  update() {
    const missing = unavailable('works', 'Works');
    if (missing) { append(clear(body), missing); return; }
    const rows = store.works.list().map((w) => {
      const ns = w.metadata.namespace || '';
      const cluster = ns.startsWith('karmada-es-') ? ns.slice('karmada-es-'.length) : ns;
      const manifests = ((w.spec || {}).workload || {}).manifests || [];
      return h('tr', { dataset: { name: keyOf(w) } }, h('td', {}, cluster), h('td', {}, w.metadata.name),
        h('td', {}, manifests.map((m) => `${m.kind}/${(m.metadata || {}).name}`).join(', ')),
        h('td', {}, conditionChip(w, 'Applied')));
    });
    append(clear(body), table(['Cluster', 'Work', 'Manifests', 'Applied'], rows, { id: 'work-table' }));
  },
});

fedPages.apply = (body) => {
  const text = h('textarea', { id: 'yaml', rows: 18, spellcheck: 'false', placeholder: 'apiVersion: apps/v1\nkind: Deployment\n...' });
  const submit = h('button', { type: 'submit', id: 'apply' }, 'Apply');
  const results = h('div', { id: 'apply-results' });
  const form = h('form', { class: 'card form wide' }, field('YAML (several documents separated by ---)', text,
    'Server-side applied as you, like kubectl apply --server-side.'), h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    clear(results);
    try {
      const r = await api.action('apply', { yaml: text.value });
      append(results, h('ul', { class: 'results' }, r.results.map((x) => h('li', { class: x.ok ? 'ok' : 'bad' },
        `${x.kind}/${x.name}${x.namespace ? ` in ${x.namespace}` : ''}: ${x.ok ? 'applied' : x.message}`))));
    } catch (err) {
      alertBox(`Apply: ${err.message}`);
    } finally { submit.disabled = false; }
  });
  append(body, form, results);
  return {};
};

pages.newPolicy = (main, which) => {
  const override = which === 'override';
  const name = h('input', { id: 'p-name', required: true, autocomplete: 'off' });
  const ns = h('input', { id: 'p-namespace', value: 'default' });
  const apiVersion = h('input', { id: 'p-apiversion', value: 'apps/v1' });
  const kind = h('input', { id: 'p-kind', value: 'Deployment' });
  const rname = h('input', { id: 'p-resource', placeholder: 'all of the kind when empty' });
  const clusters = h('fieldset', { class: 'clusters' }, h('legend', {}, override ? 'Target clusters' : 'Clusters'));
  // The member clusters to pick from (once their list arrived; the form is not redrawn after).
  function fillClusters() {
    if (clusters.querySelector('input') || store.clusters.state !== 'ready') return;
    for (const c of store.clusters.list()) {
      const id = `c-${c.metadata.name}`;
      append(clusters, h('div', { class: 'cluster-pick' },
        h('label', { for: id }, h('input', { type: 'checkbox', id, value: c.metadata.name, dataset: { cluster: c.metadata.name } }), ` ${c.metadata.name}`),
        override ? null : h('input', { type: 'number', min: 1, value: 1, class: 'weight', 'aria-label': `Weight of ${c.metadata.name}`, dataset: { weight: c.metadata.name } })));
    }
  }
  fillClusters();
  const mode = h('select', { id: 'p-mode' }, h('option', { value: 'Duplicated' }, 'Duplicated (every cluster runs all replicas)'),
    h('option', { value: 'Divided' }, 'Divided by the weights'));
  const labelKey = h('input', { id: 'p-label-key', placeholder: 'label key' });
  const labelValue = h('input', { id: 'p-label-value', placeholder: 'value' });
  const image = h('input', { id: 'p-image-tag', placeholder: 'image tag, e.g. 1.27' });
  const preview = h('pre', { class: 'code', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit' }, 'Create');
  const form = h('form', { class: 'card form' },
    field('Name', name), field('Namespace', ns),
    h('fieldset', {}, h('legend', {}, 'Resource selector'), field('apiVersion', apiVersion), field('kind', kind), field('name', rname)),
    clusters,
    override ? [field('Add label', h('div', { class: 'pair' }, labelKey, labelValue)), field('Replace image tag', image)] : field('Replicas', mode),
    h('div', { class: 'actions' }, submit));
  function build() {
    const picked = [...clusters.querySelectorAll('input[type=checkbox]:checked')].map((x) => x.value);
    const selector = { apiVersion: apiVersion.value.trim(), kind: kind.value.trim() };
    if (rname.value.trim()) selector.name = rname.value.trim();
    const meta = { name: name.value.trim(), namespace: ns.value.trim() || 'default' };
    if (override) {
      const overriders = {};
      if (labelKey.value.trim()) overriders.labelsOverrider = [{ operator: 'add', value: { [labelKey.value.trim()]: labelValue.value.trim() } }];
      if (image.value.trim()) overriders.imageOverrider = [{ component: 'Tag', operator: 'replace', value: image.value.trim() }];
      return { apiVersion: 'policy.karmada.io/v1alpha1', kind: 'OverridePolicy', metadata: meta,
        spec: { resourceSelectors: [selector], overrideRules: [{ targetCluster: { clusterNames: picked }, overriders }] } };
    }
    const placement = { clusterAffinity: { clusterNames: picked } };
    if (mode.value === 'Divided') {
      placement.replicaScheduling = { replicaSchedulingType: 'Divided', replicaDivisionPreference: 'Weighted',
        weightPreference: { staticWeightList: picked.map((c) => ({ targetCluster: { clusterNames: [c] },
          weight: Number((clusters.querySelector(`input[data-weight="${CSS.escape(c)}"]`) || {}).value) || 1 })) } };
    } else {
      placement.replicaScheduling = { replicaSchedulingType: 'Duplicated' };
    }
    return { apiVersion: 'policy.karmada.io/v1alpha1', kind: 'PropagationPolicy', metadata: meta,
      spec: { resourceSelectors: [selector], placement } };
  }
  const refresh = () => { preview.textContent = toYaml(build()); };
  form.addEventListener('input', refresh);
  form.addEventListener('change', refresh);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    const obj = build();
    try {
      const plural = override ? 'overridepolicies' : 'propagationpolicies';
      await api.post(`/apis/policy.karmada.io/v1alpha1/namespaces/${encodeURIComponent(obj.metadata.namespace)}/${plural}`, obj);
      flash = [`${obj.kind} ${obj.metadata.name} created.`, 'ok'];
      window.location.hash = '#/federation/policies';
    } catch (err) {
      alertBox(`Create: ${err.message}`);
    } finally { submit.disabled = false; }
  });
  append(clear(main), fedTabs('policies'), h('h1', {}, override ? 'New override policy' : 'New propagation policy'),
    h('div', { class: 'grid two' }, form, h('section', { class: 'card' }, h('h2', {}, 'YAML'), preview)));
  refresh();
  return { update: fillClusters };
};

/** Run f with the control disabled meanwhile; false (and the API's words shown) on failure. */
async function acting(control, what, f) {
  control.disabled = true;
  try {
    await f();
    return true;
  } catch (e) {
    alertBox(`${what}: ${e.message}`);
    return false;
  } finally { control.disabled = false; }
}

pages.fleets = (main) => {
  const body = h('div');
  const name = h('input', { id: 'f-name', required: true, pattern: '[a-z0-9]([a-z0-9\\-]*[a-z0-9])?', maxlength: 63, autocomplete: 'off' });
  const description = h('input', { id: 'f-description' });
  const create = h('button', { type: 'submit', id: 'f-create' }, 'Create fleet');
  const form = h('form', { class: 'card form' }, h('h2', {}, 'New fleet'), field('Name', name), field('Description', description),
    h('div', { class: 'actions' }, create));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    acting(create, 'Create fleet', async () => {
      const spec = description.value.trim() ? { description: description.value.trim() } : {};
      await api.post(KINDS.fleets, { apiVersion: 'platform.cceone.io/v1alpha1', kind: 'Fleet', metadata: { name: name.value.trim() }, spec });
      alertBox(`Fleet ${name.value.trim()} created.`, 'ok');
      name.value = ''; description.value = '';
    });
  });
  append(clear(main), h('h1', {}, 'Fleets'), body, form);
  const clusterPath = (c) => `${KINDS.regc}/${encodeURIComponent(c)}`;
  return {
    update() {
      const missing = unavailable('fleets', 'fleets');
      if (missing) { append(clear(body), missing); return; }
      const free = store.regc.state === 'ready' ? store.regc.list().filter((c) => !(c.spec || {}).fleet && !(c.spec || {}).unsubscribed) : [];
      append(clear(body), table(['Name', 'Description', 'Federation', 'Clusters', 'Nodes', 'vCPUs', 'CPU allocated', 'Memory allocated', 'Actions'],
        store.fleets.list().map((f) => {
          const st = f.status || {}; const spec = f.spec || {}; const fname = f.metadata.name;
          const pct = (x) => bar('', parseFloat(x || '0') || 0, 100, null);
          const members = store.regc.state === 'ready' ? store.regc.list().filter((c) => (c.spec || {}).fleet === fname).map((c) => c.metadata.name) : (st.clusterNames || []);
          const pick = h('select', { 'aria-label': `Cluster to add to ${fname}`, dataset: { add: fname } }, h('option', { value: '' }, 'Add a cluster…'),
            free.map((c) => h('option', { value: c.metadata.name }, c.metadata.name)));
          pick.addEventListener('change', () => {
            const c = pick.value;
            if (!c) return;
            acting(pick, 'Add to fleet', async () => {
              await api.mergePatch(clusterPath(c), { spec: { fleet: fname } });
              alertBox(`${c} added to ${fname}.`, 'ok');
            });
          });
          const bind = h('button', { type: 'button', class: 'secondary', dataset: { bind: fname } }, spec.federation ? 'Unbind' : 'Bind to the federation');
          bind.addEventListener('click', () => acting(bind, 'Bind', async () => {
            await api.mergePatch(`${KINDS.fleets}/${encodeURIComponent(fname)}`, { spec: { federation: spec.federation ? null : 'default' } });
          }));
          const del = h('button', { type: 'button', class: 'danger', dataset: { delete: fname } }, 'Delete');
          del.addEventListener('click', () => {
            if (!window.confirm(`Delete fleet ${fname}?`)) return;
            acting(del, 'Delete fleet', async () => { await call('DELETE', `${API}${KINDS.fleets}/${encodeURIComponent(fname)}`); });
          });
          return h('tr', { dataset: { name: fname } }, h('td', {}, h('strong', {}, fname)),
            h('td', {}, spec.description || ''), h('td', { class: 'federation' }, spec.federation ? h('span', { class: 'chip info' }, spec.federation) : h('span', { class: 'muted' }, 'not bound')),
            h('td', { class: 'members' }, members.map((c) => {
              const remove = h('button', { type: 'button', class: 'link', 'aria-label': `Remove ${c} from ${fname}`, dataset: { remove: c } }, '×');
              remove.addEventListener('click', () => acting(remove, 'Remove from fleet', async () => {
                await api.mergePatch(clusterPath(c), { spec: { fleet: null } });
              }));
              return h('span', { class: 'chip muted', dataset: { member: c } }, h('a', { href: `#/clusters/${encodeURIComponent(c)}` }, c), ' ', remove);
            })),
            h('td', { class: 'nodes num' }, `${st.readyNodes || 0}/${st.nodes || 0}`), h('td', { class: 'vcpus num' }, st.vcpus || '0'),
            h('td', {}, pct(st.cpuAllocated)), h('td', {}, pct(st.memoryAllocated)),
            h('td', {}, h('div', { class: 'actions' }, pick, bind, del)));
        }), { id: 'fleet-table' }));
    },
  };
};

const ROLES = ['administrator', 'operations', 'developer', 'restricted', 'custom'];

/** `deployments.apps=get,list; configmaps=get` as a custom grant's rules. */
function parseRules(text) {
  return text.split(/[;\n]/).map((x) => x.trim()).filter(Boolean).map((r) => {
    const [what, verbs = ''] = r.split('=');
    const dot = what.indexOf('.');
    const resource = (dot < 0 ? what : what.slice(0, dot)).trim();
    const group = dot < 0 ? '' : what.slice(dot + 1).trim();
    return { apiGroups: [group], resources: [resource], verbs: verbs.split(',').map((v) => v.trim()).filter(Boolean) };
  });
}

pages.permissions = (main) => {
  const body = h('div');
  const user = h('input', { id: 'g-user', required: true, autocomplete: 'off' });
  const role = h('select', { id: 'g-role' }, ROLES.map((r) => h('option', { value: r }, r)));
  const target = h('select', { id: 'g-target' });
  const namespaces = h('input', { id: 'g-namespaces', placeholder: 'all namespaces when empty; or team-a, team-b' });
  const rules = h('input', { id: 'g-rules', placeholder: 'deployments.apps=get,list; configmaps=get' });
  const create = h('button', { type: 'submit', id: 'g-create' }, 'Grant');
  const form = h('form', { class: 'card form' }, h('h2', {}, 'Grant access'),
    field('User', user), field('Role', role, 'administrator: everything; operations: read-write on namespaced objects, read on the rest; developer: read-write on workloads; restricted: read-only on them.'),
    field('On', target, 'A fleet\'s grants apply to every cluster in it, instead of the clusters\' own.'), field('Namespaces', namespaces),
    field('Custom permissions', rules, 'With role custom: RESOURCE[.GROUP]=VERB,VERB; … (verbs: get, list, watch, create, update, patch, delete, deletecollection).'),
    h('div', { class: 'actions' }, create));
  function fillTargets() {
    if (target.options.length || store.regc.state !== 'ready') return;
    const fleets = store.fleets.state === 'ready' ? store.fleets.list() : [];
    append(target, fleets.map((f) => h('option', { value: `fleet:${f.metadata.name}` }, `fleet ${f.metadata.name}`)),
      store.regc.list().map((c) => h('option', { value: `cluster:${c.metadata.name}` }, `cluster ${c.metadata.name}`)));
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    acting(create, 'Grant', async () => {
      const [kind, on] = target.value.split(/:(.*)/);
      const spec = { user: user.value.trim(), role: role.value };
      if (kind === 'fleet') spec.fleet = on; else spec.clusters = [on];
      const ns = namespaces.value.split(',').map((x) => x.trim()).filter(Boolean);
      if (ns.length) spec.namespaces = ns;
      if (role.value === 'custom') spec.rules = parseRules(rules.value);
      const gname = `${spec.user}-${role.value}-${on}`.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63);
      await api.post(KINDS.grants, { apiVersion: 'platform.cceone.io/v1alpha1', kind: 'Grant', metadata: { name: gname }, spec });
      alertBox(`${spec.user} granted ${role.value} on ${kind} ${on}.`, 'ok');
      user.value = ''; namespaces.value = ''; rules.value = '';
    });
  });
  append(clear(main), h('h1', {}, 'Permissions'),
    h('p', { class: 'muted' }, 'Grants become RBAC in the member clusters (ClusterRoles cceone:<role> and a binding per grant). A user with no grant on a cluster may only read there.'),
    body, form);
  return {
    update() {
      fillTargets();
      const missing = unavailable('grants', 'grants');
      if (missing) { append(clear(body), missing); return; }
      append(clear(body), table(['Name', 'User', 'Role', 'Fleet', 'Applies to clusters', 'Namespaces', 'Age', ''],
        store.grants.list().map((g) => {
          const spec = g.spec || {}; const st = g.status || {}; const gname = g.metadata.name;
          const revoke = h('button', { type: 'button', class: 'link', dataset: { revoke: gname } }, 'Revoke');
          revoke.addEventListener('click', () => acting(revoke, 'Revoke', async () => {
            await call('DELETE', `${API}${KINDS.grants}/${encodeURIComponent(gname)}`);
          }));
          return h('tr', { dataset: { name: gname } }, h('td', {}, gname), h('td', { class: 'user' }, spec.user || ''), h('td', { class: 'role' }, spec.role || ''),
            h('td', {}, spec.fleet || '—'), h('td', { class: 'clusters' }, st.clusters || (spec.clusters || []).join(',')),
            h('td', {}, st.namespaces || ((spec.namespaces || []).join(',') || '*')), h('td', {}, age(g.metadata.creationTimestamp)), h('td', {}, revoke));
        }), { id: 'grant-table' }));
    },
  };
};

pages.audit = (main) => {
  const user = h('input', { id: 'a-user', placeholder: 'user' });
  const verb = h('select', { id: 'a-verb', 'aria-label': 'Verb' }, h('option', { value: '' }, 'any verb'),
    ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'].map((v) => h('option', { value: v }, v)));
  const resource = h('input', { id: 'a-resource', placeholder: 'resource, e.g. registeredclusters' });
  const code = h('input', { id: 'a-code', placeholder: 'code, e.g. 403', inputmode: 'numeric', size: 6 });
  const refresh = h('button', { type: 'submit', id: 'a-refresh' }, 'Show');
  const body = h('div');
  const form = h('form', { class: 'filters' }, h('label', { for: 'a-user', class: 'sr-only' }, 'User'), user, verb,
    h('label', { for: 'a-resource', class: 'sr-only' }, 'Resource'), resource, h('label', { for: 'a-code', class: 'sr-only' }, 'Response code'), code, refresh);
  let timer = null;
  async function load() {
    const q = new URLSearchParams({ user: user.value.trim(), verb: verb.value, resource: resource.value.trim(), code: code.value.trim(), limit: '200' });
    try {
      const r = await call('GET', `/console/audit?${q}`);
      if (!r.enabled) { append(clear(body), h('p', { class: 'muted' }, 'This API server keeps no audit log.')); return; }
      append(clear(body), table(['Time', 'User', 'Verb', 'Resource', 'Namespace', 'Name', 'Code', 'Source'], r.events.map((e) => h('tr', { dataset: { user: e.user, verb: e.verb, code: e.code } },
        h('td', {}, when(e.time)), h('td', { class: 'user' }, e.user, e.impersonated ? h('span', { class: 'muted' }, ` as ${e.impersonated}`) : null),
        h('td', { class: 'verb' }, e.verb), h('td', { class: 'resource' }, e.resource ? `${e.resource}${e.group ? `.${e.group}` : ''}` : e.uri),
        h('td', {}, e.namespace || ''), h('td', { class: 'name' }, e.name || ''),
        h('td', { class: `code num ${e.code >= 400 ? 'bad' : ''}` }, e.code === undefined || e.code === null ? '' : String(e.code)),
        h('td', {}, e.sourceIP || ''))), { id: 'audit-table' }));
    } catch (err) {
      append(clear(body), h('p', { class: 'alert error' }, `Audit log: ${err.message}`));
    }
  }
  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  append(clear(main), h('h1', {}, 'Audit log'),
    h('p', { class: 'muted' }, 'The newest requests to the federation API, newest first (the log is a file, not a watch: the page rereads it every 5 s). Older events: cceonectl audit.'),
    form, body);
  load();
  // The log is a file: reread it while the page is shown.
  timer = setInterval(() => { if (current !== page) { clearInterval(timer); return; } load(); }, 5000);
  const page = {};
  return page;
};

pages.usage = (main) => {
  const body = h('div', { class: 'grid' });
  append(clear(main), h('h1', {}, 'Usage'), body);
  return {
    update() {
      const missing = unavailable('usage', 'usage records');
      if (missing) { append(clear(body), missing); return; }
      const per = new Map();
      for (const r of store.usage.list()) {
        const sp = r.spec || {};
        const x = per.get(sp.cluster) || { cluster: sp.cluster, type: sp.type, fleet: sp.fleet, hours: 0, vcpuHours: 0, amount: 0 };
        x.hours += 1;
        x.vcpuHours += parseFloat(sp.vcpuHours || sp.vcpus || '0') || 0;
        x.amount += parseFloat(sp.amount || '0') || 0;
        per.set(sp.cluster, x);
      }
      const rows = [...per.values()].sort((a, b) => String(a.cluster).localeCompare(String(b.cluster)));
      const total = rows.reduce((n, x) => n + x.amount, 0);
      append(clear(body),
        h('section', { class: 'card wide' }, h('h2', {}, 'vCPU-hours by hour (UTC+8)'), usageChart(usageByHour().slice(-48))),
        h('section', { class: 'card wide' }, h('h2', {}, `Per cluster — ${total.toFixed(4)} CNY in all`),
          table(['Cluster', 'Type', 'Fleet', 'Billed hours', 'vCPU-hours', 'Amount (CNY)'], rows.map((x) => h('tr', { dataset: { name: x.cluster } },
            h('td', {}, h('a', { href: `#/clusters/${encodeURIComponent(x.cluster)}` }, x.cluster)), h('td', {}, x.type || ''), h('td', {}, x.fleet || '—'),
            h('td', { class: 'num' }, x.hours), h('td', { class: 'num' }, fmtNumber(x.vcpuHours)), h('td', { class: 'num' }, x.amount.toFixed(4)))), { id: 'usage-table' }),
          h('p', { class: 'muted small' }, 'vCPUs × unit price × running hours, settled per whole hour in UTC+8 (ctyun and third-party 0.0556, local 0.1668 per vCPU-hour).')));
    },
  };
};

pages.signin = (main, params) => {
  const token = h('input', { type: 'password', id: 'token', autocomplete: 'off', required: true });
  const submit = h('button', { type: 'submit', id: 'signin' }, 'Sign in');
  const form = h('form', { class: 'card form narrow' },
    h('h1', {}, 'Sign in'),
    params && params.includes('expired') ? h('p', { class: 'alert error' }, 'That sign-in link was used already or has expired.') : null,
    field('Bearer token', token, 'The token of a kubeconfig for the federation, e.g. from `cceonectl user kubeconfig NAME`. The console keeps it on the server for this session only.'),
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    try {
      const r = await call('POST', '/console/session', { token: token.value });
      token.value = '';
      signedIn(r.user);
      window.location.hash = '#/';
    } catch (err) {
      alertBox(`Sign in: ${err.message}`);
    } finally { submit.disabled = false; }
  });
  append(clear(main), form);
  token.focus();
  return {};
};

// ---------------------------------------------------------------------------------------------
// Routing and session

let current = null;
let user = null;
/** A message for the next page (shown after the navigation that clears the old ones). */
let flash = null;

function route() {
  // Messages belong to the page they were shown on.
  clear(document.getElementById('alerts'));
  if (flash) { alertBox(...flash); flash = null; }
  const hash = window.location.hash.replace(/^#/, '') || '/';
  const [path, query] = hash.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const main = document.getElementById('main');
  if (!user) {
    current = pages.signin(main, query || '');
    return;
  }
  let section = parts[0] || 'overview';
  if (section === 'signin') { window.location.hash = '#/'; return; }
  if (section === 'clusters' && parts[1]) current = pages.cluster(main, parts[1]);
  else if (section === 'clusters') current = pages.clusters(main);
  else if (section === 'register') { section = 'clusters'; current = pages.register(main); } else if (section === 'federation') current = pages.federation(main, parts[1]);
  else if (section === 'new-policy') { section = 'federation'; current = pages.newPolicy(main, parts[1]); } else if (section === 'fleets') current = pages.fleets(main);
  else if (section === 'usage') current = pages.usage(main);
  else if (section === 'permissions') current = pages.permissions(main);
  else if (section === 'audit') current = pages.audit(main);
  else { section = 'overview'; current = pages.overview(main); }
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.section === section) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  if (current.update) current.update();
}

/** Show the audit link to those the console lets read the audit log. */
async function probeAudit() {
  const link = document.querySelector('#nav a[data-section=audit]');
  try {
    await call('GET', '/console/audit?limit=1');
    link.hidden = false;
  } catch (_) { link.hidden = true; }
}

function signedIn(name) {
  user = name;
  probeAudit();
  document.getElementById('user').textContent = name;
  document.getElementById('who').hidden = false;
  document.getElementById('nav').hidden = false;
  startWatches();
}

function signedOut() {
  if (!user) return;
  user = null;
  stopWatches();
  document.getElementById('who').hidden = true;
  document.getElementById('nav').hidden = true;
  route();
}

async function start() {
  document.getElementById('signout').addEventListener('click', async () => {
    try { await call('DELETE', '/console/session'); } catch (_) { /* signed out anyway */ }
    signedOut();
    window.location.hash = '#/signin';
  });
  window.addEventListener('hashchange', route);
  try {
    const r = await call('GET', '/console/session');
    signedIn(r.user);
  } catch (_) { /* not signed in */ }
  route();
}

start();
