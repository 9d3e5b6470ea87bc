// controls.js: the toolbar (pause, step, speed, noise, filters, replay flow,
// stop following, language), the legend, and the keyboard shortcuts:
//   Space pause/resume · → step · f follow the selected pod · n noise · Esc stop following
//   (presenter view: ← → and PageUp/PageDown move between lab steps instead)
// Controls call the App's public methods and re-read its state in update().

import { h, clear, KIND_CLASSES, GROUPS, shapeIcon } from './util.js';
import { t, getLang, onLangChange } from './i18n.js';

// Small stroke icons (SVG, so they render the same on every system font).
const ICONS = {
  pause: '<rect x="4" y="3" width="3" height="10" rx="1"/><rect x="9" y="3" width="3" height="10" rx="1"/>',
  play: '<path d="M5 3l8 5-8 5z"/>',
  step: '<path d="M3 3l7 5-7 5z"/><rect x="11" y="3" width="2.5" height="10" rx="1"/>',
  filter: '<path d="M2 3h12l-4.5 5.5V13l-3-1.5V8.5z"/>',
  replay: '<path d="M8 2.5a5.5 5.5 0 1 1-5.2 3.7" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/><path d="M1.5 2.5l1.3 4.2 4-1.6z"/>',
  target: '<circle cx="8" cy="8" r="5.5" fill="none" stroke="currentColor" stroke-width="1.6"/><circle cx="8" cy="8" r="2"/>',
  eye: '<path d="M1 8s2.6-4.5 7-4.5S15 8 15 8s-2.6 4.5-7 4.5S1 8 1 8z" fill="none" stroke="currentColor" stroke-width="1.5"/><circle cx="8" cy="8" r="2"/>',
  eyeOff: '<path d="M1 8s2.6-4.5 7-4.5S15 8 15 8s-2.6 4.5-7 4.5S1 8 1 8z" fill="none" stroke="currentColor" stroke-width="1.5"/><path d="M2.5 13.5l11-11" stroke="currentColor" stroke-width="1.6" stroke-linecap="round"/>',
  present: '<rect x="1.5" y="2.5" width="13" height="8.5" rx="1" fill="none" stroke="currentColor" stroke-width="1.5"/><path d="M8 11v2.5M5 14h6" stroke="currentColor" stroke-width="1.5" stroke-linecap="round"/>',
  close: '<path d="M4 4l8 8M12 4l-8 8" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>',
  globe: '<circle cx="8" cy="8" r="6" fill="none" stroke="currentColor" stroke-width="1.4"/><path d="M2 8h12M8 2c2 2 2 10 0 12M8 2c-2 2-2 10 0 12" fill="none" stroke="currentColor" stroke-width="1.2"/>',
};

/** An icon element; its fill is currentColor. */
export function icon(name) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  el.setAttribute('viewBox', '0 0 16 16');
  el.setAttribute('class', 'icon');
  el.setAttribute('aria-hidden', 'true');
  el.innerHTML = ICONS[name] || '';
  return el;
}

/** Sets a button's content to an icon and a text label. */
function label(btn, iconName, text) {
  clear(btn);
  btn.append(icon(iconName), h('span', { text }));
}

export const SPEEDS = [0.1, 0.25, 0.5, 1, 2, 4];

export class Controls {
  /** @param {HTMLElement} host  @param {object} app the App (see main.js) */
  constructor(host, app) {
    this.app = app;
    const btn = (testid, onclick, cls = 'btn') => h('button', { class: cls, 'data-testid': testid, type: 'button', onclick });

    this.pauseBtn = btn('pause', () => (app.paused ? app.resume() : app.pause()), 'btn primary');
    this.stepBtn = btn('step', () => app.step());
    this.speedSel = h('select', { class: 'select', 'data-testid': 'speed', onchange: () => app.setSpeed(Number(this.speedSel.value)) });
    for (const v of SPEEDS) this.speedSel.append(h('option', { value: String(v), text: `${v}×` }));
    this.noiseBtn = btn('noise', () => app.setNoise(!app.showNoise), 'btn toggle');
    this.filterBtn = btn('filters', () => this.toggleFilters(), 'btn');
    this.replayBtn = btn('replay-flow', () => app.replayFlow());
    this.followStop = btn('follow-stop', () => app.unfollow(), 'btn follow-stop');
    this.langBtn = btn('lang', () => app.setLang(getLang() === 'en' ? 'zh' : 'en'), 'btn lang');

    this.filtersPop = h('div', { class: 'popover filters', hidden: true, 'data-testid': 'filters-panel' });
    const filterWrap = h('div', { class: 'pop-wrap' }, this.filterBtn, this.filtersPop);

    host.append(
      h('div', { class: 'ctl-group' }, this.pauseBtn, this.stepBtn, this.speedSel),
      h('div', { class: 'ctl-group' }, this.noiseBtn, filterWrap),
      h('div', { class: 'ctl-group' }, this.replayBtn, this.followStop),
    );
    this.langHost = this.langBtn;

    document.addEventListener('click', (e) => {
      if (!this.filtersPop.hidden && !filterWrap.contains(e.target)) this.filtersPop.hidden = true;
    });
    document.addEventListener('keydown', (e) => this.onKey(e));
    onLangChange(() => { this.update(); if (!this.filtersPop.hidden) this.renderFilters(); });
    this.update();
  }

