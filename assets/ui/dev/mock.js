// dev/mock.js: a stand-in for the Wheelhouse server, for working on the UI
// without the Go side. Loaded only when the page URL has ?mock=1.
//
// It plays dev/sample-trace.json (the golden flow of
// `kubectl run nginx --image nginx --restart Never`, with boot events before
// it and lease renewals after) through the same frame validation as the
// real websocket, and answers the HTTP API from the other dev/*.json files.
//
// URL options:  mock=1        required
//               pace=0.5      play the flow at half its recorded speed
//               loop=1        repeat the flow every 12 s with new pods on other nodes
//               load=200      add synthetic events at 200/s (performance testing)
//               malformed=1   send a few malformed frames
// Replay mode is the page's data-mode="replay": /api/state then answers 404.

import { setBackend, HTTPError } from '../api.js';
import { TraceStream } from '../stream.js';
import { objectKey } from '../util.js';

const get = (p) => fetch(new URL(p, import.meta.url)).then((r) => r.json());

export async function install(handlers, params) {
  const [trace, state, details, etcd] = await Promise.all([
    get('./sample-trace.json'), get('./sample-state.json'), get('./sample-details.json'), get('./sample-etcd.json'),
  ]);
  const all = Array.isArray(trace) ? trace : trace.events;
  const firstFlow = all.findIndex((e) => e.from === 'kubectl' && e.verb === 'create');
  const boot = all.slice(0, firstFlow);
  const flow = all.slice(firstFlow).filter((e) => !(e.resource === 'leases'));
  const leases = all.filter((e) => e.resource === 'leases');
  const replayMode = document.getElementById('app')?.dataset.mode === 'replay';
  const pace = Number(params.get('pace')) || 1;

  let seq = 0;
  let rvOffset = 0;
  const emitted = []; // every event sent (for /api/events and /api/flows)
  const bySeq = new Map();
  const origOf = new Map(); // emitted seq → sample seq (first run only, for details)
  const pods = new Map(); // the mock's /api/state pods
  const nodes = state.nodes.map((n) => n.name);

  // Frames go through the real stream's validation.
  const ws = new TraceStream(handlers);

  function send(raw, orig, agoMs = 0) {
    const ev = structuredClone(raw);
    const mock = ev._mock;
    delete ev._mock;
    ev.seq = ++seq;
    ev.time = new Date(Date.now() - agoMs).toISOString().replace('Z', '123456Z');
    if (mock && mock.pod) {
      const key = `${ev.namespace}/${ev.name}`;
      pods.set(key, { namespace: ev.namespace, name: ev.name, node: mock.pod.node || '', phase: mock.pod.phase, reason: '', ip: mock.pod.ip || '' });
    }
    emitted.push(ev);
    bySeq.set(ev.seq, ev);
    if (orig) origOf.set(ev.seq, orig);
    if (emitted.length > 200000) bySeq.delete(emitted.shift().seq);
    ws.handleFrame(JSON.stringify(ev));
    return ev;
  }

  /** Plays a list of sample events with their recorded spacing, renaming the pod and node. */
  function play(list, { name = 'nginx', node = 'node-1', first = false } = {}) {
    const map = new Map(); // sample seq → emitted seq
    const t0 = Date.parse(list[0].time.replace(/(\.\d{3})\d+/, '$1'));
    const rvBase = rvOffset;
    rvOffset += 10;
    for (const e of list) {
      const at = (Date.parse(e.time.replace(/(\.\d{3})\d+/, '$1')) - t0) / pace;
      setTimeout(() => {
        const ev = rename(e, name, node, rvBase);
        if (ev.cause) ev.cause = map.get(ev.cause) || ev.cause;
        const out = send(ev, first ? e.seq : 0);
        map.set(e.seq, out.seq);
      }, at);
    }
  }

  function rename(e, name, node, rvAdd) {
    let s = JSON.stringify(e);
    if (name !== 'nginx') {
      s = s.replaceAll('/default/nginx', `/default/${name}`).replaceAll('"name":"nginx"', `"name":"${name}"`)
        .replaceAll('pods/nginx', `pods/${name}`).replaceAll(' nginx (', ` ${name} (`).replaceAll(' nginx nginx', ` ${name} nginx`);
    }
    if (node !== 'node-1') s = s.replaceAll('node-1', node);
    const ev = JSON.parse(s);
    if (rvAdd && ev.rv) ev.rv = String(Number(ev.rv) + rvAdd);
    if (rvAdd && ev.detail && typeof ev.detail.revision === 'number') {
      ev.detail.revision += rvAdd;
      if (ev.detail.prevRevision) ev.detail.prevRevision += rvAdd;
    }
    return ev;
  }

  function leaseRound() {
    const map = new Map();
    for (const e of leases) {
      const ev = structuredClone(e);
      if (ev.cause) ev.cause = map.get(ev.cause);
      map.set(e.seq, send(ev).seq);
    }
  }

  /** Synthetic load: short causal chains about "load-N" configmaps at `rate` events/s. */
  function startLoad(rate) {
    let n = 0;
    const per = rate / 20;
    let carry = 0;
    setInterval(() => {
      carry += per;
      while (carry >= 1) {
        const i = ++n;
        const node = nodes[i % nodes.length];
        const r = Math.random();
        const ns = 'load';
        if (r < 0.3) {
          // write → etcd → watch: three events.
          const h = send({ kind: 'http', from: 'controller-manager', to: 'apiserver', verb: 'update', resource: 'configmaps', namespace: ns, name: `cm-${i % 50}`, status: '200', latencyMs: 2, summary: `controller-manager → apiserver: PUT configmaps/cm-${i % 50}`, detail: { method: 'PUT', controller: 'load-controller' } });
          const e = send({ kind: 'etcd', from: 'apiserver', to: 'etcd', verb: 'put', resource: 'configmaps', namespace: ns, name: `cm-${i % 50}`, status: 'put', cause: h.seq, summary: `apiserver → etcd: put /registry/configmaps/${ns}/cm-${i % 50}`, detail: { key: `/registry/configmaps/${ns}/cm-${i % 50}`, revision: 1000 + i } });
          send({ kind: 'watch', from: 'apiserver', to: `kube-proxy/${node}`, verb: 'MODIFIED', resource: 'configmaps', namespace: ns, name: `cm-${i % 50}`, cause: e.seq, summary: `apiserver → kube-proxy/${node}: MODIFIED configmaps/cm-${i % 50}`, detail: { watchPath: '/api/v1/configmaps?watch=true' } });
          carry -= 3;
        } else if (r < 0.6) {
          send({ kind: 'http', from: `kubelet/${node}`, to: 'apiserver', verb: 'get', resource: 'configmaps', namespace: ns, name: `cm-${i % 50}`, status: '200', latencyMs: 1, summary: `kubelet/${node} → apiserver: GET configmaps/cm-${i % 50}`, detail: { method: 'GET' } });
          carry -= 1;
        } else if (r < 0.8) {
          send({ kind: 'cri', from: `kubelet/${node}`, to: `runtime/${node}`, verb: 'ListPodSandbox', status: 'OK', latencyMs: 0.2, summary: `kubelet/${node} → runtime/${node}: ListPodSandbox`, detail: { method: '/runtime.v1.RuntimeService/ListPodSandbox' } });
          carry -= 1;
        } else {
          send({ kind: 'http', from: 'scheduler', to: 'apiserver', verb: 'list', resource: 'nodes', status: '200', latencyMs: 3, summary: 'scheduler → apiserver: LIST nodes', detail: { method: 'GET' } });
          carry -= 1;
        }
      }
    }, 50);
  }

  setBackend({
    state: async () => {
      if (replayMode) throw new HTTPError(404, 'no live cluster in replay mode');
      return { ...state, pods: [...pods.values()] };
    },
    event: async (s) => {
      const ev = bySeq.get(Number(s));
      if (!ev) throw new HTTPError(404, 'no such event (it may have left the buffer)');
      const d = details[String(origOf.get(ev.seq))];
      return d ? { event: ev, ...d } : { event: ev };
    },
    flows: async (obj) => ({ object: obj, events: emitted.filter((e) => objectKey(e) === obj) }),
    etcdKeys: async (prefix) => ({ keys: etcd.keys.filter((k) => k.key.startsWith(prefix || '/')) }),
    etcdValue: async (key, rev) => {
      const v = etcd.values[key];
      const info = etcd.keys.find((k) => k.key === key);
      if (!v || !info) throw new HTTPError(404, 'key not found');
      const hist = v.history ? Object.keys(v.history).map(Number).sort((a, b) => b - a).map((r) => ({ revision: r })) : [{ revision: info.revision }];
      const value = rev && v.history ? v.history[String(rev)] : v.value;
      return { key, revision: rev ? Number(rev) : info.revision, value, history: hist };
    },
  });

  return {
    start() {
      handlers.onStatus('connecting');
      setTimeout(() => {
        handlers.onStatus('connected');
        // The stored backlog, in one burst, as if it happened a minute ago.
        boot.forEach((e, i) => send(e, e.seq, 60000 - i * 100));
        if (params.get('malformed') === '1') {
          ws.handleFrame('{not json');
          ws.handleFrame(JSON.stringify({ seq: 'x', kind: 'http' }));
          ws.handleFrame(JSON.stringify([1, 2, 3]));
        }
        setTimeout(() => play(flow, { first: true }), 1500);
        setInterval(leaseRound, 10000);
        setTimeout(leaseRound, 4000);
        if (params.get('loop') === '1') {
          let k = 1;
          setInterval(() => {
            k++;
            play(flow, { name: `nginx-${k}`, node: nodes[(k - 1) % nodes.length] });
          }, 12000);
        }
        const load = Number(params.get('load'));
        if (load > 0) startLoad(load);
      }, 150);
    },
    stop() {},
  };
}
