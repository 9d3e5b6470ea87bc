// diagram.js: the architecture diagram, an SVG laid out like the textbook
// figure of a cluster:
//
//   outside  │ ┌ control plane ─────────────────────────────────┐
//   (you)    │ │ scheduler   controller-manager   cloud-c-m (absent)
//   kubectl ─┼─┼──▶ kube-apiserver ◀──▶ etcd                  │
//   curl…    │ └───────────▲──────────────────────────────────┘
//            │ ┌ node-1 ───┴───┐ ┌ node-2 ──────┐ …
//            │ │ kubelet  kube-proxy             │
//            │ │ runtime  pods…                  │
//
// Edges follow the real paths only: every component ↔ apiserver, apiserver
// ↔ etcd, kubelet ↔ runtime. The diagram knows geometry (where a packet
// travels for a from→to pair); the animator moves packets along it.
//
// Topologies (from the model): single-control-plane is the figure above.
// single-node draws the control plane and the one node ("wheelhouse") in
// one machine box. ha draws one box per control-plane machine (cp-1 …)
// with its etcd member, apiserver, scheduler and controller manager, the
// load balancer under the machines, and the nodes under it:
//
//   ┌ control plane ──────────────────────────── [unscheduled pods] ┐
//   │ ┌ cp-1 ─────────┐ ┌ cp-2 ─────────┐ ┌ cp-3 ─────────┐       │
//   │ │     etcd ·····Raft····· etcd ·····Raft····· etcd    │       │
//   │ │  kube-apiserver │ │ kube-apiserver│ │ kube-apiserver│       │
//   │ │ sched │ ctrl-mgr│ │ sched │ctrl-mgr│ │ sched │ctrl-mgr│     │
//   kubectl ──▶ [ load balancer ··························· ] ◀── kubelets
//
// There a packet travels a route of several segments: client → load
// balancer → the apiserver that served it (http), back the same way
// (watch), apiserver → its machine's etcd member → the Raft leader (etcd),
// load balancer → apiserver (Routed, BackendDown, BackendUp). Plain ids
// of the trace ("etcd", "controller-manager": a controller's own
// requests) stand for the leader. The leaders carry a mark
// (data-testid="leader-mark", data-leader-of="etcd|scheduler|controller-manager").
//
// Elements carry data-component="<id>", data-node="<node>" and
// data-pod="<ns>/<name>" (with data-phase) for tests and click handling.
// Components the server can stop carry data-state="running|stopped|starting"
// (setStates); a lab step's watch list gets a dashed halo (setWatch).

import { s, clear, shorten, nodeOf, groupOf, machineOf, isPodId, LOAD_BALANCER } from './util.js';
import { t } from './i18n.js';
import { displayPhase, LEADER_ROLES } from './cluster.js';

export const VIEW_W = 900;
export const VIEW_H = 700;

const CP = { x: 152, y: 34, w: 728, h: 262 }; // control-plane box
const NODES_Y = 312; // top of the node row(s)
const NODES_BOTTOM = 690;
const EXT_X = 10, EXT_W = 118; // external column
const SN_BOTTOM = 686; // single-node: the one machine's box ends here
// HA: the control-plane frame, the machines in it, the load balancer under
// them and the node row under that.
const HA = { trayX: 420, machineY: 74, machineH: 194, cpBottom: 280, lbY: 292, lbH: 34, nodesY: 342 };

const PHASE_GLYPH = { Pending: '◔', Running: '●', Succeeded: '✓', Failed: '✕', Unknown: '?', Terminating: '…' };