  /** Syncs labels and states with the app (cheap; called after every change). */
  update() {
    const app = this.app;
    label(this.pauseBtn, app.paused ? 'play' : 'pause', app.paused ? t('ctl.resume') : t('ctl.pause'));
    this.pauseBtn.title = t('ctl.pause.title');
    this.pauseBtn.setAttribute('aria-pressed', String(app.paused));
    this.pauseBtn.classList.toggle('is-paused', app.paused);
    label(this.stepBtn, 'step', t('ctl.step'));
    this.stepBtn.title = t('ctl.step.title');
    this.speedSel.title = t('ctl.speed.title');
    this.speedSel.setAttribute('aria-label', t('ctl.speed'));
    const sv = String(app.speed);
    if (![...this.speedSel.options].some((o) => o.value === sv)) this.speedSel.append(h('option', { value: sv, text: `${sv}×` }));
    this.speedSel.value = sv;
    label(this.noiseBtn, app.showNoise ? 'eye' : 'eyeOff', t('ctl.noise'));
    this.noiseBtn.title = t('ctl.noise.title');
    this.noiseBtn.setAttribute('aria-pressed', String(app.showNoise));
    const nf = app.filterCount();
    label(this.filterBtn, 'filter', `${t('ctl.filters')}${nf ? ` (${nf})` : ''}`);
    this.filterBtn.title = t('ctl.filters.title');
    this.filterBtn.classList.toggle('active', nf > 0);
    label(this.replayBtn, 'replay', t('ctl.replayFlow'));
    this.replayBtn.title = t('ctl.replayFlow.title');
    label(this.followStop, 'target', t('ctl.followStop'));
    this.followStop.title = t('ctl.followStop.title');
    this.followStop.disabled = !app.following;
    this.followStop.classList.toggle('active', !!app.following);
    clear(this.langBtn);
    this.langBtn.append(icon('globe'), h('span', { class: getLang() === 'en' ? 'on' : '', text: 'EN' }), h('span', { class: 'slash', text: '/' }), h('span', { class: getLang() === 'zh' ? 'on' : '', text: '中文' }));
    this.langBtn.title = t('ctl.lang.title');
  }

  toggleFilters() {
    this.filtersPop.hidden = !this.filtersPop.hidden;
    if (!this.filtersPop.hidden) this.renderFilters();
  }

  renderFilters() {
    const app = this.app;
    const pop = this.filtersPop;
    clear(pop);
    const kinds = h('fieldset', {}, h('legend', { text: t('ctl.filters.kinds') }));
    for (const kc of KIND_CLASSES) {
      const cb = h('input', { type: 'checkbox', 'data-kind': kc, checked: app.kinds.has(kc) });
      cb.addEventListener('change', () => app.setKindEnabled(kc, cb.checked));
      kinds.append(h('label', { class: `check k-${kc}` }, cb, shapeIcon(kc, 14), t('kind.' + kc)));
    }
    const comps = h('fieldset', {}, h('legend', { text: t('ctl.filters.components') }));
    for (const g of GROUPS) {
      const cb = h('input', { type: 'checkbox', 'data-group': g, checked: app.groups.has(g) });
      cb.addEventListener('change', () => app.setGroupEnabled(g, cb.checked));
      comps.append(h('label', { class: 'check' }, cb, t('comp.' + g)));
    }
    pop.append(kinds, comps, h('button', { class: 'btn small', text: t('ctl.filters.reset'), onclick: () => { app.resetFilters(); this.renderFilters(); } }));
  }

  onKey(e) {
    const tag = (e.target && e.target.tagName) || '';
    if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || e.target.isContentEditable) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const app = this.app;
    // The presenter view: arrows (and the PageUp/PageDown a clicker sends) move between lab steps.
    if (app.view === 'present' && app.labs) {
      const dir = { ArrowRight: 1, PageDown: 1, ArrowLeft: -1, PageUp: -1 }[e.key];
      if (dir) {
        e.preventDefault();
        if (dir > 0) app.labs.next(); else app.labs.prev();
        return;
      }
    }
    switch (e.key) {
      case ' ':
      case 'Spacebar':
        e.preventDefault();
        if (app.paused) app.resume(); else app.pause();
        break;
      case 'ArrowRight':
        e.preventDefault();
        app.step();
        break;
      case 'f': case 'F':
        app.followSelected();
        break;
      case 'n': case 'N':
        app.setNoise(!app.showNoise);
        break;
      case 'Escape':
        this.filtersPop.hidden = true;
        if (app.following) app.unfollow(); else app.closeDetail();
        break;
    }
  }
}

/** The legend: colour + shape per kind, pod phases, merged/failed cues. */
export function buildLegend(host) {
  const render = () => {
    clear(host);
    host.append(h('span', { class: 'legend-title', text: t('legend.title') }));
    for (const kc of KIND_CLASSES) {
      host.append(h('span', { class: `legend-item k-${kc}`, title: t(`kind.${kc}.desc`) }, shapeIcon(kc, 14), t('kind.' + kc)));
    }
    host.append(h('span', { class: 'legend-sep' }));
    for (const ph of ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']) {
      host.append(h('span', { class: `legend-item legend-phase phase-${ph.toLowerCase()}` }, h('span', { class: 'swatch' }), t('phase.' + ph)));
    }
    host.append(h('span', { class: 'legend-sep' }),
      h('span', { class: 'legend-item' }, h('span', { class: 'badge-sample', text: '×3' }), t('legend.merged')),
      h('span', { class: 'legend-item' }, h('span', { class: 'failed-sample' }), t('legend.failed')));
  };
  render();
  onLangChange(render);
}
