// components.js: stopping and starting the cluster's own components
// (scheduler, controller-manager, kubelet/<node>, kube-proxy/<node>) so
// that learners can see what the cluster does without one of them.
//
//   GET  /api/components                 → {components:[{name, state, since, controllable, error}]}
//   POST /api/components/{name}/stop|start  with X-Wheelhouse-Token → {name, state}
//        ({name} is a plain path: /api/components/kubelet/node-2/stop)
//
// The states come with the stream's state frames (and are read once more
// right after a Stop or Start); the diagram marks stopped
// components and the component panel shows Stop / Start buttons for every
// component the server lists.

import { t } from './i18n.js';
import { api, token, HTTPError } from './api.js';

export class Components {
  /**
   * @param {object} o
   * @param {(states: Map<string, string>) => void} o.onChange the states changed
   * @param {boolean} [o.readOnly] a classroom viewer: states only, no Stop / Start (the server refuses them anyway)
   */
  constructor(o) {
    this.o = o;
    this.readOnly = !!o.readOnly;
    this.states = new Map(); // name → pending | starting | running | stopping | stopped | crashed
    this.controls = new Set(); // names the server lets the page stop and start
    this.available = true; // false once the server says it has no such API
    this.busy = new Set(); // names with a request in flight
    this.inflight = false;
    this.sig = '';
  }

  /** True when the server lets the page stop and start this component. */
  controllable(id) {
    return !this.readOnly && this.controls.has(id);
  }

  stateOf(id) {
    return this.states.get(id) || '';
  }

  /** Reads the states now (after a Stop or Start, not to wait for the next state frame). */
  async refresh() {
    if (!this.available || this.inflight) return;
    this.inflight = true;
    try {
      const res = await api.components();
      this.applyList(res && res.components);
    } catch (e) {
      // 404: a server without component control (a replay, an older build).
      if (e instanceof HTTPError && (e.status === 404 || e.status === 405)) this.available = false;
    } finally {
      this.inflight = false;
    }
  }

  /** Applies a list of {name, state, controllable}: GET /api/components's, or a state frame's. Defensive: ignores malformed entries. */
  applyList(list) {
    if (!Array.isArray(list)) return;
    const next = new Map();
    const controls = new Set();
    for (const c of list) {
      if (c && typeof c.name === 'string' && typeof c.state === 'string') {
        next.set(c.name, c.state);
        if (c.controllable) controls.add(c.name);
      }
    }
    this.controls = controls;
    this.apply(next);
  }

  apply(next) {
    const sig = [...next].map(([k, v]) => `${k}=${v}`).sort().join(',');
    if (sig === this.sig) return;
    this.sig = sig;
    this.states = next;
    this.o.onChange(this.states);
  }

  /**
   * Stops or starts a component. Resolves to {ok, message}: the message
   * says what happened in the page's language (also on failure).
   */
  async act(name, action) {
    if (action !== 'stop' && action !== 'start' && action !== 'crash') throw new Error(`unknown action ${action}`);
    const tok = token.get();
    if (!tok) return { ok: false, status: 401, message: t('cc.noToken') };
    this.busy.add(name);
    this.o.onChange(this.states);
    try {
      const res = await api.componentAction(name, action, tok);
      const next = new Map(this.states);
      if (res && typeof res.state === 'string') next.set(name, res.state);
      this.apply(next);
      return { ok: true, status: 200, message: t('cc.done', { name, state: t('state.' + (res && res.state || '')) }) };
    } catch (e) {
      const status = e instanceof HTTPError ? e.status : 0;
      let message;
      if (status === 401) {
        token.forget(); // refused: a token from an earlier `wheelhouse up`
        message = t('cc.badToken');
      } else if (status === 409) {
        // The server's answer names the state the component is in
        // (it may be on its way, not where the click wanted it).
        message = t('cc.conflict', { name, state: t('state.' + (this.stateOf(name) || '')) });
      } else if (status === 404) {
        message = t('cc.unknown', { name });
      } else {
        message = t(action === 'stop' ? 'cc.stopFailed' : 'cc.startFailed', { name, msg: e.message || String(e) });
      }
      return { ok: false, status, message };
    } finally {
      this.busy.delete(name);
      this.o.onChange(this.states);
      this.refresh();
    }
  }
}
