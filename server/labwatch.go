package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/wheelhouse-k8s/wheelhouse/labs"
)

// checkEvery is how often a watched step's checks are evaluated while a
// page has it open.
const checkEvery = time.Second

// CheckRequest is what a page sends on its stream to follow one step's
// checks ({"check": {...}}; {"check": null} stops).
type CheckRequest struct {
	Lab   string `json:"lab"`
	Step  string `json:"step"`
	Since int64  `json:"since"` // when the step began, ms since 1970
	Lang  string `json:"lang"`
}

// checkFrame is a step's check result on the stream: pushed when it
// changes, to every page that has that step open.
type checkFrame struct {
	Type  string       `json:"type"` // "check"
	Lab   string       `json:"lab"`
	Step  string       `json:"step"`
	Since int64        `json:"since"`
	Lang  string       `json:"lang"`
	Error string       `json:"error,omitempty"`
	Res   *labs.Result `json:"result,omitempty"`
}

// checkWatch is one step's evaluations, shared by the pages watching it.
type checkWatch struct {
	subs map[chan []byte]struct{}
	last []byte        // the newest frame, for a page that joins
	quit chan struct{} // closed when the last page leaves
}

// resolve finds a step's lab and step, and reads since (when the step
// began, in ms since 1970), as the check endpoint and the streams ask.
func (l *Labs) resolve(labID, stepID, since string) (*labs.Lab, *labs.Step, int64, error) {
	lab := l.Catalog.Lab(labID)
	if lab == nil {
		return nil, nil, 0, apiError{http.StatusNotFound, fmt.Errorf("no lab %q", labID)}
	}
	step := lab.Step(stepID)
	if step == nil {
		return nil, nil, 0, apiError{http.StatusNotFound, fmt.Errorf("lab %s has no step %q", lab.ID, stepID)}
	}
	ms, err := strconv.ParseInt(since, 10, 64)
	if err != nil || ms < 0 {
		return nil, nil, 0, badRequest(fmt.Sprintf("since=%q: want the time the step began, in milliseconds since 1970 (a non-negative integer)", since))
	}
	if l.Checker == nil {
		return nil, nil, 0, apiError{http.StatusServiceUnavailable, errors.New("no cluster to check against: this is a replay")}
	}
	return lab, step, ms, nil
}

// checkRefusal is the frame that answers a stream's request it cannot
// follow.
func checkRefusal(req CheckRequest, why string) []byte {
	b, _ := json.Marshal(checkFrame{Type: "check", Lab: req.Lab, Step: req.Step, Since: req.Since, Lang: labs.Lang(req.Lang), Error: why})
	return b
}

// evaluate is one evaluation of a step's checks, shared with every page
// that asks at about the same time (checkCache) and detached from them
// all: one page leaving must not cancel it for the others.
func (l *Labs) evaluate(k checkKey, lab *labs.Lab, step *labs.Step) labs.Result {
	return l.checks.get(k, func() labs.Result {
		ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
		defer cancel()
		return l.Checker.Evaluate(ctx, lab, step, time.UnixMilli(k.since), k.lang)
	})
}

// watchChecks follows a step's checks for one stream: the returned
// channel holds the newest result frame (a newer one replaces one not yet
// taken), and stop ends the following. The step is evaluated every
// checkEvery while at least one page follows it, once for all of them.
// A request for no such lab or step returns the frame saying so.
func (l *Labs) watchChecks(req CheckRequest) (<-chan []byte, func(), []byte) {
	lab, step, since, err := l.resolve(req.Lab, req.Step, strconv.FormatInt(req.Since, 10))
	if err != nil {
		return nil, func() {}, checkRefusal(req, err.Error())
	}
	k := checkKey{lab.ID, step.ID, since, labs.Lang(req.Lang)}
	sub := make(chan []byte, 1)
	l.watchMu.Lock()
	if l.watches == nil {
		l.watches = map[checkKey]*checkWatch{}
	}
	w := l.watches[k]
	if w == nil {
		w = &checkWatch{subs: map[chan []byte]struct{}{}, quit: make(chan struct{})}
		l.watches[k] = w
		go l.runWatch(k, w, lab, step)
	}
	w.subs[sub] = struct{}{}
	if w.last != nil {
		sub <- w.last
	}
	l.watchMu.Unlock()
	return sub, func() {
		l.watchMu.Lock()
		defer l.watchMu.Unlock()
		if _, ok := w.subs[sub]; !ok {
			return
		}
		delete(w.subs, sub)
		if len(w.subs) == 0 {
			close(w.quit)
			delete(l.watches, k)
		}
	}, nil
}

// runWatch evaluates a watched step until nobody follows it, and sends
// each result that differs from the last to every follower.
func (l *Labs) runWatch(k checkKey, w *checkWatch, lab *labs.Lab, step *labs.Step) {
	// checkEvery after each evaluation ends, not on a ticker: an answer
	// stays fresh in checkCache for checkFresh after its evaluation ended,
	// so a ticker would find every other tick's answer still fresh when
	// evaluations take a while.
	wait := time.NewTimer(checkEvery)
	defer wait.Stop()
	for {
		res := l.evaluate(k, lab, step)
		frame, err := json.Marshal(checkFrame{Type: "check", Lab: k.lab, Step: k.step, Since: k.since, Lang: k.lang, Res: &res})
		if err == nil {
			l.watchMu.Lock()
			if !bytes.Equal(frame, w.last) {
				w.last = frame
				for sub := range w.subs {
					offer(sub, frame)
				}
			}
			l.watchMu.Unlock()
		}
		wait.Reset(checkEvery)
		select {
		case <-w.quit:
			return
		case <-wait.C:
		}
	}
}

// offer puts frame in a one-slot channel, replacing what its reader has
// not taken yet: a page needs the newest result, not every one.
func offer(ch chan []byte, frame []byte) {
	for {
		select {
		case ch <- frame:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

// watching is how many steps are being followed (for tests).
func (l *Labs) watching() int {
	l.watchMu.Lock()
	defer l.watchMu.Unlock()
	return len(l.watches)
}
