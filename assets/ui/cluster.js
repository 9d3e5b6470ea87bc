// cluster.js: what the diagram draws: nodes, the pods on them, and the
// clients outside the cluster.
//
// Two sources:
//  - live: the state frames of the page's stream (statemirror.js: the
//    whole state on connect, then each change) are the truth for nodes and
//    pods;
//  - derived: in replay mode (no cluster, no state) nodes and pods are
//    rebuilt from the trace alone: nodes from NodeReady/NodeNotReady events
//    and per-node component ids, pods from watch/etcd/http/cri events on
//    pods. A phase that the trace does not tell stays "Unknown" (grey).
// External clients (kubectl, curl, wheelhouse…) always come from the trace.
//
// The topology (single-node, single-control-plane, ha) and, in ha, the
// control-plane machines (cp-1 …) come from the state, or from the
// component ids of the trace when there is no state (etcd/cp-2 …). So do
// the leaders of an HA control plane: the etcd Raft leader and the holders
// of the kube-scheduler and kube-controller-manager Leases, kept up to date
// from the lifecycle events LeaderElected, LeaderLost and LeaseAcquired as
// they arrive and from every state frame tagged after them.

import { nodeOf, isExternal, machineOf, LOAD_BALANCER } from './util.js';

/** The roles that have a leader on an HA control plane. */
export const LEADER_ROLES = ['etcd', 'scheduler', 'controller-manager'];

const TOPOLOGIES = new Set(['single-node', 'single-control-plane', 'ha']);

export class ClusterModel {
  constructor() {
    this.nodes = new Map(); // name → {name, ready, zone, podCIDR, runtime}
    this.pods = new Map(); // "ns/name" → {namespace, name, node, phase, reason, ip, terminating}
    this.clients = new Set(['kubectl']); // external component ids, kubectl always shown
    this.version = '';
    this.source = 'derived'; // "state" once the first state frame came
    this.traceNodes = new Set(); // nodes named by trace component ids
    this.noiseClients = new Set(); // clients seen only in noise events
    this.noiseShown = false;
    this.listeners = new Set();
    this.dirty = false;
    this.structureVersion = 0; // bumps when nodes or clients change (re-layout)
    this.topology = ''; // single-node | single-control-plane | ha ('' until known)
    this.controlPlanes = []; // HA machines, sorted: cp-1, cp-2, …
    this.leaders = { etcd: '', scheduler: '', 'controller-manager': '' }; // role → component id ('' none)
    this.etcdTerm = 0; // Raft term of the last LeaderElected
    this.leaderSeq = {}; // role → seq of the last trace event that changed it
  }

  /** True on an HA control plane with its machines known. */
  get ha() {
    return this.topology === 'ha' && this.controlPlanes.length > 0;
  }

  onChange(fn) { this.listeners.add(fn); }

  /** Marks the model changed; listeners run once on the next frame. */
  touch(structural = false) {
    if (structural) this.structureVersion++;
    if (this.dirty) return;
    this.dirty = true;
    requestAnimationFrame(() => {
      this.dirty = false;
      for (const fn of this.listeners) fn(this);
    });
  }

