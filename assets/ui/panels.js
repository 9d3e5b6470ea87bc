// panels.js: the component panel: what a component does (in the current
// language) and live numbers from the stream: requests/s and watch
// events/s over the last 5 s, distinct watch paths seen, and its last five
// events (clickable). Nodes get a short panel of their own facts.
// Components the server can stop and start (components.js: the scheduler,
// the controller manager, each node's kubelet) get Stop / Start buttons.
// On an HA control plane a machine's instance also says where it stands:
// the etcd member's Raft role, the scheduler's or controller manager's
// Lease (and how fast a standby takes over), the apiserver's place behind
// the load balancer.

import { h, clear, groupOf, kindClass, shapeIcon, fmtRate, machineOf, LOAD_BALANCER } from './util.js';
import { t, has, onLangChange } from './i18n.js';
import { api } from './api.js';

export class ComponentPanel {
  /**
   * @param {HTMLElement} host
   * @param {object} o
   * @param {import('./stats.js').Stats} o.stats
   * @param {import('./store.js').EventStore} o.store
   * @param {import('./cluster.js').ClusterModel} o.model
   * @param {() => number} o.now reference time (ms) for rates
   * @param {(seq:number) => void} o.onSelect
   * @param {() => void} o.onClose
   * @param {import('./components.js').Components} [o.components] stop/start (live mode)
   */
  constructor(host, o) {
    this.o = o;
    this.id = '';
    this.node = '';
    this.ctlBoxes = new Map(); // component id → its control box in the open panel
    this.ctlMsg = null; // {id, text, ok}: the last stop/start outcome
    this.root = h('section', { class: 'comp-panel', 'data-testid': 'component-panel', hidden: true });
    host.append(this.root);
    this.root.addEventListener('click', (e) => {
      const a = e.target.closest('[data-goto]');
      if (a) { e.preventDefault(); this.o.onSelect(Number(a.dataset.goto)); }
    });
    onLangChange(() => { if (!this.root.hidden) this.render(); });
    setInterval(() => { if (!this.root.hidden) this.refresh(); }, 500);
  }

  get open() { return !this.root.hidden; }

  showComponent(id) {
    this.id = id;
    this.node = '';
    this.root.hidden = false;
    this.root.dataset.component = id;
    this.render();
  }

  showNode(name) {
    this.id = '';
    this.node = name;
    this.root.hidden = false;
    this.root.dataset.component = '';
    this.render();
  }

  hide() {
    this.root.hidden = true;
    this.id = this.node = '';
  }

  /** The i18n key base for a component id: kubelet/node-1 → kubelet, curl → client. */
  roleKey(id) {
    if (id === 'cloud-controller-manager' || id === 'kubectl' || id === 'wheelhouse' || id === LOAD_BALANCER) return id;
    const g = groupOf(id);
    return has('role.' + g) ? g : 'client';
  }

  render() {
    const root = this.root;
    clear(root);
    this.ctlBoxes.clear();
    const close = h('button', { class: 'icon-btn close', 'aria-label': t('panel.close'), title: t('panel.close'), text: '✕', onclick: () => this.o.onClose() });
    if (this.node) {
      const n = this.o.model.nodes.get(this.node) || { name: this.node };
      root.append(h('header', { class: 'panel-head' }, h('h2', { text: t('panel.node', { name: this.node }) }), close));
      root.append(h('p', { text: t('panel.nodeFacts', { zone: n.zone || '–', cidr: n.podCIDR || '–', rt: n.runtime || '–' }) }));
      root.append(h('p', { text: t('panel.podCount', { n: this.o.model.podsOn(this.node).length }) }));
      root.append(h('h3', { text: t('comp.kubelet') }), h('p', { class: 'role', text: t('role.kubelet') }));
      this.appendControl(`kubelet/${this.node}`);
      if (n.runtime === 'containerd') this.renderContainerd(this.node);
      return;
    }
    const key = this.roleKey(this.id);
    const name = key === 'client' ? this.id : t('comp.' + key);
    const node = this.id.includes('/') ? this.id.split('/')[1] : '';
    root.append(h('header', { class: 'panel-head' },
      h('h2', {}, name, node ? h('span', { class: 'tl-node', text: node }) : null), close));
    root.append(h('h3', { text: t('panel.role') }), h('p', { class: 'role', text: t('role.' + key) }));
    if (key === 'cloud-controller-manager') return;
    this.haEl = null;
    if (this.o.model.ha && (machineOf(this.id) || this.id === LOAD_BALANCER)) {
      this.haEl = h('div', { class: 'ha-facts', 'data-testid': 'ha-facts' });
      root.append(h('h3', { text: t('panel.ha.title') }), this.haEl);
    }
    this.appendControl(this.id);
    if (key === 'kube-proxy' && node) this.renderRules(node);
    root.append(h('h3', { text: t('panel.live') }));
    this.numbersEl = h('dl', { class: 'facts numbers' });
    this.lastEl = h('div', { class: 'last5' });
    root.append(this.numbersEl, h('h3', { text: t('panel.last5') }), this.lastEl);
    this.refresh();
  }

