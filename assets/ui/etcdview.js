// etcdview.js: the etcd browser. The /registry key tree from
// GET /api/etcd/keys, collapsible by path segment; a key shows its decoded
// object and its revisions (GET /api/etcd/value, &rev= for an older one).
// A banner says that only the apiserver writes here.

import { h, clear, prettyJSON } from './util.js';
import { t, onLangChange } from './i18n.js';
import { api } from './api.js';

export class EtcdView {
  /** @param {object} [o] @param {(key: string) => void} [o.onSelect] the user picked a key */
  constructor(host, o = {}) {
    this.o = o;
    this.root = h('section', { class: 'etcd-view', 'data-testid': 'etcd', hidden: true });
    this.banner = h('p', { class: 'etcd-banner' });
    this.treeEl = h('div', { class: 'etcd-tree', role: 'tree' });
    this.valueEl = h('div', { class: 'etcd-value' });
    this.countEl = h('span', { class: 'muted' });
    this.refreshBtn = h('button', { class: 'btn small', onclick: () => this.load() });
    this.root.append(
      h('header', { class: 'etcd-head' }, h('h2', { 'data-i18n': 'etcd.title', text: t('etcd.title') }), this.countEl, this.refreshBtn),
      this.banner,
      h('div', { class: 'etcd-body' }, this.treeEl, this.valueEl));
    host.append(this.root);
    this.expanded = new Set(['/registry/']);
    this.tree = null;
    this.selected = '';
    this.treeEl.addEventListener('click', (e) => this.onTreeClick(e));
    onLangChange(() => this.renderChrome());
    this.renderChrome();
  }

  renderChrome() {
    this.banner.textContent = '';
    this.banner.append(h('b', { text: 'kube-apiserver → etcd' }), ' · ', t('etcd.only'));
    this.refreshBtn.textContent = t('etcd.refresh');
    if (!this.selected) { clear(this.valueEl); this.valueEl.append(h('p', { class: 'muted', text: t('etcd.pick') })); }
    if (this.tree) this.countEl.textContent = t('etcd.nKeys', { n: this.tree.count });
  }

  show() {
    this.root.hidden = false;
    this.load();
  }

  hide() { this.root.hidden = true; }

  async load() {
    clear(this.treeEl);
    this.treeEl.append(h('p', { class: 'muted', text: t('etcd.loading') }));
    try {
      const res = await api.etcdKeys('/registry/');
      const keys = Array.isArray(res && res.keys) ? res.keys.filter((k) => k && typeof k.key === 'string') : [];
      this.tree = buildTree(keys);
      this.renderTree();
      this.renderChrome();
    } catch (e) {
      clear(this.treeEl);
      this.treeEl.append(h('p', { class: 'error', text: t('etcd.error', { msg: e.message || e }) }));
    }
  }

  renderTree() {
    clear(this.treeEl);
    const ul = h('ul', { class: 'tree' });
    this.renderChildren(this.tree, ul);
    this.treeEl.append(ul);
  }

  renderChildren(node, ul) {
    const kids = [...node.children.values()].sort((a, b) => (a.leaf === b.leaf ? a.name.localeCompare(b.name, undefined, { numeric: true }) : a.leaf ? 1 : -1));
    for (const c of kids) {
      if (c.leaf) {
        ul.append(h('li', { class: `leaf${c.path === this.selected ? ' selected' : ''}`, role: 'treeitem' },
          h('a', { href: '#', 'data-key': c.path, title: c.path, text: c.name }),
          h('span', { class: 'rev', text: c.info.revision ? String(c.info.revision) : '' })));
      } else {
        const open = this.expanded.has(c.path);
        const li = h('li', { class: `folder${open ? ' open' : ''}`, role: 'treeitem', 'aria-expanded': String(open) },
          h('a', { href: '#', 'data-folder': c.path }, h('span', { class: 'twisty', text: open ? '▾' : '▸' }), c.name + '/', h('span', { class: 'count', text: String(c.count) })));
        if (open) {
          const sub = h('ul');
          this.renderChildren(c, sub);
          li.append(sub);
        }
        ul.append(li);
      }
    }
  }

