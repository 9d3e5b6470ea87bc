import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StateMirror, validStateFrame } from '../../assets/ui/statemirror.js';

const pod = (name, phase, node = '') => ({ namespace: 'default', name, phase, node, reason: '', ip: '' });
const full = (version, pods) => ({ type: 'state', full: true, version, tag: 10, state: { nodes: [{ name: 'node-1', ready: true }], pods } });

test('the whole state, then changes in order', () => {
  const m = new StateMirror();
  let r = m.apply(full(4, [pod('a', 'Pending'), pod('b', 'Running', 'node-1')]));
  assert.deepEqual(r.state.pods.map((p) => p.name).sort(), ['a', 'b']);
  assert.equal(r.tag, 10);
  r = m.apply({ type: 'state', version: 5, tag: 12, state: { nodes: [] }, set: [pod('a', 'Running', 'node-1'), pod('c', 'Pending')], gone: ['default/b'] });
  assert.deepEqual(Object.fromEntries(r.state.pods.map((p) => [p.name, p.phase])), { a: 'Running', c: 'Pending' });
  assert.deepEqual(r.state.nodes, [], 'the rest of the state comes whole with each change');
  assert.equal(r.tag, 12);
  assert.equal(m.version, 5);
});

test('a change that does not follow is refused; a whole state starts over', () => {
  const m = new StateMirror();
  assert.equal(m.apply({ type: 'state', version: 3, tag: 1, state: {}, set: [pod('x', 'Pending')] }), null, 'no base yet');
  m.apply(full(7, [pod('a', 'Running')]));
  assert.equal(m.apply({ type: 'state', version: 9, tag: 1, state: {}, gone: ['default/a'] }), null, 'skips 8');
  assert.equal(m.pods.size, 1, 'a refused change changes nothing');
  const r = m.apply(full(2, [])); // the server restarted: versions begin again
  assert.equal(r.state.pods.length, 0);
  assert.equal(m.version, 2);
});

test('frames that are not state frames are refused', () => {
  for (const bad of [null, [], {}, { type: 'state' }, { type: 'state', version: 1, tag: -1, state: {} },
    { type: 'state', version: 1.5, tag: 0, state: {} }, { type: 'state', version: 1, tag: 0, state: [] },
    { type: 'state', version: 1, tag: 0, state: {}, set: [{ name: 'x' }] },
    { type: 'state', version: 1, tag: 0, state: {}, gone: [3] },
    { type: 'state', version: 1, tag: 0, full: true, state: { pods: 'x' } }]) {
    assert.equal(validStateFrame(bad), false, JSON.stringify(bad));
  }
  assert.equal(validStateFrame(full(1, [pod('a', 'Pending')])), true);
});
