package portmap

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/ventapp/ventapp/pylit"
)

// Mapping publishes one container port on one host address and port.
type Mapping struct {
	// Proto is "tcp" or "udp".
	Proto string `json:"proto"`

	// HostIP is the host address to listen on. The zero Addr means every
	// address, IPv4 and IPv6; 0.0.0.0 means every IPv4 address.
	HostIP netip.Addr `json:"host_ip,omitzero"`

	// HostPort is the host port; 0 asks for a random free port, and the
	// Publisher reports the one it got.
	HostPort uint16 `json:"host_port"`

	// ContainerPort is the port dialled on 127.0.0.1 inside the container.
	ContainerPort uint16 `json:"container_port"`
}

// Port is the container side in docker's form, "8080/tcp".
func (m Mapping) Port() string {
	return strconv.Itoa(int(m.ContainerPort)) + "/" + m.Proto
}

// Host is the host address to show: HostIP, or 0.0.0.0 for every address.
func (m Mapping) Host() string {
	if !m.HostIP.IsValid() {
		return "0.0.0.0"
	}
	return m.HostIP.String()
}

// HostAddr is Host and HostPort joined, "127.0.0.1:8080" or "[::1]:8080".
func (m Mapping) HostAddr() string {
	return netip.AddrPortFrom(netip.MustParseAddr(m.Host()), m.HostPort).String()
}

// String shows the mapping as "127.0.0.1:9000->8080/tcp"; a random port
// not yet bound shows as 0.
func (m Mapping) String() string {
	return m.HostAddr() + "->" + m.Port()
}

// Parse reads the text of a [docker] ports value, a Python literal dict in
// docker-py's port_bindings form (see the package doc), and returns its
// mappings sorted by container port, then host address and port.
func Parse(text string) ([]Mapping, error) {
	v, err := pylit.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%w: ports %q: %w", ErrSpec, shorten(text), err)
	}
	return FromValue(v)
}

// FromValue is Parse for a value pylit.Parse already read.
func FromValue(v any) ([]Mapping, error) {
	dict, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: ports must be a dict like {'8080/tcp': ('127.0.0.1', None)}, not %s",
			ErrSpec, show(v))
	}

	var out []Mapping
	for key, val := range dict {
		port, proto, err := parseKey(key)
		if err != nil {
			return nil, err
		}
		bindings, err := parseBindings(key, val)
		if err != nil {
			return nil, err
		}
		for _, b := range bindings {
			out = append(out, Mapping{Proto: proto, HostIP: b.ip, HostPort: b.port, ContainerPort: port})
		}
	}

	sortMappings(out)
	if err := checkDuplicates(out); err != nil {
		return nil, err
	}
	return out, nil
}

// Exposed returns a mapping to a random port on every host address for
// each of an image's exposed ports ("80/tcp", "53/udp" or "80"), as
// docker's publish_all_ports did. Duplicates are dropped.
func Exposed(ports []string) ([]Mapping, error) {
	var out []Mapping
	for _, k := range ports {
		port, proto, err := parseKey(k)
		if err != nil {
			return nil, err
		}
		out = append(out, Mapping{Proto: proto, ContainerPort: port})
	}
	sortMappings(out)
	return slices.Compact(out), nil
}

// parseKey reads a container port key: "80", "80/tcp" or "53/udp".
func parseKey(key string) (uint16, string, error) {
	num, proto, hasProto := strings.Cut(strings.TrimSpace(key), "/")
	proto = strings.ToLower(strings.TrimSpace(proto))
	if !hasProto {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return 0, "", fmt.Errorf("%w: port %q: protocol %q is not tcp or udp", ErrSpec, key, proto)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(num), 10, 16)
	if err != nil || n == 0 {
		return 0, "", fmt.Errorf("%w: port %q: container port %q is not a number from 1 to 65535",
			ErrSpec, key, num)
	}
	return uint16(n), proto, nil
}

// binding is one host side of a container port.
type binding struct {
	ip   netip.Addr
	port uint16
}

