package podnet

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	utiliptables "k8s.io/kubernetes/pkg/util/iptables"
	iptablestest "k8s.io/kubernetes/pkg/util/iptables/testing"
)

// Rules are one node's nat and filter tables as kube-proxy last wrote
// them, parsed with Kubernetes' own parser of the iptables-save format
// (pkg/util/iptables/testing, what kube-proxy's tests read its output
// with), and evaluated for one new connection at a time by Route.
//
// The evaluator knows what kube-proxy's iptables mode writes and no more:
// the matches -p, -s, -d, --dport, --dst-type LOCAL, --ctstate and the
// statistic module's --probability; the targets a user chain, RETURN,
// ACCEPT, DNAT --to-destination, REJECT, DROP and MARK (masquerading,
// which changes where a packet goes nowhere here). A rule with any other
// match (an interface, ipset, recent for session affinity, --mark) never
// matches, as a rule needing a kernel module that is not there would not.
type Rules struct {
	text string
	dump *iptablestest.IPTablesDump
	// unknown are the rules with a parameter the evaluator does not know
	// (the parser skips those; evaluating the rest would match too much).
	unknown map[*iptablestest.Rule]bool
}

// builtinPolicy is a built-in chain's declaration in iptables-save's
// output (":PREROUTING ACCEPT [0:0]"); the parser reads only the form
// iptables-restore input and the in-memory tables use (":PREROUTING - [0:0]").
var builtinPolicy = regexp.MustCompile(`(?m)^:([A-Z]+) (?:ACCEPT|DROP) \[`)

// targetOptions are the options of targets that do not change a packet's
// route (MARK's, REJECT's, nfacct's): a rule that has them is still known.
var targetOptions = regexp.MustCompile(` --(?:or-mark|xor-mark|and-mark|set-xmark|reject-with|nfacct-name) \S+`)

// withoutComment drops a rule's --comment and its text, which the
// in-memory tables print unquoted when kube-proxy added the rule word by
// word ("--comment kubernetes service portals -j KUBE-SERVICES"): its
// words would read as unknown parameters.
func withoutComment(rule string) string {
	words := strings.Fields(rule)
	out := make([]string, 0, len(words))
	for i := 0; i < len(words); i++ {
		if words[i] != "--comment" {
			out = append(out, words[i])
			continue
		}
		if i+1 < len(words) && strings.HasPrefix(words[i+1], `"`) {
			// Quoted: up to the word that closes the quote.
			i++
			if w := words[i]; len(w) > 1 && strings.HasSuffix(w, `"`) {
				continue
			}
			for i+1 < len(words) && !strings.HasSuffix(words[i], `"`) {
				i++
			}
			continue
		}
		for i+1 < len(words) && !strings.HasPrefix(words[i+1], "-") && words[i+1] != "!" {
			i++
		}
	}
	return strings.Join(out, " ")
}

// ParseRules reads iptables-save output.
func ParseRules(text string) (*Rules, error) {
	dump, err := iptablestest.ParseIPTablesDump(builtinPolicy.ReplaceAllString(text, ":$1 - ["))
	if err != nil {
		return nil, fmt.Errorf("reading kube-proxy's rules: %w", err)
	}
	r := &Rules{text: text, dump: dump, unknown: map[*iptablestest.Rule]bool{}}
	for _, t := range dump.Tables {
		for _, c := range t.Chains {
			for _, rule := range c.Rules {
				strict, err := iptablestest.ParseRule(withoutComment(targetOptions.ReplaceAllString(rule.Raw, "")), true)
				if err != nil || strict.SourcePort != nil || strict.MatchSet != nil || strict.AffinityCheck != nil || strict.MarkCheck != nil {
					r.unknown[rule] = true
				}
			}
		}
	}
	return r, nil
}

// Text is the rules as iptables-save prints them.
func (r *Rules) Text() string { return r.text }

// A Packet is the first packet of a new connection, as the source node's
// PREROUTING sees it (it comes from a pod's interface).
type Packet struct {
	Protocol string // "tcp" or "udp"
	Src      netip.Addr
	Dst      netip.AddrPort
}

// Verdict is what the rules did with a packet.
type Verdict string

