// labs.js: the lab panel. A lab is an ordered list of steps; each step has
// a goal, Markdown text (rendered by the server), commands to paste into
// the terminal, hints revealed one at a time, components and edges to
// watch on the diagram, and checks the server evaluates against the live
// cluster and the trace (docs: labs/content/README.md):
//
//   GET /api/labs?lang=…                                → the list (+ load errors)
//   GET /api/labs/{id}?lang=…                           → one lab with its steps
//   GET /api/labs/{id}/steps/{step}/check?since=…&lang=… → {passed, checks}
//   on the page's stream: {"check": {lab, step, since, lang}} → check frames
//
// While a step that is not done is open, the page follows its checks on
// its stream, with since = the moment the step began (trace checks only
// count what happened after it): the server evaluates the step about once
// a second for every page that has it open and pushes each new result.
// (The dev mock has no stream to ask on; there the page polls.) When all pass the step turns green by itself,
// is recorded as done and, after a moment, the next step opens; earlier
// steps stay green and can be revisited.
//
// Progress lives in localStorage "wheelhouse.labs":
//   {"current": "<labId>", "labs": {"<labId>": {"step": i, "since": <unix ms>, "done": ["01-run", …]}}}
// so it survives a reload and is shared with the presenter view (another
// window of the same browser follows along through the storage event).
//
// Two layouts: "panel" (the main page's lab column: intro, step list, full
// step text) and "caption" (the presenter view: one line of step, goal,
// commands and checks under the diagram).

import { h, clear, readStored, writeStored } from './util.js';
import { t, has, getLang, onLangChange } from './i18n.js';
import { api, HTTPError } from './api.js';

const PROGRESS_KEY = 'wheelhouse.labs';
const POLL_MS = 1000;
const ADVANCE_MS = 2500;

/** The learner's progress, read from and written through to localStorage. */
class Progress {
  /** @param {boolean} memory keep progress in this page only (a classroom viewer mirrors the presenter's) */
  constructor(memory = false) {
    this.memory = memory;
    this.data = memory ? { current: '', labs: {} } : Progress.read();
  }

  static read() {
    let d = readStored(PROGRESS_KEY, null); // unreadable: start afresh
    if (!d || typeof d !== 'object' || Array.isArray(d)) d = {};
    const out = { current: typeof d.current === 'string' ? d.current : '', labs: {} };
    if (d.labs && typeof d.labs === 'object') {
      for (const [id, e] of Object.entries(d.labs)) {
        if (!e || typeof e !== 'object') continue;
        out.labs[id] = {
          step: Number.isInteger(e.step) && e.step >= 0 ? e.step : 0,
          since: Number.isFinite(e.since) ? e.since : Date.now(),
          done: Array.isArray(e.done) ? e.done.filter((x) => typeof x === 'string') : [],
        };
      }
    }
    return out;
  }

  reload() {
    if (!this.memory) this.data = Progress.read();
  }

  save() {
    if (this.memory) return;
    writeStored(PROGRESS_KEY, this.data); // storage disabled: progress lasts this page only
  }

  /** The entry of a lab, created (at step 0, starting now) on first use. */
  entry(id) {
    let e = this.data.labs[id];
    if (!e) {
      e = { step: 0, since: Date.now(), done: [] };
      this.data.labs[id] = e;
      this.save();
    }
    return e;
  }

  reset(id) {
    this.data.labs[id] = { step: 0, since: Date.now(), done: [] };
    this.save();
  }
}