  /** Sorted node names (node-2 before node-10). */
  nodeNames() {
    return [...this.nodes.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  }

  /** Pods on a node ('' for unscheduled), sorted by namespace/name. */
  podsOn(node) {
    const out = [];
    for (const p of this.pods.values()) if ((p.node || '') === node) out.push(p);
    out.sort((a, b) => (a.namespace + '/' + a.name).localeCompare(b.namespace + '/' + b.name, undefined, { numeric: true }));
    return out;
  }

  // -------------------------------------------------------------------------
  // Live source

  /** Applies a whole state (GET /api/state's shape: nodes and pods). Defensive: ignores malformed entries. */
  applyState(st) {
    if (!st || typeof st !== 'object') return;
    this.applyNodes(st);
    this.applyPods(st.pods);
  }

  /**
   * Applies the nodes (and version, topology, leaders) of a state. tag:
   * the trace's last seq when the state was read; a leader that a later
   * trace event changed is kept (the state may predate it).
   */
  applyNodes(st, tag = Infinity) {
    if (!st || typeof st !== 'object') return;
    this.source = 'state';
    this.version = typeof st.version === 'string' ? st.version : this.version;
    const oldShape = this.shapeKey();
    if (TOPOLOGIES.has(st.topology)) this.topology = st.topology;
    const cps = Array.isArray(st.controlPlanes) ? st.controlPlanes.filter((c) => typeof c === 'string' && c) : [];
    this.controlPlanes = sortNames(cps);
    if (this.topology === 'ha') this.applyLeaders(st.leaders, tag);
    const shapeChanged = oldShape !== this.shapeKey();
    const oldNodes = this.nodeNames().join(',');
    const nodes = new Map();
    for (const n of Array.isArray(st.nodes) ? st.nodes : []) {
      if (!n || typeof n.name !== 'string') continue;
      nodes.set(n.name, {
        name: n.name, ready: typeof n.ready === 'boolean' ? n.ready : null,
        zone: str(n.zone), podCIDR: str(n.podCIDR), runtime: str(n.runtime),
      });
    }
    // A node whose kubelet is in the trace but which the API no longer has
    // (deleted Node object) is still drawn: its components still run.
    for (const name of this.traceNodes) {
      if (!nodes.has(name)) nodes.set(name, { name, ready: null, zone: '', podCIDR: '', runtime: '' });
    }
    this.nodes = nodes;
    this.touch(shapeChanged || oldNodes !== this.nodeNames().join(','));
  }

  /** What the diagram's layout depends on besides nodes and clients. */
  shapeKey() {
    return `${this.topology}:${this.controlPlanes.join(',')}`;
  }

  /** Leaders from the state ({etcd: "etcd/cp-2", …}; a role nobody leads is absent). */
  applyLeaders(obj, tag) {
    const leaders = obj && typeof obj === 'object' ? obj : {};
    let changed = false;
    for (const role of LEADER_ROLES) {
      if ((this.leaderSeq[role] || 0) > tag) continue; // the trace said something newer
      const v = typeof leaders[role] === 'string' ? leaders[role] : '';
      if (v && v.split('/')[0] !== role) continue;
      if (this.leaders[role] !== v) { this.leaders[role] = v; changed = true; }
    }
    if (changed) this.touch();
  }

  /** A leadership lifecycle event: the etcd leader or a Lease holder changed. */
  observeLeader(ev) {
    if (ev.kind !== 'lifecycle' || typeof ev.from !== 'string') return false;
    const d = ev.detail || {};
    let role = '', id = '';
    if (ev.verb === 'LeaderElected' && ev.from.startsWith('etcd/')) {
      role = 'etcd'; id = ev.from;
      if (typeof d.term === 'number') this.etcdTerm = d.term;
    } else if (ev.verb === 'LeaderLost' && ev.from.split('/')[0] === 'etcd') {
      role = 'etcd'; id = '';
    } else if (ev.verb === 'LeaseAcquired' && machineOf(ev.from)) {
      role = ev.from.split('/')[0];
      if (!LEADER_ROLES.includes(role) || role === 'etcd') return false;
      id = ev.from;
    } else return false;
    this.leaderSeq[role] = Math.max(this.leaderSeq[role] || 0, ev.seq || 0);
    if (this.leaders[role] === id) return false;
    this.leaders[role] = id;
    return true;
  }

  /** Applies the pods of a state. */
  applyPods(list) {
    const pods = new Map();
    for (const p of Array.isArray(list) ? list : []) {
      if (!p || typeof p.name !== 'string') continue;
      const ns = str(p.namespace) || 'default';
      pods.set(`${ns}/${p.name}`, {
        namespace: ns, name: p.name, node: str(p.node), phase: normPhase(p.phase),
        reason: str(p.reason), ip: str(p.ip), terminating: p.reason === 'Terminating' || !!p.terminating,
      });
    }
    this.pods = pods;
    this.touch();
  }

  // -------------------------------------------------------------------------
  // Trace source (always: clients and trace nodes; pods only when derived)

  /** Notes what one event tells about the cluster. */
  observe(ev) {
    let structural = false;
    if (this.observeLeader(ev)) this.touch();
    for (const id of [ev.from, ev.to]) {
      if (!id) continue;
      // No state (a replay, or before the first frame): an HA machine's
      // instance or the load balancer says the topology.
      if (this.source === 'derived') {
        const m = machineOf(id);
        if (m && !this.controlPlanes.includes(m)) {
          this.topology = 'ha';
          this.controlPlanes = sortNames([...this.controlPlanes, m]);
          structural = true;
        } else if (id === LOAD_BALANCER && this.topology !== 'ha') {
          this.topology = 'ha';
          structural = true;
        }
      }
      if (isExternal(id)) {
        // A client seen only in noise (Wheelhouse's own UI, say) is drawn
        // only while noise is shown.
        if (!ev.noise) {
          this.noiseClients.delete(id);
          if (!this.clients.has(id)) { this.clients.add(id); structural = true; }
        } else if (!this.clients.has(id) || this.noiseClients.has(id)) {
          this.noiseClients.add(id);
          if (this.noiseShown && !this.clients.has(id)) { this.clients.add(id); structural = true; }
        }
      }
      const node = nodeOf(id);
      if (node && !this.traceNodes.has(node)) {
        this.traceNodes.add(node);
        if (!this.nodes.has(node)) {
          this.nodes.set(node, { name: node, ready: null, zone: '', podCIDR: '', runtime: '' });
          structural = true;
        }
      }
    }
    if (this.source === 'derived') structural = this.derive(ev) || structural;
    if (structural) this.touch(true);
  }

  /** Noise shown or hidden: clients seen only in noise appear or go. */
  setNoiseShown(on) {
    this.noiseShown = on;
    if (on) {
      for (const id of this.noiseClients) this.clients.add(id);
    } else {
      for (const id of this.noiseClients) this.clients.delete(id);
    }
    this.touch(true);
  }

  /** Forgets everything learned from the trace (replay scrubbing rebuilds it). */
  resetDerived() {
    this.traceNodes.clear();
    this.noiseClients.clear();
    this.clients = new Set(['kubectl']);
    if (this.source === 'derived') {
      this.nodes.clear();
      this.pods.clear();
      this.topology = '';
      this.controlPlanes = [];
      this.leaders = { etcd: '', scheduler: '', 'controller-manager': '' };
      this.etcdTerm = 0;
    }
    this.leaderSeq = {};
    this.touch(true);
  }

  /** Updates derived nodes/pods from one event; returns true on a node change. */
  derive(ev) {
    let structural = false;
    const d = ev.detail || {};
    // Nodes.
    if (ev.kind === 'lifecycle' && (ev.verb === 'NodeReady' || ev.verb === 'NodeNotReady')) {
      const name = str(d.node) || str(ev.name);
      if (name) {
        structural = this.ensureNode(name) || structural;
        this.nodes.get(name).ready = ev.verb === 'NodeReady';
        this.touch();
      }
    }
    if (ev.resource === 'nodes' && ev.name) {
      if (ev.kind === 'watch' && d.object) {
        structural = this.ensureNode(ev.name) || structural;
        applyNodeObject(this.nodes.get(ev.name), d.object);
        this.touch();
      }
    }
    // Pods.
    if (ev.resource !== 'pods' || !ev.name) return structural;
    const key = `${ev.namespace || 'default'}/${ev.name}`;
    const ok = ev.kind !== 'http' || Number(ev.status) < 400;
    if (!ok) return structural;
    const pod = () => {
      let p = this.pods.get(key);
      if (!p) {
        p = { namespace: ev.namespace || 'default', name: ev.name, node: '', phase: 'Unknown', reason: '', ip: '', terminating: false };
        this.pods.set(key, p);
      }
      return p;
    };
    switch (ev.kind) {
      case 'etcd':
        if (ev.verb === 'delete') this.pods.delete(key); else pod();
        break;
      case 'http':
        if (ev.verb === 'create' && !ev.subresource) pod();
        else if (ev.verb === 'delete' && !ev.subresource && this.pods.has(key)) pod().terminating = true;
        break;
      case 'watch': {
        if (ev.verb === 'DELETED') { this.pods.delete(key); break; }
        if (ev.verb === 'BOOKMARK') break;
        const p = pod();
        const watcherNode = nodeOf(ev.to);
        // A kubelet only watches the pods bound to its own node.
        if (watcherNode && ev.to.startsWith('kubelet/')) p.node = watcherNode;
        if (d.object) applyPodObject(p, d.object);
        break;
      }
      case 'cri': {
        const n = nodeOf(ev.from);
        if (n) pod().node = n;
        break;
      }
    }
    this.touch();
    return structural;
  }

  /**
   * Live mode: a provisional change to one pod, learned from a packet that
   * has just arrived (the state frame that includes it may be
   * held back until the animation catches up). patch: {node?, phase?, object?}.
   */
  patchPod(key, patch) {
    let p = this.pods.get(key);
    if (!p) {
      const [namespace, name] = key.split('/');
      p = { namespace, name, node: '', phase: 'Pending', reason: '', ip: '', terminating: false };
      this.pods.set(key, p);
    }
    if (typeof patch.node === 'string' && patch.node) p.node = patch.node;
    if (patch.phase) p.phase = normPhase(patch.phase);
    if (patch.object) applyPodObject(p, patch.object);
    this.touch();
  }

  ensureNode(name) {
    if (this.nodes.has(name)) return false;
    this.nodes.set(name, { name, ready: null, zone: '', podCIDR: '', runtime: '' });
    return true;
  }
}

function sortNames(list) {
  return [...new Set(list)].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
}

function str(v) {
  return typeof v === 'string' ? v : '';
}

const PHASES = new Set(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']);
function normPhase(p) {
  return PHASES.has(p) ? p : 'Unknown';
}

function applyPodObject(p, obj) {
  if (!obj || typeof obj !== 'object') return;
  const spec = obj.spec || {}, status = obj.status || {}, meta = obj.metadata || {};
  if (typeof spec.nodeName === 'string' && spec.nodeName) p.node = spec.nodeName;
  if (typeof status.phase === 'string') p.phase = normPhase(status.phase);
  if (typeof status.podIP === 'string') p.ip = status.podIP;
  if (typeof status.reason === 'string') p.reason = status.reason;
  if (meta.deletionTimestamp) p.terminating = true;
}

function applyNodeObject(n, obj) {
  if (!obj || typeof obj !== 'object') return;
  const labels = (obj.metadata && obj.metadata.labels) || {};
  const zone = labels['topology.kubernetes.io/zone'];
  if (typeof zone === 'string') n.zone = zone;
  const spec = obj.spec || {};
  if (typeof spec.podCIDR === 'string') n.podCIDR = spec.podCIDR;
  const st = obj.status || {};
  const ni = st.nodeInfo || {};
  if (typeof ni.containerRuntimeVersion === 'string') n.runtime = ni.containerRuntimeVersion.split(':')[0];
  for (const c of Array.isArray(st.conditions) ? st.conditions : []) {
    if (c && c.type === 'Ready') n.ready = c.status === 'True';
  }
}

/** The phase a chip shows: Terminating wins over the API phase. */
export function displayPhase(p) {
  return p.terminating ? 'Terminating' : p.phase || 'Unknown';
}
