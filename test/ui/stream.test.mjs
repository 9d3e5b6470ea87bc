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

test('a batch frame is its events, in order, each checked as a single one would be', () => {
  const got = [];
  let malformed = 0;
  const s = new TraceStream({ onEvent: (e) => got.push(e.seq), onMalformed: () => { malformed++; } });
  s.handleFrame(JSON.stringify([{ seq: 1, kind: 'http' }, { seq: 2, kind: 'watch' }, { seq: 'x', kind: 'etcd' }, { seq: 3, kind: 'etcd' }]));
  s.handleFrame(JSON.stringify({ seq: 4, kind: 'http' }));
  s.handleFrame(JSON.stringify([{ seq: 4, kind: 'http' }, { type: 'state', version: 1, tag: 0, state: {} }, { seq: 5, kind: 'cri' }]));
  assert.deepEqual(got, [1, 2, 3, 4, 5], 'a repeated seq is skipped');
  assert.equal(malformed, 2, 'a bad event and a typed frame inside a batch');
  assert.equal(s.lastSeq, 5);
});

test('a batch that shows the server restarted stops at once', () => {
  let restarts = 0;
  const got = [];
  const s = new TraceStream({ onEvent: (e) => got.push(e.seq), onRestart: () => { restarts++; } });
  s.handleFrame(JSON.stringify([{ seq: 7, kind: 'http' }]));
  s.fresh = true; // a new connection
  s.handleFrame(JSON.stringify([{ seq: 1, kind: 'http' }, { seq: 2, kind: 'http' }]));
  assert.equal(restarts, 1);
  assert.deepEqual(got, [7]);
});

test("a net event's pods are not clients outside the cluster", async () => {
  const { groupOf, isExternal } = await import('../../assets/ui/util.js');
  assert.equal(groupOf('pod:lab8/client'), 'pod');
  assert.equal(isExternal('pod:lab8/client'), false);
  assert.equal(isExternal('curl'), true);
});
