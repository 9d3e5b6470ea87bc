// Unit tests of the page's pure logic: node --test test/ui/ (no build step).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanTeaching, teachingOf, TEACHING_DEFAULTS } from '../../assets/ui/teach.js';
import { Store } from '../../assets/ui/viewstore.js';

class TeachingStore extends Store { constructor() { super(TEACHING_DEFAULTS); } }

test('a change is told once, with who made it; no change is not told', () => {
  const s = new TeachingStore();
  const seen = [];
  s.subscribe((state, source) => seen.push([state.lab, state.step, source]));
  assert.equal(s.set({ lab: '02', step: '03' }, 'presenter'), true);
  assert.equal(s.set({ lab: '02', step: '03' }), false);
  assert.equal(s.set({ done: ['01'] }), true);
  assert.equal(s.set({ done: ['01'] }), false, 'an equal array is no change');
  assert.deepEqual(seen, [['02', '03', 'presenter'], ['02', '03', 'local']]);
});

test('unknown fields are ignored and the state is frozen', () => {
  const s = new TeachingStore();
  assert.equal(s.set({ bogus: 1 }), false);
  assert.equal('bogus' in s.get(), false);
  assert.throws(() => { s.get().lab = 'x'; }, TypeError);
  const done = ['a'];
  s.set({ done });
  done.push('b');
  assert.deepEqual(s.get().done, ['a'], 'the store keeps its own copy');
});

test('unsubscribe stops the calls', () => {
  const s = new TeachingStore();
  let n = 0;
  const off = s.subscribe(() => n++);
  s.set({ paused: true });
  off();
  s.set({ paused: false });
  assert.equal(n, 1);
});

test('a received state keeps only well-typed fields', () => {
  assert.deepEqual(cleanTeaching(null), { ...TEACHING_DEFAULTS });
  assert.deepEqual(cleanTeaching([1, 2]), { ...TEACHING_DEFAULTS });
  const c = cleanTeaching({
    lab: '02-deployments', step: 7, since: -5, done: ['01', 3, '02'], following: 'pods/default/web',
    paused: 'yes', steps: 2.5, speed: 99, selected: 41, panel: 'node:node-1', tab: 'etcd', etcdKey: 'x'.repeat(600), extra: true,
  });
  assert.equal(c.lab, '02-deployments');
  assert.equal(c.step, '', 'a number is not a step id');
  assert.equal(c.since, 0, 'a negative time is dropped');
  assert.deepEqual([...c.done], ['01', '02']);
  assert.equal(c.following, 'pods/default/web');
  assert.equal(c.paused, false, 'a string is not a boolean');
  assert.equal(c.steps, 0, 'a fraction is not a count');
  assert.equal(c.speed, 1, 'out of range');
  assert.equal(c.selected, 41);
  assert.equal(c.panel, 'node:node-1');
  assert.equal(c.tab, 'etcd');
  assert.equal(c.etcdKey, '', 'too long');
  assert.equal('extra' in c, false);
});

test('a view subscribes to its fields and is told what changed and by whom', () => {
  const s = new Store({ ...TEACHING_DEFAULTS, noise: false });
  const seen = [];
  s.subscribe((st, source, changed, prev) => seen.push([source, [...changed].sort().join(','), prev.paused, st.paused]), ['paused', 'speed']);
  s.set({ noise: true }); // not a field it shows
  s.set({ paused: true, speed: 2, lab: 'x' }, 'presenter');
  s.set({ paused: true });
  assert.deepEqual(seen, [['presenter', 'lab,paused,speed', false, true]]);
});

test('a subscriber that writes is seen by later ones, in order, and one removed mid-change is not called', () => {
  const s = new Store({ a: 0, b: 0 });
  const order = [];
  let offC = null;
  s.subscribe((st) => { order.push('a' + st.a); if (st.a === 1) s.set({ b: 1 }); }, ['a']);
  s.subscribe((st) => { order.push('b' + st.b); offC(); }, ['b']);
  offC = s.subscribe(() => order.push('c'), ['a']);
  s.set({ a: 1 });
  assert.deepEqual(order, ['a1', 'b1']);
});

test("the teaching state is the view state's teaching fields", () => {
  const view = { ...TEACHING_DEFAULTS, lab: 'l', noise: true, kinds: ['http'] };
  assert.deepEqual(teachingOf(view), { ...TEACHING_DEFAULTS, lab: 'l' });
});
