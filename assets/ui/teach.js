// teach.js: the teaching state.
//
// What a presenter shows and a classroom's viewers mirror: the open lab,
// step and the step's start (whose checks count from then), the followed
// object, pause, step count and speed, the selected event, the open panel,
// the tab and the etcd browser's key. These are fields of the page's view
// state (viewstore.js); this file names them, and cleans a state received
// from the stream before a viewer's page applies it.
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

/** The fields of a teaching state. */
export const TEACHING_KEYS = Object.freeze(Object.keys(TEACHING_DEFAULTS));

/** The teaching state within a page's view state (viewstore.js). */
export function teachingOf(view) {
  const out = {};
  for (const k of TEACHING_KEYS) out[k] = view[k];
  return out;
}
