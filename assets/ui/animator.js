// animator.js: turns trace events into packets moving along the diagram's
// edges.
//
// Rules:
//  - Every event is a packet travelling from→to (lifecycle: a pulse on the
//    component; the load balancer's Routed, BackendDown and BackendUp
//    travel to their apiserver). Shape and colour come from its kind
//    class. A route may have several segments (HA: through the load
//    balancer); the packet moves along all of them.
//  - Causal order: an event starts only after its cause's packet has
//    arrived, when the cause is in view (queued or moving). Causes that
//    were filtered out, skipped or already arrived do not hold anything up.
//  - Load: at most MAX_PER_EDGE packets move on one edge at a time; more
//    merge into the youngest one on that edge (its badge counts them).
//  - Real time: at speed ≥ 1 the animation never falls more than
//    LAG_BUDGET_MS behind what has arrived. As the backlog grows, every
//    packet moves faster (smoothly); an event still queued after the
//    budget merges into a packet on its edge, or lands the packets in its
//    way (its causes in flight, or the one furthest along a full edge)
//    and starts at once. It is dropped only when a cause has not even
//    started, or the queue is over MAX_PENDING. Time spent paused or in
//    slow motion (speed < 1) does not count: there order and pacing are kept whatever the lag, so a
//    flow paused halfway goes on where it stopped; only the queue length is
//    capped.
//  - Packet elements are pooled: the DOM holds at most POOL_SIZE of them.
//
// Sessions: live events are session 0; "replay flow" runs a session of its
// own so that its causal links do not mix with live ones.

import { s, shapePath, kindClass, packetLabel, isFailure, objectKey } from './util.js';

const POOL_SIZE = 64;
const MAX_PER_EDGE = 3;
const LAG_BUDGET_MS = 3000;
const MAX_PENDING = 1500;
const SCAN_LIMIT = 2500;
const PULSE_MS = 900;

export class Animator {
  /**
   * @param {object} o
   * @param {import('./diagram.js').Diagram} o.diagram
   * @param {(ev, info) => void} o.onStart  an event's packet started moving (info: {merged, session})
   * @param {(pkt) => void} [o.onArrive]
   */
  constructor({ diagram, onStart, onArrive, lookup }) {
    this.diagram = diagram;
    // lookup(seq) → stored event, to see past causes that were never shown.
    this.lookup = lookup || (() => undefined);
    this.shown = new Set(); // live seqs ever queued here (bounded), to tell hidden causes apart
    this.lastByActor = new Map(); // "session|component|object" → last seq queued (http and cri)
    this.shownOrder = [];
    this.onStart = onStart || (() => {});
    this.onArrive = onArrive || (() => {});
    this.paused = false;
    this.speed = 1;
    this.pending = []; // items waiting to start, in arrival order
    this.flying = []; // moving packets
    this.active = new Map(); // "session:seq" → item or packet (queued or moving)
    this.pool = [];
    this.stepping = null; // the packet a step() is playing while paused
    this.skipped = 0;
    this.recentSkips = []; // [{seq, why}], the last 500
    this.merged = 0;
    this.lastFrame = 0;
    this.boost = 1; // current catch-up factor
    this.nextSession = 1;
    this.minGapMs = 0; // minimum time between two starts (flow replays)
    this.lastStart = 0;
    this.totalPackets = 0;
    this.replicated = 0; // Raft replication packets started (HA: leader → each follower)
  }

  // -------------------------------------------------------------------------
  // Input

