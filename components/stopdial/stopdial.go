// Package stopdial gives an in-process component's API clients one
// connection dialer that dies with the component. A component that really
// stops loses its connections; in one shared process some Kubernetes
// components leave informers running with wait.NeverStop, which would keep
// watching (and keep the apiserver from shutting down) after their
// component stopped. Closing every connection when ctx ends, and refusing
// new ones, makes the stop real.
package stopdial

import (
	"context"
	"fmt"
	"net"
	"time"

	"k8s.io/client-go/util/connrotation"
)

// New returns a dialer for rest.Config.Dial that works until ctx ends,
// then closes every connection it made and refuses new ones.
func New(ctx context.Context, component string) *connrotation.Dialer {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	dialer := connrotation.NewDialer(func(dialCtx context.Context, network, address string) (net.Conn, error) {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("dial %s: %s has stopped", address, component)
		}
		return d.DialContext(dialCtx, network, address)
	})
	context.AfterFunc(ctx, dialer.CloseAll)
	return dialer
}
