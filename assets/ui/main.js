// main.js: the Wheelhouse browser front-end. It builds the page inside
// <main id="app" data-mode="live|replay" data-lang="en|zh" [data-view="present"]>,
// connects to the trace stream and wires the modules together:
//
//   stream.js     websocket /ws/trace?state=true: events, the cluster's
//                 state, lab checks and (classroom.js) the presenter's
//                 teaching state on one connection (or dev/mock.js with ?mock=1)
//   statemirror.js the page's copy of that state
//   store.js      ring of the last 100,000 events + causal index
//   cluster.js    nodes, pods, clients (from the state frames or from the trace)
//   diagram.js    the SVG architecture diagram
//   animator.js   packets moving along the diagram's edges
//   timeline.js   virtualised sequence diagram
//   inspector.js  one event's details and causal chain
//   panels.js     component panels with live numbers (stats.js)
//   etcdview.js   etcd key browser
//   controls.js   toolbar, legend, keyboard
//   labs.js       lab panel: picker, steps, commands, hints, live checks, progress
//   terminal.js   xterm.js shell over /ws/terminal (needs the admin token)
//   components.js stop/start the scheduler, controller-manager, kubelets
//   i18n.js       every string, English and Simplified Chinese
//
// Views. The main page (data-view absent): a lab column on the left, the
// diagram with the terminal docked under it, the timeline on the right;
// both the lab column and the terminal collapse. The presenter view
// (/present, data-view="present"): the diagram large, no timeline, the lab
// step as a caption under it with its commands and a small terminal;
// ← → (and PageUp/PageDown, what presentation clickers send) move between
// steps. Labs, terminal and component control exist in live mode only.
//
// window.wheelhouse exposes the page's state and controls for tests (see
// the end of this file). Besides the trace fields:
//   view                      "main" | "present"
//   labs.current              open lab id ('' when none)
//   labs.step, labs.stepIndex open step's id (file stem, e.g. "01-run") and index
//   labs.passed               the open step is done (its checks all passed)
//   labs.done                 ids of the open lab's done steps
//   labs.checks               last check result [{description, passed, message}] or null
//   labs.list, labs.errors    GET /api/labs's labs and load errors
//   labs.watch                the open step's watch list
//   labs.open(id), goto(i), next(), prev(), reset()
//   terminal.connected, terminal.state, terminal.exitCode
//   terminal.output()         the terminal's text (scrollback + screen, wrapped lines joined)
//   terminal.type(str)        send keystrokes as typed; terminal.paste(str); terminal.run(cmd) = paste + Enter
//   terminal.reconnect()      a new shell
//   components.states         {name: running|stopped|starting} from GET /api/components
//   components.stop(name), components.start(name) → Promise<{ok, status, message}>
//   topology, controlPlanes   the cluster's shape (ha: ["cp-1", …])
//   leaders                   HA: {etcd, scheduler, controller-manager} → the leading component id ('' none)
//   route(from, to)           the points a packet from→to travels through (diagram coordinates), or null
// localStorage: wheelhouse.labs (lab progress), wheelhouse.token (admin
// token, taken from ?token= and removed from the address bar),
// wheelhouse.ui (which panels are collapsed).

import { h, kindClass, objectKey, groupOf, isPodId, KIND_CLASSES, GROUPS, parseTime, fmtRate, shorten, loadPref, savePref } from './util.js';
import { t, setLang, getLang, onLangChange } from './i18n.js';
import { api, token } from './api.js';
import { EventStore } from './store.js';
import { TraceStream } from './stream.js';
import { StateMirror } from './statemirror.js';
import { ClusterModel } from './cluster.js';
import { Diagram } from './diagram.js';
import { Animator } from './animator.js';
import { Timeline } from './timeline.js';
import { Inspector } from './inspector.js';
import { ComponentPanel } from './panels.js';
import { Stats } from './stats.js';
import { EtcdView } from './etcdview.js';
import { Controls, buildLegend, icon } from './controls.js';
import { LabsPanel } from './labs.js';
import { TerminalPanel } from './terminal.js';
import { Components } from './components.js';
import { Store } from './viewstore.js';
import { TEACHING_DEFAULTS, teachingOf } from './teach.js';
import { ClassroomLink, qrSVG } from './classroom.js';

const STORE_CAP = 100000;
const ANIMATED_CAP = 5000;
const BACKLOG_GAP_MS = 200; // a pause this long after connecting ends the backlog burst
const BACKLOG_MAX_MS = 2000;

/**
 * The page's view state (viewstore.js): the teaching fields (teach.js),
 * which a presenter sends and viewers mirror, and the page's own.
 */
const VIEW_DEFAULTS = Object.freeze({
  ...TEACHING_DEFAULTS,
  noise: false, // noise events shown
  kinds: KIND_CLASSES, // event kinds shown
  groups: GROUPS, // component groups shown
  conn: 'connecting', // the stream: connecting | connected | disconnected | error
  connInfo: '',
});

class App {
  constructor(root) {
    this.root = root;
    this.mode = root.dataset.mode === 'replay' ? 'replay' : 'live';
    this.view = root.dataset.view === 'present' ? 'present' : 'main';
    // In a classroom the server tells the page its role: "presenter" (the
    // admin token) or "viewer" (the viewers' link); "" otherwise.
    this.role = ['presenter', 'viewer'].includes(root.dataset.role) ? root.dataset.role : '';
    token.capture(); // before anything copies the URL
    this.params = new URLSearchParams(location.search);
    this.mock = this.params.get('mock') === '1';

    // What the page shows, one store that views subscribe to (wire()).
    this.viewState = new Store(VIEW_DEFAULTS);

    // Test-visible state.
    this.lastSeq = 0;
    this.eventsReceived = 0;
    this.malformed = 0;
    this.droppedCount = 0;
    this.animated = [];
    this.connections = 0; // times the trace stream connected (a reconnect replays a burst that is not animated)
    this.fps = 0;

    // Kept from the view state for the per-event filters (wire()).
    this.kinds = new Set(KIND_CLASSES);
    this.groups = new Set(GROUPS);
    this.lastSelected = 0; // the last event selected, still the one Follow means after its panel closed
    this.selectedPod = '';
    this.involved = new Set();
    this.frameTimes = [];
    this.backlog = { active: true, since: performance.now(), lastArrival: 0 };
    // Replay: cursor = last seq shown; atHead = following the newest.
    this.replay = { atHead: true, cursor: 0, clock: 0, lastTime: 0 };
    this.heldPods = []; // state frames' pods waiting for the animation
    this.stateMirror = new StateMirror();
    this.provisional = new Map(); // pod key → {seq, patch} learned from arrived packets

    this.remoteSteps = -1; // the presenter's step count last applied (-1: none yet)

    this.store = new EventStore(STORE_CAP);
    this.stats = new Stats();
    this.model = new ClusterModel();
    this.build();
    this.wire();
  }