  /** Queues an event for animation. */
  enqueue(ev, session = 0, now = performance.now()) {
    const kc = kindClass(ev);
    if (kc === 'marker' || kc === 'other') return;
    const from = ev.from || (ev.detail && ev.detail.component) || '';
    const to = kc === 'lifecycle' && !travels(ev) ? '' : ev.to || '';
    if (!from && !to) return;
    // age: how long it has waited while the animation played in real time
    // (paused and slow-motion time do not count: the user chose to be behind).
    const cause = this.visibleCause(ev, session);
    const item = { session, events: [ev], causes: [cause], ev, kc, from, to, edge: `${from}->${to}`, t: now, age: 0, label: packetLabel(ev), failed: isFailure(ev) };
    // A component's own requests and CRI calls about one object play one
    // after the other, as it made them, even when the trace links a later
    // one to a watch event rather than to the previous call.
    const obj = (ev.kind === 'http' || ev.kind === 'cri') ? objectKey(ev) : '';
    if (obj) {
      const key = `${session}|${from}|${obj}`;
      const prev = this.lastByActor.get(key);
      if (prev && prev !== cause) item.causes.push(prev);
      this.lastByActor.delete(key);
      this.lastByActor.set(key, ev.seq);
      if (this.lastByActor.size > 5000) this.lastByActor.delete(this.lastByActor.keys().next().value);
    }
    if (session === 0) this.markShown(ev.seq);
    // Under load, fold into the last queued item on the same edge if that
    // cannot break causal order (its cause is not waiting, or is that item).
    if (this.pending.length > 200) {
      const last = this.lastPendingOnEdge(item.edge, kc, session);
      const waits = item.causes.some((c) => c && this.active.has(`${session}:${c}`) && !last?.events.some((e) => e.seq === c));
      if (last && !waits) {
        last.events.push(ev);
        last.causes.push(...item.causes);
        this.active.set(`${session}:${ev.seq}`, last);
        return;
      }
    }
    this.pending.push(item);
    this.active.set(`${session}:${ev.seq}`, item);
    if (this.pending.length > MAX_PENDING) this.skip(this.pending.shift(), true, 'queue-full');
  }

  lastPendingOnEdge(edge, kc, session) {
    for (let i = this.pending.length - 1, k = 0; i >= 0 && k < 50; i--, k++) {
      const it = this.pending[i];
      if (it.edge === edge && it.kc === kc && it.session === session) return it;
    }
    return null;
  }

  /** Replays a list of stored events (one object's flow) in seq order. */
  playFlow(events) {
    const session = this.nextSession++;
    const now = performance.now();
    for (const ev of events) this.enqueue(ev, session, now);
    return session;
  }

  /** Drops queued items the predicate rejects (filters changed). */
  prune(keep) {
    const next = [];
    for (const it of this.pending) {
      if (it.session !== 0 || keep(it.ev)) next.push(it); else this.skip(it, false);
    }
    this.pending = next;
  }

  /** Removes everything (replay scrubbing). */
  clear() {
    for (const it of this.pending) this.forget(it);
    this.pending = [];
    for (const p of this.flying) this.release(p);
    this.flying = [];
    this.active.clear();
    this.stepping = null;
  }

  /** queued | moving | undefined for an event (timeline row styling): live, or in the latest flow replay. */
  stateOf(seq) {
    const it = this.active.get(`0:${seq}`) || (this.nextSession > 1 ? this.active.get(`${this.nextSession - 1}:${seq}`) : undefined);
    if (!it) return undefined;
    return it.el ? 'moving' : 'queued';
  }

  /** The smallest live seq still queued or moving (Infinity when the animation has caught up). */
  minActiveSeq() {
    let m = Infinity;
    for (const it of this.pending) {
      if (it.session === 0) { m = Math.min(m, it.events[0].seq); break; }
    }
    for (const p of this.flying) if (p.session === 0 && p.events.length) m = Math.min(m, p.events[0].seq);
    return m;
  }

  /**
   * The cause an event waits for: its own, or, when that was never shown
   * (noise or a filter hid it), the nearest shown ancestor. Without this a
   * status PATCH whose cause is a hidden runtime poll could overtake the
   * StartContainer before it.
   */
  visibleCause(ev, session) {
    let c = ev.cause || 0;
    if (session !== 0) return c;
    for (let depth = 0; c && depth < 16 && !this.shown.has(c); depth++) {
      const up = this.lookup(c);
      if (!up) break; // unknown to the page: nothing to wait for
      c = up.cause || 0;
    }
    return c;
  }