// parseBindings reads the value of one key: a binding or a list of them.
// pylit gives tuples and lists alike as []any, so a list of one or two
// items that starts with an address, ('127.0.0.1', 80) or ('::1',), is read
// as one (address, port) tuple; any other list holds one binding per item.
func parseBindings(key string, v any) ([]binding, error) {
	list, ok := v.([]any)
	if !ok || isAddrTuple(list) {
		b, err := parseBinding(key, v)
		if err != nil {
			return nil, err
		}
		return []binding{b}, nil
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: port %q: the list of host ports is empty", ErrSpec, key)
	}
	if first, ok := list[0].(string); ok && len(list) > 2 {
		if _, err := netip.ParseAddr(strings.TrimSpace(first)); err == nil {
			return nil, fmt.Errorf("%w: port %q: %s has %d items; a (host_ip, host_port) tuple has 2",
				ErrSpec, key, show(v), len(list))
		}
	}

	out := make([]binding, 0, len(list))
	for _, item := range list {
		b, err := parseBinding(key, item)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// isAddrTuple reports whether l looks like (host_ip, host_port) or
// (host_ip,).
func isAddrTuple(l []any) bool {
	if len(l) != 1 && len(l) != 2 {
		return false
	}
	s, ok := l[0].(string)
	if !ok {
		return false
	}
	if _, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16); err == nil {
		return false // ['8080', '8081']: a list of host ports
	}
	if len(l) == 2 {
		switch l[1].(type) {
		case []any, map[string]any:
			return false
		}
	}
	return true
}

// parseBinding reads one host side: None, a port (int or digits), a tuple
// (host_ip, host_port) or (host_ip,), or a dict {'HostIp':, 'HostPort':}.
func parseBinding(key string, v any) (binding, error) {
	switch b := v.(type) {
	case nil, int64, string:
		port, err := parseHostPort(key, b)
		return binding{port: port}, err
	case []any:
		if !isAddrTuple(b) {
			return binding{}, fmt.Errorf("%w: port %q: %s is not a (host_ip, host_port) tuple",
				ErrSpec, key, show(v))
		}
		ip, err := parseHostIP(key, b[0])
		if err != nil {
			return binding{}, err
		}
		var port uint16
		if len(b) == 2 {
			port, err = parseHostPort(key, b[1])
		}
		return binding{ip: ip, port: port}, err
	case map[string]any:
		return parseBindingDict(key, b)
	}
	return binding{}, fmt.Errorf("%w: port %q: host side %s is not None, a port, "+
		"a (host_ip, host_port) tuple or a list of them", ErrSpec, key, show(v))
}

// parseBindingDict reads docker's dict form, {'HostPort': '8080'} with an
// optional 'HostIp'.
func parseBindingDict(key string, d map[string]any) (binding, error) {
	for k := range d {
		if k != "HostIp" && k != "HostPort" {
			return binding{}, fmt.Errorf("%w: port %q: unknown key %q (only HostIp and HostPort)",
				ErrSpec, key, k)
		}
	}
	hp, ok := d["HostPort"]
	if !ok {
		return binding{}, fmt.Errorf("%w: port %q: the dict has no HostPort", ErrSpec, key)
	}
	port, err := parseHostPort(key, hp)
	if err != nil {
		return binding{}, err
	}
	var ip netip.Addr
	if hi, ok := d["HostIp"]; ok {
		if ip, err = parseHostIP(key, hi); err != nil {
			return binding{}, err
		}
	}
	return binding{ip: ip, port: port}, nil
}

// parseHostPort reads None, "" (random), an int or a string of digits.
func parseHostPort(key string, v any) (uint16, error) {
	switch p := v.(type) {
	case nil:
		return 0, nil
	case int64:
		if p >= 0 && p <= 65535 {
			return uint16(p), nil
		}
	case string:
		s := strings.TrimSpace(p)
		if s == "" {
			return 0, nil
		}
		if n, err := strconv.ParseUint(s, 10, 16); err == nil {
			return uint16(n), nil
		}
		if strings.Contains(s, "-") {
			return 0, fmt.Errorf("%w: port %q: host port range %q is not supported; "+
				"give one port or None", ErrSpec, key, p)
		}
	}
	return 0, fmt.Errorf("%w: port %q: host port %s is not None or a number from 0 to 65535",
		ErrSpec, key, show(v))
}

// parseHostIP reads a host address; "" and None mean every address.
func parseHostIP(key string, v any) (netip.Addr, error) {
	if v == nil {
		return netip.Addr{}, nil
	}
	s, ok := v.(string)
	if !ok {
		return netip.Addr{}, fmt.Errorf("%w: port %q: host address %s is not a string", ErrSpec, key, show(v))
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, nil
	}
	ip, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%w: port %q: host address %q is not an IPv4 or IPv6 address",
			ErrSpec, key, s)
	}
	return ip.Unmap(), nil
}

// sortMappings orders mappings by container port name as text (vent's
// order), then by host address and port.
func sortMappings(ms []Mapping) {
	slices.SortFunc(ms, func(a, b Mapping) int {
		return cmp.Or(
			strings.Compare(a.Port(), b.Port()),
			a.HostIP.Compare(b.HostIP),
			cmp.Compare(a.HostPort, b.HostPort),
		)
	})
}

// checkDuplicates refuses two mappings that would bind the same fixed
// host port with overlapping addresses.
func checkDuplicates(ms []Mapping) error {
	for i, a := range ms {
		if a.HostPort == 0 {
			continue
		}
		for _, b := range ms[i+1:] {
			if a.Proto == b.Proto && a.HostPort == b.HostPort && overlap(a.HostIP, b.HostIP) {
				return fmt.Errorf("%w: host port %d/%s is published twice (for %s and %s)",
					ErrSpec, a.HostPort, a.Proto, a.Port(), b.Port())
			}
		}
	}
	return nil
}

// overlap reports whether listening on a and on b would collide.
func overlap(a, b netip.Addr) bool {
	if !a.IsValid() || !b.IsValid() || a == b {
		return true
	}
	if a.IsUnspecified() && a.Is4() == b.Is4() {
		return true
	}
	return b.IsUnspecified() && a.Is4() == b.Is4()
}

// show describes a parsed literal for error messages.
func show(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		return strconv.Quote(shorten(x))
	case int64, float64, bool:
		return fmt.Sprint(x)
	case []any:
		return "a list or tuple"
	case map[string]any:
		return "a dict"
	}
	return fmt.Sprintf("%T", v)
}

// shorten cuts long text for error messages.
func shorten(s string) string {
	const limit = 80
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}

// PublishAll reads a publish_all_ports value as pylit parsed it: True or
// False, 1 or 0, or the words true/false, yes/no.
func PublishAll(v any) (bool, error) {
	switch b := v.(type) {
	case bool:
		return b, nil
	case int64:
		if b == 0 || b == 1 {
			return b == 1, nil
		}
	case string:
		switch strings.ToLower(strings.TrimSpace(b)) {
		case "true", "yes", "1":
			return true, nil
		case "false", "no", "0", "":
			return false, nil
		}
	}
	return false, fmt.Errorf("%w: publish_all_ports must be True or False", ErrSpec)
}