  // The view state's fields, read.
  get paused() { return this.viewState.get().paused; }
  get speed() { return this.viewState.get().speed; }
  get following() { return this.viewState.get().following || null; }
  get showNoise() { return this.viewState.get().noise; }
  get connected() { return this.viewState.get().conn === 'connected'; }
  /** What the side panel shows: "event", "component:<id>", "node:<name>" or "". */
  get detailKind() { const v = this.viewState.get(); return v.selected ? 'event' : v.panel; }

  /**
   * The views, subscribed to the fields they show. Every change of the
   * view state, whoever made it (the user, the presenter, the stream),
   * reaches the page through here; the setters below only write the store.
   */
  wire() {
    const v = this.viewState;
    v.subscribe((s) => {
      if (s.paused) this.animator.pause();
      else {
        this.animator.resume();
        if (this.mode === 'replay' && !this.replay.atHead) this.replay.clock = 0;
      }
    }, ['paused']);
    v.subscribe((s) => this.animator.setSpeed(s.speed), ['speed']);
    v.subscribe((s) => this.model.setNoiseShown(s.noise), ['noise']);
    v.subscribe((s) => this.showFollowing(s.following || null), ['following']);
    v.subscribe((s) => {
      this.kinds = new Set(s.kinds);
      this.groups = new Set(s.groups);
      this.timeline.setFilter((ev) => this.timelineVisible(ev));
      this.animator.prune((ev) => this.animVisible(ev));
    }, ['kinds', 'groups', 'noise', 'following']);
    v.subscribe(() => this.controls.update(), ['paused', 'speed', 'following', 'noise', 'kinds', 'groups', 'steps']);
    v.subscribe((s) => this.showDetail(s), ['selected', 'panel']);
    v.subscribe((s) => this.showTabOf(s.tab), ['tab']);
    // The etcd browser shows what its user picks; another writer's key it is told.
    v.subscribe((s, source) => { if (source !== 'local' && s.etcdKey !== (this.etcd.selected || '')) this.etcd.select(s.etcdKey); }, ['etcdKey']);
    v.subscribe((s) => {
      this.renderStatus();
      if (this.classroom) this.classroom.setConnected(s.conn === 'connected');
    }, ['conn', 'connInfo']);
    // A viewer's lab panel shows the presenter's step.
    v.subscribe((s, source) => {
      if (source === 'presenter' && this.labs && s.lab) this.labs.mirror(s.lab, s.step, s.since, s.done).catch((e) => console.error(e));
    }, ['lab', 'step', 'since', 'done']);
  }
  // -------------------------------------------------------------------------
  // Page structure

  build() {
    const root = this.root;
    root.classList.add('wh');
    this.statusDot = h('span', { class: 'conn-dot' });
    this.statusText = h('span', { class: 'conn-text' });
    this.modeBadge = h('span', { class: `mode-badge ${this.mode}` });
    this.tabDiagram = h('button', { class: 'tab active', 'data-testid': 'tab-diagram', onclick: () => this.showTab('diagram') });
    this.tabEtcd = h('button', { class: 'tab', 'data-testid': 'tab-etcd', onclick: () => this.showTab('etcd') });
    const controlsHost = h('div', { class: 'controls' });
    // The mode badge carries the connection state: a coloured dot, the mode,
    // and the details in its tooltip.
    this.modeBadge.append(this.statusDot, this.statusText);
    this.modeBadge.dataset.testid = 'connection';
    const top = h('header', { class: 'topbar' },
      h('div', { class: 'brand' }, logo(), h('span', { class: 'brand-name', text: 'Wheelhouse' }), this.modeBadge),
      h('nav', { class: 'tabs' }, this.tabDiagram, this.tabEtcd),
      controlsHost);
    root.append(top);
    root.dataset.view = this.view;
    const present = this.view === 'present';
    const live = this.mode === 'live';

    const body = h('div', { class: 'body' });
    this.body = body;
    this.center = h('div', { class: 'center' });
    this.stage = h('section', { class: 'stage' });
    this.followBanner = h('div', { class: 'follow-banner', hidden: true });
    this.toasts = h('div', { class: 'toasts', 'aria-live': 'polite' });
    const diagHost = h('div', { class: 'diagram-host' });
    this.legend = h('div', { class: 'legend' });
    this.stage.append(diagHost, this.followBanner, this.toasts);
    if (this.mode === 'replay') this.stage.append(this.buildScrubber());
    this.stage.append(this.legend);
    this.side = h('aside', { class: 'side' });
    this.detail = h('div', { class: 'detail', hidden: true });
    this.center.append(this.stage);
    if (live && !present) {
      body.classList.add('with-labs');
      body.append(this.buildLabColumn());
    }
    body.append(this.center, this.side);
    root.append(body);

    this.diagram = new Diagram(diagHost, {
      component: (id) => this.openComponent(id),
      pod: (key) => this.clickPod(key),
      node: (name) => this.openNode(name),
      packet: (seq) => this.select(seq),
    });
    this.animator = new Animator({
      diagram: this.diagram,
      lookup: (seq) => this.store.get(seq),
      onStart: (ev, info) => this.recordAnimated(ev, info),
      onArrive: (p, now) => {
        if (p.kc === 'lifecycle' && !p.to) this.diagram.flash(p.from, p.kc, now, 700);
        else this.diagram.flash(p.to, p.kc, now);
        this.provisionalPods(p);
      },
    });
    this.diagram.lookup = (seq) => this.store.get(seq); // an etcd write's request, for its route
    this.timeline = new Timeline(this.side, {
      store: this.store,
      onSelect: (seq) => this.select(seq),
      stateOf: (seq) => this.animator.stateOf(seq),
    });
    this.side.append(this.detail);
    this.inspector = new Inspector(this.detail, {
      store: this.store,
      onSelect: (seq) => this.select(seq),
      onFollow: (obj) => this.follow(obj),
      onReplay: (obj) => this.replayFlow(obj),
      onClose: () => this.closeDetail(),
    });
    if (live) {
      this.components = new Components({
        onChange: (states) => {
          this.diagram.setStates(states);
          this.panel.updateControls();
        },
        readOnly: this.role === 'viewer',
      });
    }
    this.panel = new ComponentPanel(this.detail, {
      stats: this.stats, store: this.store, model: this.model,
      now: () => this.statsNow(),
      onSelect: (seq) => this.select(seq),
      onClose: () => this.closeDetail(),
      components: this.components,
    });
    this.etcd = new EtcdView(this.center, { onSelect: () => this.viewState.set({ etcdKey: this.etcd.selected || '' }) });
    this.controls = new Controls(controlsHost, this);
    if (live && this.role !== 'viewer') {
      this.presentLink = h('a', { class: 'btn present-link', 'data-testid': present ? 'present-exit' : 'present-open' });
      if (!present) { this.presentLink.target = '_blank'; this.presentLink.rel = 'noopener'; }
      top.append(this.presentLink);
    }
    if (this.role) {
      this.classBadge = h('span', { class: 'class-badge', 'data-testid': 'classroom' });
      top.append(this.classBadge);
    }
    top.append(this.controls.langBtn);
    buildLegend(this.legend);
    if (live) this.buildLabsAndTerminal(present);

    this.timeline.setFilter((ev) => this.timelineVisible(ev));
    this.model.onChange(() => this.renderModel());
    this.renderModel();
    onLangChange(() => this.onLang());
    this.onLang();
  }

