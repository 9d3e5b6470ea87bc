import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validEvent } from '../../assets/ui/stream.js';

test('frames that are not events are refused', () => {
  for (const bad of [null, 7, 'x', [], {}, { seq: 1 }, { seq: -1, kind: 'http' }, { seq: 1.5, kind: 'http' },
    { seq: 0, kind: 'http' }, { seq: 2, kind: 'http', from: 3 }, { seq: 2, kind: 'http', cause: '1' },
    { seq: 2, kind: 'http', detail: [] }]) {
    assert.equal(validEvent(bad), false, JSON.stringify(bad));
  }
});

test('an event is accepted, and a missing summary becomes empty', () => {
  const e = { seq: 3, kind: 'watch', from: 'apiserver', to: 'scheduler', cause: 2, detail: { type: 'ADDED' } };
  assert.equal(validEvent(e), true);
  assert.equal(e.summary, '');
  assert.equal(validEvent({ seq: 0, kind: 'error', summary: 'bad query' }), true, 'an error frame has seq 0');
});