export class Diagram {
  /**
   * @param {HTMLElement} host element the SVG is put in
   * @param {object} on handlers: component(id), pod(key), node(name), packet(seq)
   */
  constructor(host, on) {
    this.on = on;
    this.svg = s('svg', {
      class: 'diagram', viewBox: `0 0 ${VIEW_W} ${VIEW_H}`, preserveAspectRatio: 'xMidYMid meet',
      role: 'img', 'data-testid': 'diagram',
    });
    this.defs = s('defs');
    this.defs.append(
      s('marker', { id: 'arrowhead', viewBox: '0 0 10 10', refX: 5, refY: 5, markerWidth: 5, markerHeight: 5, orient: 'auto-start-reverse' },
        s('path', { d: 'M0,0L10,5L0,10z', class: 'arrowhead' })),
    );
    this.gFrames = s('g', { class: 'frames' });
    this.gEdges = s('g', { class: 'edges' });
    this.gComps = s('g', { class: 'comps' });
    this.gPackets = s('g', { class: 'packets' });
    this.svg.append(this.defs, this.gFrames, this.gEdges, this.gComps, this.gPackets);
    host.append(this.svg);

    this.rects = new Map(); // component id → {x,y,w,h}
    this.compEls = new Map(); // component id → <g>
    this.edges = new Map(); // "a|b" → {x1,y1,x2,y2,len,el}
    this.nodeEls = new Map(); // node name → {g, pods: <g>, status: <text>, area}
    this.liveEls = new Map(); // component id → <text> for live numbers
    this.flashes = new Map(); // component id → until (ms)
    this.layoutKey = '';
    this.focus = null;
    this.states = new Map(); // component id → running | stopped | starting (from /api/components)
    this.watch = []; // the open lab step's watch list: component ids, groups, "a->b" edges
    this.ha = false; // drawing an HA control plane
    this.machines = []; // its machines: cp-1, cp-2, …
    this.routes = new Map(); // HA: "from|to" (resolved ids) → polyline geometry
    this.leaders = {}; // role → component id (HA)
    this.etcdTerm = 0;
    this.leaderSig = '';
    this.lookup = () => undefined; // seq → stored event (set by the app: an etcd write's serving apiserver)

    this.svg.addEventListener('click', (e) => this.handleClick(e));
    // Keyboard: Enter on a focused component or pod acts like a click.
    this.svg.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && e.target.closest('[data-component],[data-pod]')) { e.preventDefault(); this.handleClick(e); }
    });
  }

  handleClick(e) {
    const pkt = e.target.closest('[data-seq]');
    if (pkt && pkt.dataset.seq) return this.on.packet?.(Number(pkt.dataset.seq));
    const pod = e.target.closest('[data-pod]');
    if (pod) return this.on.pod?.(pod.dataset.pod);
    const comp = e.target.closest('[data-component]');
    if (comp) return this.on.component?.(comp.dataset.component);
    const node = e.target.closest('[data-node]');
    if (node && node.dataset.node) return this.on.node?.(node.dataset.node);
    this.on.background?.();
  }

  // -------------------------------------------------------------------------
  // Layout and rendering

  /** Draws the model; re-lays out only when nodes, clients or the topology changed. */
  render(model) {
    this.model = model; // pods' nodes, for the routes of their connections
    if (this.keyOf(model) !== this.layoutKey) this.layout(model);
    this.updateNodes(model);
    this.setLeaders(model.leaders, model.etcdTerm);
    if (this.focus) this.applyFocus();
  }

  keyOf(model) {
    return model.nodeNames().join(',') + '#' + [...model.clients].join(',') + '#' + (model.shapeKey ? model.shapeKey() : '');
  }

  /** Rebuilds every static element (called on structure or language change). */
  layout(model) {
    clear(this.gFrames); clear(this.gEdges); clear(this.gComps);
    this.rects.clear(); this.compEls.clear(); this.edges.clear(); this.nodeEls.clear(); this.liveEls.clear();
    this.routes.clear();
    this.layoutKey = this.keyOf(model);
    this.ha = !!model.ha;
    this.machines = this.ha ? [...model.controlPlanes] : [];
    if (this.ha) this.layoutHA(model);
    else this.layoutSingle(model);
    if (this.selected) this.setSelected(this.selected);
    this.applyStates();
    this.applyWatch();
    this.leaderSig = '';
    this.applyLeaders();
  }

  /**
   * One control-plane machine: the textbook figure. In the single-node
   * topology the control plane and the one node are the same machine: one
   * box holds both.
   */
  layoutSingle(model) {
    const sn = singleNodeName(model);
    // Frames: outside column, cluster, control plane (or the one machine).
    this.gFrames.append(
      s('text', { x: EXT_X + EXT_W / 2, y: 24, class: 'frame-label', 'text-anchor': 'middle', text: t('diag.outside') }),
      s('line', { x1: 136, y1: 10, x2: 136, y2: 690, class: 'outside-divider' }),
      s('rect', { x: 142, y: 8, width: 748, height: 686, rx: 16, class: 'frame cluster-frame' }),
      s('text', { x: 158, y: 26, class: 'frame-label', text: t('diag.cluster') }),
      sn ? s('rect', { x: CP.x, y: CP.y, width: CP.w, height: SN_BOTTOM - CP.y, rx: 12, class: 'frame cp-frame machine-frame', 'data-machine': sn })
        : s('rect', { x: CP.x, y: CP.y, width: CP.w, height: CP.h, rx: 12, class: 'frame cp-frame' }),
      s('text', { x: CP.x + 14, y: CP.y + 20, class: 'frame-label cp-label', text: sn ? t('diag.singleNode', { name: sn }) : t('diag.controlPlane') }),
    );

    wrapText(this.gFrames.querySelector('.frame-label'), EXT_W - 4);
    if (sn) fitText(this.gFrames.querySelector('.cp-label'), CP.w - 28);

    // Control plane components. Row 1: the pods waiting for the scheduler,
    // the scheduler, the controller manager, the absent cloud controller
    // manager. Row 2: the apiserver in the middle, etcd beside it.
    const tray = s('g', { class: 'tray', 'data-node': '' });
    tray.append(
      s('rect', { x: 166, y: 68, width: 118, height: 76, rx: 8, class: 'tray-box' }),
      s('text', { x: 174, y: 83, class: 'tray-label', text: t('diag.unscheduled') }),
    );
    const trayPods = s('g', { class: 'pods' });
    tray.append(trayPods);
    this.gComps.append(tray);
    fitText(tray.querySelector('.tray-label'), 104);
    this.nodeEls.set('', { g: tray, pods: trayPods, area: { x: 172, y: 90, w: 106, h: 50 } });
    this.addComp('scheduler', 296, 78, 150, 56, t('comp.scheduler'), t('sub.scheduler'));
    this.addComp('controller-manager', 458, 78, 204, 56, t('comp.controller-manager'), t('sub.controller-manager'));
    this.addAbsentCCM(674, 78, 192, 56);
    this.addComp('apiserver', 340, 178, 272, 72, t('comp.apiserver'), t('sub.apiserver'), 'api');
    this.addEtcd(704, 166, 150, 94);
    this.addLive('apiserver', 340 + 136, 270);

    const api = this.rects.get('apiserver');
    const clients = this.layoutClients(model, api.y + api.h / 2);
    const names = model.nodeNames();
    if (sn) this.layoutNodes(model, names, { x: CP.x + 12, w: CP.w - 24, y: NODES_Y, bottom: SN_BOTTOM - 10, maxW: CP.w - 24 });
    else this.layoutNodes(model, names, { x: CP.x, w: CP.w, y: NODES_Y, bottom: NODES_BOTTOM, maxW: 300 });

    // Edges (real paths only).
    for (const id of clients) this.addEdge(id, 'apiserver');
    this.addEdge('scheduler', 'apiserver');
    this.addEdge('controller-manager', 'apiserver');
    this.addEdge('apiserver', 'etcd', 'gRPC');
    names.forEach((n) => {
      this.addEdge(`kubelet/${n}`, 'apiserver');
      this.addEdge(`kube-proxy/${n}`, 'apiserver');
      this.addEdge(`kubelet/${n}`, `runtime/${n}`, 'CRI');
    });
    const kc = this.edges.get('kubectl|apiserver');
    if (kc) this.gEdges.append(s('text', { x: (kc.x1 + kc.x2) / 2, y: kc.y1 - 8, class: 'edge-label', 'text-anchor': 'middle', text: 'HTTPS' }));
  }

  /** External clients, kubectl first with the user figure, from height cy down. Returns their ids. */
  layoutClients(model, cy) {
    const clients = [...model.clients].sort((a, b) => (a === 'kubectl' ? -1 : b === 'kubectl' ? 1 : a.localeCompare(b)));
    const step = Math.min(64, (NODES_BOTTOM - cy - 30) / Math.max(1, clients.length - 1));
    clients.forEach((id, i) => {
      const h = 40, y = cy + i * step - h / 2;
      if (i === 0) this.addUserFigure(EXT_X + EXT_W / 2, y - 8);
      this.addComp(id, EXT_X + 6, y, EXT_W - 12, h, shorten(id, 14), '', 'client');
    });
    return clients;
  }

  /** The node boxes, in one or two rows inside box {x, w, y, bottom, maxW}. */
  layoutNodes(model, names, box) {
    if (!names.length) {
      this.gFrames.append(s('text', { x: box.x + box.w / 2, y: box.y + 120, class: 'muted-big', 'text-anchor': 'middle', text: t('diag.noNodes') }));
    }
    const perRow = names.length <= 5 ? Math.max(1, names.length) : Math.ceil(names.length / 2);
    const rows = Math.ceil(names.length / perRow) || 1;
    const gap = 12;
    const rowH = (box.bottom - box.y - (rows - 1) * gap) / rows;
    const w = Math.min(box.maxW, (box.w - (perRow - 1) * gap) / perRow);
    names.forEach((name, i) => {
      const row = Math.floor(i / perRow), col = i % perRow;
      const inRow = Math.min(perRow, names.length - row * perRow);
      const totalW = inRow * w + (inRow - 1) * gap;
      const x0 = box.x + (box.w - totalW) / 2;
      this.addNode(model.nodes.get(name), x0 + col * (w + gap), box.y + row * (rowH + gap), w, rowH, i, names.length);
    });
  }

  /**
   * An HA control plane (kubeadm's stacked topology): one box per machine
   * holding its etcd member, apiserver, scheduler and controller manager,
   * the etcd members joined by Raft, and the load balancer between the
   * machines and everyone else: every client, the nodes' components and
   * the machines' own schedulers and controller managers reach an
   * apiserver through it.
   */
  layoutHA(model) {
    const cps = this.machines;
    const n = cps.length;
    this.gFrames.append(
      s('text', { x: EXT_X + EXT_W / 2, y: 24, class: 'frame-label', 'text-anchor': 'middle', text: t('diag.outside') }),
      s('line', { x1: 136, y1: 10, x2: 136, y2: 690, class: 'outside-divider' }),
      s('rect', { x: 142, y: 8, width: 748, height: 686, rx: 16, class: 'frame cluster-frame' }),
      s('text', { x: 158, y: 26, class: 'frame-label', text: t('diag.cluster') }),
      s('rect', { x: CP.x, y: CP.y, width: CP.w, height: HA.cpBottom - CP.y, rx: 12, class: 'frame cp-frame' }),
      s('text', { x: CP.x + 14, y: CP.y + 20, class: 'frame-label cp-label', text: t('diag.controlPlaneHA', { n }) }),
    );
    wrapText(this.gFrames.querySelector('.frame-label'), EXT_W - 4);
    const cpLabel = this.gFrames.querySelector('.cp-label');
    fitText(cpLabel, 240);

    // The pods waiting for a scheduler: a strip along the top.
    const tx = HA.trayX, ty = CP.y + 6, tw = CP.x + CP.w - 12 - HA.trayX, th = 28;
    const tray = s('g', { class: 'tray strip', 'data-node': '' });
    const trayLabel = s('text', { x: tx + 8, y: ty + 18, class: 'tray-label', text: t('diag.unscheduled') });
    tray.append(s('rect', { x: tx, y: ty, width: tw, height: th, rx: 8, class: 'tray-box' }), trayLabel);
    const trayPods = s('g', { class: 'pods' });
    tray.append(trayPods);
    this.gComps.append(tray);
    fitText(trayLabel, 150);
    let lw = 0;
    try { lw = trayLabel.getComputedTextLength(); } catch { /* not in the document */ }
    const ax = tx + 8 + Math.min(150, lw || 120) + 10;
    this.nodeEls.set('', { g: tray, pods: trayPods, area: { x: ax, y: ty + 3, w: tx + tw - 6 - ax, h: 22 }, strip: true });

    // The machines, side by side.
    const x0 = CP.x + 14, span = CP.w - 28;
    const gap = n > 3 ? 10 : 14;
    const mw = (span - (n - 1) * gap) / n;
    cps.forEach((cp, i) => this.addMachine(cp, x0 + i * (mw + gap), HA.machineY, mw, HA.machineH));

    // The load balancer, across the machines' feet.
    const lbRect = { x: x0, y: HA.lbY, w: span, h: HA.lbH };
    const lb = this.addComp(LOAD_BALANCER, lbRect.x, lbRect.y, lbRect.w, lbRect.h, t('comp.load-balancer'), '', 'lb');
    const lbSub = s('text', { x: lbRect.x + 12, y: lbRect.y + lbRect.h / 2 + 4, class: 'sub lb-sub', text: t('sub.load-balancer') });
    lb.append(lbSub);
    fitText(lbSub, lbRect.w / 2 - 90);
    this.addLive('apiserver', lbRect.x + lbRect.w - 12, lbRect.y + lbRect.h / 2 + 4);
    this.liveEls.get('apiserver').setAttribute('text-anchor', 'end');

    const clients = this.layoutClients(model, lbRect.y + lbRect.h / 2);
    const names = model.nodeNames();
    this.layoutNodes(model, names, { x: CP.x, w: CP.w, y: HA.nodesY, bottom: NODES_BOTTOM, maxW: 300 });

    // Edges: everyone → the load balancer → an apiserver → its own etcd
    // member; the members to each other (Raft); kubelet → runtime.
    const mid = (r) => r.x + r.w / 2;
    for (const id of clients) {
      const r = this.rects.get(id);
      this.addLine(id, LOAD_BALANCER, { x: r.x + r.w, y: r.y + r.h / 2 }, { x: lbRect.x, y: clamp(r.y + r.h / 2, lbRect.y + 8, lbRect.y + lbRect.h - 8) });
    }
    const kc = this.edges.get(`kubectl|${LOAD_BALANCER}`);
    if (kc) this.gEdges.append(s('text', { x: (kc.x1 + kc.x2) / 2, y: Math.min(kc.y1, kc.y2) - 8, class: 'edge-label', 'text-anchor': 'middle', text: 'HTTPS' }));
    cps.forEach((cp, i) => {
      const api = this.rects.get(`apiserver/${cp}`), etcd = this.rects.get(`etcd/${cp}`);
      for (const kind of ['scheduler', 'controller-manager']) {
        const r = this.rects.get(`${kind}/${cp}`);
        this.addLine(`${kind}/${cp}`, LOAD_BALANCER, { x: mid(r), y: r.y + r.h }, { x: mid(r), y: lbRect.y });
      }
      this.addLine(LOAD_BALANCER, `apiserver/${cp}`, { x: mid(api), y: lbRect.y }, { x: mid(api), y: api.y + api.h });
      this.addLine(`apiserver/${cp}`, `etcd/${cp}`, { x: mid(api), y: api.y }, { x: mid(etcd), y: etcd.y + etcd.h });
      if (i + 1 < n) {
        const next = this.rects.get(`etcd/${cps[i + 1]}`);
        const p1 = { x: etcd.x + etcd.w, y: etcd.y + etcd.h / 2 + 4 }, p2 = { x: next.x, y: next.y + next.h / 2 + 4 };
        this.addLine(`etcd/${cp}`, `etcd/${cps[i + 1]}`, p1, p2, 'raft');
        if (i === 0) this.gEdges.append(s('text', { x: (p1.x + p2.x) / 2, y: p1.y - 7, class: 'edge-label raft-label', 'text-anchor': 'middle', text: t('diag.raft') }));
      }
    });
    names.forEach((nm, i) => {
      for (const kind of ['kubelet', 'kube-proxy']) {
        const id = `${kind}/${nm}`;
        const r = this.rects.get(id);
        if (!r) continue;
        const slots = names.length * 2, slot = i * 2 + (kind === 'kube-proxy' ? 1 : 0);
        const bx = lbRect.x + 24 + (lbRect.w - 48) * (slots === 1 ? 0.5 : slot / (slots - 1));
        this.addLine(id, LOAD_BALANCER, { x: mid(r), y: r.y }, { x: bx, y: lbRect.y + lbRect.h });
      }
      this.addEdge(`kubelet/${nm}`, `runtime/${nm}`, 'CRI');
    });
  }

  /** One HA control-plane machine: its box and its four components. */
  addMachine(cp, x, y, w, h) {
    const g = s('g', { class: 'machine', 'data-machine': cp });
    g.append(s('title', { text: t('diag.machine.tooltip', { name: cp }) }));
    g.append(s('rect', { x, y, width: w, height: h, rx: 10, class: 'machine-box' }));
    g.append(s('text', { x: x + 9, y: y + 15, class: 'machine-name', text: cp }));
    this.gFrames.append(g);
    const pad = 8;
    const ew = Math.min(w - 2 * pad - 16, 132);
    this.addEtcd(x + (w - ew) / 2, y + 20, ew, 56, `etcd/${cp}`, t('sub.etcdMember'));
    // The apiserver's subtitle is its share of the traffic (live numbers).
    const api = this.addComp(`apiserver/${cp}`, x + pad, y + 88, w - 2 * pad, 44, t('comp.apiserver'), ' ', 'api api-ha');
    const live = api.querySelector('.sub');
    live.dataset.fit = String(w - 2 * pad - 10);
    this.liveEls.set(`apiserver/${cp}`, live);
    const sg = 12, sw = (w - 2 * pad - sg) / 2;
    this.addComp(`scheduler/${cp}`, x + pad, y + 144, sw, 40, t('comp.short.scheduler'), '', 'small');
    this.addComp(`controller-manager/${cp}`, x + pad + sw + sg, y + 144, sw, 40, t('comp.short.controller-manager'), '', 'small');
  }

  /** Adds the edge a↔b as a straight line from p1 to p2; its geometry is where packets travel. */
  addLine(a, b, p1, p2, cls = '', label = '') {
    const el = s('line', { x1: p1.x, y1: p1.y, x2: p2.x, y2: p2.y, class: `edge ${cls}`.trim(), 'data-edge': `${a}|${b}` });
    this.gEdges.append(el);
    if (label) {
      const horiz = Math.abs(p2.x - p1.x) > Math.abs(p2.y - p1.y);
      this.gEdges.append(s('text', {
        x: (p1.x + p2.x) / 2 + (horiz ? 0 : 8), y: (p1.y + p2.y) / 2 + (horiz ? -8 : 4),
        class: 'edge-label', 'text-anchor': horiz ? 'middle' : 'start', text: label,
      }));
    }
    const len = Math.hypot(p2.x - p1.x, p2.y - p1.y);
    this.edges.set(`${a}|${b}`, { x1: p1.x, y1: p1.y, x2: p2.x, y2: p2.y, len, el });
  }

  /** A rounded component box with a title and subtitle. */
  addComp(id, x, y, w, h, title, sub, variant = '') {
    const g = s('g', { class: `comp ${variant}`.trim(), 'data-component': id, tabindex: 0, role: 'button' });
    g.append(s('title', { text: title }));
    g.append(s('rect', { x, y, width: w, height: h, rx: 10, class: 'box' }));
    const big = variant === 'api';
    const small = variant === 'small' || variant === 'client';
    const ty = sub ? y + h / 2 - (big ? 4 : 2) : y + h / 2 + 5;
    const tt = s('text', { x: x + w / 2, y: ty, 'text-anchor': 'middle', class: big ? 'title title-big' : small ? 'title title-small' : 'title', text: title });
    const st = sub ? s('text', { x: x + w / 2, y: ty + (big ? 20 : small ? 15 : 17), 'text-anchor': 'middle', class: 'sub', text: sub }) : null;
    g.append(tt);
    if (st) g.append(st);
    this.gComps.append(g);
    fitText(tt, w - 10);
    if (st) fitText(st, w - 10);
    this.rects.set(id, { x, y, w, h });
    this.compEls.set(id, g);
    return g;
  }

  /** The greyed cloud-controller-manager, with a caption and tooltip saying why it is absent. */
  addAbsentCCM(x, y, w, h) {
    const g = s('g', { class: 'comp absent', 'data-component': 'cloud-controller-manager', tabindex: 0, role: 'button' });
    g.append(s('title', { text: t('diag.ccm.tooltip') }));
    g.append(s('rect', { x, y, width: w, height: h, rx: 10, class: 'box' }));
    const tt = s('text', { x: x + w / 2, y: y + h / 2 - 4, 'text-anchor': 'middle', class: 'title title-small', text: t('comp.cloud-controller-manager') });
    const st = s('text', { x: x + w / 2, y: y + h / 2 + 13, 'text-anchor': 'middle', class: 'sub', text: t('diag.ccm.absent') });
    g.append(tt, st);
    this.gComps.append(g);
    fitText(tt, w - 10);
    fitText(st, w - 10);
    this.compEls.set('cloud-controller-manager', g);
  }

  /** etcd drawn as the usual database cylinder (an HA member: id etcd/cp-N, small, no live numbers). */
  addEtcd(x, y, w, h, id = 'etcd', sub = t('sub.etcd')) {
    const g = s('g', { class: 'comp etcd', 'data-component': id, tabindex: 0, role: 'button' });
    const ry = 11;
    const small = h < 70;
    g.append(s('title', { text: id === 'etcd' ? t('comp.etcd') : `${t('comp.etcd')} · ${machineOf(id)}` }));
    g.append(s('path', {
      class: 'box',
      d: `M${x},${y + ry} a${w / 2},${ry} 0 0,1 ${w},0 V${y + h - ry} a${w / 2},${ry} 0 0,1 ${-w},0 Z`,
    }));
    g.append(s('path', { class: 'box-line', d: `M${x},${y + ry} a${w / 2},${ry} 0 0,0 ${w},0` }));
    g.append(s('text', { x: x + w / 2, y: small ? y + h * 0.57 : y + h / 2 + 6, 'text-anchor': 'middle', class: 'title', text: t('comp.etcd') }));
    const st = s('text', { x: x + w / 2, y: small ? y + h * 0.57 + 12.5 : y + h / 2 + 23, 'text-anchor': 'middle', class: 'sub', text: sub });
    g.append(st);
    this.gComps.append(g);
    if (small) fitText(st, w - 24);
    this.rects.set(id, { x, y, w, h });
    this.compEls.set(id, g);
    if (id === 'etcd') this.addLive('etcd', x + w / 2, y + h + 18);
  }

  /** A small person above kubectl: the user at the keyboard. */
  addUserFigure(cx, bottom) {
    const g = s('g', { class: 'user-figure', 'aria-hidden': 'true' });
    g.append(
      s('circle', { cx, cy: bottom - 34, r: 9 }),
      s('path', { d: `M${cx - 17},${bottom - 4} q0,-18 17,-18 q17,0 17,18 z` }),
      s('text', { x: cx + 26, y: bottom - 20, class: 'sub', text: t('diag.user') }),
    );
    this.gFrames.append(g);
  }

  addLive(id, x, y) {
    const el = s('text', { x, y, 'text-anchor': 'middle', class: 'live', 'data-live': id, text: '' });
    this.gComps.append(el);
    this.liveEls.set(id, el);
  }

  /** One node box with its kubelet, kube-proxy, runtime and pods. */
  addNode(node, x, y, w, h, index, count) {
    const name = node.name;
    const g = s('g', { class: 'node', 'data-node': name });
    g.append(s('rect', { x, y, width: w, height: h, rx: 12, class: 'node-box' }));
    g.append(s('text', { x: x + 12, y: y + 21, class: 'node-name', text: name }));
    const status = s('text', { x: x + w - 12, y: y + 21, 'text-anchor': 'end', class: 'node-status' });
    const facts = s('text', { x: x + 12, y: y + 38, class: 'node-facts' });
    g.append(status, facts);
    this.gComps.append(g);

    const compact = h < 250;
    const cw = (w - 30) / 2, ch = compact ? 34 : 44;
    const top = y + 48;
    const rtY = top + ch + (compact ? 22 : 30);
    const save = this.gComps;
    this.gComps = g; // add the components inside the node's <g>
    this.addComp(`kubelet/${name}`, x + 10, top, cw, ch, t('comp.kubelet'), compact ? '' : t('sub.kubelet'), 'small');
    this.addComp(`kube-proxy/${name}`, x + 20 + cw, top, cw, ch, t('comp.kube-proxy'), compact ? '' : t('sub.kube-proxy'), 'small');
    const rt = this.addComp(`runtime/${name}`, x + 10, rtY, cw, ch, t('diag.runtime'), compact ? '' : shorten(node.runtime || 'CRI', 18), 'small runtime');
    this.gComps = save;
    const areaY = rtY + ch + (compact ? 8 : 26);
    if (!compact) {
      g.append(s('line', { x1: x + 10, y1: areaY - 12, x2: x + w - 10, y2: areaY - 12, class: 'pods-rule' }));
      const cap = s('text', { x: x + w / 2, y: areaY - 8.5, 'text-anchor': 'middle', class: 'pods-caption', text: t('diag.podsCaption') });
      g.append(cap);
    }
    const pods = s('g', { class: 'pods' });
    g.append(pods);
    this.nodeEls.set(name, { g, pods, status, facts, rtSub: rt.querySelector('.sub'), area: { x: x + 10, y: areaY, w: w - 20, h: y + h - areaY - 8 }, index, count });
  }

  /** Adds the edge a↔b; its geometry is where packets travel. */
  addEdge(a, b, label) {
    const ra = this.rects.get(a), rb = this.rects.get(b);
    if (!ra || !rb) return;
    let p1, p2;
    if (b === 'apiserver' && nodeOf(a)) {
      // Node components meet the apiserver's bottom side, spread out.
      const n = this.nodeEls.get(nodeOf(a));
      const slots = n.count * 2;
      const slot = n.index * 2 + (a.startsWith('kube-proxy') ? 1 : 0);
      const bx = rb.x + 24 + (rb.w - 48) * (slots === 1 ? 0.5 : slot / (slots - 1));
      p1 = { x: ra.x + ra.w / 2, y: ra.y };
      p2 = { x: bx, y: rb.y + rb.h };
    } else if (b === 'apiserver' && (a === 'scheduler' || a === 'controller-manager')) {
      p1 = { x: ra.x + ra.w / 2, y: ra.y + ra.h };
      p2 = { x: clamp(ra.x + ra.w / 2, rb.x + 30, rb.x + rb.w - 30), y: rb.y };
    } else if (b === 'apiserver') {
      // External clients: from their right side to the apiserver's left side.
      p1 = { x: ra.x + ra.w, y: ra.y + ra.h / 2 };
      p2 = { x: rb.x, y: clamp(ra.y + ra.h / 2, rb.y + 12, rb.y + rb.h - 12) };
    } else if (a === 'apiserver' && b === 'etcd') {
      p1 = { x: ra.x + ra.w, y: ra.y + ra.h / 2 };
      p2 = { x: rb.x, y: rb.y + rb.h / 2 };
    } else {
      // kubelet → runtime: straight down.
      p1 = { x: ra.x + ra.w / 2, y: ra.y + ra.h };
      p2 = { x: rb.x + rb.w / 2, y: rb.y };
    }
    this.addLine(a, b, p1, p2, '', label);
  }

  /** Updates node status text and pod chips. */
  updateNodes(model) {
    for (const [name, ne] of this.nodeEls) {
      if (name) {
        const n = model.nodes.get(name);
        if (n) {
          const st = n.ready === true ? 'ready' : n.ready === false ? 'notready' : 'unknown';
          ne.status.textContent = (st === 'ready' ? '● ' : st === 'notready' ? '✕ ' : '? ') +
            t(st === 'ready' ? 'diag.ready' : st === 'notready' ? 'diag.notReady' : 'diag.unknownReady');
          ne.status.setAttribute('class', `node-status ${st}`);
          ne.g.dataset.ready = String(n.ready);
          ne.facts.textContent = [n.zone, n.podCIDR].filter(Boolean).join(' · ');
          if (ne.rtSub && n.runtime) ne.rtSub.textContent = shorten(n.runtime, 18);
        }
      }
      this.drawPods(ne, model.podsOn(name));
    }
  }

  /** Lays out pod chips in a node's pod area; shrinks to dots when many. */
  drawPods(ne, pods) {
    const sig = pods.map((p) => `${p.namespace}/${p.name}:${p.phase}:${p.terminating ? 1 : 0}`).join('|') + (this.focus || '');
    if (ne.sig === sig) return;
    ne.sig = sig;
    clear(ne.pods);
    const { x, y, w, h } = ne.area;
    if (h < 10) return;
    const isTray = ne.g.classList.contains('tray');
    let cols = ne.strip ? Math.max(1, Math.floor((w + 6) / 116)) : isTray ? 1 : w >= 200 ? 2 : 1;
    let chipH = 22, gapY = 5;
    let rows = Math.max(1, Math.floor((h + gapY) / (chipH + gapY)));
    let dots = false;
    if (pods.length > rows * cols) {
      // Too many for labelled chips: draw small dots (name in the tooltip).
      dots = true;
      chipH = 14; gapY = 4;
      cols = Math.max(1, Math.floor((w + 4) / 18));
      rows = Math.max(1, Math.floor((h + gapY) / (chipH + gapY)));
    }
    const capacity = rows * cols;
    const chipW = dots ? 14 : (w - (cols - 1) * 6) / cols;
    pods.forEach((p, i) => {
      if (i >= capacity) return;
      const key = `${p.namespace}/${p.name}`;
      const phase = displayPhase(p);
      const cx = x + (i % cols) * (dots ? 18 : chipW + 6);
      const cy = y + Math.floor(i / cols) * (chipH + gapY);
      const g = s('g', {
        class: `pod phase-${phase.toLowerCase()}${this.focus === 'pods/' + key ? ' focused' : ''}`,
        'data-pod': key, 'data-phase': p.phase || 'Unknown', 'data-terminating': p.terminating ? 'true' : null,
        tabindex: 0, role: 'button',
      });
      g.append(s('title', { text: `${key} · ${t('phase.' + phase)}${p.node ? ' · ' + p.node : ''}${p.ip ? ' · ' + p.ip : ''}${p.reason && p.reason !== 'Terminating' ? ' · ' + p.reason : ''}` }));
      g.append(s('rect', { x: cx, y: cy, width: chipW, height: chipH, rx: dots ? 7 : 6, class: 'chip' }));
      if (!dots) {
        g.append(s('text', { x: cx + 7, y: cy + 15.5, class: 'chip-glyph', text: PHASE_GLYPH[phase] || '?' }));
        const label = p.namespace === 'default' ? p.name : `${p.namespace}/${p.name}`;
        g.append(s('text', { x: cx + 21, y: cy + 15.5, class: 'chip-text', text: shorten(label, Math.max(6, Math.floor((chipW - 26) / 6.6))) }));
      }
      ne.pods.append(g);
    });
    if (pods.length > capacity) {
      ne.pods.append(s('text', { x: x + w, y: y + h + 2, 'text-anchor': 'end', class: 'more', text: t('diag.more', { n: pods.length - capacity }) }));
    }
  }

  // -------------------------------------------------------------------------
  // Geometry for the animator

  /**
   * Where a packet from→to travels: {x1,y1,x2,y2,len} (one segment) or,
   * on an HA control plane, {pts: [[x,y]…], x1,y1,x2,y2,len} (a route of
   * several); null when the diagram has no such path (a component it does
   * not draw). ev, the event, picks the route of an etcd write.
   */
  geom(from, to, ev) {
    if (isPodId(from)) return this.podGeom(from, to);
    if (this.ha) return this.haGeom(from, to, ev);
    return this.edgeGeom(from, to);
  }

  /**
   * A pod's connection: from its chip to its node's kube-proxy, whose
   * rules route it, then to the chip of the pod that answered (none when
   * nobody did). Not cached: chips move as pods come and go.
   */
  podGeom(from, to) {
    const src = this.podCenter(from);
    const pod = this.model && this.model.pods.get(from.slice('pod:'.length));
    const proxy = pod && pod.node ? this.rects.get(`kube-proxy/${pod.node}`) : null;
    if (!src || !proxy) return null;
    const pts = [src, [proxy.x + proxy.w / 2, proxy.y + proxy.h / 2]];
    const dst = isPodId(to) ? this.podCenter(to) : null;
    if (dst) pts.push(dst);
    return polyline(pts);
  }

  /** The centre of a pod's chip ("pod:ns/name"), or null when it is not drawn. */
  podCenter(id) {
    const key = id.slice('pod:'.length);
    for (const chip of this.svg.querySelectorAll('g.pod')) {
      if (chip.dataset.pod !== key) continue;
      const r = chip.querySelector('rect.chip');
      if (!r) return null;
      const x = Number(r.getAttribute('x')), y = Number(r.getAttribute('y'));
      return [x + Number(r.getAttribute('width')) / 2, y + Number(r.getAttribute('height')) / 2];
    }
    return null;
  }

  edgeGeom(from, to) {
    const e = this.edges.get(`${from}|${to}`);
    if (e) return e;
    const r = this.edges.get(`${to}|${from}`);
    if (r) {
      const key = `rev:${to}|${from}`;
      let g = this.edges.get(key);
      if (!g) {
        g = { x1: r.x2, y1: r.y2, x2: r.x1, y2: r.y1, len: r.len, el: r.el };
        this.edges.set(key, g);
      }
      return g;
    }
    return null;
  }

  /** The points of the drawn edge a→b (either way round), or null. */
  edgePts(a, b) {
    const g = this.edgeGeom(a, b);
    return g ? [[g.x1, g.y1], [g.x2, g.y2]] : null;
  }

  /**
   * The component a trace id is drawn as. On an HA control plane the plain
   * ids stand for an instance: "etcd" the Raft leader, "scheduler" and
   * "controller-manager" their Lease holders (only the leading controller
   * manager runs controllers), "apiserver" the one that served the request
   * behind the event; failing that, the first that runs.
   */
  resolve(id, ev) {
    if (!id || !this.ha || this.rects.has(id)) return id;
    const base = id.split('/')[0];
    const pick = (kind, prefer) => {
      if (prefer && this.rects.has(prefer)) return prefer;
      const ids = this.machines.map((m) => `${kind}/${m}`);
      return ids.find((c) => !this.isDown(c)) || ids[0] || '';
    };
    switch (base) {
      case 'etcd': return pick('etcd', this.leaders.etcd);
      case 'scheduler': case 'controller-manager': return pick(base, this.leaders[base]);
      case 'apiserver': {
        const lead = this.leaders.etcd ? `apiserver/${machineOf(this.leaders.etcd)}` : '';
        return pick('apiserver', this.servingAPIServer(ev) || lead);
      }
      default: return id;
    }
  }

  /** The apiserver behind an event: the nearest in its causal chain (an etcd write's request). */
  servingAPIServer(ev) {
    let c = ev && ev.cause;
    for (let depth = 0; c && depth < 6; depth++) {
      const up = this.lookup(c);
      if (!up) return '';
      for (const id of [up.to, up.from]) if (id && id.startsWith('apiserver/')) return id;
      c = up.cause;
    }
    return '';
  }

  /** An HA route: through the load balancer, or to the Raft leader via the apiserver's own member. */
  haGeom(from, to, ev) {
    const f = this.resolve(from, ev);
    let tt = this.resolve(to, ev);
    // An etcd write taken by a member that does not lead goes on to the
    // Raft leader (detail.leader), which every write passes through.
    const leader = ev && ev.kind === 'etcd' && ev.detail && ev.detail.leader;
    if (leader && leader !== tt && tt.startsWith('etcd/') && !f.startsWith('etcd/') && this.rects.has(leader)) tt = leader;
    if (!f || !tt || f === tt) return null;
    const key = `${f}|${tt}`;
    const known = this.routes.get(key);
    if (known) return known;
    const isAPI = (id) => id.startsWith('apiserver/');
    const isEtcd = (id) => id.startsWith('etcd/');
    let pts = null;
    if (isEtcd(f) || isEtcd(tt)) pts = this.etcdPts(f, tt);
    else if (isAPI(tt) && f !== LOAD_BALANCER && !isAPI(f)) pts = this.viaLB(f, tt);
    else if (isAPI(f) && tt !== LOAD_BALANCER && !isAPI(tt)) pts = this.viaLB(f, tt);
    else pts = this.edgePts(f, tt);
    if (!pts) return null;
    const g = polyline(pts);
    this.routes.set(key, g);
    return g;
  }

  /** a → load balancer → b: in at a's edge, along the balancer, out on b's. */
  viaLB(a, b) {
    const p = this.edgePts(a, LOAD_BALANCER), q = this.edgePts(LOAD_BALANCER, b);
    const lb = this.rects.get(LOAD_BALANCER);
    if (!p || !q || !lb) return null;
    const mid = lb.y + lb.h / 2;
    const inAt = p[p.length - 1], outAt = q[0];
    return [...p, [inAt[0], mid], [outAt[0], mid], ...q];
  }

  /** apiserver/cp-K → etcd/cp-K (its own member) → etcd/cp-L over Raft; or member → member. */
  etcdPts(f, tt) {
    const isEtcd = (id) => id.startsWith('etcd/');
    if (!isEtcd(tt)) { // from a member to an apiserver: the way back
      const back = this.etcdPts(tt, f);
      return back ? back.slice().reverse() : null;
    }
    if (isEtcd(f)) return this.raftPts(f, tt);
    if (!f.startsWith('apiserver/')) return null;
    const own = `etcd/${machineOf(f)}`;
    const first = this.edgePts(f, own);
    if (!first) return null;
    if (own === tt) return first;
    const rest = this.raftPts(own, tt);
    return rest ? [...first, ...rest] : null;
  }

  /**
   * The members an etcd write reaches over Raft after the leader: every
   * other member that runs (the leader replicates each write to them).
   * Empty off an HA control plane or without a known leader.
   */
  raftFollowers(ev) {
    const leader = this.ha && ev && ev.kind === 'etcd' && ev.detail && ev.detail.leader;
    if (!leader || !this.rects.has(leader)) return [];
    return this.machines.map((m) => `etcd/${m}`)
      .filter((id) => id !== leader && this.rects.has(id) && !this.isDown(id));
  }

  /** Whether a component is drawn stopped or crashed. */
  isDown(id) {
    return ['stopped', 'crashed'].includes(this.states.get(id));
  }

  /** Member to member: along the Raft line to a neighbour, over the machines' tops to another. */
  raftPts(a, b) {
    const direct = this.edgePts(a, b);
    if (direct) return direct;
    const ra = this.rects.get(a), rb = this.rects.get(b);
    if (!ra || !rb) return null;
    const top = HA.machineY - 4;
    const ax = ra.x + ra.w / 2, bx = rb.x + rb.w / 2;
    return [[ax, ra.y], [ax, top], [bx, top], [bx, rb.y]];
  }

  /** Centre of a component (lifecycle pulses), or null. */
  center(id) {
    const r = this.rects.get(this.resolve(id));
    return r ? { x: r.x + r.w / 2, y: r.y + r.h / 2 } : null;
  }

  /** Lights a component's border in a kind's colour for a moment. */
  flash(id, kc, now, ms = 450) {
    id = this.resolve(id);
    const g = this.compEls.get(id);
    if (!g) return;
    g.classList.remove('hit-write', 'hit-read', 'hit-watch', 'hit-etcd', 'hit-cri', 'hit-lifecycle');
    g.classList.add('hit', `hit-${kc}`);
    this.flashes.set(id, now + ms);
  }

  /** Ends expired flashes (called every frame). */
  tick(now) {
    for (const [id, until] of this.flashes) {
      if (now >= until) {
        const g = this.compEls.get(id);
        if (g) g.classList.remove('hit');
        this.flashes.delete(id);
      }
    }
  }

  // -------------------------------------------------------------------------
  // Leaders (HA)

  /** The leaders to mark: {etcd, scheduler, controller-manager} → component id ('' none). */
  setLeaders(leaders, term = 0) {
    this.leaders = { ...(leaders || {}) };
    this.etcdTerm = term || 0;
    this.applyLeaders();
  }

  /**
   * Puts a leader mark (♛) on each leading component's element: the etcd
   * Raft leader and the holders of the scheduler's and controller
   * manager's Leases. Rebuilt only when a leader changed.
   */
  applyLeaders() {
    const roles = this.ha ? LEADER_ROLES : [];
    const sig = roles.map((r) => `${r}=${this.leaders[r] || ''}`).join(',') + `#${this.etcdTerm}`;
    if (sig === this.leaderSig) return;
    this.leaderSig = sig;
    for (const el of this.svg.querySelectorAll('.leader-mark')) el.remove();
    for (const g of this.compEls.values()) g.classList.remove('leader');
    // Routes picked for plain ids ("etcd") follow the leader.
    this.routes.clear();
    for (const role of roles) {
      const id = this.leaders[role];
      const g = id && this.compEls.get(id), r = id && this.rects.get(id);
      if (!g || !r) continue;
      g.classList.add('leader');
      const tip = role === 'etcd'
        ? (this.etcdTerm ? t('leader.etcd.term', { term: this.etcdTerm }) : t('leader.etcd'))
        : t('leader.lease', { lease: role === 'scheduler' ? 'kube-scheduler' : 'kube-controller-manager' });
      const mark = s('g', { class: 'leader-mark', 'data-testid': 'leader-mark', 'data-leader-of': role });
      // A tag on the box's bottom edge (the state badge is on its top).
      const cx = r.x + r.w / 2, y = r.y + r.h - 6.5;
      const bg = s('rect', { x: cx - 29, y, width: 58, height: 15, rx: 7.5 });
      const text = s('text', { x: cx, y: y + 11, 'text-anchor': 'middle', text: `♛ ${t('leader.mark')}` });
      mark.append(s('title', { text: tip }), bg, text);
      g.append(mark);
      let w = 0;
      try { w = text.getComputedTextLength(); } catch { /* not in the document */ }
      if (w) { bg.setAttribute('x', String(cx - w / 2 - 6)); bg.setAttribute('width', String(w + 12)); }
    }
  }

  /** Marks the component whose panel is open (null: none). */
  setSelected(id) {
    this.selected = id;
    for (const [cid, g] of this.compEls) g.classList.toggle('selected', cid === id);
  }

  /** Sets the small live numbers under components: {apiserver: "12 req/s", etcd: "rev 324"}. */
  setLive(values) {
    for (const [id, el] of this.liveEls) {
      const v = values[id] ?? '';
      if (el.textContent === v) continue;
      el.textContent = v;
      // Numbers inside a narrow box shrink to fit it.
      if (el.dataset.fit) { el.style.fontSize = ''; fitText(el, Number(el.dataset.fit)); }
    }
  }

  /**
   * Marks components by their run state (a Map id → running|stopped|starting):
   * data-state on the element, and a stopped or starting one is greyed
   * with a badge, as are its edges.
   */
  setStates(states) {
    this.states = new Map(states);
    this.applyStates();
  }

  applyStates() {
    for (const [id, g] of this.compEls) {
      const st = this.states.get(id) || '';
      if (st) g.dataset.state = st; else delete g.dataset.state;
      // A crashed component is down as much as a stopped one.
      const down = st === 'stopped' || st === 'crashed';
      g.classList.toggle('stopped', down);
      // Stopping and starting are both on their way: drawn alike.
      const moving = st === 'starting' || st === 'stopping';
      g.classList.toggle('starting', moving);
      const old = g.querySelector(':scope > .state-badge');
      if (old) old.remove();
      const r = this.rects.get(id);
      if (!r || (!down && !moving)) continue;
      const badge = s('g', { class: `state-badge ${moving ? 'starting' : 'stopped'}` });
      const text = s('text', { x: r.x + r.w - 9, y: r.y + 4, 'text-anchor': 'end', text: t('state.' + st) });
      const bg = s('rect', { x: r.x + r.w - 60, y: r.y - 7, width: 56, height: 15, rx: 7.5 });
      badge.append(bg, text);
      g.append(badge);
      let w = 0;
      try { w = text.getComputedTextLength(); } catch { /* not in the document */ }
      if (w) { bg.setAttribute('x', String(r.x + r.w - w - 15)); bg.setAttribute('width', String(w + 12)); }
    }
    for (const [key, e] of this.edges) {
      if (key.startsWith('rev:')) continue;
      const [a, b] = key.split('|');
      e.el.classList.toggle('stopped', this.isDown(a) || this.isDown(b));
    }
  }

  /**
   * Highlights what a lab step asks the learner to watch: component ids
   * ("scheduler", "kubelet/node-1"), groups ("kubelet" = every node's
   * kubelet, "client" = every external client), node names, and edges
   * "a->b" (either direction; group names match every node's component).
   */
  setWatch(list) {
    this.watch = Array.isArray(list) ? list.filter((x) => typeof x === 'string' && x) : [];
    this.applyWatch();
  }

  applyWatch() {
    const comps = this.watch.filter((p) => !p.includes('->')).map((p) => p.trim());
    const edges = this.watch.filter((p) => p.includes('->')).map((p) => p.split('->').map((x) => x.trim()));
    for (const [id, g] of this.compEls) {
      const on = comps.some((p) => watchMatch(p, id));
      g.classList.toggle('watch', on);
      // A dashed halo around the box: a cue of its own, apart from the
      // colours events flash the box in.
      const old = g.querySelector(':scope > .watch-halo');
      const r = this.rects.get(id);
      if (on && !old && r) g.insertBefore(s('rect', { class: 'watch-halo', x: r.x - 5, y: r.y - 5, width: r.w + 10, height: r.h + 10, rx: 13 }), g.firstChild);
      else if (!on && old) old.remove();
    }
    for (const [name, ne] of this.nodeEls) if (name) ne.g.classList.toggle('watch', comps.includes(name));
    for (const [key, e] of this.edges) {
      if (key.startsWith('rev:')) continue;
      const [a, b] = key.split('|');
      const on = edges.some(([x, y]) => (watchMatch(x, a) && watchMatch(y, b)) || (watchMatch(x, b) && watchMatch(y, a)));
      e.el.classList.toggle('watch', on);
    }
    this.svg.classList.toggle('watching', this.watch.length > 0);
  }

  /**
   * Follow mode: dims everything but the followed pod and the components its
   * flow involves. focus null clears it.
   */
  setFocus(objectKey, involved) {
    this.focus = objectKey;
    this.involved = involved || new Set();
    this.applyFocus();
  }

  applyFocus() {
    this.svg.classList.toggle('dimming', !!this.focus);
    const involved = this.ha ? this.haInvolved() : this.involved;
    for (const [id, g] of this.compEls) g.classList.toggle('involved', !!this.focus && involved.has(id));
    for (const [key, e] of this.edges) {
      if (key.startsWith('rev:')) continue;
      const [a, b] = key.split('|');
      e.el.classList.toggle('involved', !!this.focus && involved.has(a) && involved.has(b));
    }
    for (const el of this.svg.querySelectorAll('[data-pod]')) {
      el.classList.toggle('focused', !!this.focus && this.focus === 'pods/' + el.dataset.pod);
    }
  }
  /** HA: the drawn components a followed flow involves (plain ids as resolved, the load balancer on the way). */
  haInvolved() {
    const out = new Set();
    for (const id of this.involved) {
      out.add(id);
      const r = this.resolve(id);
      if (r) out.add(r);
      if (id.startsWith('apiserver/')) out.add(LOAD_BALANCER);
    }
    return out;
  }

}

