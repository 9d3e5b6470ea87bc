import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventStore } from '../../assets/ui/store.js';

const ev = (seq, cause) => ({ seq, kind: 'http', summary: '', ...(cause ? { cause } : {}) });

test('the ring keeps the newest events and finds them by seq', () => {
  const s = new EventStore(3);
  for (const seq of [2, 4, 6, 8]) s.push(ev(seq));
  assert.equal(s.size, 3);
  assert.equal(s.firstSeq, 4);
  assert.equal(s.lastSeq, 8);
  assert.equal(s.get(2), undefined, 'evicted');
  assert.equal(s.get(5), undefined, 'never there');
  assert.equal(s.get(6).seq, 6);
  assert.equal(s.lowerBound(5), 1);
  assert.equal(s.evicted, 1);
});

test('effects are indexed by cause and forgotten with it', () => {
  const s = new EventStore(3);
  s.push(ev(1));
  s.push(ev(2, 1));
  s.push(ev(3, 1));
  assert.deepEqual(s.effectsOf(1), [2, 3]);
  s.push(ev(4, 3));
  assert.deepEqual(s.effectsOf(1), [], 'the cause left the ring');
  assert.deepEqual(s.effectsOf(3), [4]);
});

test('recent scans newest first, up to n', () => {
  const s = new EventStore(10);
  for (let i = 1; i <= 6; i++) s.push(ev(i));
  assert.deepEqual(s.recent((e) => e.seq % 2 === 0, 2).map((e) => e.seq), [6, 4]);
});
