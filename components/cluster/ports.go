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

// checkPorts fails at once, before anything starts, if a port is taken:
// a clear message now beats a component failing halfway through start-up.
func checkPorts(claims []portClaim) error {
	for _, c := range claims {
		addr := net.JoinHostPort(c.host, strconv.Itoa(c.port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("%w: port %d (%s) is already in use on %s; choose another with %s", ErrPortInUse, c.port, c.what, c.host, c.flag)
			}
			return fmt.Errorf("cannot listen on %s for %s: %w", addr, c.what, err)
		}
		l.Close()
	}
	return nil
}
