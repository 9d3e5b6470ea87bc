// stats.js: live numbers per component, computed from the stream only.
//
// For each component id: times of its requests (http it sent or, for the
// apiserver, received; etcd writes for etcd; CRI calls for a kubelet and its
// runtime), times of watch events it sent or received, the distinct watch
// paths its watch events came on, and its last five events. Rates are over
// a sliding 5 s window of event times; the reference "now" is the wall clock
// when live and the current event's time in a replay.

import { parseTime } from './util.js';

const WINDOW_MS = 5000;
const BUCKET_MS = 100;
const SLOTS = 64; // > WINDOW_MS / BUCKET_MS, so a window never wraps

/** Counts per 100 ms bucket in a small ring: exact rates at any load, constant memory. */
class Series {
  constructor() {
    this.keys = new Float64Array(SLOTS).fill(-1);
    this.counts = new Uint32Array(SLOTS);
  }
  add(ms) {
    if (!Number.isFinite(ms)) return;
    const k = Math.floor(ms / BUCKET_MS);
    const i = k % SLOTS;
    if (this.keys[i] !== k) {
      if (this.keys[i] > k) return; // older than what the slot holds: outside any window we show
      this.keys[i] = k;
      this.counts[i] = 0;
    }
    this.counts[i]++;
  }
  /** Events per second in the 5 s up to now. */
  rate(now) {
    const kn = Math.floor(now / BUCKET_MS);
    const lo = kn - WINDOW_MS / BUCKET_MS;
    let n = 0;
    for (let i = 0; i < SLOTS; i++) {
      const k = this.keys[i];
      if (k > lo && k <= kn) n += this.counts[i];
    }
    return n / (WINDOW_MS / 1000);
  }
}

class CompStats {
  constructor() {
    this.requests = new Series();
    this.watches = new Series();
    this.watchPaths = new Set();
    this.last = []; // last 5 seqs, newest last
  }
}

export class Stats {
  constructor() {
    this.by = new Map();
    this.latestTime = 0; // newest event time seen (ms)
    this.etcdRevision = 0;
  }

  get(id) {
    let c = this.by.get(id);
    if (!c) { c = new CompStats(); this.by.set(id, c); }
    return c;
  }

  /** Counts one event for the components it involves. */
  add(ev) {
    const tm = parseTime(ev.time);
    if (Number.isFinite(tm) && tm > this.latestTime) this.latestTime = tm;
    const ids = [ev.from, ev.to].filter(Boolean);
    if (ev.kind === 'lifecycle' && ev.detail && ev.detail.component && !ids.includes(ev.detail.component)) ids.push(ev.detail.component);
    for (const id of ids) {
      const c = this.get(id);
      c.last.push(ev.seq);
      if (c.last.length > 5) c.last.shift();
      switch (ev.kind) {
        case 'http': case 'etcd': case 'cri': case 'kubelet-api':
          c.requests.add(tm);
          break;
        case 'watch':
          c.watches.add(tm);
          if (ev.detail && typeof ev.detail.watchPath === 'string' && c.watchPaths.size < 5000) c.watchPaths.add(ev.detail.watchPath);
          break;
      }
    }
    if (ev.kind === 'etcd' && ev.detail && typeof ev.detail.revision === 'number') this.etcdRevision = Math.max(this.etcdRevision, ev.detail.revision);
  }

  /** Numbers for a component at reference time now (ms). */
  numbers(id, now) {
    const c = this.by.get(id);
    if (!c) return { reqps: 0, watchps: 0, watchPaths: 0, last: [] };
    return { reqps: c.requests.rate(now), watchps: c.watches.rate(now), watchPaths: c.watchPaths.size, last: c.last.slice().reverse() };
  }

  reset() {
    this.by.clear();
    this.latestTime = 0;
    this.etcdRevision = 0;
  }
}