  markShown(seq) {
    this.shown.add(seq);
    this.shownOrder.push(seq);
    if (this.shownOrder.length > 50000) {
      for (const old of this.shownOrder.splice(0, 10000)) this.shown.delete(old);
    }
  }

  itemBlocked(item) {
    for (const c of item.causes) {
      if (!c) continue;
      const a = this.active.get(`${item.session}:${c}`);
      if (a && a !== item) return true;
    }
    return false;
  }

  // -------------------------------------------------------------------------
  // Controls

  pause() { this.paused = true; }
  resume() {
    this.paused = false;
    this.stepping = null;
  }
  setSpeed(x) {
    const v = Number(x);
    if (Number.isFinite(v)) this.speed = Math.min(4, Math.max(0.1, v));
  }

  /**
   * Plays exactly one more event while paused: packets in flight land at
   * once, then the first queued event whose cause has arrived moves alone.
   * Returns the event started, or null when nothing is queued.
   */
  step(now = performance.now()) {
    this.paused = true;
    for (const p of this.flying) this.arrive(p, now);
    this.flying = [];
    this.stepping = null;
    for (let i = 0; i < this.pending.length; i++) {
      const it = this.pending[i];
      if (this.itemBlocked(it)) continue;
      this.pending.splice(i, 1);
      const p = this.start(it, now, 1);
      this.stepping = p;
      return it.ev;
    }
    return null;
  }

  // -------------------------------------------------------------------------
  // Frame

  /** Advances the animation to `now` (called once per animation frame). */
  frame(now) {
    const rawDt = this.lastFrame ? now - this.lastFrame : 16;
    const dt = Math.min(100, rawDt); // motion never jumps more than 100 ms
    this.lastFrame = now;
    if (this.paused) {
      if (this.stepping) {
        this.advance(this.stepping, dt * this.speed);
        if (this.stepping.progress >= 1) {
          this.arrive(this.stepping, now);
          this.flying = this.flying.filter((p) => p !== this.stepping);
          this.stepping = null;
        } else this.place(this.stepping);
      }
      return;
    }

    // Catch-up factor from the backlog (only at normal speed or faster).
    const realtime = this.speed >= 1;
    // Waiting time counts in full, even across frames the browser skipped
    // (hidden tab): coming back must not replay minutes of old traffic.
    const ageStep = realtime ? rawDt : 0;
    const lag = this.pending.length ? this.pending[0].age + ageStep : 0;
    const target = realtime ? 1 + Math.max(0, lag - 800) / 600 : 1;
    this.boost += (target - this.boost) * Math.min(1, dt / 150);
    if (this.boost < 1) this.boost = 1;
    const rate = dt * this.speed * this.boost;

    // Move packets; land the arrived ones.
    let landed = false;
    for (const p of this.flying) {
      this.advance(p, rate);
      if (p.progress >= 1) { this.arrive(p, now); landed = true; }
    }
    if (landed) this.flying = this.flying.filter((p) => p.progress < 1);

    // Start what can start.
    if (this.pending.length) this.startReady(now, realtime, ageStep);

    for (const p of this.flying) this.place(p);
    this.declutter();
  }

  /** Only the newest packet on each directed edge keeps its label (busy edges stay readable). */
  declutter() {
    const newest = new Map();
    for (const p of this.flying) {
      const n = newest.get(p.edge);
      if (!n || p.startedAt >= n.startedAt) newest.set(p.edge, p);
    }
    for (const p of this.flying) {
      if (!p.el) continue;
      const show = newest.get(p.edge) === p;
      if (p.labelShown !== show) {
        p.labelShown = show;
        p.el.label.style.display = show ? '' : 'none';
      }
    }
  }

