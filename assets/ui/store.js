// store.js: the events this page has received, in a bounded ring.
//
// Events arrive in strictly increasing seq order (the stream guarantees it),
// so the ring is sorted and a seq is found by binary search. The store also
// indexes causal links (cause seq → effect seqs) so the inspector can show
// "led to" without scanning, and forgets those links when the cause leaves
// the ring. Memory is bounded by the capacity.

export class EventStore {
  /** @param {number} capacity how many events to keep (oldest are evicted) */
  constructor(capacity = 100000) {
    this.cap = capacity;
    this.buf = new Array(capacity);
    this.head = 0; // index of the oldest event
    this.size = 0;
    this.children = new Map(); // cause seq → array of effect seqs
    this.evicted = 0;
  }

  /** The oldest and newest seqs kept (0 when empty). */
  get firstSeq() { return this.size ? this.buf[this.head].seq : 0; }
  get lastSeq() { return this.size ? this.at(this.size - 1).seq : 0; }

  /** The i-th event, oldest first (0 ≤ i < size). */
  at(i) {
    return this.buf[(this.head + i) % this.cap];
  }

  /**
   * Adds an event (its seq must be greater than every stored seq).
   * Returns the evicted event, if any.
   */
  push(ev) {
    let out = null;
    if (this.size === this.cap) {
      out = this.buf[this.head];
      this.buf[this.head] = ev;
      this.head = (this.head + 1) % this.cap;
      this.children.delete(out.seq);
      this.evicted++;
    } else {
      this.buf[(this.head + this.size) % this.cap] = ev;
      this.size++;
    }
    if (ev.cause) {
      const list = this.children.get(ev.cause);
      if (list) { if (list.length < 500) list.push(ev.seq); } else this.children.set(ev.cause, [ev.seq]);
    }
    return out;
  }

  /** Index (0-based, oldest first) of the first event with seq ≥ seq. */
  lowerBound(seq) {
    let lo = 0, hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.at(mid).seq < seq) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  /** The event with this seq, or undefined. */
  get(seq) {
    const i = this.lowerBound(seq);
    if (i < this.size) {
      const ev = this.at(i);
      if (ev.seq === seq) return ev;
    }
    return undefined;
  }

  /** Seqs of the events whose cause is seq (only those still kept). */
  effectsOf(seq) {
    return this.children.get(seq) || [];
  }

  /** Calls fn(ev) for every event with seq ≤ maxSeq, oldest first. */
  forEachUpTo(maxSeq, fn) {
    for (let i = 0; i < this.size; i++) {
      const ev = this.at(i);
      if (ev.seq > maxSeq) break;
      fn(ev);
    }
  }

  /** The newest events (up to n) matching pred, newest first. Scans at most `limit` events. */
  recent(pred, n, limit = 20000) {
    const out = [];
    for (let i = this.size - 1, k = 0; i >= 0 && k < limit && out.length < n; i--, k++) {
      const ev = this.at(i);
      if (pred(ev)) out.push(ev);
    }
    return out;
  }
}
