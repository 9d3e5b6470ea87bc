// terminal.js: a shell in the page. xterm.js (vendored under
// /assets/vendor/xterm/, loaded on first use) connected to
// /ws/terminal?token=…&cols=…&rows=… (docs: docs/architecture.md ("Labs and the terminal")):
//
//   page → server  text frames {"type":"input","data":"…"} and
//                  {"type":"resize","cols":N,"rows":M} (sent when a fit changes the size)
//   server → page  binary frames: raw PTY output, written to xterm as bytes;
//                  text frames {"type":"exit","code":N} (then close) and
//                  {"type":"error","message":"…"}, shown in the terminal.
//
// The shell belongs to the socket: closing the page hangs it up, so the
// panel never reconnects by itself (a new socket is a new shell, with none
// of the old one's state); after an exit or a lost connection it offers a
// button for a new shell. Without the admin token (see api.js) it says
// where to find the URL that carries one.

import { h, clear } from './util.js';
import { t, onLangChange } from './i18n.js';
import { api, token } from './api.js';

const VENDOR = new URL('../vendor/xterm/', import.meta.url);
const MONO = '"DejaVu Sans Mono", "Cascadia Mono", "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace';
const WS_OPEN = 1;

let xtermLoading = null;

/** Loads xterm.js, its fit addon and its stylesheet once per page. */
function loadXterm() {
  if (!xtermLoading) {
    xtermLoading = (async () => {
      const css = h('link', { rel: 'stylesheet', href: new URL('xterm.css', VENDOR).href });
      const cssLoaded = new Promise((resolve, reject) => {
        css.addEventListener('load', resolve);
        css.addEventListener('error', () => reject(new Error('xterm.css did not load')));
      });
      document.head.append(css);
      const [xt, fit] = await Promise.all([
        import(new URL('xterm.mjs', VENDOR).href),
        import(new URL('addon-fit.mjs', VENDOR).href),
        cssLoaded, // xterm measures its cells when opened: the stylesheet must be in
      ]);
      return { Terminal: xt.Terminal, FitAddon: fit.FitAddon };
    })();
    xtermLoading.catch(() => { xtermLoading = null; }); // let a later attempt retry
  }
  return xtermLoading;
}

/** Renders `code` spans in a translated message. */
function richText(str) {
  return String(str).split('`').map((part, i) => (i % 2 ? h('code', { text: part }) : part));
}

export class TerminalPanel {
  /**
   * @param {HTMLElement} host
   * @param {object} [o]
   * @param {boolean} [o.compact] smaller font (presenter view)
   * @param {boolean} [o.collapsed] start collapsed (only the header shows)
   * @param {boolean} [o.focusOnPaste] focus the terminal after a command is pasted
   * @param {(collapsed: boolean) => void} [o.onCollapse]
   */
  constructor(host, o = {}) {
    this.o = o;
    this.state = 'idle'; // idle | no-token | loading | connecting | connected | exited | closed | refused | forbidden | failed | load-error
    this.info = '';
    this.exitCode = null;
    this.queue = []; // input typed before the socket opened
    this.term = null;
    this.fit = null;
    this.ws = null;
    this.sentSize = '';
    this.collapsed = !!o.collapsed;

    this.root = h('section', { class: `term-panel${o.compact ? ' compact' : ''}`, 'data-testid': 'terminal' });
    this.titleEl = h('button', { class: 'term-title', type: 'button', onclick: () => this.setCollapsed(!this.collapsed) });
    this.statusEl = h('span', { class: 'term-status', 'data-testid': 'terminal-status' });
    this.reconnectBtn = h('button', { class: 'btn small', type: 'button', hidden: true, 'data-testid': 'terminal-reconnect', onclick: () => this.reconnect() });
    this.toggleBtn = h('button', { class: 'icon-btn term-toggle', type: 'button', 'data-testid': 'terminal-toggle', onclick: () => this.setCollapsed(!this.collapsed) });
    this.screen = h('div', { class: 'term-screen' });
    this.msg = h('div', { class: 'term-msg', hidden: true, 'data-testid': 'terminal-message' });
    this.body = h('div', { class: 'term-body' }, this.screen, this.msg);
    this.root.append(h('header', { class: 'term-head' }, this.titleEl, this.statusEl, h('span', { class: 'spacer' }), this.reconnectBtn, this.toggleBtn), this.body);
    host.append(this.root);

    let fitFrame = 0;
    new ResizeObserver(() => {
      if (fitFrame) return;
      fitFrame = requestAnimationFrame(() => { fitFrame = 0; this.fitNow(); });
    }).observe(this.screen);
    onLangChange(() => this.render());
    this.setCollapsed(this.collapsed, true);
  }