  startReady(now, realtime, ageStep) {
    const keep = [];
    let scanned = 0;
    const list = this.pending;
    for (let i = 0; i < list.length; i++) {
      const it = list[i];
      if (scanned++ > SCAN_LIMIT) { keep.push(...list.slice(i)); break; }
      it.age += ageStep;
      const overdue = realtime && it.age > LAG_BUDGET_MS;
      if (this.itemBlocked(it)) {
        if (!overdue) { keep.push(it); continue; }
        // Late behind a cause still in flight: land the cause now rather
        // than drop the effect. A chain that arrives in one burst (a busy
        // server flushes a whole pod start-up at once) would otherwise
        // lose its last, most telling steps, e.g. the StartContainer.
        if (!this.landCauses(it, now)) { this.skip(it, true, 'late-waiting-for-cause'); continue; }
      }
      if (this.minGapMs && it.session !== 0 && now - this.lastStart < this.minGapMs / this.speed) { keep.push(it); continue; }
      // Merge into a young packet on the same edge when the edge is busy or we are late.
      const onEdge = this.flyingOnEdge(it.edge, it.kc);
      const busy = onEdge.count >= MAX_PER_EDGE || this.flying.length >= POOL_SIZE;
      if ((busy || overdue) && onEdge.youngest && onEdge.youngest.progress < (overdue ? 0.7 : 0.5)) {
        this.mergeInto(onEdge.youngest, it, now);
        continue;
      }
      if (busy) {
        if (!overdue) { keep.push(it); continue; }
        // Late and the edge is full: the packet nearest its end lands now
        // and this one takes its place.
        // (Busy means the edge or the pool is full, so there is one.)
        this.landFurthest(it.edge, now);
      }
      this.start(it, now, realtime ? this.boost : 1);
      this.lastStart = now;
    }
    this.pending = keep;
  }

  /**
   * Lands at once every moving packet the item waits for. Returns false
   * when a cause is still queued (not started), so the item cannot go.
   */
  landCauses(item, now) {
    for (const c of item.causes) {
      if (!c) continue;
      const a = this.active.get(`${item.session}:${c}`);
      if (!a || a === item) continue;
      if (!a.el) return false;
      this.landNow(a, now); // arrive() forgets every seq a carries, c too
    }
    return true;
  }

  /** Lands the packet furthest along `edge` (or anywhere, when the pool is full). */
  landFurthest(edge, now) {
    let best = null;
    for (const p of this.flying) {
      if (p.edge !== edge && this.flying.length < POOL_SIZE) continue;
      if (!best || p.progress > best.progress) best = p;
    }
    if (best) this.landNow(best, now);
  }

  /** Ends a moving packet's journey before its time. */
  landNow(p, now) {
    p.progress = 1;
    this.arrive(p, now);
    this.flying = this.flying.filter((q) => q !== p);
  }

  flyingOnEdge(edge, kc) {
    let count = 0, youngest = null;
    for (const p of this.flying) {
      if (p.edge !== edge) continue;
      count++;
      if (p.kc === kc && (!youngest || p.progress < youngest.progress)) youngest = p;
    }
    return { count, youngest };
  }

  /** Starts a packet for an item; returns the packet. */
  start(it, now) {
    const d = this.diagram;
    let geom = null, center = null;
    if (it.kc === 'lifecycle' && !it.to) center = d.center(it.from) || d.center(nodeComponent(it));
    else geom = d.geom(it.from, it.to, it.ev);
    const el = this.acquire();
    const p = {
      ...it, el, progress: 0, startedAt: now, geom, center,
      dur: it.kc === 'lifecycle' && !it.to ? PULSE_MS : travelMs(geom),
    };
    // Each event in the item now maps to the moving packet.
    for (const ev of it.events) this.active.set(`${it.session}:${ev.seq}`, p);
    this.dress(p);
    if (!geom && !center) p.hidden = true; // nothing to draw on (unknown component): still counts
    this.flying.push(p);
    this.totalPackets++;
    for (const ev of it.events) this.onStart(ev, { merged: it.events.length, session: it.session, label: it.label, edge: it.edge });
    this.place(p);
    return p;
  }

  mergeInto(p, it, now) {
    for (const ev of it.events) {
      p.events.push(ev);
      p.causes.push(0);
      this.active.set(`${it.session}:${ev.seq}`, p);
      this.onStart(ev, { merged: p.events.length, session: it.session, label: it.label, edge: it.edge });
    }
    this.merged += it.events.length;
    this.updateBadge(p);
  }

