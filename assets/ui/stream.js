// stream.js: the live connection to GET /ws/trace.
//
// Protocol (docs/trace-format.md): JSON text frames, seqs strictly
// increasing. The page asks for batch=true, so a frame is an array of the
// events that were waiting (one frame for dozens under load); a frame
// that is one object is a single event, or one of the typed frames below.
// On close we reconnect with since=<last seq received> (markers included)
// so nothing is missed or repeated. A frame of kind
// "error" means our request was wrong: the server closes right after, and
// we report it (and retry slowly, in case the server was being replaced).
// Frames that are not valid events are ignored and counted.
//
// Opened with state: true, the stream also carries the cluster's state
// (frames of type "state", see statemirror.js), which go to onState: the
// page then has one ordered source and polls nothing. Each connection
// starts with the whole state, so a reconnect needs nothing more. A page
// that follows a lab step (followChecks) gets that step's check results
// on it too (frames of type "check"). In a classroom (classroom: true) the
// presenter's page sends its teaching state on it (teach), and frames of
// type "teach" and "viewers" go to onClassroom; a close with code 4001
// means the viewers' link was renewed, and the stream stops for good.

import { validStateFrame } from './statemirror.js';

/** The close code of a stream whose viewer key was rotated away. */
export const CLOSE_KEY_ROTATED = 4001;

export class TraceStream {
  /**
   * @param {object} opts
   * @param {(ev: object) => void} opts.onEvent  called for every valid event
   * @param {(state: string, info?: string) => void} opts.onStatus
   *        "connecting" | "connected" | "disconnected" | "error"
   * @param {() => void} [opts.onMalformed]
   * @param {() => void} [opts.onRestart] the server restarted (seqs went back)
   * @param {string} [opts.path] stream path (default /ws/trace)
   * @param {boolean} [opts.state] ask for the state frames too
   * @param {(frame: object) => void} [opts.onState] called for every valid state frame
   * @param {(frame: object) => void} [opts.onCheck] called with each check result of the followed step
   * @param {boolean} [opts.classroom] ask for the classroom's frames too
   * @param {(frame: object) => void} [opts.onClassroom] called with each "teach" or "viewers" frame
   * @param {() => void} [opts.onRotated] the viewers' link was renewed: this stream will not reconnect
   */
  constructor({ onEvent, onStatus, onMalformed, onRestart, onState, onCheck, onClassroom, onRotated, state = false, classroom = false, path = '/ws/trace' }) {
    this.onEvent = onEvent;
    this.onState = onState || (() => {});
    this.onCheck = onCheck || (() => {});
    this.onClassroom = onClassroom || (() => {});
    this.onRotated = onRotated || (() => {});
    this.classroom = classroom;
    this.checkRequest = null; // the lab step whose checks the page follows
    this.teaching = null; // the teaching state a presenter's page last sent
    this.state = state;
    this.onRestart = onRestart;
    this.onStatus = onStatus || (() => {});
    this.onMalformed = onMalformed || (() => {});
    this.path = path;
    this.lastSeq = 0;
    this.ws = null;
    this.connected = false;
    this.stopped = false;
    this.backoff = 500;
    this.gotError = false;
    this.timer = 0;
  }