  /** A shell is attached: the socket is open and the shell has not exited. */
  get connected() { return this.state === 'connected'; }

  // -------------------------------------------------------------------------
  // Connection

  /** Starts the terminal the first time it is needed (shown or typed into). */
  start() {
    if (this.state === 'idle') this.connect();
  }

  /** A new shell (after an exit, a lost connection or a refused token). */
  reconnect() {
    if (this.ws) { const ws = this.ws; this.ws = null; ws.close(); }
    if (this.term && this.state !== 'idle') this.term.write('\r\n');
    this.connect();
  }

  async connect() {
    const tok = token.get();
    if (!tok) { this.setState('no-token'); return; }
    if (!this.term) {
      this.setState('loading');
      try {
        await this.ensureTerm();
      } catch (e) {
        this.setState('load-error', String(e && e.message || e));
        return;
      }
    }
    this.fitNow();
    this.setState('connecting');
    let ws;
    try {
      ws = api.openTerminal(tok, this.term.cols, this.term.rows);
    } catch (e) {
      this.setState('failed', String(e && e.message || e));
      return;
    }
    this.ws = ws;
    this.sentSize = `${this.term.cols}x${this.term.rows}`;
    ws.binaryType = 'arraybuffer';
    let opened = false;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      opened = true;
      this.exitCode = null;
      this.setState('connected');
      this.sendResize();
      const q = this.queue;
      this.queue = [];
      for (const d of q) this.send({ type: 'input', data: d });
    };
    ws.onmessage = (m) => { if (this.ws === ws) this.onFrame(m.data); };
    ws.onclose = async () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.state === 'exited') return;
      if (!opened) {
        // The WebSocket API hides the HTTP status of a refused upgrade; ask again plainly.
        const r = await api.terminalRefusal(tok);
        if (r.status === 401) {
          token.forget(); // a token from an earlier `wheelhouse up`
          this.setState('refused', r.message);
        } else if (r.status === 403) {
          this.setState('forbidden', r.message);
        } else {
          this.setState('failed', r.status ? `HTTP ${r.status}${r.message ? ': ' + r.message : ''}` : r.message);
          this.writeNote('term.failedLine', { msg: this.info }, 31);
        }
        return;
      }
      this.writeNote('term.lostLine', {}, 33);
      this.setState('closed');
    };
  }

  onFrame(data) {
    if (typeof data !== 'string') {
      this.term.write(new Uint8Array(data));
      return;
    }
    let msg = null;
    try { msg = JSON.parse(data); } catch { /* not a control frame */ }
    if (msg && msg.type === 'exit') {
      this.exitCode = Number.isFinite(Number(msg.code)) ? Number(msg.code) : null;
      this.writeNote('term.exitLine', { code: msg.code }, 2);
      this.setState('exited');
      if (this.ws) this.ws.close();
    } else if (msg && msg.type === 'error') {
      this.writeNote('term.errorLine', { msg: msg.message || '' }, 31);
    }
  }

  /** A line of the page's own (not the shell's) in the terminal, dimmed or coloured. */
  writeNote(key, vars, sgr) {
    if (this.term) this.term.write(`\r\n\x1b[${sgr}m${t(key, vars)}\x1b[0m\r\n`);
  }

  send(obj) {
    if (!this.ws || this.ws.readyState !== WS_OPEN) return false;
    this.ws.send(JSON.stringify(obj));
    return true;
  }

  sendResize() {
    if (!this.term) return;
    const size = `${this.term.cols}x${this.term.rows}`;
    if (size === this.sentSize && this.connected) return;
    if (this.send({ type: 'resize', cols: this.term.cols, rows: this.term.rows })) this.sentSize = size;
  }

  async ensureTerm() {
    const { Terminal, FitAddon } = await loadXterm();
    if (this.term) return;
    const term = new Terminal({
      fontFamily: MONO,
      fontSize: this.o.compact ? 14 : 13,
      lineHeight: 1.1,
      cursorBlink: true,
      scrollback: 5000,
      theme: {
        background: '#151b28', foreground: '#e4e8f0', cursor: '#f5c451', cursorAccent: '#151b28',
        selectionBackground: '#3d5080',
      },
    });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(this.screen);
    term.onData((d) => this.input(d));
    term.onResize(() => this.sendResize());
    this.term = term;
    this.fit = fit;
  }

  /** Sizes xterm to its box (when the box is visible) and tells the shell. */
  fitNow() {
    if (!this.fit || this.collapsed) return;
    const r = this.screen.getBoundingClientRect();
    if (r.width < 20 || r.height < 20) return;
    try { this.fit.fit(); } catch { /* not measurable yet */ }
    this.sendResize();
  }

  // -------------------------------------------------------------------------
  // Input (keyboard, lab command buttons, tests)

  /** Sends keystrokes; queued while connecting. Returns false when there is no shell to send to. */
  input(data) {
    if (this.send({ type: 'input', data })) return true;
    if (!token.get()) {
      if (this.state === 'idle') this.connect();
      return false;
    }
    this.queue.push(data);
    // A token may have arrived since the last attempt (no-token, refused)
    // or xterm may load now (load-error): every state without a shell
    // tries again, so queued input is never left waiting for nothing.
    if (this.state === 'idle') this.connect();
    else if (this.state !== 'loading' && this.state !== 'connecting') this.reconnect();
    return true;
  }

  /** Pastes text at the prompt (as a paste: the shell does not run it). */
  paste(text) {
    if (this.collapsed) this.setCollapsed(false);
    if (!token.get()) { this.start(); return false; }
    if (this.term) {
      this.term.paste(text);
      if (this.o.focusOnPaste !== false) this.term.focus();
      return true;
    }
    return this.input(text);
  }

  /** Pastes a command and presses Enter. */
  run(cmd) {
    if (!this.paste(cmd)) return false;
    return this.input('\r');
  }

  /** The terminal's text: every buffer line (scrollback included), wrapped lines joined. */
  output() {
    if (!this.term) return '';
    const b = this.term.buffer.active;
    const lines = [];
    for (let i = 0; i < b.length; i++) {
      const line = b.getLine(i);
      if (!line) continue;
      const text = line.translateToString(false);
      if (line.isWrapped && lines.length) lines[lines.length - 1] += text;
      else lines.push(text);
    }
    const out = lines.map((l) => l.replace(/\s+$/, ''));
    while (out.length && !out[out.length - 1]) out.pop();
    return out.join('\n');
  }

  // -------------------------------------------------------------------------
  // View

  setCollapsed(c, initial = false) {
    this.collapsed = !!c;
    this.root.classList.toggle('collapsed', this.collapsed);
    this.root.dataset.collapsed = String(this.collapsed);
    this.render();
    if (initial) return; // the page starts the terminal when it is ready (start())
    if (this.o.onCollapse) this.o.onCollapse(this.collapsed);
    if (!this.collapsed) {
      this.start();
      requestAnimationFrame(() => this.fitNow());
    }
  }

  setState(state, info = '') {
    this.state = state;
    this.info = info;
    this.render();
  }

  render() {
    const st = this.state;
    this.root.dataset.state = st;
    this.titleEl.textContent = t('term.title');
    this.titleEl.title = t(this.collapsed ? 'term.expand' : 'term.collapse');
    this.toggleBtn.textContent = this.collapsed ? '▴' : '▾';
    this.toggleBtn.title = this.titleEl.title;
    this.toggleBtn.setAttribute('aria-label', this.titleEl.title);
    this.toggleBtn.setAttribute('aria-expanded', String(!this.collapsed));
    const status = {
      idle: '', 'no-token': t('term.short.noToken'), loading: t('term.loading'), connecting: t('term.connecting'),
      connected: t('term.connected'), exited: t('term.exited', { code: this.exitCode ?? '?' }), closed: t('term.lost'),
      refused: t('term.short.noToken'), forbidden: t('term.short.refused'), failed: t('term.short.failed'),
      'load-error': t('term.short.failed'),
    }[st] || '';
    this.statusEl.textContent = status;
    this.statusEl.className = `term-status s-${st}`;
    this.reconnectBtn.hidden = ['idle', 'loading', 'connecting', 'connected'].includes(st);
    this.reconnectBtn.textContent = t('term.reconnect');

    // States without a usable screen show a message instead.
    let message = null;
    if (st === 'no-token') message = t('term.noToken');
    else if (st === 'refused') message = t('term.refused');
    else if (st === 'forbidden') message = t('term.forbidden', { msg: this.info });
    else if (st === 'failed' && !this.term) message = t('term.failed', { msg: this.info }); // with a screen, the failure is a line in it
    else if (st === 'load-error') message = t('term.loadError', { msg: this.info });
    this.msg.hidden = !message;
    clear(this.msg);
    if (message) this.msg.append(h('p', {}, ...richText(message)));
  }
}
