// classroom.js: the presenter's page and the viewers' pages, joined on
// each page's one trace stream (stream.js; server/classroom.go).
//
// The presenter's page (role "presenter": opened with the admin token in a
// classroom) sends its teaching state (teach.js) whenever the local user
// changes it, coalesced to one frame per 30 ms. A viewer's page (role
// "viewer": opened with the viewers' link) receives the presenter's latest
// state and, while it follows, applies it. A viewer who changes something
// on their own page stops following (the banner says so), and one click
// catches up. The server, not this file, keeps viewers from acting.
//
//   presenter → server  {"teach": {...}}
//   server → page       {"type": "teach", "version": n, "state": {...}}
//   server → presenter  {"type": "viewers", "viewers": n, "viewerUrl": "…"}
//   close 4001          the viewer link was renewed (the old one is dead)

import { cleanTeaching, teachingOf, TEACHING_KEYS } from './teach.js';

const SEND_COALESCE_MS = 30;

export class ClassroomLink {
  /**
   * @param {object} o
   * @param {'presenter'|'viewer'} o.role
   * @param {import('./viewstore.js').Store} o.store the page's view state (its teaching fields are sent and applied)
   * @param {(state: object) => void} o.apply a viewer applies the presenter's state
   * @param {(state: object) => void} o.send a presenter's page sends its state (on its stream)
   * @param {() => void} [o.onChange] the connection, following, or (presenter) the viewer count or link changed
   */
  constructor(o) {
    this.o = o;
    this.role = o.role;
    this.connected = false;
    this.following = true; // a viewer follows until they act on their own
    this.rotated = false; // a viewer's link was renewed: it will not connect again
    this.latest = null; // the presenter's latest state (viewer)
    this.received = 0; // states received (viewer)
    this.version = 0;
    this.viewers = 0;
    this.viewerUrl = '';
    this.sendTimer = 0;
    o.store.subscribe((_s, source, changed) => this.onLocal(source, changed), TEACHING_KEYS);
  }

  /** The page's stream connected or went away. */
  setConnected(on) {
    if (this.connected === on) return;
    this.connected = on;
    this.changed();
  }

  /** The viewers' link this page was opened with was renewed. */
  setRotated() {
    this.rotated = true;
    this.connected = false;
    this.changed();
  }

  /** A classroom frame from the stream. */
  onFrame(f) {
    if (!f || typeof f !== 'object') return;
    if (f.type === 'viewers' && this.role === 'presenter') {
      this.viewers = Number.isInteger(f.viewers) ? f.viewers : 0;
      if (typeof f.viewerUrl === 'string') this.viewerUrl = f.viewerUrl;
      this.changed();
      return;
    }
    if (f.type !== 'teach' || this.role !== 'viewer') return;
    this.version = Number(f.version) || 0;
    this.latest = cleanTeaching(f.state);
    this.received++;
    if (this.following) this.o.apply(this.latest);
  }

  /**
   * The teaching fields changed: a presenter sends them; a viewer who
   * chose to look elsewhere stops following. A viewer's own Step presses
   * and done steps are not such a choice (its checks pass too).
   */
  onLocal(source, changed) {
    if (source !== 'local') return;
    if (this.role === 'presenter') {
      if (!this.sendTimer) this.sendTimer = setTimeout(() => this.sendNow(), SEND_COALESCE_MS);
    } else if (this.following && this.latest && [...changed].some((k) => k !== 'steps' && k !== 'done')) {
      this.following = false;
      this.changed();
    }
  }

  sendNow() {
    clearTimeout(this.sendTimer);
    this.sendTimer = 0;
    if (this.role === 'presenter') this.o.send(teachingOf(this.o.store.get()));
  }

  /** A viewer follows the presenter again, from their latest state. */
  catchUp() {
    this.following = true;
    if (this.latest) this.o.apply(this.latest);
    this.changed();
  }

  changed() {
    if (this.o.onChange) this.o.onChange();
  }
}

/**
 * Draws a QR code of text as SVG (the vendored qrcode-generator makes the
 * matrix; the drawing is one path, crisp at any size).
 */
export async function qrSVG(text) {
  const { default: qrcode } = await import('/assets/vendor/qrcode/qrcode.mjs');
  const qr = qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const quiet = 4;
  let d = '';
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) if (qr.isDark(r, c)) d += `M${c + quiet},${r + quiet}h1v1h-1z`;
  }
  const size = n + 2 * quiet;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${size} ${size}`);
  svg.setAttribute('shape-rendering', 'crispEdges');
  svg.setAttribute('class', 'qr');
  svg.setAttribute('role', 'img');
  const bg = document.createElementNS(ns, 'rect');
  bg.setAttribute('width', String(size));
  bg.setAttribute('height', String(size));
  bg.setAttribute('fill', '#fff');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', d);
  path.setAttribute('fill', '#000');
  svg.append(bg, path);
  return svg;
}