  /** The main page's lab column; collapsed to a narrow rail on request (remembered). */
  buildLabColumn() {
    this.labCol = h('aside', { class: 'lab-col', 'data-testid': 'lab-column' });
    this.labToggle = h('button', { class: 'icon-btn lab-toggle', type: 'button', 'data-testid': 'labs-toggle', onclick: () => this.setLabsCollapsed(!this.labsCollapsed) });
    this.labRail = h('button', { class: 'lab-rail', type: 'button', onclick: () => this.setLabsCollapsed(false) },
      h('span', { class: 'rail-icon', text: '☰' }), h('span', { class: 'rail-text' }));
    this.labHost = h('div', { class: 'lab-host' });
    this.labCol.append(this.labToggle, this.labRail, this.labHost);
    this.labsCollapsed = !!loadPref('labsCollapsed', false);
    return this.labCol;
  }

  setLabsCollapsed(c) {
    this.labsCollapsed = !!c;
    savePref('labsCollapsed', this.labsCollapsed);
    this.renderLabChrome();
  }

  renderLabChrome() {
    if (!this.labCol) return;
    this.body.classList.toggle('labs-collapsed', this.labsCollapsed);
    this.labCol.dataset.collapsed = String(this.labsCollapsed);
    this.labRail.hidden = !this.labsCollapsed;
    this.labHost.hidden = this.labsCollapsed;
    const label = t(this.labsCollapsed ? 'labs.expand' : 'labs.collapse');
    this.labToggle.textContent = this.labsCollapsed ? '»' : '«';
    this.labToggle.title = label;
    this.labToggle.setAttribute('aria-label', label);
    this.labToggle.setAttribute('aria-expanded', String(!this.labsCollapsed));
    this.labRail.title = label;
    this.labRail.querySelector('.rail-text').textContent = t('labs.title');
    this.labRail.classList.toggle('passed', !!(this.labs && this.labs.passed));
  }

  /** Labs and the terminal: the lab column + a terminal docked under the diagram, or the presenter's caption band. */
  buildLabsAndTerminal(present) {
    let labHost = this.labHost, termHost;
    if (present) {
      const band = h('div', { class: 'present-band' });
      labHost = h('div', { class: 'caption-host' });
      termHost = h('div', { class: 'present-term' });
      band.append(labHost, termHost);
      this.center.append(band);
    } else {
      termHost = h('div', { class: 'term-dock' });
      if (this.role !== 'viewer') this.center.append(termHost);
    }
    // A viewer has no terminal: the server would refuse it one.
    if (this.role !== 'viewer') {
      const pref = present ? 'presentTermCollapsed' : 'termCollapsed';
      this.terminal = new TerminalPanel(termHost, {
        compact: present,
        collapsed: !!loadPref(pref, false),
        focusOnPaste: !present, // the presenter's arrows keep moving steps
        onCollapse: (c) => {
          savePref(pref, c);
          this.center.classList.toggle('term-collapsed', c);
        },
      });
    }
    this.center.classList.toggle('term-collapsed', !this.terminal || this.terminal.collapsed);
    this.labs = new LabsPanel(labHost, {
      layout: present ? 'caption' : 'panel',
      readOnly: this.role === 'viewer',
      onWatch: (list) => this.diagram.setWatch(list),
      onCommand: (cmd, run) => this.runCommand(cmd, run),
      // The step's checks come on the page's stream (the mock has none).
      followChecks: this.mock ? undefined : (req) => this.stream && this.stream.followChecks(req),
      onChange: () => {
        this.renderLabChrome();
        // While it mirrors the presenter the panel passes through steps
        // that are nobody's choice.
        if (this.labs && !this.labs.mirroring) this.viewState.set(this.labState());
      },
    });
    this.renderLabChrome();
  }

  /** A lab command button: paste the command into the terminal (and press Enter). */
  runCommand(cmd, run) {
    if (!this.terminal || typeof cmd !== 'string') return false;
    const ok = run ? this.terminal.run(cmd) : this.terminal.paste(cmd);
    if (!ok) this.toast(t('term.unavailable'), 'warn');
    return ok;
  }

  /** Where the presenter link points: the other view, same language (and mock). */
  renderPresentLink() {
    if (!this.presentLink) return;
    const q = new URLSearchParams();
    if (getLang() === 'zh') q.set('lang', 'zh');
    if (this.mock) for (const [k, v] of this.params) if (k !== 'lang') q.set(k, v);
    const qs = q.toString() ? '?' + q.toString() : '';
    const present = this.view === 'present';
    this.presentLink.href = (present ? '/' : '/present') + qs;
    this.presentLink.textContent = '';
    this.presentLink.append(icon(present ? 'close' : 'present'), h('span', { text: t(present ? 'present.exit' : 'present.open') }));
    this.presentLink.title = present ? t('present.keys') : t('present.open.title');
  }

  buildScrubber() {
    this.scrubInput = h('input', { type: 'range', min: 0, max: 0, value: 0, step: 1, 'data-testid': 'scrubber', class: 'scrub-range' });
    this.scrubLabel = h('span', { class: 'scrub-label' });
    this.scrubLive = h('button', { class: 'btn small', 'data-testid': 'scrub-end', onclick: () => this.scrubTo(this.lastSeq) });
    let pending = 0;
    this.scrubInput.addEventListener('input', () => {
      // Rebuilding the diagram state is a scan; do it at most once a frame.
      if (pending) return;
      pending = requestAnimationFrame(() => { pending = 0; this.scrubTo(Number(this.scrubInput.value)); });
    });
    return h('div', { class: 'scrubber' }, h('span', { class: 'scrub-title', 'data-i18n': 'replay.scrubber', text: t('replay.scrubber') }), this.scrubInput, this.scrubLabel, this.scrubLive);
  }