  advance(p, ms) {
    p.progress = Math.min(1, p.progress + ms / p.dur);
  }

  arrive(p, now) {
    for (const ev of p.events) {
      const key = `${p.session}:${ev.seq}`;
      if (this.active.get(key) === p) this.active.delete(key);
    }
    this.release(p);
    this.onArrive(p, now);
    // (Not while paused: a step plays one event, and its replication
    // would stand still halfway.)
    if (p.kc === 'etcd' && !p.replica && !p.hidden && !this.paused) this.replicate(p, now);
  }

  /**
   * An etcd write that reached the Raft leader goes on to every follower:
   * one packet each along the Raft line, as the leader's append. They
   * belong to the write's own event (detail.leader names the leader), so
   * they have no seq of their own and hold nothing up.
   */
  replicate(p, now) {
    const leader = p.ev.detail && p.ev.detail.leader;
    for (const to of this.diagram.raftFollowers(p.ev)) {
      if (this.flying.length >= POOL_SIZE) return;
      const geom = this.diagram.geom(leader, to, null);
      if (!geom) continue;
      const r = {
        session: p.session, events: [], causes: [], ev: p.ev, kc: 'etcd', from: leader, to, edge: `${leader}->${to}`,
        label: '', failed: false, replica: true, el: this.acquire(), progress: 0, startedAt: now, geom, center: null,
        dur: travelMs(geom),
      };
      this.dress(r);
      r.el.g.removeAttribute('data-seq');
      r.el.g.classList.add('replica');
      r.el.label.style.display = 'none';
      this.flying.push(r);
      this.replicated++;
      this.place(r);
    }
  }

  skip(it, count = true, why = 'filtered') {
    this.forget(it);
    if (count) this.skipped += it.events.length;
    // The last skips and why, so that a test (or a curious user) can tell
    // an event the animation dropped from one it never received.
    for (const ev of it.events) this.recentSkips.push({ seq: ev.seq, why });
    if (this.recentSkips.length > 500) this.recentSkips.splice(0, this.recentSkips.length - 500);
  }

  forget(it) {
    for (const ev of it.events) {
      const key = `${it.session}:${ev.seq}`;
      if (this.active.get(key) === it) this.active.delete(key);
    }
  }

  // -------------------------------------------------------------------------
  // Packet elements

  acquire() {
    let el = this.pool.pop();
    if (!el) {
      el = {
        g: s('g', { class: 'pkt' }),
        ring: s('circle', { class: 'pkt-ring', r: 10 }),
        shape: s('path', { class: 'pkt-shape' }),
        label: s('text', { class: 'pkt-label' }),
        badge: s('g', { class: 'pkt-badge' }),
        badgeText: s('text', { 'text-anchor': 'middle', y: 4 }),
      };
      el.badge.append(s('rect', { x: -13, y: -9, width: 26, height: 17, rx: 8.5 }), el.badgeText);
      el.g.append(el.ring, el.shape, el.label, el.badge);
      this.diagram.gPackets.append(el.g);
    }
    el.g.style.display = '';
    return el;
  }

  release(p) {
    if (!p.el) return;
    p.el.g.style.display = 'none';
    p.el.g.removeAttribute('data-seq');
    this.pool.push(p.el);
    p.el = null;
  }