export class LabsPanel {
  /**
   * @param {HTMLElement} host
   * @param {object} o
   * @param {'panel'|'caption'} [o.layout]
   * @param {(list: string[]) => void} o.onWatch the open step's watch list (empty: none)
   * @param {(cmd: string, run: boolean) => boolean} o.onCommand paste (run: and press Enter) a command
   * @param {() => void} [o.onChange] the lab, step or pass state changed
   * @param {boolean} [o.readOnly] a classroom viewer's panel: no terminal to paste into, no reset,
   *   and progress kept in the page (it mirrors the presenter's; see mirror)
   */
  constructor(host, o) {
    this.o = o;
    this.layout = o.layout || 'panel';
    this.readOnly = !!o.readOnly;
    this.progress = new Progress(this.readOnly);
    this.list = [];
    this.errors = [];
    this.listError = '';
    this.lab = null; // GET /api/labs/{id}
    this.labError = '';
    this.result = null; // the last check result of the open step
    this.checkError = '';
    this.hintsShown = new Map(); // step id → number of hints revealed (this page only)
    this.sinceOf = new Map(); // "lab/step" → since, for steps left unfinished and revisited
    this.pollTimer = 0;
    this.advanceTimer = 0;
    this.polling = '';
    this.resetArmed = 0;

    this.root = h('section', { class: `labs ${this.layout}`, 'data-testid': 'labs' });
    host.append(this.root);
    this.root.addEventListener('click', (e) => this.onClick(e));
    onLangChange(() => this.reloadTexts());
    // Another window of this browser (the presenter view, a second tab) moved on.
    if (!this.readOnly) window.addEventListener('storage', (e) => { if (e.key === PROGRESS_KEY) this.onExternalProgress(); });
    // A hidden tab stops following its step (the server evaluates nothing
    // for it), and follows it again when shown.
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) this.pollSoon(0);
      else if (this.o.followChecks) this.stopPolling();
    });
  }

  // -------------------------------------------------------------------------
  // State

  get labId() { return this.lab ? this.lab.id : ''; }
  get entry() { return this.lab ? this.progress.entry(this.lab.id) : null; }
  get steps() { return this.lab && Array.isArray(this.lab.steps) ? this.lab.steps : []; }
  get index() { return this.entry ? Math.min(this.entry.step, Math.max(0, this.steps.length - 1)) : 0; }
  get step() { return this.steps[this.index] || null; }
  isDone(stepId) { return !!this.entry && this.entry.done.includes(stepId); }
  /** The open step passed: all its checks pass now, or it was completed before. */
  get passed() { return !!this.step && this.isDone(this.step.id); }

  /** Loads the list, then the current lab (or the first one). */
  async start() {
    this.started = true;
    await this.loadList();
    // A viewer's panel opens what the presenter has open (mirror), not a
    // lab of its own choosing that would race with it.
    if (this.readOnly) { if (!this.lab) this.render(); return; }
    await this.openCurrent();
  }

  /** Opens the lab in progress, or the first of the list; with no labs, renders that. */
  async openCurrent() {
    const want = this.progress.data.current;
    const id = this.list.some((l) => l.id === want) ? want : (this.list[0] && this.list[0].id) || '';
    if (id) await this.open(id);
    else this.render();
  }

  async loadList() {
    try {
      const res = await api.labs(getLang());
      this.list = Array.isArray(res && res.labs) ? res.labs.filter((l) => l && typeof l.id === 'string') : [];
      this.errors = Array.isArray(res && res.errors) ? res.errors.filter(Boolean) : [];
      this.listError = '';
    } catch (e) {
      this.list = [];
      this.errors = [];
      this.listError = e instanceof HTTPError && e.status === 404 ? t('labs.unavailable') : t('labs.loadError', { msg: e.message || String(e) });
    }
  }

  /** Opens a lab at its saved step. */
  async open(id) {
    const seq = (this.openSeq = (this.openSeq || 0) + 1);
    this.labError = '';
    let lab = null;
    try {
      lab = await api.lab(id, getLang());
    } catch (e) {
      if (seq !== this.openSeq) return;
      this.lab = null;
      this.labError = t('labs.loadError', { msg: e.message || String(e) });
      this.stopPolling();
      this.render();
      this.changed();
      return;
    }
    if (seq !== this.openSeq) return; // a later choice won
    const switching = !this.lab || this.lab.id !== lab.id;
    if (switching) { clearTimeout(this.advanceTimer); this.advanceTimer = 0; }
    this.lab = lab;
    if (this.progress.data.current !== lab.id) {
      this.progress.data.current = lab.id;
      this.progress.save();
    }
    const e = this.progress.entry(lab.id);
    if (e.step >= this.steps.length) { e.step = Math.max(0, this.steps.length - 1); this.progress.save(); }
    if (switching) this.result = null;
    this.render();
    this.stepOpened();
  }

  /** Refetches the texts in the new language, keeping the place. */
  async reloadTexts() {
    if (!this.started) return; // the page's first setLang comes before start()
    await this.loadList();
    if (this.lab) await this.open(this.lab.id);
    else if (!this.readOnly) await this.openCurrent();
    else this.render();
  }

  onExternalProgress() {
    const before = `${this.progress.data.current}|${JSON.stringify(this.entry)}`;
    this.progress.reload();
    const cur = this.progress.data.current;
    if (cur && (!this.lab || cur !== this.lab.id)) { this.open(cur); return; }
    if (`${cur}|${JSON.stringify(this.entry)}` === before) return;
    this.result = null;
    this.render();
    this.stepOpened();
  }

  /**
   * Shows what the presenter shows: lab id at step stepId, begun at since,
   * with those steps done. The checks are then asked with the presenter's
   * since, so every viewer's question is the same one and the server
   * answers them all with one evaluation.
   */
  async mirror(id, stepId, since, done) {
    if (!id) return;
    // While mirroring, the panel's changes are the presenter's, not the
    // viewer's own (onChange callers read this). A count: a second state
    // may arrive while the first one's lab is still loading.
    this.mirroring = (this.mirroring || 0) + 1;
    try {
      await this.applyMirror(id, stepId, since, done);
    } finally {
      this.mirroring--;
    }
  }

  async applyMirror(id, stepId, since, done) {
    if (!this.lab || this.lab.id !== id) {
      this.progress.data.current = id;
      await this.open(id);
      if (!this.lab || this.lab.id !== id) return;
    }
    const i = Math.max(0, this.steps.findIndex((st) => st.id === stepId));
    const e = this.entry;
    const doneNow = Array.isArray(done) ? [...done] : [];
    if (e.step === i && e.since === since && e.done.join('|') === doneNow.join('|')) return;
    clearTimeout(this.advanceTimer);
    this.advanceTimer = 0;
    e.step = i;
    e.since = since || Date.now();
    e.done = doneNow;
    this.result = null;
    this.render();
    this.stepOpened();
  }

  /** Moves to step i (any step: learners may go back, presenters may skip). */
  goto(i) {
    if (!this.lab) return;
    i = Math.max(0, Math.min(this.steps.length - 1, i));
    const e = this.entry;
    clearTimeout(this.advanceTimer);
    this.advanceTimer = 0;
    if (i === e.step) return;
    this.leaveStep();
    e.step = i;
    const st = this.steps[i];
    // A step not done yet starts now, unless this page left it unfinished
    // earlier: then it keeps its start, so what the learner did counts.
    if (st && !e.done.includes(st.id)) e.since = this.sinceOf.get(`${this.lab.id}/${st.id}`) || Date.now();
    this.progress.save();
    this.result = null;
    this.render();
    this.stepOpened();
  }

  next() { this.goto(this.index + 1); }
  prev() { this.goto(this.index - 1); }

  leaveStep() {
    const st = this.step;
    if (st && !this.isDone(st.id)) this.sinceOf.set(`${this.lab.id}/${st.id}`, this.entry.since);
  }

  /** Starts the open lab from scratch: no step done, the first step starting now. */
  reset() {
    if (!this.lab) return;
    clearTimeout(this.advanceTimer);
    this.advanceTimer = 0;
    this.progress.reset(this.lab.id);
    for (const k of [...this.sinceOf.keys()]) if (k.startsWith(this.lab.id + '/')) this.sinceOf.delete(k);
    this.hintsShown.clear();
    this.result = null;
    this.render();
    this.stepOpened();
  }

  /** Do a done step again: it is no longer done and its checks start over from now. */
  redo() {
    const st = this.step;
    if (!st) return;
    const e = this.entry;
    e.done = e.done.filter((x) => x !== st.id);
    e.since = Date.now();
    this.progress.save();
    this.result = null;
    this.render();
    this.stepOpened();
  }

  stepOpened() {
    const st = this.step;
    this.o.onWatch(st && Array.isArray(st.watch) ? st.watch : []);
    this.changed();
    this.stopPolling();
    if (st && !this.isDone(st.id)) this.pollSoon(0);
  }

  changed() {
    if (this.o.onChange) this.o.onChange();
  }

  // -------------------------------------------------------------------------
  // Checks

  // With o.followChecks (a live page), the open step's checks come on the
  // page's stream: the server evaluates the step once for every page that
  // has it open and pushes each new result (onCheck). Without it (the
  // mock), the page asks once a second.

  stopPolling() {
    clearTimeout(this.pollTimer);
    this.pollTimer = 0;
    if (this.polling && this.o.followChecks) this.o.followChecks(null);
    this.polling = '';
  }

  pollSoon(ms) {
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => this.poll(), ms);
  }

  async poll() {
    this.pollTimer = 0;
    const st = this.step;
    if (!st || this.isDone(st.id)) return;
    if (document.hidden) return; // resumes on visibilitychange
    if (this.o.followChecks) {
      const req = { lab: this.lab.id, step: st.id, since: this.entry.since, lang: getLang() };
      const key = `${req.lab}/${req.step}/${req.since}/${req.lang}`;
      if (key === this.polling) return; // already followed (the stream follows it again after a reconnect)
      this.polling = key;
      this.o.followChecks(req);
      return;
    }
    const key = `${this.lab.id}/${st.id}/${this.entry.since}`;
    this.polling = key;
    let res;
    try {
      res = await api.labCheck(this.lab.id, st.id, this.entry.since, getLang());
    } catch (e) {
      if (this.polling !== key) return;
      this.checkError = t('labs.checkError', { msg: e.message || String(e) });
      this.renderChecks();
      // Unknown lab or step (the labs changed under the page): stop asking.
      if (!(e instanceof HTTPError && (e.status === 404 || e.status === 400))) this.pollSoon(POLL_MS * 3);
      return;
    }
    if (this.polling !== key || !this.step || this.step.id !== st.id) return; // the learner moved on meanwhile
    if (!this.applyResult(st, res)) this.pollSoon(POLL_MS);
  }

  /** A check result from the stream ({type:"check", lab, step, since, lang, result | error}). */
  onCheck(f) {
    const st = this.step;
    if (!st || !this.lab || `${f.lab}/${f.step}/${f.since}/${f.lang}` !== this.polling) return; // for a step the page has left
    if (typeof f.error === 'string' && f.error) {
      this.checkError = t('labs.checkError', { msg: f.error });
      this.renderChecks();
      return;
    }
    this.applyResult(st, f.result);
  }

  /** Shows a result of the open step's checks; true when the step passed. */
  applyResult(st, res) {
    this.checkError = '';
    this.result = res && typeof res === 'object' ? res : null;
    if (this.result && this.result.passed === true) {
      this.stopPolling();
      this.complete(st);
      return true;
    }
    this.renderChecks();
    return false;
  }

  /** All checks of the open step pass: record it, and move on after a moment. */
  complete(st) {
    const e = this.entry;
    const passedAt = Date.now();
    if (!e.done.includes(st.id)) e.done.push(st.id);
    this.sinceOf.delete(`${this.lab.id}/${st.id}`);
    const i = this.index;
    const next = this.steps[i + 1];
    // A viewer's page moves on when the presenter does, not by itself.
    if (next && !e.done.includes(next.id) && !this.readOnly) {
      // The next step begins when this one passed, so a quick learner's
      // first command for it counts even before the page moves on.
      this.sinceOf.set(`${this.lab.id}/${next.id}`, passedAt);
      const labId = this.lab.id;
      this.advanceTimer = setTimeout(() => {
        this.advanceTimer = 0;
        if (this.lab && this.lab.id === labId && this.index === i) this.goto(i + 1);
      }, ADVANCE_MS);
    }
    this.progress.save();
    this.render();
    this.changed();
  }

  // -------------------------------------------------------------------------
  // Rendering

  onClick(e) {
    const el = e.target.closest('[data-act]');
    if (!el || !this.root.contains(el)) return;
    const act = el.dataset.act;
    if (act === 'paste' || act === 'run') {
      const ok = this.o.onCommand(el.dataset.command, act === 'run');
      if (ok) {
        const cmd = el.closest('.cmd');
        if (cmd) { cmd.classList.remove('sent'); void cmd.getBoundingClientRect(); cmd.classList.add('sent'); }
      }
    } else if (act === 'goto') this.goto(Number(el.dataset.index));
    else if (act === 'next') this.next();
    else if (act === 'prev') this.prev();
    else if (act === 'redo') this.redo();
    else if (act === 'hint') {
      const st = this.step;
      if (!st) return;
      this.hintsShown.set(st.id, (this.hintsShown.get(st.id) || 0) + 1);
      this.renderHints();
    } else if (act === 'reset') {
      // Two clicks: progress is not erased by a stray one.
      if (this.resetArmed && Date.now() - this.resetArmed < 4000) {
        this.resetArmed = 0;
        this.reset();
      } else {
        this.resetArmed = Date.now();
        el.textContent = t('labs.reset.confirm');
        el.classList.add('armed');
        setTimeout(() => {
          if (!el.isConnected) return;
          el.textContent = t('labs.reset');
          el.classList.remove('armed');
        }, 4000);
      }
    }
  }

  render() {
    const root = this.root;
    clear(root);
    this.resetArmed = 0;
    root.dataset.lab = this.labId;
    root.append(this.renderHead());
    if (this.errors.length) root.append(this.renderErrors());
    if (this.listError) { root.append(h('p', { class: 'labs-empty muted', text: this.listError })); return; }
    if (!this.list.length) { root.append(h('p', { class: 'labs-empty muted', text: t('labs.none') })); return; }
    if (this.labError) { root.append(h('p', { class: 'labs-empty error', text: this.labError })); return; }
    if (!this.lab) { root.append(h('p', { class: 'labs-empty muted', text: t(this.readOnly ? 'class.waiting' : 'labs.loading') })); return; }
    if (this.layout === 'caption') { root.append(this.renderCaption()); return; }
    const scroll = h('div', { class: 'labs-scroll' });
    // A lab made for another topology says so, with the command to start
    // the right cluster (the server writes it in the page's language).
    if (this.lab.topologyNotice) {
      scroll.append(h('pre', { class: 'lab-topology-notice', 'data-testid': 'lab-topology-notice', role: 'alert', text: this.lab.topologyNotice }));
    }
    if (this.lab.summary || this.lab.introHtml) scroll.append(this.renderIntro());
    scroll.append(this.renderStepList(), this.renderStep());
    root.append(scroll);
  }

  renderHead() {
    const pick = h('select', { class: 'select lab-picker', 'data-testid': 'lab-picker', 'aria-label': t('labs.pick'), title: t('labs.pick') });
    if (!this.list.length) pick.disabled = true;
    for (const l of this.list) pick.append(h('option', { value: l.id, text: l.title || l.id }));
    pick.value = this.labId;
    pick.addEventListener('change', () => {
      // The presenter's arrow keys move steps, not the focused picker.
      if (this.layout === 'caption') pick.blur();
      this.open(pick.value);
    });
    const head = h('header', { class: 'labs-head' });
    if (this.layout === 'panel') head.append(h('h2', { text: t('labs.title') }));
    head.append(pick);
    if (this.lab) {
      const e = this.entry;
      head.append(h('span', { class: 'labs-count', 'data-testid': 'lab-progress', text: t('labs.doneCount', { n: this.steps.filter((s) => e.done.includes(s.id)).length, total: this.steps.length }) }));
      if (this.layout === 'panel' && !this.readOnly) head.append(h('button', { class: 'btn small reset', type: 'button', 'data-act': 'reset', 'data-testid': 'lab-reset', title: t('labs.reset.title'), text: t('labs.reset') }));
    }
    return head;
  }

  renderErrors() {
    const d = h('details', { class: 'lab-errors', 'data-testid': 'lab-errors' },
      h('summary', { text: `⚠ ${t('labs.errors', { n: this.errors.length })}` }));
    const ul = h('ul');
    for (const e of this.errors) {
      const where = [e.file, e.line].filter((x) => x !== undefined && x !== null && x !== '' && x !== 0).join(':');
      ul.append(h('li', {}, where ? h('code', { text: where }) : null, where ? ': ' : '', String(e.message || '')));
    }
    d.append(h('p', { class: 'muted', text: t('labs.errors.hint') }), ul);
    return d;
  }

  renderIntro() {
    const e = this.entry;
    const fresh = e.step === 0 && !e.done.length;
    const d = h('details', { class: 'lab-intro', 'data-testid': 'lab-intro', open: fresh },
      h('summary', {}, h('b', { text: this.lab.title || this.lab.id }), this.lab.summary ? h('span', { class: 'muted', text: ' · ' + this.lab.summary }) : null));
    if (this.lab.introHtml) d.append(markdown(this.lab.introHtml));
    return d;
  }

  renderStepList() {
    const ol = h('ol', { class: 'lab-steps', 'data-testid': 'lab-steps' });
    this.steps.forEach((st, i) => {
      const done = this.isDone(st.id);
      const cur = i === this.index;
      ol.append(h('li', { class: `${done ? 'done' : ''}${cur ? ' current' : ''}`.trim() },
        h('button', { type: 'button', 'data-act': 'goto', 'data-index': i, 'data-step-nav': st.id, 'aria-current': cur ? 'step' : null },
          h('span', { class: 'num', text: done ? '✓' : String(i + 1) }), h('span', { class: 'name', text: st.title || st.id }))));
    });
    return ol;
  }

  /** The open step (data-step="<stem>", data-passed="true|false"): parts, then checks and navigation. */
  stepArticle(extraClass, ...parts) {
    const st = this.step;
    const done = this.isDone(st.id);
    this.checksEl = h('div', { class: 'checks-box' });
    this.stepEl = h('article', { class: `lab-step${extraClass}${done ? ' passed' : ''}`, 'data-testid': 'lab-step', 'data-step': st.id, 'data-passed': String(done) },
      ...parts, this.checksEl, this.renderNav());
    this.renderChecks();
    return this.stepEl;
  }

  /** The open step in the lab column: title, goal, text, commands, watch list, hints. */
  renderStep() {
    const st = this.step;
    if (!st) return h('p', { class: 'muted', text: t('labs.noSteps') });
    this.hintsEl = h('div', { class: 'hints' });
    this.renderHints();
    return this.stepArticle('',
      h('header', { class: 'step-head' },
        h('span', { class: 'step-of', text: t('labs.stepOf', { n: this.index + 1, total: this.steps.length }) }),
        h('h3', { text: st.title || st.id })),
      st.goal ? h('p', { class: 'goal' }, h('b', { text: t('labs.goal') + ' ' }), st.goal) : null,
      st.html ? markdown(st.html) : null,
      this.renderCommands(st.commands),
      Array.isArray(st.watch) && st.watch.length ? this.renderWatch(st.watch) : null,
      this.hintsEl);
  }

  /** The step's commands, each with paste and run buttons (null when it has none). */
  renderCommands(cmds) {
    if (!Array.isArray(cmds) || !cmds.length) return null;
    const box = h('div', { class: 'cmds', 'data-testid': 'lab-commands' });
    if (this.layout === 'panel') box.append(h('h4', { text: t('labs.commands') }));
    for (const c of cmds) {
      if (typeof c !== 'string') continue;
      if (this.readOnly) { // nothing to paste into: the command, to read
        box.append(h('div', { class: 'cmd read-only' }, h('span', { class: 'prompt', text: '$' }), h('code', { text: c })));
        continue;
      }
      box.append(h('div', { class: 'cmd' },
        h('button', { type: 'button', class: 'cmd-paste', 'data-act': 'paste', 'data-command': c, title: t('labs.paste.title') },
          h('span', { class: 'prompt', text: '$' }), h('code', { text: c })),
        h('button', { type: 'button', class: 'cmd-run', 'data-act': 'run', 'data-command': c, title: t('labs.run.title'), 'aria-label': t('labs.run.title') }, '▶ ', t('labs.run'))));
    }
    return box;
  }

  renderWatch(list) {
    const p = h('p', { class: 'watch-list' }, h('span', { class: 'watch-dot' }), h('b', { text: t('labs.watch') + ' ' }));
    list.forEach((w, i) => {
      if (i) p.append(', ');
      p.append(h('span', { class: 'watch-item', text: watchLabel(w) }));
    });
    return p;
  }

  renderHints() {
    const st = this.step;
    const box = this.hintsEl;
    if (!st || !box) return;
    clear(box);
    const hints = Array.isArray(st.hints) ? st.hints.filter((x) => typeof x === 'string') : [];
    if (!hints.length) return;
    const n = Math.min(this.hintsShown.get(st.id) || 0, hints.length);
    if (n) {
      const ol = h('ol', { class: 'hint-list', 'data-testid': 'lab-hints' });
      for (const hint of hints.slice(0, n)) ol.append(h('li', { text: hint }));
      box.append(ol);
    }
    if (n < hints.length) {
      box.append(h('button', { type: 'button', class: 'btn small hint-btn', 'data-act': 'hint', 'data-testid': 'lab-hint',
        text: t(n ? 'labs.hint.more' : 'labs.hint.show', { n: n + 1, total: hints.length }) }));
    }
  }

  /** Each check with its live mark: data-check-passed="true|false". */
  renderChecks() {
    const st = this.step;
    const box = this.checksEl;
    if (!st || !box) return;
    clear(box);
    const done = this.isDone(st.id);
    const declared = Array.isArray(st.checks) ? st.checks : [];
    const got = this.result && Array.isArray(this.result.checks) ? this.result.checks : null;
    const n = Math.max(declared.length, got ? got.length : 0);
    if (this.layout === 'panel') box.append(h('h4', { text: t('labs.checks') }));
    const ul = h('ul', { class: 'checks', 'data-testid': 'lab-checks' });
    for (let i = 0; i < n; i++) {
      const c = (got && got[i]) || {};
      const desc = c.description || (declared[i] && declared[i].description) || '';
      const ok = done || c.passed === true;
      const known = done || !!got;
      ul.append(h('li', { class: `check-item ${ok ? 'pass' : known ? 'fail' : 'pending'}`, 'data-check-passed': String(ok), title: c.message || '' },
        h('span', { class: 'mark', 'aria-label': t(ok ? 'labs.check.pass' : known ? 'labs.check.fail' : 'labs.check.pending'), text: ok ? '✓' : known ? '✕' : '…' }),
        h('span', { class: 'desc' }, desc, !ok && c.message && this.layout === 'panel' ? h('small', { class: 'msg', text: c.message }) : null)));
    }
    box.append(ul);
    let status = '';
    if (done) status = this.advanceTimer ? t('labs.advancing') : this.index === this.steps.length - 1 && this.allDone() ? t('labs.complete') : t('labs.completed');
    else if (this.checkError) status = this.checkError;
    else status = t('labs.checking');
    box.append(h('p', { class: `step-status${done ? ' ok' : this.checkError ? ' error' : ''}`, 'data-testid': 'lab-status', text: status }));
    if (this.stepEl) {
      this.stepEl.dataset.passed = String(done);
      this.stepEl.classList.toggle('passed', done);
    }
  }

  allDone() {
    return this.steps.length > 0 && this.steps.every((s) => this.isDone(s.id));
  }

  renderNav() {
    const i = this.index;
    const done = this.passed;
    const last = i >= this.steps.length - 1;
    const nav = h('footer', { class: 'step-nav' },
      h('button', { type: 'button', class: 'btn small', 'data-act': 'prev', 'data-testid': 'lab-prev', disabled: i === 0, text: '← ' + t('labs.prev') }));
    if (done && this.layout === 'panel') nav.append(h('button', { type: 'button', class: 'btn small', 'data-act': 'redo', 'data-testid': 'lab-redo', title: t('labs.redo.title'), text: t('labs.redo') }));
    nav.append(h('span', { class: 'spacer' }));
    nav.append(h('button', { type: 'button', class: `btn small${done && !last ? ' primary' : ''}`, 'data-act': 'next', 'data-testid': 'lab-next', disabled: last, text: t('labs.next') + ' →' }));
    return nav;
  }

  /** The presenter's caption: step, title, goal, commands, checks, navigation. */
  renderCaption() {
    const st = this.step;
    if (!st) return h('p', { class: 'muted', text: t('labs.noSteps') });
    const dots = h('span', { class: 'step-dots' });
    this.steps.forEach((s2, i) => dots.append(h('button', {
      type: 'button', class: `dot${this.isDone(s2.id) ? ' done' : ''}${i === this.index ? ' current' : ''}`, 'data-act': 'goto', 'data-index': i,
      'data-step-nav': s2.id, title: `${i + 1}. ${s2.title || s2.id}`, 'aria-label': `${i + 1}. ${s2.title || s2.id}`,
    })));
    this.hintsEl = null;
    return this.stepArticle(' caption-step',
      h('div', { class: 'cap-main' },
        h('div', { class: 'cap-title' }, h('span', { class: 'step-of', text: t('labs.stepOf', { n: this.index + 1, total: this.steps.length }) }), dots,
          h('h3', { text: st.title || st.id })),
        st.goal ? h('p', { class: 'goal', text: st.goal }) : null),
      this.renderCommands(st.commands));
  }
}

/** A lab's or step's text, which the server rendered from its Markdown. */
function markdown(html) {
  const md = h('div', { class: 'md' });
  md.innerHTML = html;
  return md;
}

/** How a watch entry reads: component names in the page's language, edges with an arrow. */
function watchLabel(w) {
  return String(w).split('->').map((p) => {
    p = p.trim();
    return has('comp.' + p) ? t('comp.' + p) : p;
  }).join(' ↔ ');
}
