// teach.js: the teaching state, one small store with many writers.
//
// What a presenter shows and a classroom's viewers mirror: the open lab,
// step and the step's start (whose checks count from then), the followed
// object, pause, step count and speed, the selected event, the open panel,
// the tab and the etcd browser's key. Three writers change it: the page's
// own user ('local'), the presenter's stream ('presenter', on a viewer's
// page), and nothing else; views subscribe and learn which one wrote.
// Pure: no DOM, so `node --test` runs its tests.

/** The fields of a teaching state, with their defaults. */
export const TEACHING_DEFAULTS = Object.freeze({
  lab: '',
  step: '',
  since: 0,
  done: Object.freeze([]),
  following: '',
  paused: false,
  steps: 0, // how many times the presenter pressed Step: a viewer steps as many
  speed: 1,
  selected: 0, // the inspected event's seq (0: none)
  panel: '', // "component:<id>", "node:<name>" or ""
  tab: 'diagram', // "diagram" or "etcd"
  etcdKey: '',
});

const MAX_STRING = 512;
const MAX_DONE = 200;

function same(a, b) {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}

/**
 * A teaching state received from elsewhere, reduced to the known fields of
 * the right types and sizes; anything else takes the default. A malformed
 * frame thus changes nothing it does not name correctly.
 */
export function cleanTeaching(raw) {
  const out = { ...TEACHING_DEFAULTS };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return out;
  const str = (v) => (typeof v === 'string' && v.length <= MAX_STRING ? v : null);
  const num = (v, min, max) => (typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? v : null);
  for (const k of ['lab', 'step', 'following', 'panel', 'etcdKey']) {
    const v = str(raw[k]);
    if (v !== null) out[k] = v;
  }
  if (raw.tab === 'etcd' || raw.tab === 'diagram') out.tab = raw.tab;
  if (typeof raw.paused === 'boolean') out.paused = raw.paused;
  const since = num(raw.since, 0, 8.64e15);
  if (since !== null) out.since = since;
  const steps = num(raw.steps, 0, Number.MAX_SAFE_INTEGER);
  if (steps !== null && Number.isInteger(steps)) out.steps = steps;
  const speed = num(raw.speed, 0.1, 4);
  if (speed !== null) out.speed = speed;
  const sel = num(raw.selected, 0, Number.MAX_SAFE_INTEGER);
  if (sel !== null && Number.isInteger(sel)) out.selected = sel;
  if (Array.isArray(raw.done)) out.done = Object.freeze(raw.done.filter((x) => str(x) !== null).slice(0, MAX_DONE));
  return out;
}

export class TeachingStore {
  constructor(initial = {}) {
    this.state = Object.freeze({ ...TEACHING_DEFAULTS, ...initial });
    this.subs = new Set();
  }

  get() { return this.state; }

  /**
   * Changes the fields in patch; subscribers are told once, with the new
   * state and who wrote it, and only if something changed.
   * @returns {boolean} whether anything changed
   */
  set(patch, source = 'local') {
    let next = null;
    for (const [k, v] of Object.entries(patch || {})) {
      if (!(k in TEACHING_DEFAULTS) || same(this.state[k], v)) continue;
      if (!next) next = { ...this.state };
      next[k] = Array.isArray(v) ? Object.freeze([...v]) : v;
    }
    if (!next) return false;
    this.state = Object.freeze(next);
    for (const fn of [...this.subs]) fn(this.state, source);
    return true;
  }

  /** Calls fn(state, source) on every change; returns the unsubscribe. */
  subscribe(fn) {
    this.subs.add(fn);
    return () => this.subs.delete(fn);
  }
}
