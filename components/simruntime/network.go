package simruntime

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ipam hands out pod IPs from the node's pod CIDR(s) the way the
// host-local CNI plugin does: the network address, the gateway (.1) and
// the IPv4 broadcast address are never used, and allocation continues
// after the last address handed out, so a recreated pod usually gets a
// new IP, as it does in a real cluster.
type ipam struct {
	prefixes  []netip.Prefix
	last      []netip.Addr
	allocated map[netip.Addr]string // address -> sandbox id
}

var errNoCIDR = errors.New("no pod CIDR")

// setCIDRs takes the kubelet's pod_cidr, which is one CIDR or, on
// dual-stack nodes, a comma-separated pair.
func (a *ipam) setCIDRs(s string) (changed bool, err error) {
	var ps []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return false, fmt.Errorf("invalid pod CIDR %q: %w", part, err)
		}
		ps = append(ps, p.Masked())
	}
	if len(ps) == 0 {
		return false, nil
	}
	if len(ps) == len(a.prefixes) {
		same := true
		for i := range ps {
			same = same && ps[i] == a.prefixes[i]
		}
		if same {
			return false, nil
		}
	}
	a.prefixes = ps
	a.last = make([]netip.Addr, len(ps))
	return true, nil
}

func (a *ipam) cidrs() string {
	var s []string
	for _, p := range a.prefixes {
		s = append(s, p.String())
	}
	return strings.Join(s, ",")
}

// allocate returns one address per configured family.
func (a *ipam) allocate(owner string) ([]netip.Addr, error) {
	if len(a.prefixes) == 0 {
		return nil, errNoCIDR
	}
	var got []netip.Addr
	for i, p := range a.prefixes {
		ip, err := a.allocateIn(i, p)
		if err != nil {
			a.release(got)
			return nil, err
		}
		a.allocated[ip] = owner
		got = append(got, ip)
	}
	return got, nil
}

func (a *ipam) allocateIn(i int, p netip.Prefix) (netip.Addr, error) {
	first := p.Addr().Next().Next() // skip network and gateway
	usable := func(ip netip.Addr) bool {
		if !p.Contains(ip) {
			return false
		}
		// The IPv4 broadcast address: the next address leaves the prefix.
		if ip.Is4() && !p.Contains(ip.Next()) {
			return false
		}
		return true
	}
	start := first
	if a.last[i].IsValid() && p.Contains(a.last[i]) {
		start = a.last[i].Next()
	}
	ip := start
	// Bounded so that a huge IPv6 prefix cannot make this spin.
	for n := 0; n < 1<<16; n++ {
		if !usable(ip) {
			ip = first
			if !usable(ip) {
				break
			}
		}
		if _, taken := a.allocated[ip]; !taken {
			a.last[i] = ip
			return ip, nil
		}
		ip = ip.Next()
		if ip == start {
			break
		}
	}
	lastUsable := lastAddr(p)
	if lastUsable.Is4() {
		lastUsable = lastUsable.Prev()
	}
	return netip.Addr{}, fmt.Errorf("failed to allocate for range %d: no IP addresses available in range set: %s-%s", i, p.Addr().Next(), lastUsable)
}

// lastAddr is the prefix's highest address (all host bits set).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for bit := p.Bits(); bit < len(b)*8; bit++ {
		b[bit/8] |= 0x80 >> (bit % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func (a *ipam) release(ips []netip.Addr) {
	for _, ip := range ips {
		delete(a.allocated, ip)
	}
}