/**
 * Shrinks an SVG text's font so it fits maxWidth (wide system fonts, long
 * translations). Needs the element in the document; a no-op otherwise.
 */
function fitText(el, maxWidth) {
  let w = 0;
  try { w = el.getComputedTextLength(); } catch { return; }
  if (!w || w <= maxWidth) return;
  const size = parseFloat(getComputedStyle(el).fontSize) || 14;
  el.style.fontSize = `${Math.max(8, Math.floor(size * maxWidth / w * 10) / 10)}px`;
}

/** Breaks a centred SVG text into two lines when it is wider than maxWidth. */
function wrapText(el, maxWidth) {
  let w = 0;
  try { w = el.getComputedTextLength(); } catch { return; }
  const words = (el.textContent || '').split(' ');
  if (!w || w <= maxWidth || words.length < 2) { fitText(el, maxWidth); return; }
  // Split where the two halves are closest in length.
  let best = 1, bestDiff = Infinity;
  for (let i = 1; i < words.length; i++) {
    const d = Math.abs(words.slice(0, i).join(' ').length - words.slice(i).join(' ').length);
    if (d < bestDiff) { bestDiff = d; best = i; }
  }
  const x = el.getAttribute('x');
  const lines = [words.slice(0, best).join(' '), words.slice(best).join(' ')];
  el.textContent = '';
  const spans = lines.map((line, i) => s('tspan', { x, dy: i ? '1.2em' : 0, text: line }));
  el.append(...spans);
  const widest = Math.max(...spans.map((t) => t.getComputedTextLength()));
  if (widest > maxWidth) {
    const size = parseFloat(getComputedStyle(el).fontSize) || 12;
    el.style.fontSize = `${Math.max(8, Math.floor(size * maxWidth / widest * 10) / 10)}px`;
  }
}

