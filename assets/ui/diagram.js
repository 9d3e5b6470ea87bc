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
// Elements carry data-component="<id>", data-node="<node>" and
// data-pod="<ns>/<name>" (with data-phase) for tests and click handling.
// Components the server can stop carry data-state="running|stopped|starting"
// (setStates); a lab step's watch list gets a dashed halo (setWatch).

import { s, clear, shorten, nodeOf, groupOf } from './util.js';
import { t } from './i18n.js';
import { displayPhase } from './cluster.js';

export const VIEW_W = 900;
export const VIEW_H = 700;

const CP = { x: 152, y: 34, w: 728, h: 262 }; // control-plane box
const NODES_Y = 312; // top of the node row(s)
const NODES_BOTTOM = 690;
const EXT_X = 10, EXT_W = 118; // external column

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

  /** Draws the model; re-lays out only when nodes or clients changed. */
  render(model) {
    const key = model.nodeNames().join(',') + '#' + [...model.clients].join(',');
    if (key !== this.layoutKey) {
      this.layoutKey = key;
      this.layout(model);
    }
    this.updateNodes(model);
    if (this.focus) this.applyFocus();
  }

  /** Rebuilds every static element (called on structure or language change). */
  layout(model) {
    clear(this.gFrames); clear(this.gEdges); clear(this.gComps);
    this.rects.clear(); this.compEls.clear(); this.edges.clear(); this.nodeEls.clear(); this.liveEls.clear();
    this.layoutKey = model.nodeNames().join(',') + '#' + [...model.clients].join(',');

    // Frames: outside column, cluster, control plane.
    this.gFrames.append(
      s('text', { x: EXT_X + EXT_W / 2, y: 24, class: 'frame-label', 'text-anchor': 'middle', text: t('diag.outside') }),
      s('line', { x1: 136, y1: 10, x2: 136, y2: 690, class: 'outside-divider' }),
      s('rect', { x: 142, y: 8, width: 748, height: 686, rx: 16, class: 'frame cluster-frame' }),
      s('text', { x: 158, y: 26, class: 'frame-label', text: t('diag.cluster') }),
      s('rect', { x: CP.x, y: CP.y, width: CP.w, height: CP.h, rx: 12, class: 'frame cp-frame' }),
      s('text', { x: CP.x + 14, y: CP.y + 20, class: 'frame-label cp-label', text: t('diag.controlPlane') }),
    );

    wrapText(this.gFrames.querySelector('.frame-label'), EXT_W - 4);

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

    // External clients, kubectl first with the user figure.
    const clients = [...model.clients].sort((a, b) => (a === 'kubectl' ? -1 : b === 'kubectl' ? 1 : a.localeCompare(b)));
    const api = this.rects.get('apiserver');
    let cy = api.y + api.h / 2;
    const step = Math.min(64, (NODES_BOTTOM - cy - 30) / Math.max(1, clients.length - 1));
    clients.forEach((id, i) => {
      const h = 40, y = cy + i * step - h / 2;
      if (i === 0) this.addUserFigure(EXT_X + EXT_W / 2, y - 8);
      this.addComp(id, EXT_X + 6, y, EXT_W - 12, h, shorten(id, 14), '', 'client');
    });

    // Nodes.
    const names = model.nodeNames();
    if (!names.length) {
      this.gFrames.append(s('text', { x: CP.x + CP.w / 2, y: NODES_Y + 120, class: 'muted-big', 'text-anchor': 'middle', text: t('diag.noNodes') }));
    }
    const perRow = names.length <= 5 ? Math.max(1, names.length) : Math.ceil(names.length / 2);
    const rows = Math.ceil(names.length / perRow) || 1;
    const gap = 12;
    const rowH = (NODES_BOTTOM - NODES_Y - (rows - 1) * gap) / rows;
    const w = Math.min(300, (CP.w - (perRow - 1) * gap) / perRow);
    names.forEach((name, i) => {
      const row = Math.floor(i / perRow), col = i % perRow;
      const inRow = Math.min(perRow, names.length - row * perRow);
      const totalW = inRow * w + (inRow - 1) * gap;
      const x0 = CP.x + (CP.w - totalW) / 2;
      this.addNode(model.nodes.get(name), x0 + col * (w + gap), NODES_Y + row * (rowH + gap), w, rowH, i, names.length);
    });

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
    if (this.selected) this.setSelected(this.selected);
    const kc = this.edges.get('kubectl|apiserver');
    if (kc) this.gEdges.append(s('text', { x: (kc.x1 + kc.x2) / 2, y: kc.y1 - 8, class: 'edge-label', 'text-anchor': 'middle', text: 'HTTPS' }));
    this.applyStates();
    this.applyWatch();
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

  /** etcd drawn as the usual database cylinder. */
  addEtcd(x, y, w, h) {
    const g = s('g', { class: 'comp etcd', 'data-component': 'etcd', tabindex: 0, role: 'button' });
    const ry = 11;
    g.append(s('title', { text: t('comp.etcd') }));
    g.append(s('path', {
      class: 'box',
      d: `M${x},${y + ry} a${w / 2},${ry} 0 0,1 ${w},0 V${y + h - ry} a${w / 2},${ry} 0 0,1 ${-w},0 Z`,
    }));
    g.append(s('path', { class: 'box-line', d: `M${x},${y + ry} a${w / 2},${ry} 0 0,0 ${w},0` }));
    g.append(s('text', { x: x + w / 2, y: y + h / 2 + 6, 'text-anchor': 'middle', class: 'title', text: t('comp.etcd') }));
    g.append(s('text', { x: x + w / 2, y: y + h / 2 + 23, 'text-anchor': 'middle', class: 'sub', text: t('sub.etcd') }));
    this.gComps.append(g);
    this.rects.set('etcd', { x, y, w, h });
    this.compEls.set('etcd', g);
    this.addLive('etcd', x + w / 2, y + h + 18);
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
    const el = s('line', { x1: p1.x, y1: p1.y, x2: p2.x, y2: p2.y, class: 'edge', 'data-edge': `${a}|${b}` });
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
    let cols = isTray ? 1 : w >= 200 ? 2 : 1;
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
   * Where a packet from→to travels: {x1,y1,x2,y2,len}, or null when the
   * diagram has no such edge (a component it does not draw).
   */
  geom(from, to) {
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

  /** Centre of a component (lifecycle pulses), or null. */
  center(id) {
    const r = this.rects.get(id);
    return r ? { x: r.x + r.w / 2, y: r.y + r.h / 2 } : null;
  }

  /** Lights a component's border in a kind's colour for a moment. */
  flash(id, kc, now, ms = 450) {
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

  /** Marks the component whose panel is open (null: none). */
  setSelected(id) {
    this.selected = id;
    for (const [cid, g] of this.compEls) g.classList.toggle('selected', cid === id);
  }

  /** Sets the small live numbers under components: {apiserver: "12 req/s", etcd: "rev 324"}. */
  setLive(values) {
    for (const [id, el] of this.liveEls) {
      const v = values[id] ?? '';
      if (el.textContent !== v) el.textContent = v;
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
      g.classList.toggle('stopped', st === 'stopped');
      // Stopping and starting are both on their way: drawn alike.
      const moving = st === 'starting' || st === 'stopping';
      g.classList.toggle('starting', moving);
      const old = g.querySelector(':scope > .state-badge');
      if (old) old.remove();
      const r = this.rects.get(id);
      if (!r || (st !== 'stopped' && !moving)) continue;
      const badge = s('g', { class: `state-badge ${moving ? 'starting' : st}` });
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
      e.el.classList.toggle('stopped', this.states.get(a) === 'stopped' || this.states.get(b) === 'stopped');
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
    for (const [id, g] of this.compEls) g.classList.toggle('involved', !!this.focus && this.involved.has(id));
    for (const [key, e] of this.edges) {
      if (key.startsWith('rev:')) continue;
      const [a, b] = key.split('|');
      e.el.classList.toggle('involved', !!this.focus && this.involved.has(a) && this.involved.has(b));
    }
    for (const el of this.svg.querySelectorAll('[data-pod]')) {
      el.classList.toggle('focused', !!this.focus && this.focus === 'pods/' + el.dataset.pod);
    }
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

function clamp(v, lo, hi) {
  return Math.max(lo, Math.min(hi, v));
}