const (
	// Accepted: no rule changed where it goes (not a Service address, or
	// a Service rule that leaves it alone).
	Accepted Verdict = "accepted"
	// Rewritten: a DNAT rule sent it to an endpoint.
	Rewritten Verdict = "dnat"
	// Rejected: a REJECT rule answered it (a Service with no ready
	// endpoint: "connection refused" at once).
	Rejected Verdict = "rejected"
	// Dropped: a DROP rule swallowed it (the client times out).
	Dropped Verdict = "dropped"
)

// A Route is a packet's way through the rules: every chain it entered,
// in order, with the rule that sent it on, and the result.
type Route struct {
	Verdict Verdict
	// To is where the packet goes after the rules: the DNAT destination,
	// or the packet's own destination when it was not rewritten.
	To netip.AddrPort
	// Hops are the chains traversed and the rule that jumped out of each
	// (or ended in it).
	Hops []Hop
}

// A Hop is one chain of a Route and the rule taken in it ("" when the
// chain ran out and returned).
type Hop struct {
	Table string `json:"table"`
	Chain string `json:"chain"`
	Rule  string `json:"rule,omitempty"`
}

// Chains are the names of the chains a route went through, in order.
func (r Route) Chains() []string {
	out := make([]string, 0, len(r.Hops))
	for _, h := range r.Hops {
		out = append(out, h.Chain)
	}
	return out
}

// maxDepth bounds chain jumps: kube-proxy's deepest path is five chains
// long; a loop in hand-written rules must not hang a connection.
const maxDepth = 32