  /** Opens the connection (all stored events, then live ones; noise included so the noise toggle can show history). */
  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close();
  }

  url() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${proto}//${location.host}${this.path}?since=${this.lastSeq}&noise=true&batch=true${this.state ? '&state=true' : ''}${this.classroom ? '&classroom=true' : ''}`;
  }

  connect() {
    if (this.stopped) return;
    this.onStatus('connecting');
    this.gotError = false;
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch (e) {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.checkRequest) ws.send(JSON.stringify({ check: this.checkRequest }));
      if (this.teaching) ws.send(JSON.stringify({ teach: this.teaching }));
      this.fresh = true;
      this.connected = true;
      this.backoff = 500;
      this.onStatus('connected');
    };
    ws.onmessage = (msg) => this.handleFrame(msg.data);
    ws.onclose = (e) => {
      this.connected = false;
      this.ws = null;
      if (e && e.code === CLOSE_KEY_ROTATED) {
        // The key this page was opened with is dead: reconnecting would
        // only be refused.
        this.stopped = true;
        this.onStatus('disconnected', (e && e.reason) || '');
        this.onRotated();
        return;
      }
      if (!this.gotError) this.onStatus('disconnected');
      this.scheduleReconnect();
    };
    ws.onerror = () => { /* onclose follows and handles it */ };
  }

  /** Drops the connection and opens a new one (resuming with since=). */
  reconnect() {
    if (this.ws) this.ws.close();
  }

  /**
   * Follows one lab step's checks: {lab, step, since, lang}, or null to
   * stop. The server pushes each new result (a frame of type "check") and
   * evaluates the step once for every page that follows it. Kept across
   * reconnects.
   */
  followChecks(req) {
    this.checkRequest = req;
    if (this.ws && this.connected) this.ws.send(JSON.stringify({ check: req }));
  }

  /**
   * A presenter's page sends its teaching state (teach.js); the latest is
   * sent again on every reconnect, so the server always has it.
   */
  teach(state) {
    this.teaching = state;
    if (this.ws && this.connected) this.ws.send(JSON.stringify({ teach: state }));
  }

  scheduleReconnect() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    // A refused request will be refused again: retry slowly.
    const delay = this.gotError ? 10000 : this.backoff;
    this.backoff = Math.min(this.backoff * 2, 5000);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  handleFrame(data) {
    if (typeof data !== 'string') { this.onMalformed(); return; }
    let msg;
    try { msg = JSON.parse(data); } catch { this.onMalformed(); return; }
    if (!Array.isArray(msg)) { this.handleObject(msg); return; }
    for (const ev of msg) {
      // Only events come in batches; a typed frame there is malformed.
      if (ev && typeof ev === 'object' && 'type' in ev) this.onMalformed();
      else if (this.handleObject(ev) === 'restart') return;
    }
  }

  /** One object of the stream: a typed frame or an event. */
  handleObject(ev) {
    if (ev && ev.type === 'check') {
      if (typeof ev.lab === 'string' && typeof ev.step === 'string' && typeof ev.since === 'number') this.onCheck(ev);
      else this.onMalformed();
      return;
    }
    if (ev && (ev.type === 'teach' || ev.type === 'viewers')) {
      this.onClassroom(ev);
      return;
    }
    if (ev && ev.type === 'state') {
      if (validStateFrame(ev)) this.onState(ev);
      else this.onMalformed();
      return;
    }
    if (!validEvent(ev)) { this.onMalformed(); return; }
    if (ev.kind === 'error') {
      this.gotError = true;
      this.onStatus('error', ev.summary || '');
      this.onEvent(ev);
      return;
    }
    if (this.fresh && ev.seq < this.lastSeq && this.onRestart) {
      // Seqs restart at 1 when Wheelhouse restarts: our history is from
      // another run. Start over.
      this.onRestart();
      return 'restart';
    }
    this.fresh = false;
    if (ev.seq <= this.lastSeq) return; // already have it (should not happen with since=)
    this.lastSeq = ev.seq;
    this.onEvent(ev);
  }
}

/**
 * validEvent checks the fields every event has (seq, time, kind, summary)
 * and the types of the fields we read, so that a malformed frame never
 * reaches the views.
 */
export function validEvent(ev) {
  if (!ev || typeof ev !== 'object' || Array.isArray(ev)) return false;
  if (typeof ev.seq !== 'number' || !Number.isInteger(ev.seq) || ev.seq < 0) return false;
  if (typeof ev.kind !== 'string' || !ev.kind) return false;
  if (ev.seq === 0 && ev.kind !== 'error') return false;
  for (const k of ['from', 'to', 'verb', 'resource', 'subresource', 'namespace', 'name', 'rv', 'status', 'summary', 'noiseReason', 'time']) {
    if (k in ev && ev[k] !== null && typeof ev[k] !== 'string') return false;
  }
  if ('cause' in ev && ev.cause !== null && typeof ev.cause !== 'number') return false;
  if ('detail' in ev && ev.detail !== null && (typeof ev.detail !== 'object' || Array.isArray(ev.detail))) return false;
  if (typeof ev.summary !== 'string') ev.summary = '';
  return true;
}
