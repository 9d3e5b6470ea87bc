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
// Replay mode is the page's data-mode="replay": no state frames, and
// /api/state answers 404.
//
// Live mode also mocks the labs API (dev/sample-labs.json: a two-step lab
// whose checks the mock evaluates against the events it sent and its pods,
// a one-step lab, and a load error), component control (stop/start answer
// like the server: 401 without a token, 409 when already in that state, a
// lifecycle event; new pods stay Pending while the scheduler is stopped)
// and the terminal websocket, with a tiny shell that understands
// `kubectl run NAME …` (plays the sample flow for that pod), `kubectl get
// pods`, `wheelhouse component stop|start NAME`, `echo` and `exit`. The
// token "wrong" is refused (401) like a stale one; any other is accepted.

import { setBackend, HTTPError } from '../api.js';
import { TraceStream } from '../stream.js';
import { objectKey, parseTime } from '../util.js';

const get = (p) => fetch(new URL(p, import.meta.url)).then((r) => r.json());

export async function install(handlers, params) {
  const [trace, state, details, etcd, labs] = await Promise.all([
    get('./sample-trace.json'), get('./sample-state.json'), get('./sample-details.json'), get('./sample-etcd.json'), get('./sample-labs.json'),
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

  /**
   * Plays a list of sample events with their recorded spacing, renaming the
   * pod and node. While the scheduler is stopped, a pod's flow stops before
   * the scheduler's first event and resumes when the scheduler starts.
   */
  function play(list, { name = 'nginx', node = 'node-1', first = false, map = new Map(), rvBase } = {}) {
    // map: sample seq → emitted seq
    if (rvBase === undefined) { rvBase = rvOffset; rvOffset += 10; }
    if (components.get('scheduler').state !== 'running') {
      const cut = list.findIndex((e) => e.from === 'scheduler');
      if (cut >= 0) {
        waitingForScheduler.push({ list: list.slice(cut), name, node, first, map, rvBase });
        list = list.slice(0, cut);
      }
    }
    if (!list.length) return;
    const t0 = parseTime(list[0].time);
    for (const e of list) {
      const at = (parseTime(e.time) - t0) / pace;
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

  // ---------------------------------------------------------------------
  // Component control

  const components = new Map(); // name → {state, since}
  for (const n of ['scheduler', 'controller-manager', ...nodes.map((x) => `kubelet/${x}`)]) {
    components.set(n, { state: 'running', since: new Date().toISOString() });
  }
  const waitingForScheduler = []; // flows cut short while the scheduler was stopped

  function lifecycle(name, verb) {
    send({ kind: 'lifecycle', from: name, verb, summary: `${name} ${verb}`, detail: { component: name, message: `${name} ${verb} (mock)` } });
  }

  function setComponent(name, state) {
    components.set(name, { state, since: new Date().toISOString() });
  }

  /** Stop/start/crash like the server: 401 without a token, 404 unknown, 409 already so. */
  function componentAction(name, action, tok) {
    if (!tok || tok === 'wrong') throw new HTTPError(401, 'missing or wrong admin token');
    const c = components.get(name);
    if (!c) throw new HTTPError(404, `no component ${name}`);
    if (action === 'stop' || action === 'crash') {
      if (c.state !== 'running') throw new HTTPError(409, `${name} is already ${c.state}`);
      const to = action === 'stop' ? 'stopped' : 'crashed';
      setComponent(name, to);
      lifecycle(name, to);
    } else {
      if (c.state !== 'stopped' && c.state !== 'crashed') throw new HTTPError(409, `${name} is already ${c.state}`);
      setComponent(name, 'starting');
      setTimeout(() => {
        setComponent(name, 'running');
        lifecycle(name, 'started');
        if (name === 'scheduler') {
          for (const w of waitingForScheduler.splice(0)) play(w.list, w);
        }
      }, 800);
    }
    return { name, state: components.get(name).state };
  }

  // ---------------------------------------------------------------------
  // Labs: sample-labs.json in the asked language, checks evaluated here

  const tr = (v, lang) => (v && typeof v === 'object' ? (v[lang] ?? v.en ?? '') : (v ?? ''));
  const labSummary = (l, lang) => ({ id: l.id, title: tr(l.title, lang), summary: tr(l.summary, lang), steps: l.steps.length });
  const findLab = (id) => {
    const l = labs.labs.find((x) => x.id === id);
    if (!l) throw new HTTPError(404, `no lab ${id}`);
    return l;
  };

  function podField(pod, field) {
    const fields = { 'status.phase': pod.phase, 'spec.nodeName': pod.node, 'status.podIP': pod.ip, 'metadata.name': pod.name, 'metadata.namespace': pod.namespace };
    return fields[field];
  }

  function resourceCheck(c) {
    if (c.resource !== 'pods') return { passed: false, message: `the mock only knows pods, not ${c.resource}` };
    const key = `${c.namespace || 'default'}/${c.name}`;
    const pod = pods.get(key);
    if (c.absent) return pod ? { passed: false, message: `pod ${key} exists` } : { passed: true, message: `pod ${key} does not exist` };
    if (!pod) return { passed: false, message: `pod ${key} not found` };
    if (!c.field) return { passed: true, message: `pod ${key} exists` };
    const v = podField(pod, c.field);
    if (c.exists) return v ? { passed: true, message: `pod ${key} has ${c.field} ${v}` } : { passed: false, message: `pod ${key} has no ${c.field}` };
    if (c.equals !== undefined) {
      return v === c.equals ? { passed: true, message: `pod ${key} has ${c.field} ${v}` } : { passed: false, message: `pod ${key} has ${c.field} ${v || '(none)'}, want ${c.equals}` };
    }
    return { passed: true, message: '' };
  }

  const fieldMatch = (want, got) => want === undefined || (String(want).endsWith('*') ? String(got || '').startsWith(String(want).slice(0, -1)) : String(want) === String(got ?? ''));

  function traceCheck(m, since) {
    const ev = emitted.find((e) => parseTime(e.time) >= since &&
      ['kind', 'from', 'to', 'verb', 'resource', 'subresource', 'namespace', 'name', 'status'].every((f) => fieldMatch(m[f], e[f])));
    return ev ? { passed: true, message: `seen: #${ev.seq} ${ev.summary}` } : { passed: false, message: 'no matching event since the step began' };
  }

  function checkStep(id, stepId, since, lang) {
    const l = findLab(id);
    const st = l.steps.find((x) => x.id === stepId);
    if (!st) throw new HTTPError(404, `lab ${id} has no step ${stepId}`);
    if (!Number.isFinite(since)) throw new HTTPError(400, 'since must be a unix time in milliseconds');
    const checks = st.checks.map((c) => {
      const r = c.resource ? resourceCheck(c.resource) : c.trace ? traceCheck(c.trace, since) : { passed: false, message: 'the mock does not evaluate order checks' };
      return { description: tr(c.description, lang), passed: r.passed, message: r.message };
    });
    return { passed: checks.every((c) => c.passed), checks };
  }

  // ---------------------------------------------------------------------
  // Terminal: a fake websocket with a tiny shell behind it

  class MockTerminalSocket {
    constructor(tok) {
      this.readyState = 0;
      this.binaryType = 'blob';
      this.line = '';
      this.enc = new TextEncoder();
      setTimeout(() => {
        if (tok === 'wrong') { this.readyState = 3; this.onclose?.({ code: 1006 }); return; }
        this.readyState = 1;
        this.onopen?.({});
        this.out('\x1b[1mWheelhouse mock shell\x1b[0m: kubectl run NAME …, kubectl get pods, wheelhouse component stop|start NAME, echo, exit\r\n');
        this.prompt();
      }, 60);
    }

    send(data) {
      let msg;
      try { msg = JSON.parse(data); } catch { msg = null; }
      if (!msg || (msg.type !== 'input' && msg.type !== 'resize')) { this.text({ type: 'error', message: 'malformed frame: want {"type":"input"|"resize",…}' }); return; }
      if (msg.type === 'resize') { this.size = `${msg.cols}x${msg.rows}`; return; }
      for (const ch of String(msg.data || '').replace(/\x1b\[20[01]~/g, '')) {
        if (ch === '\r' || ch === '\n') { this.out('\r\n'); this.exec(this.line.trim()); this.line = ''; }
        else if (ch === '\x7f' || ch === '\b') { if (this.line) { this.line = this.line.slice(0, -1); this.out('\b \b'); } }
        else if (ch === '\x03') { this.line = ''; this.out('^C\r\n'); this.prompt(); }
        else if (ch >= ' ') { this.line += ch; this.out(ch); }
      }
    }

    close() {
      if (this.readyState === 3) return;
      this.readyState = 3;
      setTimeout(() => this.onclose?.({ code: 1000 }), 0);
    }

    out(str) { if (this.readyState === 1) this.onmessage?.({ data: this.enc.encode(str).buffer }); }
    text(obj) { if (this.readyState === 1) this.onmessage?.({ data: JSON.stringify(obj) }); }
    prompt() { this.out('\x1b[32mlearner@wheelhouse\x1b[0m:\x1b[34m~\x1b[0m$ '); }

    exec(cmd) {
      const args = cmd.split(/\s+/).filter(Boolean);
      const say = (s) => this.out(s.replace(/\n/g, '\r\n') + '\r\n');
      if (!args.length) { this.prompt(); return; }
      if (args[0] === 'exit') { this.text({ type: 'exit', code: Number(args[1]) || 0 }); this.close(); return; }
      if (args[0] === 'echo') say(args.slice(1).join(' '));
      else if (args[0] === 'kubectl' && args[1] === 'run' && args[2]) {
        const name = args[2];
        if (pods.has(`default/${name}`) && name !== 'nginx') say(`Error from server (AlreadyExists): pods "${name}" already exists`);
        else {
          say(`pod/${name} created`);
          play(flow, { name, node: nodes[(name.length) % nodes.length] });
        }
      } else if (args[0] === 'kubectl' && args[1] === 'get' && /^pods?$|^po$/.test(args[2] || '')) {
        const list = [...pods.values()];
        if (!list.length) say('No resources found in default namespace.');
        else say(['NAME'.padEnd(16) + 'STATUS'.padEnd(10) + 'NODE', ...list.map((p) => p.name.padEnd(16) + p.phase.padEnd(10) + (p.node || '<none>'))].join('\n'));
      } else if (args[0] === 'wheelhouse' && args[1] === 'component' && (args[2] === 'stop' || args[2] === 'start') && args[3]) {
        try {
          const r = componentAction(args[3], args[2], 'shell');
          say(`${r.name}: ${r.state}`);
        } catch (e) {
          say(`error: ${e.message}`);
        }
      } else say(`mock shell: ${args[0]}: not something this mock knows`);
      this.prompt();
    }
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
  if (!replayMode) {
    setBackend({
      labs: async (lang) => ({ labs: labs.labs.map((l) => labSummary(l, lang)), errors: labs.errors }),
      lab: async (id, lang) => {
        const l = findLab(id);
        return {
          ...labSummary(l, lang), introHtml: tr(l.intro, lang),
          steps: l.steps.map((st) => ({
            id: st.id, title: tr(st.title, lang), goal: tr(st.goal, lang), html: tr(st.html, lang), commands: st.commands,
            hints: st.hints.map((x) => tr(x, lang)), watch: st.watch, checks: st.checks.map((c) => ({ description: tr(c.description, lang) })),
          })),
        };
      },
      labCheck: async (id, step, since, lang) => checkStep(id, step, Number(since), lang),
      components: async () => ({ components: [...components].map(([name, c]) => ({ name, ...c })) }),
      componentAction: async (name, action, tok) => componentAction(name, action, tok),
      openTerminal: (tok) => new MockTerminalSocket(tok),
      terminalRefusal: async (tok) => (tok === 'wrong' ? { status: 401, message: 'wrong token' } : { status: 0, message: 'mock' }),
    });
  }

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
        // The state frames a live server's stream carries: here the whole
        // state every half second (a server sends only what changed).
        if (!replayMode) {
          let version = 0;
          const sendState = () => ws.handleFrame(JSON.stringify({
            type: 'state', full: true, version: ++version, tag: seq,
            state: { ...state, pods: [...pods.values()], components: [...components].map(([name, c]) => ({ name, ...c })) },
          }));
          sendState();
          setInterval(sendState, 500);
        }
      }, 150);
    },
    stop() {},
  };
}
