package identity

import (
	"net"
	"net/netip"
	"strings"
)

// Prefixes is a set of CIDRs.
type Prefixes []netip.Prefix

// ParsePrefixes reads comma-separated CIDRs; a bare address is a /32 or /128.
func ParsePrefixes(list string) (Prefixes, error) {
	var out Prefixes
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !strings.Contains(item, "/") {
			addr, err := netip.ParseAddr(item)
			if err != nil {
				return nil, &PrefixError{Item: item}
			}
			out = append(out, netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, &PrefixError{Item: item}
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// PrefixError names an entry that is not a CIDR.
type PrefixError struct{ Item string }

func (e *PrefixError) Error() string {
	return "\"" + e.Item + "\" is not a CIDR such as 10.0.0.0/8 or an IP address"
}

// Contains reports whether addr lies in one of the prefixes.
func (ps Prefixes) Contains(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range ps {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ClientIP is the address the request came from. The socket peer is the
// client unless it is a trusted proxy; then X-Forwarded-For is read from the
// right, skipping trusted hops, and the first untrusted address is the
// client. Entries left of it were written by the client and are ignored.
func ClientIP(remoteAddr string, xff []string, trusted Prefixes) (netip.Addr, bool) {
	peer, ok := parseHost(remoteAddr)
	if !ok {
		return netip.Addr{}, false
	}
	if !trusted.Contains(peer) {
		return peer, true
	}
	hops := strings.Split(strings.Join(xff, ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		addr, ok := parseHost(hop)
		if !ok {
			// A trusted hop would not write garbage: whoever did is the
			// client, and the last address we could verify stands for it.
			return client, true
		}
		client = addr
		if !trusted.Contains(addr) {
			return addr, true
		}
	}
	return client, true
}

// parseHost reads "1.2.3.4", "1.2.3.4:80", "[2001:db8::1]:80" or "2001:db8::1".
func parseHost(s string) (netip.Addr, bool) {
	if addr, err := netip.ParseAddr(s); err == nil {
		return addr.Unmap(), true
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}, false
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return addr.Unmap(), true
}

// ipSubject names an address as a rate-limit subject. IPv6 clients are
// counted per /64, the block one host usually holds, so rotating addresses
// inside it does not multiply the limit.
func ipSubject(addr netip.Addr) string {
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + addr.String()
}
