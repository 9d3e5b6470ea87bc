package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/websocket"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/bus"
)

// Trace is what the trace endpoints serve: a live bus (or a replayed one)
// and, optionally, the details an inspector asks for.
type Trace struct {
	Bus *bus.Bus
	// Detail adds kind-specific details to one event (for an etcd write:
	// the stored object and what changed), hiding Secret values unless
	// reveal; nil serves the event alone.
	Detail func(ctx context.Context, ev tracing.Event, reveal bool) (map[string]any, error)
	// Queue is each stream client's buffer (default bus.DefaultQueue).
	Queue int
	// State, when set, is sent on the streams that ask for it
	// (?state=true): the pages' nodes and pods, on the same connection as
	// the events, so a page has one ordered source and polls nothing.
	State *StateFeed

	frames frameCache
	// labs, when the server has labs, follows the step a page's stream
	// asks about (set by Handler).
	labs *Labs
}

// frameCacheSize is how many recent events' frames are kept encoded. The
// streams of a classroom's viewers are at about the same place, so a few
// thousand cover them all.
const frameCacheSize = 8192

// frameCache keeps the JSON of recent events, so that a hundred viewers'
// streams encode each event once, not a hundred times: encoding, not
// writing, is most of what a stream costs. An event is the same for every
// stream (filters choose events, they do not change them; Secret values
// never are in an event). A dropped-events marker is a stream's own, and
// is encoded for it alone.
type frameCache struct {
	mu   sync.Mutex
	seqs [frameCacheSize]uint64
	data [frameCacheSize][]byte
}

func (c *frameCache) frame(ev tracing.Event) ([]byte, error) {
	if ev.Seq == 0 || ev.Kind == tracing.KindDropped {
		return json.Marshal(ev)
	}
	i := ev.Seq % frameCacheSize
	c.mu.Lock()
	if c.seqs[i] == ev.Seq {
		b := c.data[i]
		c.mu.Unlock()
		return b, nil
	}
	c.mu.Unlock()
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.seqs[i], c.data[i] = ev.Seq, b
	c.mu.Unlock()
	return b, nil
}

const (
	// writeWait bounds one write to a stream client. A client that stops
	// reading is not cut off quickly: its events are dropped (and it is
	// told how many) while it stalls, and it gets the rest when it reads
	// again.
	writeWait  = 60 * time.Second
	pingPeriod = 20 * time.Second
)

func (t *Trace) routes(r chi.Router, token string) {
	r.Get("/ws/trace", t.stream)
	r.Get("/api/flows", t.flows)
	r.Get("/api/events/{seq}", func(w http.ResponseWriter, r *http.Request) { t.event(w, r, isAdmin(r, token)) })
}

// upgrader accepts same-origin browsers and clients that send no Origin
// (command-line tools); gorilla's default origin check does exactly that.
var upgrader = websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 32 << 10}

// stream serves GET /ws/trace: the backlog after ?since=, then live events,
// as JSON text frames. With ?state=true the cluster's state comes on the
// same connection (state.go), and a page that sends {"check": {...}} gets
// that lab step's check results pushed as they change (labwatch.go): a
// page needs no other connection and polls nothing.
func (t *Trace) stream(w http.ResponseWriter, r *http.Request) {
	query := streamQuery(r)
	withState, parseErr := takeBool(query, "state")
	filter, since, err := bus.ParseQuery(query)
	if parseErr == nil {
		parseErr = err
	}
	// Subscribe before the handshake completes, so that every event
	// published after the client's dial returns reaches it.
	var sub *bus.Subscription
	if parseErr == nil {
		sub = t.Bus.Subscribe(filter, since, t.Queue)
		defer sub.Close()
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered (403 for a foreign Origin)
	}
	defer conn.Close()
	if parseErr != nil {
		// Say what was wrong in the protocol the client speaks, then close.
		_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_ = conn.WriteJSON(tracing.Event{Kind: tracing.KindError, Time: time.Now(), Summary: parseErr.Error()})
		_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, truncate(parseErr.Error(), 120)))
		return
	}
	// Bound what the kernel buffers for this client too: a client that
	// stops reading should fall behind in the subscription queue, where it
	// is counted and told, not in megabytes of socket buffer.
	if tcp, ok := conn.NetConn().(*net.TCPConn); ok {
		_ = tcp.SetWriteBuffer(256 << 10)
	}

	// The reader notices the client going away, and passes on which lab
	// step's checks the page follows ({"check": {...}} or {"check": null});
	// anything else it sends is ignored.
	gone := make(chan struct{})
	checkReqs := make(chan checkMessage, 1)
	go func() {
		defer close(gone)
		conn.SetReadLimit(4096)
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			req, ok := checkMessageIn(data)
			if !ok {
				continue
			}
			select { // the newest request replaces one not yet taken
			case <-checkReqs:
			default:
			}
			checkReqs <- req
		}
	}()
	ping := time.NewTicker(pingPeriod)
	defer ping.Stop()
	events := sub.C()
	var stateWake <-chan struct{} // nil (never ready) without state
	var stateVersion uint64
	if withState && t.State != nil {
		wake, stop := t.State.watch()
		defer stop()
		stateWake = wake
	}
	var checkResults <-chan []byte // nil (never ready) while no step is followed
	stopChecks := func() {}
	defer func() { stopChecks() }()
	write := func(frame []byte) error {
		_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
		return conn.WriteMessage(websocket.TextMessage, frame)
	}
	for {
		select {
		case msg := <-checkReqs:
			stopChecks()
			var refused []byte
			checkResults, stopChecks, refused = t.followChecks(msg)
			if refused != nil && write(refused) != nil {
				return
			}
		case frame := <-checkResults:
			if write(frame) != nil {
				return
			}
		case <-stateWake:
			frames, now := t.State.framesAfter(stateVersion)
			for _, frame := range frames {
				if write(frame) != nil {
					return
				}
			}
			stateVersion = now
		case ev, ok := <-events:
			if !ok {
				return
			}
			frame, err := t.frames.frame(ev)
			if err != nil || write(frame) != nil {
				return
			}
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				return
			}
		case <-gone:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// checkMessage is a page's {"check": ...}: a step to follow, nil to stop,
// or why the request could not be read.
type checkMessage struct {
	req *CheckRequest
	err error
}

// checkMessageIn reads a page's message; ok is false for one that is not
// a check request at all (ignored).
func checkMessageIn(data []byte) (checkMessage, bool) {
	var msg map[string]json.RawMessage
	if json.Unmarshal(data, &msg) != nil {
		return checkMessage{}, false
	}
	raw, ok := msg["check"]
	if !ok {
		return checkMessage{}, false
	}
	var req *CheckRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return checkMessage{err: fmt.Errorf(`a check request is {"lab": "…", "step": "…", "since": <ms since 1970, an integer>, "lang": "en"|"zh"} or null: %v`, err)}, true
	}
	return checkMessage{req: req}, true
}