  /** Stop / Start for a component the server controls (none in replay mode). */
  appendControl(id) {
    const comps = this.o.components;
    if (!comps || !comps.controllable(id)) return;
    const box = h('div', { class: 'ctl-box', 'data-testid': 'component-control', 'data-control': id });
    this.ctlBoxes.set(id, box);
    this.root.append(h('h3', { text: t('cc.title') }), box);
    this.updateControls();
  }

  /** Redraws the control boxes from the current states (after every change). */
  updateControls() {
    const comps = this.o.components;
    if (!comps) return;
    if (this.open && !this.ctlBoxes.size && (comps.controllable(this.id) || (this.node && comps.controllable(`kubelet/${this.node}`)))) {
      this.render(); // the states arrived after the panel opened
      return;
    }
    for (const [id, box] of this.ctlBoxes) {
      const st = comps.stateOf(id);
      const busy = comps.busy.has(id);
      // An HA machine's instance has others to take over: its own text.
      const base = id.split('/')[0];
      const why = this.o.model.ha && machineOf(id) && has('cc.whyHA.' + base) ? 'cc.whyHA.' + base : 'cc.why.' + base;
      clear(box);
      box.dataset.state = st;
      const act = (action) => async () => {
        this.ctlMsg = null;
        const res = await comps.act(id, action);
        this.ctlMsg = { id, text: res.message, ok: res.ok }; // shown under the buttons
        this.updateControls();
      };
      box.append(
        h('p', { class: 'ctl-state' }, h('span', { class: `state-dot s-${st}` }), t('cc.state') + ' ', h('b', { 'data-testid': 'component-state', text: t('state.' + st) })),
        h('div', { class: 'ctl-buttons' },
          h('button', { type: 'button', class: 'btn small danger', 'data-testid': 'component-stop', disabled: busy || st !== 'running', text: '■ ' + t('cc.stop'), onclick: act('stop') }),
          h('button', { type: 'button', class: 'btn small', 'data-testid': 'component-start', disabled: busy || (st !== 'stopped' && st !== 'crashed'), text: '▶ ' + t('cc.start'), onclick: act('start') }),
          // kill -9 rather than a request to end: nothing is handed over.
          h('button', { type: 'button', class: 'btn small danger', 'data-testid': 'component-crash', disabled: busy || st !== 'running', text: '✖ ' + t('cc.crash'), title: t('cc.crashWhy'), onclick: act('crash') })),
        has(why) ? h('p', { class: 'muted ctl-why', text: t(why) }) : null);
      if (this.ctlMsg && this.ctlMsg.id === id) box.append(h('p', { class: `ctl-msg${this.ctlMsg.ok ? '' : ' error'}`, 'data-testid': 'component-message', text: this.ctlMsg.text }));
    }
  }