  onLang() {
    this.tabDiagram.textContent = t('tab.diagram');
    this.tabEtcd.textContent = t('tab.etcd');
    this.renderPresentLink();
    this.renderLabChrome();
    if (this.shareCard) this.renderShareCard();
    this.renderClassroom();
    this.renderStatus();
    this.diagram.layout(this.model);
    this.renderModel();
    this.renderFollowBanner();
    this.controls.update();
    this.updateScrubber();
    this.timeline.dirty = true;
  }

  showTab(tab) {
    this.viewState.set({ tab: tab === 'etcd' ? 'etcd' : 'diagram' });
  }

  showTabOf(tab) {
    const etcd = tab === 'etcd';
    this.tabDiagram.classList.toggle('active', !etcd);
    this.tabEtcd.classList.toggle('active', etcd);
    this.stage.hidden = etcd;
    this.side.hidden = etcd;
    this.body.classList.toggle('etcd-tab', etcd);
    if (etcd) this.etcd.show();
    else {
      this.etcd.hide();
      this.diagram.layout(this.model); // text fitting needs the diagram visible
      this.renderModel();
    }
  }

  // -------------------------------------------------------------------------
  // Connection and ingestion

  async start() {
    const initLang = this.params.get('lang') || this.root.dataset.lang || 'en';
    setLang(initLang === 'zh' ? 'zh' : 'en');
    const handlers = {
      onEvent: (ev) => this.ingest(ev),
      onStatus: (state, info) => this.setConnState(state, info),
      onMalformed: () => { this.malformed++; },
      onRestart: () => location.reload(), // a new run: start from a clean page
      // The cluster's state comes on the same stream (a live cluster only).
      state: this.mode === 'live',
      onState: (frame) => this.onStateFrame(frame),
      onCheck: (frame) => { if (this.labs) this.labs.onCheck(frame); },
      // In a classroom the presenter's teaching state comes on it too.
      classroom: !!this.role && this.mode === 'live',
      onClassroom: (frame) => { if (this.classroom) this.classroom.onFrame(frame); },
      onRotated: () => { if (this.classroom) this.classroom.setRotated(); },
    };
    if (this.mock) {
      const mock = await import('./dev/mock.js');
      this.stream = await mock.install(handlers, this.params);
    } else {
      this.stream = new TraceStream(handlers);
    }
    this.stream.start();
    if (this.mode !== 'live') this.deriveState();
    if (this.labs) {
      this.labs.start().catch((e) => console.error(e));
      if (this.terminal && !this.terminal.collapsed) this.terminal.start();
    }
    if (this.role && this.mode === 'live') this.startClassroom();
    requestAnimationFrame((ts) => this.frame(ts));
    setInterval(() => this.updateLiveNumbers(), 500);
  }

  setConnState(state, info) {
    if (state === 'connected') this.connections++;
    if (state === 'connecting' || state === 'connected') {
      // A (re)connection starts with a burst of stored events: those are
      // listed but not animated. The burst ends at the first pause in the
      // stream (or after 2 s); events that happened after we connected are
      // animated even while it lasts.
      this.backlog = { active: true, since: performance.now(), lastArrival: performance.now(), wallStart: Date.now() };
    }
    this.viewState.set({ conn: state, connInfo: info || '' }, 'stream');
  }

  renderStatus() {
    const { conn: st, connInfo } = this.viewState.get();
    this.statusDot.className = `conn-dot ${st}`;
    this.statusText.textContent = t(this.mode === 'replay' ? 'mode.replay' : 'mode.live') + (st === 'connected' ? '' : ` · ${t('conn.short.' + st)}`);
    let title = t(`conn.${st}`, { msg: shorten(connInfo, 200) });
    if (this.version) title += ` · Kubernetes ${this.version}`;
    if (this.mock) title += ` · ${t('conn.mock')}`;
    this.modeBadge.title = title;
    this.modeBadge.dataset.state = st;
  }

  /** Takes one event from the stream. */
  ingest(ev) {
    if (ev.kind === 'error') {
      this.toast(t('conn.error', { msg: ev.summary }), 'error');
      return;
    }
    if (ev.seq <= this.lastSeq) return;
    const now = performance.now();
    this.lastSeq = ev.seq;
    this.eventsReceived++;
    if (this.backlog.active) this.backlog.lastArrival = now;
    const evicted = this.store.push(ev);
    if (evicted) this.timeline.evicted(evicted);
    this.stats.add(ev);
    this.timeline.append(ev);
    if (ev.kind === 'dropped') {
      const n = (ev.detail && ev.detail.count) || 0;
      this.droppedCount += n;
      this.toast(t('toast.dropped', { n }), 'warn');
    }
    // During the burst only what happened after we connected animates. A
    // recording's times are not this wall clock's: its burst is the
    // recording so far, played from the scrubber, never animated on arrival.
    const fresh = this.mode === 'live' && !(parseTime(ev.time) < this.backlog.wallStart - 1000);
    if (this.mode === 'live' || this.replay.atHead) this.release(ev, now, !this.backlog.active || fresh);
    this.inspector.noteEvent(ev);
  }

  /** An event becomes part of what the page shows (live: at once; replay: when the cursor reaches it). */
  release(ev, now, animate) {
    this.replay.cursor = ev.seq;
    this.model.observe(ev);
    if (this.following && objectKey(ev) === this.following) this.addInvolved(ev);
    if (animate && this.animVisible(ev)) this.animator.enqueue(ev, 0, now);
  }

  recordAnimated(ev, info) {
    this.animated.push({
      seq: ev.seq, kind: ev.kind, verb: ev.verb || '', from: ev.from || '', to: ev.to || '',
      edge: info.edge, label: info.label, at: performance.now(),
      merged: info.merged > 1 ? info.merged : undefined, replay: info.session ? true : undefined,
    });
    while (this.animated.length > ANIMATED_CAP) this.animated.shift();
  }

  // -------------------------------------------------------------------------
  // Cluster state

  /**
   * A state frame from the stream: nodes (and version, topology, leaders,
   * components) change at once; pods wait until the animation has played
   * the events up to the frame's tag, so a chip turns Running when the
   * packets that made it Running have arrived, not seconds before.
   */
  onStateFrame(frame) {
    const r = this.stateMirror.apply(frame);
    if (!r) {
      // A change out of order: a broken stream. A new connection starts
      // with the whole state.
      this.malformed++;
      this.stream.reconnect();
      return;
    }
    const st = r.state;
    this.model.applyNodes(st, r.tag);
    this.heldPods.push({ tag: r.tag, pods: st.pods });
    this.applyHeldPods();
    if (this.components) this.components.applyList(st.components);
    if (typeof st.version === 'string' && st.version !== this.version) { this.version = st.version; this.renderStatus(); }
  }

