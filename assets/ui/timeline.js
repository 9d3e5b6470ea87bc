// timeline.js: the sequence diagram beside the architecture diagram.
//
// Columns are component groups (client, apiserver, etcd, scheduler,
// controller manager, kubelet, kube-proxy, runtime); each row is one event
// drawn as an arrow from its sender's column to its receiver's, with the
// packet's shape and a short text. The list is virtualised: only the rows
// in view (plus a few) exist in the DOM, positioned absolutely inside a
// spacer as tall as all the rows, so 100,000 events scroll smoothly. It
// follows the newest event unless the user scrolls up.

import { h, clear, GROUPS, groupOf, nodeOf, kindClass, packetLabel, shapeIcon, isFailure, fmtClock } from './util.js';
import { t, onLangChange } from './i18n.js';

const ROW_H = 26;
const LANE_W = 22;
const OVERSCAN = 6;

export class Timeline {
  /**
   * @param {HTMLElement} host
   * @param {object} o
   * @param {import('./store.js').EventStore} o.store
   * @param {(seq:number) => void} o.onSelect
   * @param {(seq:number) => string|undefined} o.stateOf  queued | moving | undefined
   */
  constructor(host, { store, onSelect, stateOf }) {
    this.store = store;
    this.onSelect = onSelect;
    this.stateOf = stateOf || (() => undefined);
    this.filter = () => true;
    this.seqs = []; // seqs of the events shown, oldest first
    this.start = 0; // index in seqs of the first one still stored
    this.limit = Infinity; // replay: show only seqs ≤ limit
    this.following = true;
    this.selected = 0;
    this.dirty = true;
    this.hiddenCount = 0;
    this.rows = []; // pooled row elements
    this.lastScrollSet = -1;

    this.root = h('section', { class: 'timeline', 'data-testid': 'timeline', 'aria-label': 'timeline' });
    this.countEl = h('span', { class: 'tl-count' });
    this.head = h('header', { class: 'tl-head' }, h('h2', { 'data-i18n': 'tl.title', text: t('tl.title') }), this.countEl);
    this.lanesHead = h('div', { class: 'tl-lanes-head', 'aria-hidden': 'true' });
    this.scroller = h('div', { class: 'tl-scroll', tabindex: 0 });
    this.spacer = h('div', { class: 'tl-spacer' });
    this.empty = h('div', { class: 'tl-empty', 'data-i18n': 'tl.empty', text: t('tl.empty') });
    this.newest = h('button', { class: 'tl-newest', 'data-i18n': 'tl.newest', text: t('tl.newest'), onclick: () => this.jumpToNewest() });
    this.scroller.append(this.spacer);
    this.root.append(this.head, this.lanesHead, this.scroller, this.empty, this.newest);
    host.append(this.root);
    this.drawLanesHead();
    onLangChange(() => { this.drawLanesHead(); this.invalidateRows(); });

    this.scroller.addEventListener('scroll', () => this.onScroll(), { passive: true });
    this.scroller.addEventListener('wheel', (e) => { if (e.deltaY < 0) this.following = false; this.dirty = true; }, { passive: true });
    this.scroller.addEventListener('click', (e) => {
      const row = e.target.closest('.tl-row');
      if (row && row.dataset.seq) this.onSelect(Number(row.dataset.seq));
    });
  }

  drawLanesHead() {
    clear(this.lanesHead);
    this.lanesHead.append(h('span', { class: 'tl-seq-h', text: '#' }));
    const lanes = h('span', { class: 'tl-lanes-labels' });
    GROUPS.forEach((g, i) => {
      lanes.append(h('span', { class: 'tl-lane-label', style: `left:${i * LANE_W + LANE_W / 2}px`, title: t('comp.' + (g === 'client' ? 'client' : g)), text: t('tl.lane.' + g) }));
    });
    this.lanesHead.append(lanes);
  }

  // -------------------------------------------------------------------------
  // Data

  /** Sets which events are shown and rebuilds the list. */
  setFilter(pred) {
    this.filter = pred;
    this.rebuild();
  }

  rebuild() {
    const anchor = this.following ? null : this.firstVisibleSeq();
    this.seqs = [];
    this.start = 0;
    this.hiddenCount = 0;
    const st = this.store;
    for (let i = 0; i < st.size; i++) {
      const ev = st.at(i);
      if (this.filter(ev)) this.seqs.push(ev.seq); else this.hiddenCount++;
    }
    this.dirty = true;
    this.invalidateRows();
    if (anchor) this.scrollToSeq(anchor, false);
  }

  /** A new event was stored. */
  append(ev) {
    if (this.filter(ev)) this.seqs.push(ev.seq); else this.hiddenCount++;
    this.dirty = true;
  }