// followChecks starts following a message's step for one stream (none
// for nil): the channel of its result frames and the function that stops
// it, or the frame that refuses it.
func (t *Trace) followChecks(msg checkMessage) (<-chan []byte, func(), []byte) {
	none := func() {}
	switch {
	case msg.err != nil:
		return nil, none, checkRefusal(CheckRequest{}, msg.err.Error())
	case msg.req == nil:
		return nil, none, nil
	case t.labs == nil:
		return nil, none, checkRefusal(*msg.req, "this server has no labs")
	}
	return t.labs.watchChecks(*msg.req)
}

// streamQuery is a trace request's query without the access parameters
// (?token=, ?viewer=), which the access rules have read; the rest is the
// stream's filter, where an unknown name is an error.
func streamQuery(r *http.Request) url.Values {
	q := r.URL.Query()
	q.Del("token")
	q.Del(ViewerParam)
	return q
}

// takeBool reads and removes a true/false parameter of the query (absent
// is false).
func takeBool(q url.Values, name string) (bool, error) {
	v, ok := q[name]
	if !ok {
		return false, nil
	}
	q.Del(name)
	if len(v) != 1 {
		return false, fmt.Errorf("%s is given more than once", name)
	}
	b, err := strconv.ParseBool(v[0])
	if err != nil {
		return false, fmt.Errorf("%s must be true or false, not %q", name, v[0])
	}
	return b, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// flows serves GET /api/flows?object=pods/default/nginx: every stored event
// about one object, in causal (seq) order.
func (t *Trace) flows(w http.ResponseWriter, r *http.Request) {
	filter, since, err := bus.ParseQuery(streamQuery(r))
	if err == nil && filter.Object == "" {
		err = errors.New("object is required, e.g. ?object=pods/default/nginx")
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if since == bus.Live {
		since = 0 // a flow is everything stored about the object
	}
	events := t.Bus.Events(filter, since, 0)
	if events == nil {
		events = []tracing.Event{}
	}
	writeJSON(w, map[string]any{"object": filter.Object, "events": events})
}

// event serves GET /api/events/{seq}: one event with its details, a
// Secret's values hidden unless reveal.
func (t *Trace) event(w http.ResponseWriter, r *http.Request, reveal bool) {
	seq, err := strconv.ParseUint(chi.URLParam(r, "seq"), 10, 64)
	if err != nil || seq == 0 {
		writeError(w, http.StatusBadRequest, errors.New("seq must be a positive integer"))
		return
	}
	ev, ok := t.Bus.Get(seq)
	if !ok {
		writeError(w, http.StatusNotFound, errors.New("no such event (it may have left the buffer)"))
		return
	}
	out := map[string]any{"event": ev}
	if t.Detail != nil {
		details, err := t.Detail(r.Context(), ev, reveal)
		if err != nil {
			out["detailError"] = err.Error()
		}
		for k, v := range details {
			out[k] = v
		}
	}
	writeJSON(w, out)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