  /**
   * kube-proxy's panel: the node's rules as the proxier wrote them
   * (`iptables-save`), with one Service's lines and chains highlighted.
   */
  renderRules(node) {
    const box = h('div', { class: 'rules', 'data-testid': 'kube-proxy-rules' });
    const pick = h('select', { class: 'rules-pick', 'data-testid': 'rules-service', 'aria-label': t('panel.rules.service') });
    const pre = h('pre', { class: 'rules-text mono' });
    const refresh = h('button', { type: 'button', class: 'btn small', text: t('panel.rules.refresh') });
    box.append(h('h3', { text: t('panel.rules') }), h('p', { class: 'muted', text: t('panel.rules.note') }),
      h('div', { class: 'rules-bar' }, pick, refresh), pre);
    this.root.append(box);
    let text = '';
    const draw = () => {
      clear(pre);
      const lines = text.split('\n').filter((l) => l);
      if (!lines.length) { pre.append(h('span', { class: 'muted', text: t('panel.rules.none') })); return; }
      const hl = serviceLines(lines, pick.value);
      lines.forEach((line, i) => pre.append(h('span', { class: `rule-line${hl.has(i) ? ' hl' : ''}`, text: line + '\n' })));
      const first = pre.querySelector('.hl');
      if (first) first.scrollIntoView({ block: 'nearest' });
    };
    const load = async () => {
      try {
        const res = await api.nodeRules(node);
        text = typeof res.rules === 'string' ? res.rules : '';
      } catch (err) {
        text = '';
        clear(pre);
        pre.append(h('span', { class: 'error', text: String(err.message || err) }));
        return;
      }
      if (this.id !== `kube-proxy/${node}` || !box.isConnected) return;
      const keep = pick.value;
      clear(pick);
      pick.append(h('option', { value: '', text: t('panel.rules.all') }));
      for (const svc of servicesIn(text)) pick.append(h('option', { value: svc, text: svc, selected: svc === keep }));
      draw();
    };
    pick.addEventListener('change', draw);
    refresh.addEventListener('click', load);
    load();
  }

