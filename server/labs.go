package server

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wheelhouse-k8s/wheelhouse/labs"
)

// Labs is what the lab endpoints serve: the labs that loaded, the errors
// of those that did not, and what checks a learner's progress.
type Labs struct {
	Catalog *labs.Catalog
	// Errors are load errors, listed by GET /api/labs so an instructor
	// sees why a lab is missing.
	Errors []labs.LoadError
	// Checker evaluates a step's checks (a *labs.Engine); nil, when there
	// is no cluster (a replay), answers the check endpoint with 503.
	Checker LabChecker
	// Topology is the running cluster's (empty in a replay); a lab that
	// needs another says so, with RestartCommand's command line for it.
	Topology       string
	RestartCommand func(topology string) string

	checks checkCache
	// watches are the steps pages follow on their streams (labwatch.go).
	watchMu sync.Mutex
	watches map[checkKey]*checkWatch
}

// LabChecker evaluates a step's checks; *labs.Engine is one.
type LabChecker interface {
	Evaluate(ctx context.Context, lab *labs.Lab, step *labs.Step, since time.Time, lang string) labs.Result
}

// checkTimeout bounds one evaluation: the UI polls about once a second,
// and a stuck apiserver should answer with an error, not pile requests up.
const checkTimeout = 10 * time.Second

func (l *Labs) routes(r chi.Router) {
	r.Get("/api/labs", jsonAPI(l.list))
	r.Get("/api/labs/{id}", jsonAPI(l.get))
	r.Get("/api/labs/{id}/steps/{step}/check", jsonAPI(l.check))
}

type labSummary struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Summary  string `json:"summary"`
	Steps    int    `json:"steps"`
	Topology string `json:"topology,omitempty"`
}

type labList struct {
	Labs   []labSummary     `json:"labs"`
	Errors []labs.LoadError `json:"errors"`
}

type labDetail struct {
	ID string `json:"id"`
	// Topology is what the lab needs; TopologyNotice, when the cluster
	// is of another, says so and how to start the right one.
	Topology       string       `json:"topology,omitempty"`
	TopologyNotice string       `json:"topologyNotice,omitempty"`
	Title          string       `json:"title"`
	Summary        string       `json:"summary"`
	IntroHTML      string       `json:"introHtml"`
	Steps          []stepDetail `json:"steps"`
}

type stepDetail struct {
	ID       string        `json:"id"`
	Title    string        `json:"title"`
	Goal     string        `json:"goal"`
	HTML     string        `json:"html"`
	Commands []string      `json:"commands"`
	Hints    []string      `json:"hints"`
	Watch    []string      `json:"watch"`
	Checks   []checkDetail `json:"checks"`
}

type checkDetail struct {
	Description string `json:"description"`
}

// list serves GET /api/labs?lang=en|zh.
func (l *Labs) list(r *http.Request) (any, error) {
	lang := labs.Lang(r.URL.Query().Get("lang"))
	out := labList{Labs: []labSummary{}, Errors: l.Errors}
	if out.Errors == nil {
		out.Errors = []labs.LoadError{}
	}
	if l.Catalog != nil {
		for _, lab := range l.Catalog.Labs {
			out.Labs = append(out.Labs, labSummary{
				ID: lab.ID, Title: lab.Title.Get(lang), Summary: lab.Summary.Get(lang), Steps: len(lab.Steps), Topology: lab.Topology,
			})
		}
	}
	return out, nil
}