  /** Sets shape, colour class, label and badge when a packet starts. */
  dress(p) {
    const { g, shape, label, ring } = p.el;
    g.setAttribute('class', `pkt k-${p.kc}${p.failed ? ' failed' : ''}${p.session ? ' replay' : ''}`);
    g.dataset.seq = String(p.ev.seq);
    shape.setAttribute('d', shapePath(p.kc, p.kc === 'lifecycle' ? 11 : 8.5));
    label.textContent = p.label + (p.failed && p.ev.status ? ` ${p.ev.status}` : '');
    label.style.display = '';
    p.labelShown = true;
    ring.style.display = p.center ? '' : 'none';
    // The label sits on the packet's own side of the edge (see place()).
    if (p.geom) {
      const { x1, y1, x2, y2, pts } = p.geom;
      // A route's label sits by its overall direction.
      const len = pts ? Math.hypot(x2 - x1, y2 - y1) : p.geom.len;
      const nx = -(y2 - y1) / (len || 1), ny = (x2 - x1) / (len || 1);
      p.nx = nx; p.ny = ny;
      const side = Math.abs(nx) > 0.5 ? (nx > 0 ? 'start' : 'end') : 'middle';
      label.setAttribute('text-anchor', side);
      label.setAttribute('x', (nx * 15).toFixed(1));
      label.setAttribute('y', (ny * 17 + 4).toFixed(1));
    } else {
      label.setAttribute('text-anchor', 'middle');
      label.setAttribute('x', '0');
      label.setAttribute('y', '-18');
    }
    this.updateBadge(p);
  }

  updateBadge(p) {
    if (!p.el) return;
    const n = p.events.length;
    p.el.badge.style.display = n > 1 ? '' : 'none';
    if (n > 1) p.el.badgeText.textContent = n > 99 ? '99+' : `×${n}`;
  }

  /** Positions a packet for its progress (ease in-out along the edge, offset to its lane). */
  place(p) {
    if (!p.el) return;
    const g = p.el.g;
    if (p.hidden) {
      // Its component may have been drawn since (a new client or node).
      if (p.kc === 'lifecycle' && !p.to) p.center = this.diagram.center(p.from) || this.diagram.center(nodeComponent(p));
      else p.geom = this.diagram.geom(p.from, p.to, p.ev);
      if (!p.geom && !p.center) { g.style.display = 'none'; return; }
      p.hidden = false;
      g.style.display = '';
      this.dress(p);
    }
    if (p.center) {
      const k = p.progress;
      const scale = 1 + k * 1.6;
      p.el.ring.setAttribute('r', (10 * scale).toFixed(1));
      p.el.ring.style.opacity = String(1 - k);
      g.setAttribute('transform', `translate(${p.center.x.toFixed(1)},${(p.center.y - 26).toFixed(1)})`);
      return;
    }
    const k = ease(p.progress);
    let x, y;
    if (p.geom.pts) {
      // Along a route: the point at that share of its length, offset to
      // the lane of the segment it is on.
      const { pts, cum, len } = p.geom;
      const at = k * len;
      let i = 1;
      while (i < pts.length - 1 && cum[i] < at) i++;
      const seg = cum[i] - cum[i - 1] || 1;
      const f = Math.min(1, Math.max(0, (at - cum[i - 1]) / seg));
      const [ax, ay] = pts[i - 1], [bx, by] = pts[i];
      const nx = -(by - ay) / seg, ny = (bx - ax) / seg;
      x = ax + (bx - ax) * f + nx * 6;
      y = ay + (by - ay) * f + ny * 6;
    } else {
      const { x1, y1, x2, y2 } = p.geom;
      x = x1 + (x2 - x1) * k + p.nx * 6;
      y = y1 + (y2 - y1) * k + p.ny * 6;
    }
    g.setAttribute('transform', `translate(${x.toFixed(1)},${y.toFixed(1)})`);
  }
}

/** A lifecycle event that moves from one component to another: the load balancer's, about an apiserver. */
function travels(ev) {
  return ev.from === 'load-balancer' && typeof ev.to === 'string' && ev.to !== '';
}

function ease(k) {
  return k < 0.5 ? 2 * k * k : 1 - Math.pow(-2 * k + 2, 2) / 2;
}

/** Travel time at 1× for an edge: long edges take a little longer. */
function travelMs(geom) {
  if (!geom) return 600;
  // A route through the load balancer is long; it may take a little longer.
  return Math.min(geom.pts ? 1700 : 1300, 420 + geom.len * 1.6);
}

function nodeComponent(it) {
  const d = it.ev.detail || {};
  return d.component || '';
}
