package bus

import (
	"context"
	"sync"
	"testing"

	"github.com/wheelhouse-k8s/wheelhouse/tracing"
)

// benchEvent is a typical http event as a collector publishes it.
func benchEvent() tracing.Event {
	return tracing.Event{
		Kind: tracing.KindHTTP, From: "kubelet/node-1", To: tracing.APIServer,
		Verb: "patch", Resource: "pods", Subresource: "status", Namespace: "default", Name: "nginx-7c5ddbdf54-x2x9k",
		RV: "12345", Status: "200", LatencyMs: 1.7, Summary: "kubelet/node-1 patched pods/default/nginx status",
		Detail: map[string]any{"path": "/api/v1/namespaces/default/pods/nginx/status", "userAgent": "kubelet/v1.37.2", "user": "system:node:node-1"},
	}
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkPublishNoSubscribers(b *testing.B) {
	bus := New(0)
	e := benchEvent()
	b.ReportAllocs()
	for b.Loop() {
		bus.Publish(e)
	}
	reportRate(b)
}

// benchSubscribers publishes with reading subscribers draining C (or
// calling Next, with useNext) in their own goroutines and stalled ones that
// never read (their queues fill and every further event is a counted drop).
// events/s is the publisher's rate while the readers compete with it for
// the CPUs.
func benchSubscribers(b *testing.B, reading, stalled int, useNext bool) {
	bus := New(0)
	var wg sync.WaitGroup
	var subs []*Subscription
	for range reading {
		s := bus.Subscribe(Filter{}, Live, 0)
		subs = append(subs, s)
		if useNext {
			wg.Go(func() {
				for {
					if _, err := s.Next(context.Background()); err != nil {
						return
					}
				}
			})
			continue
		}
		ch := s.C()
		wg.Go(func() {
			for range ch {
			}
		})
	}
	for range stalled {
		subs = append(subs, bus.Subscribe(Filter{}, Live, 0))
	}
	e := benchEvent()
	b.ReportAllocs()
	for b.Loop() {
		bus.Publish(e)
	}
	reportRate(b)
	var dropped uint64
	for _, s := range subs[:reading] {
		dropped += s.Dropped()
	}
	if reading > 0 {
		// How often a reader could not keep up (it competes with the
		// publisher for CPUs); Publish is unaffected either way.
		b.ReportMetric(float64(dropped)/float64(reading)/float64(b.N), "readerDrops/event")
	}
	for _, s := range subs {
		s.Close()
	}
	wg.Wait()
}

func BenchmarkPublish50Subscribers(b *testing.B) { benchSubscribers(b, 50, 0, false) }

// The same readers calling Next directly: no feeding goroutine per
// subscriber, so less competition for the publisher.
func BenchmarkPublish50SubscribersNext(b *testing.B) { benchSubscribers(b, 50, 0, true) }

// Stalled subscribers must not slow publishing much: an event for them is a
// filter match, a length check and a counter increment.
func BenchmarkPublish50Subscribers10Stalled(b *testing.B) { benchSubscribers(b, 40, 10, false) }

func BenchmarkPublish50StalledSubscribers(b *testing.B) { benchSubscribers(b, 0, 50, false) }

// Concurrent publishers, as the apiserver's request goroutines are.
func BenchmarkPublishParallel(b *testing.B) {
	bus := New(0)
	e := benchEvent()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			bus.Publish(e)
		}
	})
	reportRate(b)
}