  /** A containerd node: what containerd itself sees next to the kubelet's report. */
  async renderContainerd(node) {
    const box = h('div', { class: 'ctrd', 'data-testid': 'containerd-view' });
    this.root.append(box);
    let v;
    try {
      v = await api.containerd(node);
    } catch (err) {
      box.append(h('p', { class: 'muted', text: String(err.message || err) }));
      return;
    }
    if (this.node !== node || !box.isConnected) return;
    box.append(h('h3', { text: `${t('panel.ctrdSees')} · ${v.runtime}` }));
    const short = (id) => (id || '').replace(/^containerd:\/\//, '').slice(0, 12);
    const seen = h('ul', { class: 'facts' });
    for (const c of v.containers || []) {
      const task = c.task ? `pid ${c.task.pid} · ${c.task.status}` : t('panel.ctrdNoTask');
      seen.append(h('li', { text: `${c.kind} ${c.pod || ''}${c.container ? ' / ' + c.container : ''} · ${short(c.id)} · ${task}` }));
    }
    if (!seen.children.length) seen.append(h('li', { class: 'muted', text: t('panel.ctrdNone') }));
    const rep = h('ul', { class: 'facts' });
    for (const k of v.kubelet || []) rep.append(h('li', { text: `${k.pod} / ${k.container} · ${short(k.containerID) || '–'} · ${k.state}` }));
    if (!rep.children.length) rep.append(h('li', { class: 'muted', text: t('panel.ctrdNone') }));
    box.append(seen, h('h3', { text: t('panel.ctrdKubelet') }), rep);
  }

  /**
   * The HA facts of the open component: what leads now, and for the
   * Lease holders how the election is timed.
   */
  renderHA() {
    const el = this.haEl;
    if (!el || !el.isConnected) return;
    const m = this.o.model;
    const id = this.id, kind = id.split('/')[0];
    const leader = (m.leaders && m.leaders[kind]) || '';
    const n = m.controlPlanes.length;
    const lines = [];
    if (kind === 'etcd') {
      const quorum = Math.floor(n / 2) + 1;
      lines.push(!leader ? t('panel.ha.etcd.none', { n, q: quorum })
        : leader === id ? t('panel.ha.etcd.leader', { n, q: quorum, term: m.etcdTerm || '–' })
          : t('panel.ha.etcd.follower', { leader, n, q: quorum }));
    } else if (kind === 'scheduler' || kind === 'controller-manager') {
      const lease = kind === 'scheduler' ? 'kube-scheduler' : 'kube-controller-manager';
      lines.push(!leader ? t('panel.ha.lease.none', { lease })
        : leader === id ? t('panel.ha.lease.holder', { lease }) : t('panel.ha.lease.standby', { lease, holder: leader }));
      lines.push(t('panel.ha.lease.timing', { lease }));
    } else if (kind === 'apiserver') {
      lines.push(t('panel.ha.apiserver', { n, etcd: `etcd/${machineOf(id)}` }));
    } else if (id === LOAD_BALANCER) {
      lines.push(t('panel.ha.lb', { n }));
    }
    const sig = lines.join('\n');
    if (el.dataset.sig === sig) return;
    el.dataset.sig = sig;
    clear(el);
    for (const line of lines) el.append(h('p', { text: line }));
  }

  /** Recomputes the live numbers (twice a second while open). */
  refresh() {
    this.renderHA();
    if (!this.id || !this.numbersEl) return;
    const n = this.o.stats.numbers(this.id, this.o.now());
    const g = groupOf(this.id);
    clear(this.numbersEl);
    const add = (k, v) => this.numbersEl.append(h('dt', { text: t(k) }), h('dd', { class: 'num', text: String(v) }));
    add(g === 'runtime' ? 'panel.criPs' : 'panel.reqps', fmtRate(n.reqps));
    if (g !== 'etcd' && g !== 'runtime') {
      add('panel.watchps', fmtRate(n.watchps));
      add('panel.watchPaths', n.watchPaths);
    }
    if (g === 'etcd') add('panel.etcdRev', this.o.stats.etcdRevision || '–');
    const sig = n.last.join(',');
    if (this.lastEl.dataset.sig === sig) return;
    this.lastEl.dataset.sig = sig;
    clear(this.lastEl);
    if (!n.last.length) this.lastEl.append(h('p', { class: 'muted', text: t('panel.none') }));
    for (const seq of n.last) {
      const ev = this.o.store.get(seq);
      if (!ev) continue;
      const kc = kindClass(ev);
      this.lastEl.append(h('a', { href: '#', class: `ev-link k-${kc}`, 'data-goto': seq, title: ev.summary },
        shapeIcon(kc, 12), h('span', { class: 'seq', text: `#${seq}` }), ' ', ev.summary));
    }
  }
}

// kube-proxy names each rule's Service in its comment: "lab8/web:http
// cluster IP", "lab8/web:http -> 10.244.1.5:80", or without quotes.
const SERVICE_COMMENT = /--comment "?([a-z0-9][a-z0-9-]*\/[a-z0-9][a-z0-9.-]*)/;

/** The Services the rules name, sorted. */
export function servicesIn(text) {
  const out = new Set();
  for (const line of String(text).split('\n')) {
    const m = SERVICE_COMMENT.exec(line);
    if (m && line.startsWith('-A ')) out.add(m[1]);
  }
  return [...out].sort();
}

/**
 * The indexes of the lines that belong to a Service: those whose comment
 * names it, and every rule of the chains they jump to (KUBE-SVC-…,
 * KUBE-SEP-…, KUBE-EXT-…), transitively. None for svc ''.
 */
export function serviceLines(lines, svc) {
  const out = new Set();
  if (!svc) return out;
  const chains = new Set();
  const chainOf = (line) => (line.startsWith('-A ') ? line.split(' ')[1] : '');
  lines.forEach((line, i) => {
    const m = SERVICE_COMMENT.exec(line);
    if (m && m[1] === svc) {
      out.add(i);
      const j = /-j (KUBE-(?:SVC|SEP|EXT|FW|SVL)-\S+)/.exec(line);
      if (j) chains.add(j[1]);
    }
  });
  for (let grew = true; grew;) {
    grew = false;
    lines.forEach((line, i) => {
      if (!chains.has(chainOf(line)) && !chains.has(line.slice(1).split(' ')[0])) return;
      if (!out.has(i)) { out.add(i); grew = true; }
      const j = /-j (KUBE-(?:SVC|SEP|EXT|FW|SVL)-\S+)/.exec(line);
      if (j && !chains.has(j[1])) { chains.add(j[1]); grew = true; }
    });
  }
  return out;
}
