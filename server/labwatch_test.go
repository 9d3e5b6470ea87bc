package server

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wheelhouse-k8s/wheelhouse/labs"
	"github.com/wheelhouse-k8s/wheelhouse/tracing/bus"
)

// switchChecker passes once told to, and counts its evaluations.
type switchChecker struct {
	evals atomic.Int32
	pass  atomic.Bool
}

func (c *switchChecker) Evaluate(_ context.Context, _ *labs.Lab, step *labs.Step, _ time.Time, lang string) labs.Result {
	c.evals.Add(1)
	msg := "not yet"
	if lang == labs.Lang("zh") {
		msg = "还没有"
	}
	return labs.Result{Passed: c.pass.Load(), Checks: []labs.CheckResult{{Description: step.ID, Passed: c.pass.Load(), Message: msg}}}
}

func readCheckFrame(t *testing.T, conn *websocket.Conn) checkFrame {
	t.Helper()
	var f checkFrame
	if err := json.Unmarshal(readTyped(t, conn, "check"), &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// Pages that follow the same step on their streams share one evaluation
// a second, get each new result pushed, and stop costing anything when
// they leave; a request for no such step is answered on the stream.
func TestStepChecksArePushedToEveryPageFollowingThem(t *testing.T) {
	cat, errs := testLabs(t)
	checker := &switchChecker{}
	l := &Labs{Catalog: cat, Errors: errs, Checker: checker}
	srv := httptest.NewServer(Handler(Options{Trace: &Trace{Bus: bus.New(10)}, Labs: l}))
	t.Cleanup(srv.Close)
	dial := func() *websocket.Conn {
		conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws/trace", nil)
		if err != nil {
			t.Fatalf("dialling: %v %v", resp, err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	follow := `{"check":{"lab":"first","step":"01-run","since":1000,"lang":"en"}}`
	pages := make([]*websocket.Conn, 20)
	for i := range pages {
		pages[i] = dial()
		if err := pages[i].WriteMessage(websocket.TextMessage, []byte(follow)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for _, p := range pages {
		wg.Go(func() {
			f := readCheckFrame(t, p)
			if f.Lab != "first" || f.Step != "01-run" || f.Since != 1000 || f.Res == nil || f.Res.Passed || f.Res.Checks[0].Message != "not yet" {
				t.Errorf("first result: %+v", f)
			}
		})
	}
	wg.Wait()
	if l.watching() != 1 {
		t.Errorf("20 pages on one step: %d steps followed, want 1", l.watching())
	}
	before := checker.evals.Load()
	checker.pass.Store(true)
	for _, p := range pages {
		wg.Go(func() {
			if f := readCheckFrame(t, p); f.Res == nil || !f.Res.Passed {
				t.Errorf("after the step passed: %+v", f)
			}
		})
	}
	wg.Wait()
	if n := checker.evals.Load() - before; n > 3 {
		t.Errorf("20 pages: %d evaluations until the pass reached them all, want about one a second", n)
	}

	// Another language is another evaluation; stopping ends the following.
	zh := dial()
	_ = zh.WriteMessage(websocket.TextMessage, []byte(`{"check":{"lab":"first","step":"01-run","since":1000,"lang":"zh"}}`))
	checker.pass.Store(false)
	if f := readCheckFrame(t, zh); f.Lang != "zh" || f.Res == nil || f.Res.Checks[0].Message != "还没有" {
		t.Errorf("zh: %+v", f)
	}
	if n := l.watching(); n != 2 {
		t.Errorf("one step in two languages: %d watches, want 2", n)
	}
	for _, p := range append(pages, zh) {
		_ = p.WriteMessage(websocket.TextMessage, []byte(`{"check":null}`))
	}
	deadline := time.Now().Add(5 * time.Second)
	for l.watching() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := l.watching(); n != 0 {
		t.Errorf("after every page stopped: %d steps still followed", n)
	}
	time.Sleep(2 * checkEvery)
	settled := checker.evals.Load()
	time.Sleep(2 * checkEvery)
	if n := checker.evals.Load(); n != settled {
		t.Errorf("%d evaluations after nobody followed the step", n-settled)
	}

	// No such step: said on the stream, and the stream goes on.
	bad := dial()
	_ = bad.WriteMessage(websocket.TextMessage, []byte(`{"check":{"lab":"first","step":"09-nope","since":1000,"lang":"en"}}`))
	if f := readCheckFrame(t, bad); !strings.Contains(f.Error, `no step "09-nope"`) || f.Res != nil {
		t.Errorf("unknown step: %+v", f)
	}
	_ = bad.WriteMessage(websocket.TextMessage, []byte(`{"check":{"lab":"first","step":"01-run","since":-5,"lang":"en"}}`))
	if f := readCheckFrame(t, bad); !strings.Contains(f.Error, "since") {
		t.Errorf("negative since: %+v", f)
	}
	_ = bad.WriteMessage(websocket.TextMessage, []byte(follow))
	if f := readCheckFrame(t, bad); f.Res == nil {
		t.Fatalf("following after a refusal: %+v", f)
	}
	// A request that cannot be read is answered; it stops the last one.
	_ = bad.WriteMessage(websocket.TextMessage, []byte(`{"check":{"lab":"first","step":"01-run","since":1.5,"lang":"en"}}`))
	if f := readCheckFrame(t, bad); !strings.Contains(f.Error, "since") || f.Res != nil {
		t.Errorf("since 1.5: %+v", f)
	}
	_ = bad.WriteMessage(websocket.TextMessage, []byte(follow))
	if f := readCheckFrame(t, bad); f.Res == nil {
		t.Fatalf("following again: %+v", f)
	}
	// Messages that are not check requests change nothing.
	for _, m := range []string{`not json at all`, `{}`, `{"foo": 1}`, `null`} {
		_ = bad.WriteMessage(websocket.TextMessage, []byte(m))
	}
	time.Sleep(200 * time.Millisecond)
	if l.watching() != 1 {
		t.Errorf("after messages that are not requests: %d steps followed, want still 1", l.watching())
	}
	_ = bad.WriteMessage(websocket.TextMessage, []byte(`{"check":null}`))
	_ = bad.WriteMessage(websocket.TextMessage, []byte(follow))
	if f := readCheckFrame(t, bad); f.Res == nil {
		t.Errorf("after a malformed message the stream still follows a step: %+v", f)
	}
	// A page that goes away while following stops costing anything.
	bad.Close()
	deadline = time.Now().Add(5 * time.Second)
	for l.watching() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := l.watching(); n != 0 {
		t.Errorf("after the following page closed: %d steps still followed", n)
	}
}

// A watched step is evaluated about every checkEvery, even when each
// evaluation takes a while (an answer stays fresh for checkFresh after
// it ended).
func TestAWatchedStepIsEvaluatedEverySecond(t *testing.T) {
	cat, errs := testLabs(t)
	checker := &slowChecker{}
	l := &Labs{Catalog: cat, Errors: errs, Checker: checker}
	sub, stop, refused := l.watchChecks(CheckRequest{Lab: "first", Step: "01-run", Since: 1000, Lang: "en"})
	if refused != nil {
		t.Fatalf("refused: %s", refused)
	}
	<-sub
	time.Sleep(4*checkEvery + checkEvery/2)
	stop()
	if n := checker.evals.Load(); n < 4 {
		t.Errorf("%d evaluations in 4.5 s with 150 ms each, want about 5", n)
	}
}

type slowChecker struct{ evals atomic.Int32 }

func (c *slowChecker) Evaluate(context.Context, *labs.Lab, *labs.Step, time.Time, string) labs.Result {
	c.evals.Add(1)
	time.Sleep(150 * time.Millisecond)
	return labs.Result{Checks: []labs.CheckResult{{Message: time.Now().String()}}}
}
