// inspector.js: everything about one event. Shows what the stream said at
// once, then asks GET /api/events/{seq} for details (for an etcd write: the
// stored object, the previous one and the list of changed fields). The
// causal chain links to the cause and to the events it led to.

import { h, clear, kindClass, objectKey, shapeIcon, fmtClock, fmtMs, prettyJSON, isFailure } from './util.js';
import { t, onLangChange } from './i18n.js';
import { api } from './api.js';

export class Inspector {
  /**
   * @param {HTMLElement} host
   * @param {object} o
   * @param {import('./store.js').EventStore} o.store
   * @param {(seq:number) => void} o.onSelect
   * @param {(obj:string) => void} o.onFollow
   * @param {(obj:string) => void} o.onReplay
   * @param {() => void} o.onClose
   */
  constructor(host, { store, onSelect, onFollow, onReplay, onClose }) {
    this.store = store;
    this.o = { onSelect, onFollow, onReplay, onClose };
    this.seq = 0;
    this.details = null;
    this.root = h('section', { class: 'inspector', 'data-testid': 'inspector', hidden: true, 'aria-live': 'polite' });
    host.append(this.root);
    this.root.addEventListener('click', (e) => {
      const a = e.target.closest('[data-goto]');
      if (a) { e.preventDefault(); this.o.onSelect(Number(a.dataset.goto)); }
    });
    onLangChange(() => { if (this.seq) this.render(); });
  }

  get open() { return !this.root.hidden; }

  /** Shows event seq (from the store, or fetched when the page no longer has it). */
  async show(seq) {
    this.seq = seq;
    this.details = null;
    this.error = '';
    this.root.hidden = false;
    this.root.dataset.seq = String(seq);
    this.render();
    try {
      const d = await api.event(seq);
      if (this.seq !== seq) return;
      this.details = d || {};
    } catch (e) {
      if (this.seq !== seq) return;
      this.error = e.message || String(e);
    }
    this.render();
  }

  hide() {
    this.seq = 0;
    this.root.hidden = true;
  }

  /** A new event arrived: refresh "led to" when it is an effect of the shown event. */
  noteEvent(ev) {
    if (this.seq && ev.cause === this.seq && this.open) this.renderChain();
  }

  render() {
    const root = this.root;
    clear(root);
    const ev = (this.details && this.details.event) || this.store.get(this.seq);
    const kc = ev ? kindClass(ev) : 'other';
    const close = h('button', { class: 'icon-btn close', 'aria-label': t('insp.close'), title: t('insp.close'), text: '✕', onclick: () => this.o.onClose() });
    root.append(h('header', { class: 'panel-head' },
      shapeIcon(kc, 18),
      h('h2', { text: t('insp.title', { seq: this.seq }) }),
      ev ? h('span', { class: `kind-pill k-${kc}`, text: t('kind.' + kc) }) : null,
      close));
    if (!ev) {
      root.append(h('p', { class: 'muted', text: this.error ? t('insp.fetchError', { msg: this.error }) : t('insp.loading') }));
      return;
    }
    root.append(h('p', { class: `summary${isFailure(ev) ? ' failed' : ''}`, text: ev.summary || '' }));

    const obj = objectKey(ev);
    if (obj) {
      root.append(h('div', { class: 'insp-actions' },
        h('button', { class: 'btn small', text: t('insp.follow', { obj: shortObj(obj) }), onclick: () => this.o.onFollow(obj) }),
        h('button', { class: 'btn small', text: t('insp.replay'), onclick: () => this.o.onReplay(obj) })));
    }

    const d = ev.detail || {};
    const rows = [
      ['insp.time', fmtClock(ev.time)],
      ['insp.fromTo', [ev.from, ev.to].filter(Boolean).join(' → ')],
      ['insp.verb', ev.verb],
      ['insp.object', obj + (ev.subresource ? ` (${ev.subresource})` : '')],
      ['insp.status', ev.status],
      ['insp.latency', fmtMs(ev.latencyMs)],
      ['insp.rv', ev.rv],
      ['insp.noise', ev.noise ? ev.noiseReason || t('insp.yes') : ''],
    ];
    switch (ev.kind) {
      case 'http':
        rows.push(['insp.method', d.method], ['insp.path', d.path], ['insp.user', d.user],
          ['insp.groups', Array.isArray(d.groups) ? d.groups.join(', ') : ''], ['insp.userAgent', d.userAgent],
          ['insp.controller', d.controller], ['insp.contentType', d.contentType],
          ['insp.responseBytes', typeof d.responseBytes === 'number' ? t('insp.bytes', { n: d.responseBytes.toLocaleString() }) : ''],
          ['insp.rejected', d.rejected ? `${d.reason || ''}` || t('insp.yes') : '']);
        break;
      case 'watch':
        rows.push(['insp.watchPath', d.watchPath], ['insp.encoding', d.encoding], ['insp.objectKind', d.objectKind], ['insp.uid', d.uid]);
        break;
      case 'etcd':
        rows.push(['insp.key', d.key], ['insp.revision', d.revision], ['insp.prevRevision', d.prevRevision],
          ['insp.valueSize', typeof d.valueSize === 'number' ? t('insp.bytes', { n: d.valueSize.toLocaleString() }) : ''], ['insp.leaseId', d.leaseId],
          ['insp.member', d.member], ['insp.raftLeader', d.leader]);
        break;
      case 'cri':
        rows.push(['insp.method', d.method], ['insp.image', d.image], ['insp.sandbox', d.podSandboxId],
          ['insp.container', d.containerId], ['insp.attempt', d.attempt], ['insp.streamUrl', d.streamUrl], ['insp.runtimeHandler', d.runtimeHandler], ['insp.error', d.error]);
        break;
      case 'kubelet-api':
        rows.push(['insp.path', d.path], ['insp.method', d.method], ['insp.user', d.user], ['insp.containerName', d.container],
          ['insp.command', Array.isArray(d.command) ? d.command.join(' ') : ''], ['insp.query', d.query]);
        break;
      case 'lifecycle':
        rows.push(['insp.component', d.component], ['insp.node', d.node], ['insp.message', d.message]);
        break;
      case 'dropped':
        rows.push(['insp.count', d.count], ['insp.range', d.fromSeq ? `${d.fromSeq}–${d.toSeq}` : '']);
        break;
    }
    const dl = h('dl', { class: 'facts' });
    for (const [k, v] of rows) {
      if (v === undefined || v === null || v === '') continue;
      dl.append(h('dt', { text: t(k) }), h('dd', { class: k === 'insp.path' || k === 'insp.key' || k === 'insp.watchPath' ? 'mono' : '', text: String(v) }));
    }
    root.append(dl);

    // Details from /api/events/{seq}.
    if (!this.details && !this.error) root.append(h('p', { class: 'muted', text: t('insp.loading') }));
    if (this.error) root.append(h('p', { class: 'error', text: t('insp.fetchError', { msg: this.error }) }));
    const det = this.details || {};
    if (det.detailError) root.append(h('p', { class: 'error', text: t('insp.detailError', { msg: det.detailError }) }));
    if (ev.kind === 'etcd' && this.details) {
      const changes = Array.isArray(det.changes) ? det.changes : [];
      root.append(h('h3', { text: t('insp.changes') }));
      if (changes.length) {
        const tbl = h('table', { class: 'changes' },
          h('thead', {}, h('tr', {}, h('th', { text: t('insp.changes.path') }), h('th', { text: t('insp.changes.old') }), h('th', { text: t('insp.changes.new') }))));
        const body = h('tbody');
        for (const c of changes.slice(0, 200)) {
          const path = c.Path ?? c.path ?? '';
          const oldV = 'Old' in c ? c.Old : c.old;
          const newV = 'New' in c ? c.New : c.new;
          body.append(h('tr', {}, h('td', { class: 'mono', text: path }), h('td', { class: 'mono old', text: short(oldV) }), h('td', { class: 'mono new', text: short(newV) })));
        }
        tbl.append(body);
        root.append(tbl);
      } else root.append(h('p', { class: 'muted', text: t('insp.noChanges') }));
      if (det.value !== undefined) root.append(jsonBlock(t('insp.value'), det.value, true));
      if (det.previous !== undefined && det.previous !== null) root.append(jsonBlock(t('insp.previous'), det.previous, false));
    }
    if (ev.kind === 'watch' && d.object) root.append(jsonBlock(t('insp.watchObject'), d.object, false));

    this.chainEl = h('div', { class: 'chain' });
    root.append(this.chainEl);
    this.renderChain();
  }