// Route evaluates a packet through the nat table's PREROUTING (where
// kube-proxy picks an endpoint) and then the filter table's FORWARD
// (where it rejects Services with no endpoint). local reports whether an
// address is the node's own (--dst-type LOCAL: NodePorts). rnd draws the
// statistic module's random numbers (nil: a fresh source).
func (r *Rules) Route(p Packet, local func(netip.Addr) bool, rnd *rand.Rand) (Route, error) {
	if rnd == nil {
		rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	ev := &evaluation{rules: r, p: p, local: local, rnd: rnd, dst: p.Dst}
	verdict, _, err := ev.chain(utiliptables.TableNAT, "PREROUTING", 0)
	if err != nil {
		return Route{}, err
	}
	if verdict == Accepted {
		// Filtering sees the rewritten destination, as the kernel's
		// FORWARD does after PREROUTING's DNAT. Its chains are part of
		// the route only when they stop the packet: the rules a learner
		// reads for a Service are the nat table's.
		natHops := len(ev.hops)
		v2, _, err := ev.chain(utiliptables.TableFilter, "FORWARD", 0)
		if err != nil {
			return Route{}, err
		}
		if v2 != Accepted {
			verdict = v2
		} else {
			ev.hops = ev.hops[:natHops]
		}
	}
	route := Route{Verdict: verdict, Hops: ev.hops, To: ev.dst}
	if route.Verdict == Accepted && ev.dnat {
		route.Verdict = Rewritten
	}
	return route, nil
}

type evaluation struct {
	rules *Rules
	p     Packet
	local func(netip.Addr) bool
	rnd   *rand.Rand
	dst   netip.AddrPort
	dnat  bool
	hops  []Hop
}

// chain runs one chain. It returns the verdict and whether a rule ended
// the table's traversal (ACCEPT, DROP, REJECT, DNAT); when a user chain
// runs out or RETURNs, the chain that jumped to it goes on (final false).
// A built-in chain that runs out takes its policy, which kube-proxy
// leaves ACCEPT.
func (ev *evaluation) chain(table utiliptables.Table, name string, depth int) (v Verdict, final bool, err error) {
	if depth > maxDepth {
		return "", false, fmt.Errorf("the rules jump more than %d chains deep at %s", maxDepth, name)
	}
	c, err := ev.rules.dump.GetChain(table, utiliptables.Chain(name))
	if err != nil {
		if depth == 0 {
			return Accepted, false, nil // no such built-in chain written: nothing to do
		}
		return "", false, fmt.Errorf("a rule jumps to %s, which the %s table does not have", name, table)
	}
	hop := len(ev.hops)
	ev.hops = append(ev.hops, Hop{Table: string(table), Chain: name})
	for _, rule := range c.Rules {
		if !ev.matches(rule) {
			continue
		}
		target := ""
		if rule.Jump != nil {
			target = rule.Jump.Value
		}
		switch target {
		case "":
			continue // counts only
		case "MARK":
			continue // KUBE-MARK-MASQ: masquerade later; nothing else changes
		case "RETURN":
			ev.hops[hop].Rule = rule.Raw
			return Accepted, false, nil
		case "ACCEPT":
			ev.hops[hop].Rule = rule.Raw
			return Accepted, true, nil
		case "DROP":
			ev.hops[hop].Rule = rule.Raw
			return Dropped, true, nil
		case "REJECT":
			ev.hops[hop].Rule = rule.Raw
			return Rejected, true, nil
		case "DNAT":
			ev.hops[hop].Rule = rule.Raw
			if rule.DNATDestination == nil {
				return "", false, fmt.Errorf("a DNAT rule without --to-destination: %s", rule.Raw)
			}
			to, err := netip.ParseAddrPort(rule.DNATDestination.Value)
			if err != nil {
				return "", false, fmt.Errorf("a DNAT destination %q: %w", rule.DNATDestination.Value, err)
			}
			ev.dst, ev.dnat = to, true
			return Accepted, true, nil // DNAT ends the nat table's traversal
		default:
			if _, err := ev.rules.dump.GetChain(table, utiliptables.Chain(target)); err != nil && !strings.HasPrefix(target, "KUBE-") {
				// Not a chain: a target extension that changes nothing
				// of the route (LOG, SNAT, MASQUERADE, CT...).
				continue
			}
			ev.hops[hop].Rule = rule.Raw
			v, final, err := ev.chain(table, target, depth+1)
			if err != nil || final {
				return v, final, err
			}
			// The chain returned: go on with the next rule here.
			ev.hops = append(ev.hops, Hop{Table: string(table), Chain: name})
			hop = len(ev.hops) - 1
		}
	}
	return Accepted, false, nil
}

func (ev *evaluation) matches(r *iptablestest.Rule) bool {
	if ev.rules.unknown[r] {
		return false
	}
	p := ev.p
	if r.Protocol != nil && !r.Protocol.Matches(p.Protocol) {
		return false
	}
	if r.SourceAddress != nil && !addrMatches(r.SourceAddress, p.Src) {
		return false
	}
	if r.DestinationAddress != nil && !addrMatches(r.DestinationAddress, ev.dst.Addr()) {
		return false
	}
	if r.DestinationPort != nil && !r.DestinationPort.Matches(strconv.Itoa(int(ev.dst.Port()))) {
		return false
	}
	if r.DestinationType != nil {
		// Only LOCAL (the node's own addresses) is written by kube-proxy.
		isLocal := ev.local != nil && ev.local(ev.dst.Addr())
		if r.DestinationType.Value != "LOCAL" || isLocal == r.DestinationType.Negated {
			return false
		}
	}
	if r.SourceType != nil {
		// A pod's packet does not come from one of the node's addresses.
		if r.SourceType.Value != "LOCAL" || !r.SourceType.Negated {
			return false
		}
	}
	if r.CTStateCheck != nil {
		// A connection's first packet is NEW; it is not INVALID,
		// ESTABLISHED or RELATED.
		isNew := containsWord(r.CTStateCheck.Value, "NEW")
		if isNew == r.CTStateCheck.Negated {
			return false
		}
	}
	if r.Probability != nil {
		prob, err := strconv.ParseFloat(r.Probability.Value, 64)
		if err != nil || ev.rnd.Float64() >= prob {
			return false
		}
	}
	return true
}

func containsWord(list, w string) bool {
	for _, x := range strings.Split(list, ",") {
		if x == w {
			return true
		}
	}
	return false
}

// addrMatches reports whether a matches an -s or -d value: one address or
// a CIDR, perhaps negated.
func addrMatches(v *iptablestest.IPTablesValue, a netip.Addr) bool {
	in := false
	if pfx, err := netip.ParsePrefix(v.Value); err == nil {
		in = pfx.Contains(a)
	} else if ip, err := netip.ParseAddr(v.Value); err == nil {
		in = ip == a
	}
	return in != v.Negated
}
