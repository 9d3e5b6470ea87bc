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
	// classroom, when Wheelhouse runs one, carries the presenter's
	// teaching state on the pages' streams; token tells the presenter
	// (set by Handler).
	classroom *Classroom
	token     string
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
// same connection (state.go), a page that sends {"check": {...}} gets
// that lab step's check results pushed as they change (labwatch.go), and
// in a classroom ?classroom=true brings the presenter's teaching state
// (classroom.go): a page needs no other connection and polls nothing.
func (t *Trace) stream(w http.ResponseWriter, r *http.Request) {
	query := streamQuery(r)
	withState, parseErr := takeBool(query, "state")
	batched, err := takeBool(query, "batch")
	if parseErr == nil {
		parseErr = err
	}
	inClass, err := takeBool(query, "classroom")
	if parseErr == nil {
		parseErr = err
	}
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

	// In a classroom every stream opened with a key is a member (a
	// presenter or a viewer), so that a rotated viewer key ends it; one
	// that asked for ?classroom=true also gets the classroom's frames.
	var ending sync.Once
	end := func(code int, reason string) { // from any goroutine
		ending.Do(func() {
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
			_ = conn.Close()
		})
	}
	var class *member
	var classWake <-chan struct{} // nil (never ready) outside a classroom
	if t.classroom != nil {
		m, leave, ok := t.classroom.join(r, t.token, inClass, end)
		if !ok {
			return
		}
		defer leave()
		class, classWake = m, m.wake
	}

	// The reader notices the client going away, and takes what the page
	// says: which lab step's checks it follows ({"check": {...}} or
	// {"check": null}) and, from a presenter, its teaching state
	// ({"teach": {...}}); anything else is ignored.
	gone := make(chan struct{})
	checkReqs := make(chan checkMessage, 1)
	go func() {
		defer close(gone)
		conn.SetReadLimit(maxTeachingState + 1024)
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			msg := pageMessageIn(data)
			if msg.teach != nil && class != nil {
				t.classroom.teach(class, msg.teach)
			}
			if msg.check == nil {
				continue
			}
			select { // the newest request replaces one not yet taken
			case <-checkReqs:
			default:
			}
			checkReqs <- *msg.check
		}
	}()
	ping := time.NewTicker(pingPeriod)
	defer ping.Stop()
	// Events come in batches of what is waiting, and with ?batch=true go
	// out as one frame per batch (a JSON array): under load a client gets
	// one frame where it would get dozens, which is what lets one process
	// feed a classroom of browsers on two cores.
	events := sub.Batches(maxBatch)
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
		case <-classWake:
			for _, frame := range t.classroom.frames(class) {
				if write(frame) != nil {
					return
				}
			}
		case <-stateWake:
			frames, now := t.State.framesAfter(stateVersion)
			for _, frame := range frames {
				if write(frame) != nil {
					return
				}
			}
			stateVersion = now
		case evs, ok := <-events:
			if !ok {
				return
			}
			open := true
			if batched {
				evs, open = gather(evs, events)
			}
			if t.writeEvents(conn, evs, batched) != nil || !open {
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

// maxBatch bounds the events the subscription hands over at once; a
// frame holds fewer than twice as many (gather adds whole batches), so a
// client catching up on a long backlog gets it in frames of a few hundred
// kilobytes at most.
const maxBatch = 256

// batchLinger is how long a batched stream waits, after an event, for the
// events that follow it before it writes. A busy cluster publishes
// hundreds of events a second in bursts; without the wait each of a
// hundred viewers' writers would wake, write and make its browser read for
// nearly every one of them, and on a machine of two cores those wake-ups,
// not the bytes, decide how late the hundredth viewer is. A person does
// not see 10 ms.
const batchLinger = 10 * time.Millisecond

// gather adds to evs the batches that arrive within batchLinger, until it
// holds maxBatch events or more; open is false if the subscription ended
// meanwhile.
func gather(evs []tracing.Event, more <-chan []tracing.Event) (_ []tracing.Event, open bool) {
	if len(evs) >= maxBatch {
		return evs, true
	}
	linger := time.NewTimer(batchLinger)
	defer linger.Stop()
	for len(evs) < maxBatch {
		select {
		case next, ok := <-more:
			if !ok {
				return evs, false
			}
			evs = append(evs, next...)
		case <-linger.C:
			return evs, true
		}
	}
	return evs, true
}

// writeEvents sends evs: with batched, as one JSON array in one frame,
// otherwise a frame each.
func (t *Trace) writeEvents(conn *websocket.Conn, evs []tracing.Event, batched bool) error {
	_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
	if !batched {
		for _, ev := range evs {
			frame, err := t.frames.frame(ev)
			if err != nil {
				return err
			}
			if err := conn.WriteMessage(websocket.TextMessage, frame); err != nil {
				return err
			}
		}
		return nil
	}
	w, err := conn.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	sep := []byte{'['}
	for _, ev := range evs {
		frame, err := t.frames.frame(ev)
		if err != nil {
			// Not Close: that would send the array cut short. The
			// caller ends the connection.
			return err
		}
		if _, err := w.Write(sep); err != nil {
			return err
		}
		if _, err := w.Write(frame); err != nil {
			return err
		}
		sep = []byte{','}
	}
	if _, err := w.Write([]byte{']'}); err != nil {
		return err
	}
	return w.Close()
}

// checkMessage is a page's {"check": ...}: a step to follow, nil to stop,
// or why the request could not be read.
type checkMessage struct {
	req *CheckRequest
	err error
}

// pageMessage is what a page sends on its stream: a check request, a
// teaching state, both or neither.
type pageMessage struct {
	check *checkMessage
	teach json.RawMessage
}

// pageMessageIn reads a page's message; what it does not know is ignored.
func pageMessageIn(data []byte) pageMessage {
	var msg map[string]json.RawMessage
	if json.Unmarshal(data, &msg) != nil {
		return pageMessage{}
	}
	var out pageMessage
	if raw, ok := msg["teach"]; ok {
		out.teach = raw
	}
	raw, ok := msg["check"]
	if !ok {
		return out
	}
	var req *CheckRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		out.check = &checkMessage{err: fmt.Errorf(`a check request is {"lab": "…", "step": "…", "since": <ms since 1970, an integer>, "lang": "en"|"zh"} or null: %v`, err)}
		return out
	}
	out.check = &checkMessage{req: req}
	return out
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
