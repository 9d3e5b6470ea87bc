// api.js: the HTTP endpoints of the Wheelhouse server, as small async
// functions. dev/mock.js replaces them (setBackend) when the page runs with
// ?mock=1, so every view calls these and never fetch() directly.

export class HTTPError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function getJSON(url) {
  const res = await fetch(url, { headers: { Accept: 'application/json' } });
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

const real = {
  /** GET /api/state: nodes and pods (404 in replay mode). */
  state: () => getJSON('/api/state'),
  /** GET /api/events/{seq}: one event plus details (value/previous/changes for etcd). */
  event: (seq) => getJSON(`/api/events/${encodeURIComponent(seq)}`),
  /** GET /api/flows?object=…: every stored event about one object, in seq order. */
  flows: (object) => getJSON(`/api/flows?object=${encodeURIComponent(object)}`),
  /** GET /api/nodes/{node}/containerd: containerd's containers and tasks, and the kubelet's report (containerd nodes only). */
  containerd: (node) => getJSON(`/api/nodes/${encodeURIComponent(node)}/containerd`),
  /** GET /api/etcd/keys?prefix=… */
  etcdKeys: (prefix = '/registry/') => getJSON(`/api/etcd/keys?prefix=${encodeURIComponent(prefix)}`),
  /** GET /api/etcd/value?key=…[&rev=…] */
  etcdValue: (key, rev) => getJSON(`/api/etcd/value?key=${encodeURIComponent(key)}${rev ? `&rev=${encodeURIComponent(rev)}` : ''}`),
};

/** The backend in use; views call api.state(), api.event(seq)… */
export const api = { ...real };

/** Replaces some or all endpoints (used by the mock). */
export function setBackend(impl) {
  Object.assign(api, impl);
}