// get serves GET /api/labs/{id}?lang=en|zh.
func (l *Labs) get(r *http.Request) (any, error) {
	lang := labs.Lang(r.URL.Query().Get("lang"))
	lab, err := l.lab(r)
	if err != nil {
		return nil, err
	}
	out := labDetail{
		ID: lab.ID, Title: lab.Title.Get(lang), Summary: lab.Summary.Get(lang),
		IntroHTML: lab.IntroHTML.Get(lang), Steps: []stepDetail{}, Topology: lab.Topology,
	}
	if lab.Topology != "" && l.Topology != "" && lab.Topology != l.Topology {
		cmd := "wheelhouse up --topology " + lab.Topology
		if l.RestartCommand != nil {
			cmd = l.RestartCommand(lab.Topology)
		}
		out.TopologyNotice = labs.Text{
			EN: fmt.Sprintf("This lab needs the %s topology, and this cluster is %s. Stop Wheelhouse (Ctrl-C in its terminal) and start it again with:\n\n    %s\n\n(another data directory: each keeps the topology it was made in).", lab.Topology, l.Topology, cmd),
			ZH: fmt.Sprintf("本实验需要 %s 拓扑，而当前集群是 %s。请停止 Wheelhouse（在其终端按 Ctrl-C），然后用下面的命令重新启动：\n\n    %s\n\n（使用另一个数据目录：每个数据目录都保持创建时的拓扑）。", lab.Topology, l.Topology, cmd),
		}.Get(lang)
	}
	for _, s := range lab.Steps {
		sd := stepDetail{
			ID: s.ID, Title: s.Title.Get(lang), Goal: s.Goal.Get(lang), HTML: s.HTML.Get(lang),
			Commands: s.Commands, Hints: []string{}, Watch: s.Watch, Checks: []checkDetail{},
		}
		if sd.Commands == nil {
			sd.Commands = []string{}
		}
		if sd.Watch == nil {
			sd.Watch = []string{}
		}
		for _, h := range s.Hints {
			sd.Hints = append(sd.Hints, h.Get(lang))
		}
		for _, c := range s.Checks {
			sd.Checks = append(sd.Checks, checkDetail{Description: c.Description.Get(lang)})
		}
		out.Steps = append(out.Steps, sd)
	}
	return out, nil
}

// check serves GET /api/labs/{id}/steps/{step}/check?since=<unix ms>&lang=.
// A page follows its step on its stream instead (watchChecks); this
// answers the tools and pages that ask.
func (l *Labs) check(r *http.Request) (any, error) {
	q := r.URL.Query()
	lab, step, since, err := l.resolve(chi.URLParam(r, "id"), chi.URLParam(r, "step"), q.Get("since"))
	if err != nil {
		return nil, err
	}
	return l.evaluate(checkKey{lab.ID, step.ID, since, labs.Lang(q.Get("lang"))}, lab, step), nil
}

// checkFresh is how long one evaluation of a step's checks answers every
// page that asks for the same step, start time and language. Every page
// with a step open polls about once a second; in a classroom a hundred
// viewers follow the presenter's step, and they cost the apiserver one
// evaluation a second, not a hundred.
const checkFresh = 900 * time.Millisecond

type checkKey struct {
	lab, step string
	since     int64
	lang      string
}

type checkEntry struct {
	done chan struct{} // closed when res is set
	at   time.Time     // when the evaluation ended
	res  labs.Result
}

// checkCache shares evaluations between the pages that ask at about the
// same time, as singleflight does, and keeps each answer for checkFresh.
type checkCache struct {
	mu      sync.Mutex
	entries map[checkKey]*checkEntry
}

func (c *checkCache) get(k checkKey, eval func() labs.Result) labs.Result {
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[checkKey]*checkEntry{}
	}
	now := time.Now()
	e := c.entries[k]
	if e != nil {
		select {
		case <-e.done:
			if now.Sub(e.at) > checkFresh {
				e = nil // stale: evaluate again
			}
		default: // being evaluated: wait for it
		}
	}
	if e == nil {
		for key, old := range c.entries { // forget answers nobody asks for
			select {
			case <-old.done:
				if now.Sub(old.at) > 10*checkFresh {
					delete(c.entries, key)
				}
			default:
			}
		}
		e = &checkEntry{done: make(chan struct{})}
		c.entries[k] = e
		c.mu.Unlock()
		e.res = eval()
		e.at = time.Now()
		close(e.done)
		return e.res
	}
	c.mu.Unlock()
	<-e.done
	return e.res
}

func (l *Labs) lab(r *http.Request) (*labs.Lab, error) {
	id := chi.URLParam(r, "id")
	lab := l.Catalog.Lab(id)
	if lab == nil {
		return nil, apiError{http.StatusNotFound, fmt.Errorf("no lab %q", id)}
	}
	return lab, nil
}
