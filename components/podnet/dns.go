package podnet

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// dnsQuestion reads a datagram to port 53 as a DNS query, for its trace
// event: the name and type asked ({"name", "type"}). ok is false for
// anything else, which is traced as a plain datagram.
func dnsQuestion(datagram []byte, dst netip.AddrPort) (map[string]any, bool) {
	if dst.Port() != 53 {
		return nil, false
	}
	var m dns.Msg
	if err := m.Unpack(datagram); err != nil || m.Response || len(m.Question) != 1 {
		return nil, false
	}
	q := m.Question[0]
	return map[string]any{"name": q.Name, "type": dns.TypeToString[q.Qtype]}, true
}

// dnsAnswer adds the reply to the query's detail (its rcode and the
// records of its answer section, as "A 10.96.0.1") and returns the rcode,
// which is the event's status.
func dnsAnswer(q map[string]any, answer []byte) string {
	var m dns.Msg
	if err := m.Unpack(answer); err != nil {
		q["rcode"] = "malformed"
		return "malformed"
	}
	rcode := dns.RcodeToString[m.Rcode]
	q["rcode"] = rcode
	answers := []string{}
	for _, rr := range m.Answer {
		h := rr.Header()
		// What follows the header in the record's text: "10.96.0.1".
		data := strings.TrimPrefix(rr.String(), h.String())
		answers = append(answers, dns.TypeToString[h.Rrtype]+" "+strings.TrimSpace(data))
	}
	q["answers"] = answers
	return rcode
}
