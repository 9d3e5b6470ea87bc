import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClassroomLink } from '../../assets/ui/classroom.js';
import { TEACHING_DEFAULTS } from '../../assets/ui/teach.js';
import { Store } from '../../assets/ui/viewstore.js';

const viewStore = () => new Store({ ...TEACHING_DEFAULTS, noise: false });
import { TraceStream, CLOSE_KEY_ROTATED } from '../../assets/ui/stream.js';

test("a presenter's changes go out coalesced, the latest state each time", async () => {
  const store = viewStore();
  const sent = [];
  new ClassroomLink({ role: 'presenter', store, apply: () => assert.fail('a presenter applies nothing'), send: (s) => sent.push(s) });
  store.set({ lab: 'kubectl-run' });
  store.set({ step: '01-run' });
  store.set({ paused: true }, 'presenter'); // not the local user's doing: not sent on its own
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(sent.length, 1, 'three changes within 30 ms are one frame');
  assert.equal(sent[0].lab, 'kubectl-run');
  assert.equal(sent[0].step, '01-run');
  assert.equal('noise' in sent[0], false, 'only the teaching fields are sent');
  store.set({ noise: true });
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(sent.length, 1, 'a field that is not taught is not sent');
});

test('a viewer applies what the presenter teaches until it acts on its own, and catches up in one call', () => {
  const store = viewStore();
  const applied = [];
  const link = new ClassroomLink({ role: 'viewer', store, apply: (s) => applied.push(s.step), send: () => assert.fail('a viewer sends nothing') });
  link.onFrame({ type: 'teach', version: 1, state: { lab: 'x', step: 'a' } });
  link.onFrame({ type: 'viewers', viewers: 3 }); // a presenter's frame
  assert.deepEqual(applied, ['a']);
  assert.equal(link.viewers, 0);
  store.set({ steps: 3 }); // the viewer's own Step presses
  assert.equal(link.following, true);
  store.set({ tab: 'etcd' }); // the viewer clicks around
  assert.equal(link.following, false);
  link.onFrame({ type: 'teach', version: 2, state: { lab: 'x', step: 'b', speed: 99 } });
  assert.deepEqual(applied, ['a'], 'not following: nothing applied');
  assert.equal(link.latest.speed, 1, 'an out-of-range field takes its default');
  link.catchUp();
  assert.deepEqual(applied, ['a', 'b']);
  assert.equal(link.following, true);
});

test("a stream closed with 4001 stops for good and says the link was renewed", () => {
  let rotated = 0;
  const statuses = [];
  const s = new TraceStream({ onEvent: () => {}, onStatus: (st) => statuses.push(st), onRotated: () => { rotated++; }, classroom: true });
  let sent = null;
  s.ws = { send: (m) => { sent = m; } };
  s.connected = true;
  s.teach({ lab: 'x' });
  assert.equal(sent, JSON.stringify({ teach: { lab: 'x' } }));
  // What a close event does (connect() installs this handler).
  const fake = {};
  globalThis.WebSocket = function () { return fake; };
  globalThis.location = { protocol: 'http:', host: 'wh.test' };
  try {
    s.connect();
    assert.match(s.ws === fake ? s.url() : '', /classroom=true/);
    fake.onclose({ code: CLOSE_KEY_ROTATED, reason: 'renewed' });
  } finally {
    delete globalThis.WebSocket;
    delete globalThis.location;
  }
  assert.equal(rotated, 1);
  assert.equal(s.stopped, true, 'no reconnect with a dead key');
  assert.equal(s.timer, 0);
  assert.equal(statuses.at(-1), 'disconnected');
});
