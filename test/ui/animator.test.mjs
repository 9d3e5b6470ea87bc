// The animator's ordering rules, on a fake diagram and a minimal DOM (the
// animator draws packets as SVG elements; here they are plain objects).
import { test } from 'node:test';
import assert from 'node:assert/strict';

function fakeElement() {
  return {
    style: {}, dataset: {}, textContent: '', attrs: {},
    setAttribute(k, v) { this.attrs[k] = v; },
    removeAttribute(k) { delete this.attrs[k]; },
    append() {},
    addEventListener() {},
  };
}
globalThis.document = { createElementNS: () => fakeElement() };
const { Animator } = await import('../../assets/ui/animator.js');

const diagram = {
  gPackets: fakeElement(),
  geom: () => ({ x1: 0, y1: 0, x2: 100, y2: 0, len: 100 }),
  center: () => ({ x: 0, y: 0 }),
  raftFollowers: () => [],
};

function animator() {
  const started = [];
  const a = new Animator({ diagram, onStart: (ev) => started.push(ev.seq) });
  return { a, started };
}

const ev = (seq, o = {}) => ({ seq, kind: 'http', verb: 'create', from: 'kubectl', to: 'apiserver', resource: 'pods', namespace: 'default', name: 'p' + seq, summary: '', ...o });

/** Runs frames of 16 ms until now + ms. */
function run(a, from, ms) {
  let t = from;
  for (; t < from + ms; t += 16) a.frame(t);
  return t;
}

test('an effect starts only after its cause has arrived', () => {
  const { a, started } = animator();
  a.enqueue(ev(1), 0, 0);
  a.enqueue(ev(2, { kind: 'etcd', verb: 'put', from: 'apiserver', to: 'etcd', cause: 1 }), 0, 0);
  a.frame(0);
  assert.deepEqual(started, [1], 'the effect waits while its cause moves');
  assert.equal(a.stateOf(2), 'queued');
  run(a, 16, 3000);
  assert.deepEqual(started, [1, 2]);
  assert.equal(a.minActiveSeq(), Infinity, 'everything has arrived');
});

test("events unrelated to each other move together, and one whose cause was never shown does not wait", () => {
  const { a, started } = animator();
  a.enqueue(ev(5, { name: 'x' }), 0, 0);
  a.enqueue(ev(6, { name: 'y', from: 'scheduler' }), 0, 0);
  a.enqueue(ev(7, { kind: 'watch', verb: 'ADDED', from: 'apiserver', to: 'kubelet/node-1', cause: 3 }), 0, 0); // 3 was filtered out
  a.frame(0);
  assert.deepEqual(started, [5, 6, 7]);
});

test("one component's requests about one object play in the order it made them", () => {
  const { a, started } = animator();
  a.enqueue(ev(10, { from: 'kubelet/node-1', verb: 'patch', name: 'w' }), 0, 0);
  a.enqueue(ev(11, { from: 'kubelet/node-1', verb: 'patch', name: 'w', cause: 9 }), 0, 0);
  a.frame(0);
  assert.deepEqual(started, [10]);
  run(a, 16, 3000);
  assert.deepEqual(started, [10, 11]);
});

test('paused, nothing moves; a step plays exactly one event whose cause has arrived', () => {
  const { a, started } = animator();
  a.pause();
  a.enqueue(ev(20), 0, 0);
  a.enqueue(ev(21, { kind: 'etcd', verb: 'put', from: 'apiserver', to: 'etcd', cause: 20 }), 0, 0);
  a.enqueue(ev(22, { name: 'other' }), 0, 0);
  run(a, 0, 2000);
  assert.deepEqual(started, [], 'paused');
  assert.equal(a.step(100).seq, 20);
  assert.deepEqual(started, [20]);
  // The next step lands 20 first, so its effect may go.
  assert.equal(a.step(200).seq, 21);
  assert.equal(a.step(300).seq, 22);
  assert.equal(a.step(400), null, 'nothing left');
  assert.deepEqual(started, [20, 21, 22]);
});

test('an effect stuck behind its cause for more than the lag budget lands the cause instead of dropping itself', () => {
  const { a, started } = animator();
  a.setSpeed(1);
  a.enqueue(ev(30), 0, 1000);
  a.enqueue(ev(31, { kind: 'etcd', verb: 'put', from: 'apiserver', to: 'etcd', cause: 30 }), 0, 1000);
  a.frame(1000);
  assert.deepEqual(started, [30]);
  // The next frame 3.5 s later (a hidden tab): the effect is overdue.
  a.frame(4500);
  assert.deepEqual(started, [30, 31]);
  assert.equal(a.skipped, 0, 'nothing was dropped');
});