  /** Replay mode: no live cluster; the trace is all there is. */
  deriveState() {
    this.model.source = 'derived';
    this.rederive();
  }

  /** Applies the newest pod snapshot the animation has caught up with. */
  applyHeldPods() {
    const q = this.heldPods;
    if (!q.length) return;
    const done = this.animator.minActiveSeq();
    let ready = -1;
    // A frame waits for the events up to its tag to arrive (they may be
    // behind it on the stream) and to be played.
    for (let i = 0; i < q.length; i++) if (q[i].tag <= this.lastSeq && q[i].tag < done) ready = i;
    // Bounded: a long pause or slow motion lets at most 120 snapshots wait.
    if (ready < 0 && q.length > 120) ready = 0;
    if (ready < 0) return;
    const snap = q[ready];
    q.splice(0, ready + 1);
    this.model.applyPods(snap.pods);
    // Keep what arrived packets said after this snapshot was taken.
    for (const [key, pr] of this.provisional) {
      if (pr.seq <= snap.tag) this.provisional.delete(key);
      else this.model.patchPod(key, pr.patch);
    }
  }

  /**
   * Live mode: a pod appears (in the unscheduled tray) when its first etcd
   * write arrives, and moves to a node when the watch event giving it to
   * that node's kubelet arrives, without waiting for the next snapshot.
   */
  provisionalPods(p) {
    if (p.session !== 0 || this.model.source !== 'state') return;
    for (const ev of p.events) {
      if (ev.resource !== 'pods' || !ev.name) continue;
      const key = `${ev.namespace || 'default'}/${ev.name}`;
      let patch = null;
      if (ev.kind === 'etcd' && ev.verb === 'put' && !this.model.pods.has(key)) patch = { phase: 'Pending' };
      else if (ev.kind === 'watch' && ev.verb !== 'DELETED' && ev.verb !== 'BOOKMARK') {
        if (ev.to && ev.to.startsWith('kubelet/')) patch = { node: ev.to.slice('kubelet/'.length) };
        if (ev.detail && ev.detail.object && typeof ev.detail.object === 'object') patch = { ...patch, object: ev.detail.object };
      }
      if (!patch) continue;
      const prev = this.provisional.get(key);
      this.provisional.set(key, { seq: ev.seq, patch: { ...(prev && prev.patch), ...patch } });
      this.model.patchPod(key, patch);
    }
    if (this.provisional.size > 500) this.provisional.delete(this.provisional.keys().next().value);
  }

  /** Rebuilds the derived model from the stored events up to the cursor. */
  rederive() {
    this.model.resetDerived();
    const upTo = this.mode === 'replay' && !this.replay.atHead ? this.replay.cursor : Infinity;
    this.store.forEachUpTo(upTo, (ev) => this.model.observe(ev));
  }

  renderModel() {
    this.diagram.render(this.model);
    if (this.following) this.diagram.setFocus(this.following, this.involved);
  }

  // -------------------------------------------------------------------------
  // Filters: what animates and what the timeline lists

  passesFilters(ev) {
    if (ev.noise && !this.showNoise) return false;
    const kc = kindClass(ev);
    if (KIND_CLASSES.includes(kc) && !this.kinds.has(kc)) return false;
    for (const id of [ev.from, ev.to]) {
      // A pod (a `net` event's end) is in no component group.
      if (id && !isPodId(id) && !this.groups.has(groupOf(id))) return false;
    }
    return true;
  }

  animVisible(ev) {
    if (!this.passesFilters(ev)) return false;
    if (this.following && objectKey(ev) !== this.following) return false;
    return true;
  }

  timelineVisible(ev) {
    if (ev.kind === 'dropped') return true; // gaps always show
    return this.animVisible(ev);
  }

  filterCount() {
    return (KIND_CLASSES.length - this.kinds.size) + (GROUPS.length - this.groups.size);
  }

  setKindEnabled(kc, on) {
    this.viewState.set({ kinds: KIND_CLASSES.filter((k) => (k === kc ? on : this.kinds.has(k))) });
  }

  setGroupEnabled(g, on) {
    this.viewState.set({ groups: GROUPS.filter((x) => (x === g ? on : this.groups.has(x))) });
  }

  resetFilters() {
    this.viewState.set({ kinds: KIND_CLASSES, groups: GROUPS });
  }

  // -------------------------------------------------------------------------
  // Controls (also the test API)

  pause() { this.viewState.set({ paused: true }); }

  resume() { this.viewState.set({ paused: false }); }

  /** Plays exactly one more event (pauses first if playing). */
  step() {
    this.viewState.set({ paused: true });
    const seq = this.stepOnce();
    this.viewState.set({ steps: this.viewState.get().steps + 1 });
    return seq;
  }

  /** One step of the animation (of the recording, in a replay): the event played, or null. */
  stepOnce() {
    if (this.mode === 'replay' && !this.replay.atHead) {
      // Release the next event of the recording that passes the filters.
      let i = this.store.lowerBound(this.replay.cursor + 1);
      for (; i < this.store.size; i++) {
        const ev = this.store.at(i);
        this.release(ev, performance.now(), true);
        if (this.animVisible(ev)) break;
      }
      this.afterCursorMove();
    }
    const ev = this.animator.step();
    this.controls.update();
    return ev ? ev.seq : null;
  }

  setSpeed(x) {
    this.viewState.set({ speed: Math.min(4, Math.max(0.1, Number(x) || 1)) });
  }

  setNoise(on) { this.viewState.set({ noise: !!on }); }

  setLang(lang) {
    setLang(lang);
  }

  /** Follows one object (e.g. "pods/default/nginx"): only its flow plays. */
  follow(obj) {
    if (!obj || typeof obj !== 'string') return;
    if (obj.startsWith('pods/')) this.selectedPod = obj;
    this.viewState.set({ following: obj });
  }

  unfollow() { this.viewState.set({ following: '' }); }

  /** The followed object changed: its components light up, the rest dims. */
  showFollowing(obj) {
    this.involved = new Set();
    if (obj) {
      for (let i = this.store.size - 1, k = 0; i >= 0 && k < 50000; i--, k++) {
        const ev = this.store.at(i);
        if (objectKey(ev) === obj) this.addInvolved(ev);
      }
      this.diagram.setFocus(obj, this.involved);
    } else this.diagram.setFocus(null);
    this.renderFollowBanner();
  }

  addInvolved(ev) {
    let changed = false;
    for (const id of [ev.from, ev.to, ev.detail && ev.detail.component]) {
      if (id && !this.involved.has(id)) { this.involved.add(id); changed = true; }
    }
    const pod = ev.resource === 'pods' ? ev.namespace + '/' + ev.name : '';
    if (pod) {
      const p = this.model.pods.get(pod);
      if (p && p.node && !this.involved.has('node:' + p.node)) { this.involved.add('node:' + p.node); changed = true; }
    }
    if (changed && this.following) this.diagram.setFocus(this.following, this.involved);
  }

