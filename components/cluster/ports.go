package cluster

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
)

// portClaim is a port the cluster is about to listen on, and the flag
// that moves it.
type portClaim struct {
	host string
	port int
	what string
	flag string
}

// ErrPortInUse is returned when a port the cluster needs is taken.
var ErrPortInUse = errors.New("port in use")

// listen claims a port for a component to serve on.
func listen(c portClaim) (net.Listener, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(c.host, strconv.Itoa(c.port)))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%w: port %d (%s) is already in use on %s; choose another with %s", ErrPortInUse, c.port, c.what, c.host, c.flag)
		}
		return nil, fmt.Errorf("cannot listen on %s:%d for %s: %w", c.host, c.port, c.what, err)
	}
	return l, nil
}

// checkPorts fails at once, before anything starts, if a port is taken:
// a clear message now beats a component failing halfway through start-up.
func checkPorts(claims []portClaim) error {
	for _, c := range claims {
		l, err := listen(c)
		if err != nil {
			return err
		}
		l.Close()
	}
	return nil
}