  /** The store evicted ev: forget it. */
  evicted(ev) {
    if (ev && !this.filter(ev) && this.hiddenCount > 0) this.hiddenCount--;
    const first = this.store.firstSeq;
    let moved = 0;
    while (this.start < this.seqs.length && this.seqs[this.start] < first) { this.start++; moved++; }
    if (this.start > 50000) {
      this.seqs = this.seqs.slice(this.start);
      this.start = 0;
    }
    if (moved && !this.following) {
      // Keep the rows the user is reading still on screen.
      this.scroller.scrollTop = Math.max(0, this.scroller.scrollTop - moved * ROW_H);
      this.lastScrollSet = this.scroller.scrollTop;
    }
    if (moved) this.dirty = true;
  }

  /** Replay: show only events up to seq (Infinity for all). */
  setLimit(seq) {
    if (seq === this.limit) return;
    this.limit = seq;
    this.dirty = true;
  }

  count() {
    let n = this.seqs.length - this.start;
    if (this.limit !== Infinity) n = this.upperIndex(this.limit) - this.start;
    return Math.max(0, n);
  }

  /** Index in seqs of the first seq > x. */
  upperIndex(x) {
    let lo = this.start, hi = this.seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.seqs[mid] <= x) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  select(seq) {
    this.selected = seq;
    this.invalidateRows();
  }

  // -------------------------------------------------------------------------
  // Scrolling

  onScroll() {
    const el = this.scroller;
    if (Math.abs(el.scrollTop - this.lastScrollSet) < 1) return; // our own scroll
    this.following = el.scrollTop + el.clientHeight >= el.scrollHeight - ROW_H * 1.5;
    this.dirty = true;
  }

  jumpToNewest() {
    this.following = true;
    this.dirty = true;
  }

  firstVisibleSeq() {
    const i = this.start + Math.floor(this.scroller.scrollTop / ROW_H);
    return this.seqs[i];
  }

