// viewstore.js: the page's view state, one small store with many writers.
//
// What the page shows (paused or playing, the speed, the followed object,
// the filters, the open tab, the selected event or panel, the etcd key,
// the connection, the open lab step) is one frozen object. Three writers
// change it: the page's own user ('local'), the presenter's stream
// ('presenter', on a classroom viewer's page) and the stream's connection
// ('stream'). Views subscribe to the fields they show and are told once
// per change, with what changed and who changed it; none of them is set
// by hand from elsewhere. The hot path (the SVG diagram and the animator's
// frames) stays outside: views turn a change into calls on it.
// Pure: no DOM, so `node --test` runs its tests.

function same(a, b) {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}

export class Store {
  /**
   * @param {object} defaults every field the store has, with its default
   * @param {object} [initial] fields that start otherwise
   */
  constructor(defaults, initial = {}) {
    this.defaults = Object.freeze({ ...defaults });
    this.state = Object.freeze({ ...this.defaults, ...initial });
    this.subs = new Set();
  }

  get() { return this.state; }

  /**
   * Changes the fields in patch (unknown fields are ignored; arrays are
   * copied and frozen). Subscribers whose fields changed are told once,
   * in the order they subscribed, with the new state, the writer and the
   * set of changed fields.
   * @returns {boolean} whether anything changed
   */
  set(patch, source = 'local') {
    let next = null;
    const changed = new Set();
    for (const [k, v] of Object.entries(patch || {})) {
      if (!(k in this.defaults) || same(this.state[k], v)) continue;
      if (!next) next = { ...this.state };
      next[k] = Array.isArray(v) ? Object.freeze([...v]) : v;
      changed.add(k);
    }
    if (!next) return false;
    const prev = this.state;
    this.state = Object.freeze(next);
    for (const sub of [...this.subs]) {
      if (!this.subs.has(sub)) continue; // unsubscribed by an earlier one
      if (sub.keys && !sub.keys.some((k) => changed.has(k))) continue;
      sub.fn(this.state, source, changed, prev);
    }
    return true;
  }

  /**
   * Calls fn(state, source, changed, prev) on every change of one of keys
   * (of any field when keys is omitted); returns the unsubscribe.
   */
  subscribe(fn, keys) {
    const sub = { fn, keys: keys ? [...keys] : null };
    this.subs.add(sub);
    return () => this.subs.delete(sub);
  }
}
