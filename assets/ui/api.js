// api.js: the HTTP endpoints of the Wheelhouse server, as small async
// functions, and the admin token that guards the ones that act. dev/mock.js
// replaces the endpoints (setBackend) when the page runs with ?mock=1, so
// every view calls these and never fetch() or new WebSocket() directly.

import { readStored, writeStored } from './util.js';

export class HTTPError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function request(url, init = {}) {
  // The admin token goes with every request: it shows Secret values in the
  // etcd browser and the inspector, and off loopback every API needs it.
  const tok = token.get();
  const headers = { Accept: 'application/json', ...(tok ? { 'X-Wheelhouse-Token': tok } : {}), ...(init.headers || {}) };
  const res = await fetch(url, { ...init, headers });
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      if (body && body.error) msg = body.error;
    } catch { /* not JSON */ }
    throw new HTTPError(res.status, msg);
  }
  return res.json();
}

const getJSON = (url) => request(url);
const q = encodeURIComponent;

const real = {
  /** GET /api/state: nodes and pods (404 in replay mode). */
  state: () => getJSON('/api/state'),
  /** GET /api/events/{seq}: one event plus details (value/previous/changes for etcd). */
  event: (seq) => getJSON(`/api/events/${q(seq)}`),
  /** GET /api/flows?object=…: every stored event about one object, in seq order. */
  flows: (object) => getJSON(`/api/flows?object=${q(object)}`),
  /** GET /api/nodes/{node}/containerd: containerd's containers and tasks, and the kubelet's report (containerd nodes only). */
  containerd: (node) => getJSON(`/api/nodes/${q(node)}/containerd`),
  /** GET /api/nodes/{node}/rules: {node, rules}, the node's iptables as kube-proxy wrote them (iptables-save form). */
  nodeRules: (node) => getJSON(`/api/nodes/${q(node)}/rules`),
  /** GET /api/etcd/keys?prefix=… */
  etcdKeys: (prefix = '/registry/') => getJSON(`/api/etcd/keys?prefix=${q(prefix)}`),
  /** GET /api/etcd/value?key=…[&rev=…] */
  etcdValue: (key, rev) => getJSON(`/api/etcd/value?key=${q(key)}${rev ? `&rev=${q(rev)}` : ''}`),

  /** GET /api/labs?lang=…: {labs:[{id,title,summary,steps}], errors:[{file,line,message}]} */
  labs: (lang) => getJSON(`/api/labs?lang=${q(lang)}`),
  /** GET /api/labs/{id}?lang=…: the lab with its steps. */
  lab: (id, lang) => getJSON(`/api/labs/${q(id)}?lang=${q(lang)}`),
  /** GET /api/labs/{id}/steps/{step}/check?since=<unix ms>&lang=…: {passed, checks:[{description,passed,message}]} */
  labCheck: (id, step, since, lang) => getJSON(`/api/labs/${q(id)}/steps/${q(step)}/check?since=${q(Math.floor(since))}&lang=${q(lang)}`),

  /** GET /api/components: {components:[{name,state,since}]} */
  components: () => getJSON('/api/components'),
  /** POST /api/components/{name}/{stop|start} with the admin token: {name, state}. */
  componentAction: (name, action, tok) => request(`/api/components/${name.split('/').map(q).join('/')}/${q(action)}`, {
    method: 'POST', headers: { 'X-Wheelhouse-Token': tok },
  }),

  /** POST /api/classroom/rotate with the admin token: a new viewers' link, {viewerUrl, viewers}. */
  rotateViewerKey: (tok) => request('/api/classroom/rotate', { method: 'POST', headers: { 'X-Wheelhouse-Token': tok } }),

  /**
   * Opens the terminal websocket (GET /ws/terminal?token=…&cols=…&rows=…).
   * Returns a WebSocket (or, under the mock, an object with the same
   * send/close/onopen/onmessage/onclose surface).
   */
  openTerminal: (tok, cols, rows) => {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return new WebSocket(`${proto}//${location.host}/ws/terminal?token=${q(tok)}&cols=${cols}&rows=${rows}`);
  },
  /**
   * Why a terminal connection was refused before it opened: a plain GET of
   * the websocket URL gets the same 401/403 (and body) the upgrade got,
   * which the WebSocket API hides. Returns {status, message}.
   */
  terminalRefusal: async (tok) => {
    try {
      const res = await fetch(`/ws/terminal?token=${q(tok)}&cols=80&rows=24`);
      return { status: res.status, message: (await res.text()).trim() };
    } catch (e) {
      return { status: 0, message: String(e && e.message || e) };
    }
  },
};

/** The backend in use; views call api.state(), api.event(seq)… */
export const api = { ...real };

/** Replaces some or all endpoints (used by the mock). */
export function setBackend(impl) {
  Object.assign(api, impl);
}

// ---------------------------------------------------------------------------
// Admin token: `wheelhouse up` prints the UI URL with ?token=…; the page
// keeps it in localStorage so that reloads and other tabs (the presenter
// view) have it, and takes it out of the address bar so it does not end up
// on a projector or in a screenshot.

const TOKEN_KEY = 'wheelhouse.token'; // the token as a plain string, not JSON
let memToken = ''; // when localStorage is disabled, the token lasts this page only

export const token = {
  /** Moves ?token=… from the URL into localStorage (call once at boot). */
  capture() {
    const url = new URL(location.href);
    const v = url.searchParams.get('token');
    if (v === null) return;
    if (v) { memToken = v; writeStored(TOKEN_KEY, v, String); }
    url.searchParams.delete('token');
    history.replaceState(history.state, '', url.pathname + url.search + url.hash);
  },
  get() {
    return readStored(TOKEN_KEY, '', String) || memToken;
  },
  /** Forgets a token the server refused (a new `wheelhouse up` made a new one). */
  forget() {
    memToken = '';
    writeStored(TOKEN_KEY, null);
  },
};