  followSelected() {
    const obj = this.selectedPod || this.selectedObject();
    if (!obj) { this.toast(t('follow.none')); return; }
    if (this.following === obj) this.unfollow(); else this.follow(obj);
  }

  selectedObject() {
    const ev = this.lastSelected && this.store.get(this.lastSelected);
    return ev ? objectKey(ev) : '';
  }

  clickPod(key) {
    const obj = 'pods/' + key;
    this.selectedPod = obj;
    if (this.following === obj) this.unfollow(); else this.follow(obj);
  }

  renderFollowBanner() {
    const b = this.followBanner;
    b.hidden = !this.following;
    if (!this.following) return;
    b.textContent = '';
    b.append(h('span', { class: 'follow-icon', text: '◎' }),
      h('b', { text: t('follow.banner', { obj: this.following }) }),
      h('span', { class: 'muted', text: ' · ' + t('follow.hint') }),
      h('button', { class: 'btn small', text: t('ctl.replayFlow'), onclick: () => this.replayFlow() }),
      h('button', { class: 'btn small', text: '✕', 'aria-label': t('ctl.followStop'), onclick: () => this.unfollow() }));
  }

  /** Re-animates every stored event of an object (the followed one by default). */
  async replayFlow(obj) {
    obj = obj || this.following || this.selectedPod || this.selectedObject();
    if (!obj) { this.toast(t('flow.noObject')); return; }
    let events = [];
    try {
      const res = await api.flows(obj);
      events = Array.isArray(res && res.events) ? res.events.filter((e) => e && typeof e.seq === 'number') : [];
    } catch (e) {
      this.toast(e.message || String(e), 'error');
      return;
    }
    events = events.filter((ev) => this.passesFilters(ev)).sort((a, b) => a.seq - b.seq);
    if (!events.length) { this.toast(t('flow.empty', { obj })); return; }
    this.toast(t('flow.replaying', { obj, n: events.length }));
    if (this.paused) this.resume();
    this.animator.minGapMs = 150;
    this.animator.playFlow(events);
  }

  // -------------------------------------------------------------------------
  // Selection, inspector and panels

  select(seq) {
    if (!seq) return;
    this.viewState.set({ selected: seq, panel: '' });
  }

  openComponent(id) { this.viewState.set({ selected: 0, panel: 'component:' + id }); }

  openNode(name) { this.viewState.set({ selected: 0, panel: 'node:' + name }); }

  closeDetail() { this.viewState.set({ selected: 0, panel: '' }); }

  /** The side panel shows the selected event, a component or node panel, or nothing. */
  showDetail({ selected, panel }) {
    this.inspector.hide();
    this.panel.hide();
    this.diagram.setSelected(null);
    this.timeline.select(selected);
    const open = !!(selected || panel.startsWith('component:') || panel.startsWith('node:'));
    this.detail.hidden = !open;
    this.side.classList.toggle('with-detail', open);
    if (selected) {
      this.lastSelected = selected;
      const ev = this.store.get(selected);
      if (ev && ev.resource === 'pods' && ev.name) this.selectedPod = objectKey(ev);
      if (ev && this.timelineVisible(ev)) this.timeline.ensureVisible(selected);
      this.inspector.show(selected);
    } else if (panel.startsWith('component:')) {
      const id = panel.slice('component:'.length);
      this.panel.showComponent(id);
      this.diagram.setSelected(id);
    } else if (panel.startsWith('node:')) {
      this.panel.showNode(panel.slice('node:'.length));
    }
  }

  // -------------------------------------------------------------------------
  // Classroom: the presenter's teaching state, sent and mirrored

  /** The lab panel's open lab and step, as view-state fields. */
  labState() {
    const l = this.labs;
    const e = l && l.lab ? l.entry : null;
    return {
      lab: l ? l.labId : '',
      step: l && l.step ? l.step.id : '',
      since: e ? e.since : 0,
      done: e ? [...e.done] : [],
    };
  }

  /**
   * What this page's views show, read from the views themselves (not the
   * store): a test compares it between a presenter's page and viewers'.
   */
  teachingSnapshot() {
    const v = this.viewState.get();
    return {
      ...this.labState(),
      following: this.diagram.focus || '',
      paused: this.animator.paused,
      steps: v.steps,
      speed: this.animator.speed,
      selected: this.detail.hidden ? 0 : this.inspector.seq,
      panel: this.detail.hidden || this.inspector.seq ? '' : (this.panel.id ? 'component:' + this.panel.id : this.panel.node ? 'node:' + this.panel.node : ''),
      tab: this.stage.hidden ? 'etcd' : 'diagram',
      etcdKey: this.etcd.selected || '',
    };
  }

  startClassroom() {
    this.classroom = new ClassroomLink({
      role: this.role,
      store: this.viewState,
      apply: (s) => this.applyTeaching(s),
      send: (s) => this.stream.teach(s),
      onChange: () => this.renderClassroom(),
    });
    this.classroom.setConnected(this.connected);
    this.renderClassroom();
    if (this.role === 'presenter') this.classroom.sendNow(); // what this page shows from the start
  }

  /**
   * A viewer shows the presenter's teaching state s: the store takes it,
   * and the views follow (wire()). Step presses are actions, not state: a
   * viewer steps as often as the presenter did since the last state (one
   * that joins late starts from the presenter's count).
   */
  applyTeaching(s) {
    const { steps, ...shown } = s;
    this.viewState.set(shown, 'presenter');
    // A mirror that failed or raced (the lab's texts still loading) is
    // retried with each state, not only when the step changes.
    const l = this.labs;
    if (l && s.lab && !l.mirroring && (l.labId !== s.lab || (l.step ? l.step.id : '') !== s.step)) {
      l.mirror(s.lab, s.step, s.since, s.done).catch((e) => console.error(e));
    }
    if (this.remoteSteps >= 0) for (let k = this.remoteSteps; k < steps && k < this.remoteSteps + 20; k++) this.stepOnce();
    this.remoteSteps = steps;
    this.renderClassroom();
  }

