// util.js: small helpers shared by every module: DOM/SVG element builders,
// event classification (which "kind class" an event is drawn as), labels,
// component ids and formatting. Nothing here keeps state.

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Builds an HTML element. attrs: plain attributes, plus
 *   class, text (textContent), on<Event> handlers (onclick…), dataset via data-*.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  appendAll(el, children);
  return el;
}

/** Builds an SVG element (same conventions as h). */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  appendAll(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function appendAll(el, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Removes every child of el. */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
}

// ---------------------------------------------------------------------------
// Event classification

/** The drawable classes of events, in legend order. */
export const KIND_CLASSES = ['write', 'read', 'watch', 'etcd', 'cri', 'kubelet', 'net', 'lifecycle'];

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

/**
 * kindClass says how an event is drawn: an http request is a "write" or a
 * "read"; other kinds map to themselves. Markers (dropped, error) and
 * unknown kinds get "marker" / "other".
 */
export function kindClass(ev) {
  switch (ev.kind) {
    case 'http': return WRITE_VERBS.has(ev.verb) ? 'write' : 'read';
    case 'watch': return 'watch';
    case 'etcd': return 'etcd';
    case 'cri': return 'cri';
    case 'kubelet-api': return 'kubelet';
    case 'net': return 'net';
    case 'lifecycle': return 'lifecycle';
    case 'dropped': case 'error': return 'marker';
    default: return 'other';
  }
}

/** True when an http or cri event failed (HTTP status ≥ 400, gRPC code not OK). */
export function isFailure(ev) {
  if (ev.kind === 'http') return Number(ev.status) >= 400;
  if (ev.kind === 'cri') return !!ev.status && ev.status !== 'OK';
  return false;
}

/** The object key of an event: resource/namespace/name or resource/name. */
export function objectKey(ev) {
  if (!ev || !ev.resource || !ev.name) return '';
  return ev.namespace ? `${ev.resource}/${ev.namespace}/${ev.name}` : `${ev.resource}/${ev.name}`;
}

const METHOD_OF_VERB = {
  create: 'POST', update: 'PUT', patch: 'PATCH', delete: 'DELETE', deletecollection: 'DELETE',
  get: 'GET', list: 'LIST', watch: 'WATCH',
};

/** Shortens s to at most n characters, eliding in the middle. */
export function shorten(str, n) {
  str = String(str ?? '');
  if (str.length <= n) return str;
  const head = Math.ceil((n - 1) * 0.6);
  const tail = n - 1 - head;
  return str.slice(0, head) + '…' + (tail > 0 ? str.slice(-tail) : '');
}

/** Shortens an etcd key for a packet label: drops the /registry/ prefix. */
export function shortKey(key) {
  return String(key || '').replace(/^\/registry\//, '');
}

/**
 * The short label a packet carries: "POST pods", "ADDED nginx",
 * "put pods/default/nginx", "StartContainer", "NodeReady".
 */
export function packetLabel(ev) {
  const d = ev.detail || {};
  switch (ev.kind) {
    case 'http': {
      // Reads keep the apiserver's verb (GET/LIST/WATCH say more than GET);
      // writes show the HTTP method learners type in curl.
      const m = WRITE_VERBS.has(ev.verb) ? (d.method || METHOD_OF_VERB[ev.verb] || ev.verb) : (METHOD_OF_VERB[ev.verb] || d.method || ev.verb || 'GET');
      const res = ev.resource ? ev.resource + (ev.subresource ? '/' + ev.subresource : '') : shorten(pathOnly(d.path), 22);
      return `${String(m).toUpperCase()} ${res}`.trim();
    }
    case 'watch': return `${ev.verb || '?'} ${ev.name || ev.resource || ''}`.trim();
    case 'etcd': return `${ev.verb || 'put'} ${shorten(shortKey(d.key) || objectKey(ev), 26)}`;
    case 'cri': return ev.verb || shorten(d.method, 20) || 'CRI';
    case 'kubelet-api': return ev.verb || shorten(pathOnly(d.path), 20);
    case 'net': return `${String(d.protocol || 'tcp').toUpperCase()} ${d.dst || ''}`.trim();
    case 'lifecycle': return ev.verb || 'lifecycle';
    default: return ev.kind || '?';
  }
}

function pathOnly(p) {
  return String(p || '').split('?')[0];
}

// ---------------------------------------------------------------------------
// Component ids

/** The component groups used for filters and timeline lanes, in lane order. */
export const GROUPS = ['client', 'apiserver', 'etcd', 'scheduler', 'controller-manager', 'kubelet', 'kube-proxy', 'runtime'];

const CORE = new Set(['apiserver', 'etcd', 'scheduler', 'controller-manager']);
const PER_NODE = new Set(['kubelet', 'kube-proxy', 'runtime']);

/** The HA load balancer's component id (in front of the apiservers). */
export const LOAD_BALANCER = 'load-balancer';

/**
 * The group of a component id: kubelet/node-1 → kubelet; kubectl, curl →
 * client. An HA machine's instance is in its kind's group (etcd/cp-2 →
 * etcd); the load balancer, the apiservers' front door, in the apiserver's.
 */
export function groupOf(id) {
  if (!id) return '';
  if (isPodId(id)) return 'pod';
  if (id === LOAD_BALANCER) return 'apiserver';
  const base = id.split('/')[0];
  if (CORE.has(base)) return base;
  if (PER_NODE.has(base) && id.includes('/')) return base;
  return 'client';
}

/**
 * A pod as the source or destination of a `net` event ("pod:lab8/client"):
 * not a component, and never a client outside the cluster.
 */
export function isPodId(id) {
  return typeof id === 'string' && id.startsWith('pod:');
}

/** The node of a per-node component id (kubelet/node-1 → node-1), or ''. */
export function nodeOf(id) {
  if (!id) return '';
  const i = id.indexOf('/');
  if (i < 0) return '';
  return PER_NODE.has(id.slice(0, i)) ? id.slice(i + 1) : '';
}

/** The HA control-plane machine of a control-plane instance (apiserver/cp-2 → cp-2), or ''. */
export function machineOf(id) {
  if (!id) return '';
  const i = id.indexOf('/');
  if (i < 0) return '';
  return CORE.has(id.slice(0, i)) ? id.slice(i + 1) : '';
}

/** True for component ids drawn outside the cluster (kubectl, curl, wheelhouse…). */
export function isExternal(id) {
  return !!id && groupOf(id) === 'client';
}

// ---------------------------------------------------------------------------
// Time and numbers

/** Parses an RFC 3339 time (nanosecond precision allowed) to epoch ms, or NaN. */
export function parseTime(t) {
  if (typeof t !== 'string') return NaN;
  // Keep milliseconds only: some engines reject more than 3 fraction digits.
  return Date.parse(t.replace(/(\.\d{3})\d+/, '$1'));
}

/** Formats an RFC 3339 time as local HH:MM:SS.mmm. */
export function fmtClock(t) {
  const ms = parseTime(t);
  if (!Number.isFinite(ms)) return '';
  const d = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

export function fmtMs(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '';
  if (ms < 1) return ms.toFixed(2) + ' ms';
  if (ms < 100) return ms.toFixed(1) + ' ms';
  return Math.round(ms) + ' ms';
}

export function fmtRate(x) {
  if (!Number.isFinite(x)) return '0';
  return x >= 10 ? String(Math.round(x)) : x.toFixed(1);
}

/** Pretty JSON, tolerant of cycles and huge values. */
export function prettyJSON(v, max = 200000) {
  let out;
  try { out = JSON.stringify(v, null, 2); } catch { out = String(v); }
  if (out === undefined) out = 'null';
  return out.length > max ? out.slice(0, max) + '\n…' : out;
}

/** Debounces fn to run at most once per `ms`. */
export function debounce(fn, ms) {
  let t = 0;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

// ---------------------------------------------------------------------------
// Shapes: every kind class has a colour AND a shape, so colour is never the
// only cue. Paths are centred on 0,0 with radius r.

export function shapePath(kc, r) {
  switch (kc) {
    case 'write': // circle
      return `M${-r},0a${r},${r} 0 1,0 ${2 * r},0a${r},${r} 0 1,0 ${-2 * r},0Z`;
    case 'read': { // square
      const a = r * 0.86;
      return `M${-a},${-a}H${a}V${a}H${-a}Z`;
    }
    case 'watch': { // diamond
      const a = r * 1.2;
      return `M0,${-a}L${a},0L0,${a}L${-a},0Z`;
    }
    case 'etcd': { // triangle
      const a = r * 1.15;
      return `M0,${-a}L${a * 1.0},${a * 0.8}L${-a * 1.0},${a * 0.8}Z`;
    }
    case 'cri': { // hexagon
      const p = [];
      for (let i = 0; i < 6; i++) {
        const ang = Math.PI / 3 * i;
        p.push(`${(r * 1.05 * Math.cos(ang)).toFixed(2)},${(r * 1.05 * Math.sin(ang)).toFixed(2)}`);
      }
      return 'M' + p.join('L') + 'Z';
    }
    case 'kubelet': { // pentagon
      const p = [];
      for (let i = 0; i < 5; i++) {
        const ang = -Math.PI / 2 + 2 * Math.PI / 5 * i;
        p.push(`${(r * 1.1 * Math.cos(ang)).toFixed(2)},${(r * 1.1 * Math.sin(ang)).toFixed(2)}`);
      }
      return 'M' + p.join('L') + 'Z';
    }
    case 'net': { // arrowhead: a packet on the pod network
      const a = r * 1.15;
      return `M${-a},${-a * 0.85}L${a},0L${-a},${a * 0.85}L${-a * 0.35},0Z`;
    }
    case 'lifecycle': { // four-point star
      const a = r * 1.2, b = r * 0.4;
      return `M0,${-a}L${b},${-b}L${a},0L${b},${b}L0,${a}L${-b},${b}L${-a},0L${-b},${-b}Z`;
    }
    default: { // small square rotated: generic
      const a = r * 0.8;
      return `M${-a},${-a}H${a}V${a}H${-a}Z`;
    }
  }
}

/** A small standalone SVG icon of a kind's shape (legend, timeline, inspector). */
export function shapeIcon(kc, size = 14) {
  const r = size / 2 - 1.5;
  return s('svg', { class: `shape-icon k-${kc}`, width: size, height: size, viewBox: `${-size / 2} ${-size / 2} ${size} ${size}`, 'aria-hidden': 'true' },
    s('path', { d: shapePath(kc, r) }));
}

// ---------------------------------------------------------------------------
// Browser storage. localStorage can be disabled or full, and what is in it
// may have been written by another version of the page: every read and
// write goes through these two, which never throw.

/**
 * The value stored under key, decoded by parse (JSON by default), or
 * fallback when there is none, it does not decode or storage is disabled.
 */
export function readStored(key, fallback, parse = JSON.parse) {
  try {
    const raw = localStorage.getItem(key);
    return raw === null ? fallback : parse(raw);
  } catch {
    return fallback;
  }
}

/**
 * Stores value under key, encoded by format (JSON by default); null or
 * undefined removes the key. False when storage is disabled: the value
 * then lasts this page only (the callers keep it in memory).
 */
export function writeStored(key, value, format = JSON.stringify) {
  try {
    if (value === null || value === undefined) localStorage.removeItem(key);
    else localStorage.setItem(key, format(value));
    return true;
  } catch {
    return false;
  }
}

// Layout preferences (which columns are collapsed), kept per browser in
// localStorage "wheelhouse.ui" so that a reload keeps the learner's layout.

const PREFS_KEY = 'wheelhouse.ui';

function prefs() {
  const all = readStored(PREFS_KEY, {});
  return all && typeof all === 'object' && !Array.isArray(all) ? all : {};
}

export function loadPref(name, fallback) {
  const all = prefs();
  return name in all ? all[name] : fallback;
}

export function savePref(name, value) {
  writeStored(PREFS_KEY, { ...prefs(), [name]: value });
}