  /** Scrolls so that seq is visible (centred when `center`). */
  scrollToSeq(seq, center = true) {
    let lo = this.start, hi = this.seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.seqs[mid] < seq) lo = mid + 1; else hi = mid;
    }
    const idx = lo - this.start;
    const el = this.scroller;
    const top = idx * ROW_H - (center ? el.clientHeight / 2 - ROW_H / 2 : 0);
    this.spacer.style.height = `${this.count() * ROW_H}px`;
    el.scrollTop = Math.max(0, top);
    this.lastScrollSet = el.scrollTop;
    this.following = false;
    this.dirty = true;
  }

  /** Scrolls to seq only when its row is out of view (clicking a visible row does not jump). */
  ensureVisible(seq) {
    const idx = this.indexOf(seq);
    if (idx < 0) return;
    const el = this.scroller;
    const top = idx * ROW_H;
    if (top >= el.scrollTop && top + ROW_H <= el.scrollTop + el.clientHeight) return;
    this.scrollToSeq(seq);
  }

  /** Row index of seq among the rows shown, or -1. */
  indexOf(seq) {
    let lo = this.start, hi = this.seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.seqs[mid] < seq) lo = mid + 1; else hi = mid;
    }
    return lo < this.seqs.length && this.seqs[lo] === seq ? lo - this.start : -1;
  }

  invalidateRows() {
    for (const r of this.rows) r.seq = -1;
    this.dirty = true;
  }

  // -------------------------------------------------------------------------
  // Rendering (called every animation frame; cheap when nothing changed)

  render() {
    const n = this.count();
    const el = this.scroller;
    if (this.dirty) {
      this.dirty = false;
      this.spacer.style.height = `${n * ROW_H}px`;
      const hiddenN = this.limit === Infinity ? this.hiddenCount : Math.max(0, this.store.lowerBound(this.limit + 1) - n);
      const hidden = hiddenN ? ' · ' + t('tl.hidden', { n: hiddenN.toLocaleString() }) : '';
      this.countEl.textContent = t('tl.count', { n: n.toLocaleString() }) + hidden;
      this.empty.style.display = n ? 'none' : '';
      if (this.following) {
        const top = Math.max(0, n * ROW_H - el.clientHeight);
        if (Math.abs(el.scrollTop - top) >= 1) {
          el.scrollTop = top;
          this.lastScrollSet = el.scrollTop;
        }
      }
      this.newest.style.display = this.following || n === 0 ? 'none' : '';
    }
    const viewH = el.clientHeight || 400;
    const first = Math.max(0, Math.floor(el.scrollTop / ROW_H) - OVERSCAN);
    const last = Math.min(n, Math.ceil((el.scrollTop + viewH) / ROW_H) + OVERSCAN);
    const needed = Math.max(0, last - first);
    while (this.rows.length < needed) {
      const row = h('div', { class: 'tl-row' });
      row.seq = -1;
      this.spacer.append(row);
      this.rows.push(row);
    }
    for (let k = 0; k < this.rows.length; k++) {
      const row = this.rows[k];
      if (k >= needed) {
        if (row.style.display !== 'none') row.style.display = 'none';
        continue;
      }
      const idx = first + k;
      const seq = this.seqs[this.start + idx];
      const ev = this.store.get(seq);
      if (row.style.display === 'none') row.style.display = '';
      if (row.idx !== idx) {
        row.idx = idx;
        row.style.transform = `translateY(${idx * ROW_H}px)`;
      }
      if (row.seq !== seq) {
        row.seq = seq;
        this.fill(row, ev);
      }
      const state = this.stateOf(seq) || '';
      const cls = state + (seq === this.selected ? ' selected' : '');
      if (row.extra !== cls) {
        row.extra = cls;
        row.classList.toggle('queued', state === 'queued');
        row.classList.toggle('moving', state === 'moving');
        row.classList.toggle('selected', seq === this.selected);
      }
    }
  }

  /** Writes one event into a row element. */
  fill(row, ev) {
    clear(row);
    row.extra = undefined;
    if (!ev) { row.className = 'tl-row'; row.removeAttribute('data-seq'); return; }
    const kc = kindClass(ev);
    row.className = `tl-row k-${kc}${ev.noise ? ' noise' : ''}${isFailure(ev) ? ' failed' : ''}`;
    row.dataset.seq = String(ev.seq);
    row.title = `${fmtClock(ev.time)}  ${ev.summary || ''}`;
    row.append(h('span', { class: 'tl-seq', text: String(ev.seq) }));
    const lanes = h('span', { class: 'tl-lanes' });
    row.append(lanes);
    if (kc === 'marker') {
      lanes.append(h('span', { class: 'tl-marker', text: '⚠' }));
      row.append(h('span', { class: 'tl-text' }, h('b', { text: ev.kind === 'dropped' ? t('tl.dropped', { n: (ev.detail && ev.detail.count) ?? '?' }) : ev.summary })));
      return;
    }
    // A pod's connection is drawn on the kube-proxy lane: its rules route it.
    const a = ev.kind === 'net' ? GROUPS.indexOf('kube-proxy') : GROUPS.indexOf(groupOf(ev.from || (ev.detail && ev.detail.component) || ''));
    const b = ev.to && ev.kind !== 'net' ? GROUPS.indexOf(groupOf(ev.to)) : -1;
    if (a >= 0 && b >= 0 && a !== b) {
      const lo = Math.min(a, b), hi = Math.max(a, b);
      const x1 = lo * LANE_W + LANE_W / 2, x2 = hi * LANE_W + LANE_W / 2;
      lanes.append(h('span', { class: `tl-line ${b > a ? 'right' : 'left'}`, style: `left:${x1}px;width:${x2 - x1}px` }));
      const icon = shapeIcon(kc, 12);
      icon.setAttribute('class', icon.getAttribute('class') + ' tl-icon');
      icon.style.left = `${(a * LANE_W + LANE_W / 2) - 6}px`;
      lanes.append(icon);
    } else if (a >= 0) {
      const icon = shapeIcon(kc, 14);
      icon.setAttribute('class', icon.getAttribute('class') + ' tl-icon');
      icon.style.left = `${a * LANE_W + LANE_W / 2 - 7}px`;
      lanes.append(icon);
    }
    const text = h('span', { class: 'tl-text' });
    const label = packetLabel(ev);
    text.append(h('b', { text: label }));
    let extra = '';
    if (ev.kind === 'http' || ev.kind === 'cri' || ev.kind === 'kubelet-api') extra = ev.name || '';
    if (ev.kind === 'watch') extra = '→ ' + shortComp(ev.to);
    if (ev.kind === 'net' && ev.detail && ev.detail.dns) {
      // A DNS query: what was asked, and the answer's rcode.
      extra = `${ev.namespace}/${ev.name} ? ${ev.detail.dns.name || ''} ${ev.detail.dns.type || ''} → ${ev.detail.endpointPod || ev.detail.endpoint || ''} ${ev.status || ''}`.trim();
    } else if (ev.kind === 'net' && ev.detail) extra = `${ev.namespace}/${ev.name} → ${ev.detail.endpointPod || ev.detail.endpoint || ''} ${ev.detail.outcome || ''}`.trim();
    if (ev.kind === 'http' && ev.from && ev.from.startsWith('controller-manager') && ev.detail && ev.detail.controller) extra = `${extra} (${ev.detail.controller.replace(/-controller$/, '')})`.trim();
    if (extra) text.append(' ', h('span', { class: 'tl-obj', text: extra }));
    const node = nodeOf(ev.from) || nodeOf(ev.to) || (ev.kind === 'net' && ev.detail && ev.detail.srcNode) || '';
    if (node) text.append(' ', h('span', { class: 'tl-node', text: node }));
    if (isFailure(ev)) text.append(' ', h('span', { class: 'tl-status', text: ev.status }));
    row.append(text);
  }
}

function shortComp(id) {
  if (!id) return '';
  const g = groupOf(id);
  const n = nodeOf(id);
  if (g === 'controller-manager') return 'ctrl-mgr';
  return n ? id.split('/')[0] : id;
}