  /** The top bar's classroom badge, and the presenter view's share card. */
  renderClassroom() {
    const c = this.classroom;
    const b = this.classBadge;
    if (!c || !b) return;
    b.textContent = '';
    if (this.role === 'viewer') {
      let state = 'following', text = t('class.following');
      if (c.rotated) { state = 'rotated'; text = t('class.rotated'); }
      else if (!c.connected) { state = 'offline'; text = t('class.offline'); }
      else if (!c.latest) { state = 'waiting'; text = t('class.waiting'); }
      else if (!c.following) { state = 'not-following'; text = t('class.notFollowing'); }
      b.dataset.state = state;
      b.title = t('class.following.title');
      b.append(h('span', { class: 'class-dot' }), h('span', { text }));
      if (state === 'not-following') {
        b.append(h('button', { class: 'btn small primary', type: 'button', 'data-testid': 'catch-up', title: t('class.catchUp.title'), text: t('class.catchUp'), onclick: () => c.catchUp() }));
      }
      return;
    }
    b.dataset.state = c.connected ? 'presenting' : 'offline';
    b.title = t('class.viewers.title');
    b.append(h('span', { class: 'class-dot' }), h('span', { 'data-testid': 'viewer-count', text: c.viewers === 1 ? t('class.viewers.one') : t('class.viewers', { n: c.viewers }) }));
    if (this.view === 'present') this.renderShareCard();
  }

  /** /present: the viewers' link as text and QR code, with a rotate button. */
  renderShareCard() {
    const c = this.classroom;
    if (!this.shareCard) {
      this.shareCard = h('aside', { class: 'share-card', 'data-testid': 'share-card' });
      this.stage.append(this.shareCard);
    }
    const url = c.viewerUrl;
    if (this.shareCard.dataset.url === url && this.shareCard.dataset.lang === getLang()) return;
    this.shareCard.dataset.url = url;
    this.shareCard.dataset.lang = getLang();
    const card = this.shareCard;
    card.textContent = '';
    const qrHost = h('div', { class: 'qr-host', 'data-testid': 'viewer-qr' });
    const copy = h('button', { class: 'btn small', type: 'button', text: t('class.copy'), onclick: () => {
      navigator.clipboard && navigator.clipboard.writeText(url).then(() => { copy.textContent = t('class.copied'); }, () => {});
    } });
    card.append(h('h3', { text: t('class.share') }), qrHost,
      h('a', { class: 'mono viewer-url', href: url, target: '_blank', rel: 'noopener', 'data-testid': 'viewer-url', text: url }),
      h('p', { class: 'muted', text: t('class.share.note') }),
      h('div', { class: 'share-actions' }, copy,
        h('button', { class: 'btn small', type: 'button', 'data-testid': 'rotate-key', title: t('class.rotate.title'), text: t('class.rotate'), onclick: () => this.rotateViewerKey() })));
    if (url) qrSVG(url).then((svg) => { if (card.dataset.url === url) { qrHost.textContent = ''; qrHost.append(svg); } }, (e) => console.error(e));
  }

  async rotateViewerKey() {
    try {
      const res = await api.rotateViewerKey(token.get());
      if (res && typeof res.viewerUrl === 'string') this.classroom.viewerUrl = res.viewerUrl;
      this.toast(t('class.rotated.done'));
    } catch (e) {
      this.toast(e.message || String(e), 'error');
    }
    this.renderClassroom();
  }

  // -------------------------------------------------------------------------
  // Replay scrubber

  updateScrubber() {
    if (!this.scrubInput) return;
    const min = this.store.firstSeq || 0, max = this.lastSeq || 0;
    this.scrubInput.min = String(min);
    this.scrubInput.max = String(max);
    const cur = this.replay.atHead ? max : this.replay.cursor;
    if (document.activeElement !== this.scrubInput) this.scrubInput.value = String(cur);
    this.scrubLabel.textContent = t('replay.at', { seq: cur, max });
    this.scrubLive.textContent = t('replay.toLive');
  }

  /** Jumps to a point of the recording: the diagram and timeline show events up to seq. */
  scrubTo(seq) {
    seq = Math.max(0, Math.min(seq, this.lastSeq));
    this.animator.clear();
    this.replay.atHead = seq >= this.lastSeq;
    this.replay.cursor = seq;
    this.replay.clock = 0;
    this.rederive();
    this.timeline.setLimit(this.replay.atHead ? Infinity : seq);
    this.timeline.following = true;
    this.updateScrubber();
  }

  afterCursorMove() {
    if (this.replay.cursor >= this.lastSeq) {
      this.replay.atHead = true;
      this.timeline.setLimit(Infinity);
    } else this.timeline.setLimit(this.replay.cursor);
  }

  /** Replay playback: releases recorded events at their recorded pace (gaps over 1 s shortened). */
  advanceReplay(dt) {
    const r = this.replay;
    if (this.mode !== 'replay' || r.atHead || this.paused) return;
    r.clock += dt * this.speed;
    let i = this.store.lowerBound(r.cursor + 1);
    let released = 0;
    while (i < this.store.size && released < 50) {
      const ev = this.store.at(i);
      const cur = this.store.get(r.cursor);
      const gap = cur ? Math.min(1000, Math.max(0, parseTime(ev.time) - parseTime(cur.time))) || 0 : 0;
      if (r.clock < gap) break;
      r.clock -= gap;
      this.release(ev, performance.now(), true);
      released++;
      i++;
    }
    if (released) this.afterCursorMove();
  }

  // -------------------------------------------------------------------------
  // Frame loop

  frame(ts) {
    // fps over the last second, from rAF timestamps.
    const ft = this.frameTimes;
    ft.push(ts);
    while (ft.length && ft[0] <= ts - 1000) ft.shift();
    this.fps = ft.length;
    const dt = this.lastTs ? Math.min(100, ts - this.lastTs) : 16;
    this.lastTs = ts;

    const now = performance.now();
    if (this.backlog.active && (now - this.backlog.lastArrival > BACKLOG_GAP_MS || now - this.backlog.since > BACKLOG_MAX_MS)) {
      this.backlog.active = false;
    }
    this.advanceReplay(dt);
    this.animator.frame(now);
    this.applyHeldPods();
    this.diagram.tick(now);
    this.timeline.render();
    requestAnimationFrame((t2) => this.frame(t2));
  }

  /** Reference time for rates: the wall clock live, the cursor's time in a replay. */
  statsNow() {
    if (this.mode === 'replay') {
      const ev = this.store.get(this.replay.cursor);
      return ev ? parseTime(ev.time) : this.stats.latestTime;
    }
    return Date.now();
  }

  updateLiveNumbers() {
    const now = this.statsNow();
    const rates = (a) => `${t('diag.reqps', { n: fmtRate(a.reqps) })} · ${t('diag.watchps', { n: fmtRate(a.watchps) })}`;
    const values = { etcd: this.stats.etcdRevision ? t('diag.rev', { n: this.stats.etcdRevision }) : '' };
    if (this.model.ha) {
      // Each apiserver's share, and in the load balancer all of them.
      const sum = { reqps: 0, watchps: 0 };
      for (const cp of this.model.controlPlanes) {
        const a = this.stats.numbers(`apiserver/${cp}`, now);
        sum.reqps += a.reqps; sum.watchps += a.watchps;
        values[`apiserver/${cp}`] = rates(a);
      }
      values.apiserver = rates(sum);
    } else values.apiserver = rates(this.stats.numbers('apiserver', now));
    this.diagram.setLive(values);
    this.updateScrubber();
  }

