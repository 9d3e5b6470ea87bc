// statemirror.js: the page's copy of the cluster's state (nodes, pods,
// leaders, components), kept from the state frames of its one stream
// (GET /ws/trace?state=true, docs/trace-format.md "State frames").
//
// A stream starts with the whole state ({type:"state", full:true, version,
// tag, state}); each later frame is one change, numbered version+1, whose
// `set` pods are new or changed and whose `gone` keys ("ns/name") were
// deleted (its `state` is everything but the pods). The server sends a
// stream every change in order, or the whole state again when the stream
// fell too far behind, so a frame that does not follow is a broken stream.

export class StateMirror {
  constructor() {
    this.version = 0;
    this.pods = new Map(); // "ns/name" → pod
  }

  /**
   * Applies one valid frame (see validStateFrame). Returns {tag, state}
   * with the whole state (state.pods included), or null when a change does
   * not follow the version the mirror has.
   */
  apply(f) {
    if (f.full) {
      this.pods = new Map();
      for (const p of f.state.pods || []) this.pods.set(podKey(p), p);
    } else if (f.version !== this.version + 1) {
      return null;
    } else {
      for (const p of f.set || []) this.pods.set(podKey(p), p);
      for (const k of f.gone || []) this.pods.delete(k);
    }
    this.version = f.version;
    return { tag: f.tag, state: { ...f.state, pods: [...this.pods.values()] } };
  }
}

function podKey(p) {
  return `${p.namespace}/${p.name}`;
}

const count = (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0;

function validPods(list) {
  if (list === undefined || list === null) return true;
  if (!Array.isArray(list)) return false;
  return list.every((p) => p && typeof p === 'object' && typeof p.namespace === 'string' && typeof p.name === 'string' && p.name !== '');
}

/** validStateFrame checks what StateMirror.apply reads, so a malformed frame never reaches the views. */
export function validStateFrame(f) {
  if (!f || typeof f !== 'object' || Array.isArray(f) || f.type !== 'state') return false;
  if (!count(f.version) || f.version === 0 || !count(f.tag)) return false;
  if (!f.state || typeof f.state !== 'object' || Array.isArray(f.state)) return false;
  if (!validPods(f.set) || !validPods(f.full ? f.state.pods : null)) return false;
  if (f.gone !== undefined && f.gone !== null && !(Array.isArray(f.gone) && f.gone.every((k) => typeof k === 'string'))) return false;
  return true;
}