  /** The causal chain: the cause and the events this one led to. */
  renderChain() {
    const ev = (this.details && this.details.event) || this.store.get(this.seq);
    if (!ev || !this.chainEl) return;
    const el = this.chainEl;
    clear(el);
    el.append(h('h3', { text: t('insp.chain') }));
    const dl = h('dl', { class: 'facts chain-list' });
    dl.append(h('dt', { text: t('insp.cause') }));
    if (!ev.cause) dl.append(h('dd', { class: 'muted', text: t('insp.noCause') }));
    else {
      const c = this.store.get(ev.cause);
      dl.append(h('dd', {}, c ? eventLink(c) : h('a', { href: '#', 'data-goto': ev.cause, text: t('insp.causeMissing', { seq: ev.cause }) })));
    }
    dl.append(h('dt', { text: t('insp.effects') }));
    const effects = this.store.effectsOf(ev.seq);
    if (!effects.length) dl.append(h('dd', { class: 'muted', text: t('insp.noEffects') }));
    else {
      const dd = h('dd', { class: 'effects' });
      for (const s of effects.slice(0, 40)) {
        const e = this.store.get(s);
        if (e) dd.append(eventLink(e));
      }
      if (effects.length > 40) dd.append(h('span', { class: 'muted', text: `+${effects.length - 40}` }));
      dl.append(dd);
    }
    el.append(dl);
  }
}

function eventLink(ev) {
  const kc = kindClass(ev);
  return h('a', { href: '#', class: `ev-link k-${kc}`, 'data-goto': ev.seq, title: ev.summary || '' },
    shapeIcon(kc, 12), h('span', { class: 'seq', text: `#${ev.seq}` }), ' ', ev.summary || `${ev.kind} ${ev.verb || ''}`);
}

function jsonBlock(title, value, open) {
  return h('details', { class: 'json', open },
    h('summary', { text: title }),
    h('pre', { text: prettyJSON(value) }));
}

function short(v) {
  if (v === undefined) return '';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s && s.length > 160 ? s.slice(0, 160) + '…' : s ?? 'null';
}

function shortObj(obj) {
  const parts = obj.split('/');
  return parts.length > 2 ? `${parts[0]}/${parts[parts.length - 1]}` : obj;
}