  toast(msg, level = 'info') {
    const el = h('div', { class: `toast ${level}`, text: msg });
    this.toasts.append(el);
    while (this.toasts.children.length > 3) this.toasts.firstChild.remove();
    setTimeout(() => el.remove(), 4500);
  }
}

/** The Wheelhouse mark: a ship's wheel. */
function logo() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '-12 -12 24 24');
  svg.setAttribute('class', 'logo');
  svg.setAttribute('aria-hidden', 'true');
  let d = '';
  for (let i = 0; i < 8; i++) {
    const a = (Math.PI / 4) * i;
    d += `M${(3 * Math.cos(a)).toFixed(2)},${(3 * Math.sin(a)).toFixed(2)}L${(11 * Math.cos(a)).toFixed(2)},${(11 * Math.sin(a)).toFixed(2)}`;
  }
  svg.innerHTML = `<circle r="7.5" fill="none" stroke="currentColor" stroke-width="2.2"/><circle r="2.6" fill="currentColor"/><path d="${d}" stroke="currentColor" stroke-width="2" stroke-linecap="round"/>`;
  return svg;
}

// ---------------------------------------------------------------------------
// Boot and test hooks

const root = document.getElementById('app');
if (root) {
  const app = new App(root);
  /**
   * window.wheelhouse: the page's own state, for tests (chromedp) and for
   * the curious. Read-only getters plus control functions.
   */
  window.wheelhouse = {
    get connected() { return app.connected; },
    get lastSeq() { return app.lastSeq; },
    get events() { return app.eventsReceived; },
    get animated() { return app.animated; },
    get paused() { return app.paused; },
    get speed() { return app.speed; },
    get following() { return app.following; },
    get showNoise() { return app.showNoise; },
    get fps() { return app.fps; },
    get mode() { return app.mode; },
    get lang() { return getLang(); },
    get malformed() { return app.malformed; },
    get dropped() { return app.droppedCount; },
    get skipped() { return app.animator.skipped; },
    get recentSkips() { return app.animator.recentSkips.slice(); },
    get connections() { return app.connections; },
    get inBurst() { return app.backlog.active; },
    get stored() { return app.store.size; },
    get queued() { return app.animator.pending.length; },
    get inFlight() { return app.animator.flying.length; },
    get replicated() { return app.animator.replicated; },
    get cursor() { return app.mode === 'replay' && !app.replay.atHead ? app.replay.cursor : app.lastSeq; },
    get topology() { return app.model.topology; },
    get controlPlanes() { return [...app.model.controlPlanes]; },
    get leaders() { return { ...app.model.leaders }; },
    // One pod as the diagram has it ({namespace, name, node, phase, …}), or null.
    pod: (key) => { const p = app.model.pods.get(String(key)); return p ? { ...p } : null; },
    get stateVersion() { return app.stateMirror.version; },
    // Where a packet from→to travels: [[x, y], …] in diagram coordinates, or null.
    route: (from, to) => {
      const g = app.diagram.geom(String(from), String(to));
      return g ? (g.pts || [[g.x1, g.y1], [g.x2, g.y2]]).map((p) => [p[0], p[1]]) : null;
    },
    pause: () => app.pause(),
    resume: () => app.resume(),
    step: () => app.step(),
    setSpeed: (x) => app.setSpeed(x),
    follow: (obj) => app.follow(obj),
    unfollow: () => app.unfollow(),
    setNoise: (on) => app.setNoise(on),
    setLang: (l) => app.setLang(l),
    select: (seq) => app.select(seq),
    scrubTo: (seq) => app.scrubTo(seq),
    replayFlow: (obj) => app.replayFlow(obj),
    get view() { return app.view; },
    get role() { return app.role; },
    classroom: {
      get connected() { return !!(app.classroom && app.classroom.connected); },
      get following() { return !!(app.classroom && app.classroom.following); },
      get rotated() { return !!(app.classroom && app.classroom.rotated); },
      get received() { return app.classroom ? app.classroom.received : 0; },
      get viewers() { return app.classroom ? app.classroom.viewers : 0; },
      get viewerUrl() { return app.classroom ? app.classroom.viewerUrl : ''; },
      get teaching() { return teachingOf(app.viewState.get()); },
      get shown() { return app.teachingSnapshot(); },
      catchUp: () => app.classroom && app.classroom.catchUp(),
    },
    labs: {
      get current() { return app.labs ? app.labs.labId : ''; },
      get step() { return app.labs && app.labs.step ? app.labs.step.id : ''; },
      get stepIndex() { return app.labs && app.labs.step ? app.labs.index : -1; },
      get passed() { return !!(app.labs && app.labs.passed); },
      get done() { return app.labs && app.labs.entry ? [...app.labs.entry.done] : []; },
      get checks() { return app.labs && app.labs.result && Array.isArray(app.labs.result.checks) ? app.labs.result.checks : null; },
      get list() { return app.labs ? app.labs.list.map((l) => l.id) : []; },
      get errors() { return app.labs ? app.labs.errors : []; },
      get watch() { return app.diagram.watch; },
      open: (id) => app.labs && app.labs.open(id),
      goto: (i) => app.labs && app.labs.goto(i),
      next: () => app.labs && app.labs.next(),
      prev: () => app.labs && app.labs.prev(),
      reset: () => app.labs && app.labs.reset(),
    },
    terminal: {
      get connected() { return !!(app.terminal && app.terminal.connected); },
      get state() { return app.terminal ? app.terminal.state : 'none'; },
      get exitCode() { return app.terminal ? app.terminal.exitCode : null; },
      output: () => (app.terminal ? app.terminal.output() : ''),
      type: (str) => !!(app.terminal && app.terminal.input(String(str))),
      paste: (str) => !!(app.terminal && app.terminal.paste(String(str))),
      run: (cmd) => !!(app.terminal && app.terminal.run(String(cmd))),
      reconnect: () => app.terminal && app.terminal.reconnect(),
    },
    components: {
      get states() { return app.components ? Object.fromEntries(app.components.states) : {}; },
      stop: (name) => (app.components ? app.components.act(name, 'stop') : Promise.resolve({ ok: false, status: 0, message: 'no component control' })),
      start: (name) => (app.components ? app.components.act(name, 'start') : Promise.resolve({ ok: false, status: 0, message: 'no component control' })),
    },
  };
  app.start().catch((e) => {
    console.error(e);
    app.toast(String(e && e.message || e), 'error');
  });
}
