import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validEvent, TraceStream } from '../../assets/ui/stream.js';

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

test('state frames go to onState, and malformed ones are counted', () => {
  const got = [];
  let malformed = 0;
  const s = new TraceStream({ onEvent: () => assert.fail('a state frame is not an event'), onState: (f) => got.push(f), onMalformed: () => { malformed++; } });
  s.handleFrame(JSON.stringify({ type: 'state', full: true, version: 1, tag: 0, state: { nodes: [], pods: [] } }));
  s.handleFrame(JSON.stringify({ type: 'state', version: 0, tag: 0, state: {} }));
  s.handleFrame(JSON.stringify({ type: 'state', version: 2, tag: 5, state: [] }));
  assert.equal(got.length, 1);
  assert.equal(malformed, 2);
  assert.equal(s.lastSeq, 0, 'state frames do not move the event cursor');
});