  onTreeClick(e) {
    const f = e.target.closest('[data-folder]');
    if (f) {
      e.preventDefault();
      const p = f.dataset.folder;
      if (this.expanded.has(p)) this.expanded.delete(p); else this.expanded.add(p);
      this.renderTree();
      return;
    }
    const k = e.target.closest('[data-key]');
    if (k) {
      e.preventDefault();
      this.select(k.dataset.key);
      if (this.o.onSelect) this.o.onSelect(this.selected);
    }
  }

  /** Shows key (the etcd browser's selection; '' for none). */
  select(key) {
    if (key === this.selected) return;
    this.selected = key;
    // Open the folders down to it, so the tree shows where it is.
    const parts = key.split('/');
    for (let i = 2; i < parts.length; i++) this.expanded.add(parts.slice(0, i).join('/') + '/');
    if (this.tree) this.renderTree();
    this.renderChrome();
    if (key) this.openKey(key);
  }

  /** Shows a key's value (at rev, or the current one) and its revisions. */
  async openKey(key, rev) {
    clear(this.valueEl);
    this.valueEl.append(h('p', { class: 'muted', text: t('etcd.loading') }));
    let res;
    try {
      res = await api.etcdValue(key, rev);
    } catch (e) {
      clear(this.valueEl);
      this.valueEl.append(h('h3', { class: 'mono', text: key }), h('p', { class: 'error', text: t('etcd.error', { msg: e.message || e }) }));
      return;
    }
    if (this.selected !== key) return;
    clear(this.valueEl);
    const info = findInfo(this.tree, key) || {};
    this.valueEl.append(h('h3', { class: 'mono key', text: key }));
    if (info.revision) this.valueEl.append(h('p', { class: 'muted', text: t('etcd.keyInfo', { rev: info.revision, create: info.createRevision ?? '–', ver: info.version ?? '–' }) }));
    const hist = Array.isArray(res && res.history) ? res.history : [];
    const shown = rev || (res && res.revision);
    if (hist.length) {
      const list = h('div', { class: 'revs' }, h('span', { class: 'revs-label', text: t('etcd.revisions') }));
      hist.forEach((r, i) => {
        const n = r && r.revision;
        if (!n) return;
        list.append(h('button', {
          class: `rev-btn${n === shown ? ' active' : ''}`, text: t('etcd.rev', { n }) + (i === 0 ? ` (${t('etcd.current')})` : ''),
          onclick: () => this.openKey(key, i === 0 ? undefined : n),
        }));
      });
      this.valueEl.append(list);
    }
    this.valueEl.append(h('pre', { class: 'json-pre', text: prettyJSON(res ? res.value : null) }));
  }
}

/** Builds a tree of path segments from keys like /registry/pods/default/nginx. */
function buildTree(keys) {
  const root = { name: '', path: '/', children: new Map(), count: 0, leaf: false };
  for (const k of keys) {
    const parts = k.key.replace(/^\//, '').split('/');
    let node = root;
    let path = '/';
    root.count++;
    parts.forEach((p, i) => {
      const last = i === parts.length - 1;
      path += p + (last ? '' : '/');
      let c = node.children.get(p + (last ? '' : '/'));
      if (!c) {
        c = last ? { name: p, path, leaf: true, info: k, children: new Map() } : { name: p, path, children: new Map(), count: 0, leaf: false };
        node.children.set(p + (last ? '' : '/'), c);
      }
      if (!last) c.count++;
      node = c;
    });
  }
  return root;
}

function findInfo(tree, key) {
  if (!tree) return null;
  const parts = key.replace(/^\//, '').split('/');
  let node = tree;
  for (let i = 0; i < parts.length && node; i++) {
    node = node.children.get(parts[i] + (i === parts.length - 1 ? '' : '/'));
  }
  return node && node.info;
}