/** True when a watch pattern names a component id: exactly, by prefix ("kubelet/*"), or by group ("kubelet", "client"). */
function watchMatch(pattern, id) {
  if (!pattern || !id) return false;
  if (pattern === id) return true;
  if (pattern.endsWith('*')) return id.startsWith(pattern.slice(0, -1));
  if (pattern.includes('/')) return false;
  return id.split('/')[0] === pattern || groupOf(id) === pattern;
}

/** The name of the one machine of a single-node cluster, or ''. */
function singleNodeName(model) {
  const names = model.nodeNames();
  // A replay has no /api/state: one node called wheelhouse is that topology.
  if (!model.topology && model.source === 'derived' && names.length === 1 && names[0] === 'wheelhouse') return 'wheelhouse';
  if (model.topology !== 'single-node') return '';
  return names.length === 1 ? names[0] : 'wheelhouse';
}

/** A route of several straight segments, as the animator moves along it. */
function polyline(points) {
  const pts = [];
  for (const p of points) {
    const last = pts[pts.length - 1];
    if (!last || Math.hypot(p[0] - last[0], p[1] - last[1]) > 0.5) pts.push(p);
  }
  if (pts.length === 2) {
    const [[x1, y1], [x2, y2]] = pts;
    return { x1, y1, x2, y2, len: Math.hypot(x2 - x1, y2 - y1) };
  }
  const cum = [0];
  for (let i = 1; i < pts.length; i++) cum.push(cum[i - 1] + Math.hypot(pts[i][0] - pts[i - 1][0], pts[i][1] - pts[i - 1][1]));
  const [x1, y1] = pts[0], [x2, y2] = pts[pts.length - 1];
  return { pts, cum, x1, y1, x2, y2, len: cum[cum.length - 1] };
}

function clamp(v, lo, hi) {
  return Math.max(lo, Math.min(hi, v));
}
