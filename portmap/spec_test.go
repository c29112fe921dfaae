package portmap

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// listMappings shows mappings as text for comparisons.
func listMappings(ms []Mapping) string {
	var out []string
	for _, m := range ms {
		out = append(out, m.String())
	}
	return strings.Join(out, " ")
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"vent random on all v4", `{'9200/tcp': ('0.0.0.0', None)}`, "0.0.0.0:0->9200/tcp"},
		{"vent fixed", `{'514/tcp': ('127.0.0.1', 514)}`, "127.0.0.1:514->514/tcp"},
		{"int host port", `{'80/tcp': 8080}`, "0.0.0.0:8080->80/tcp"},
		{"no proto, None", `{'80': None}`, "0.0.0.0:0->80/tcp"},
		{"int key", `{80: 8080}`, "0.0.0.0:8080->80/tcp"},
		{"udp and upper case", `{'53/UDP': 5353}`, "0.0.0.0:5353->53/udp"},
		{"string host port", `{'80/tcp': '8080'}`, "0.0.0.0:8080->80/tcp"},
		{"empty string is random", `{'80/tcp': ''}`, "0.0.0.0:0->80/tcp"},
		{"list of ports", `{'80/tcp': [8080, 8081]}`, "0.0.0.0:8080->80/tcp 0.0.0.0:8081->80/tcp"},
		{"list of string ports", `{'80/tcp': ['8080', '8081']}`, "0.0.0.0:8080->80/tcp 0.0.0.0:8081->80/tcp"},
		{"list of tuples", `{'80/tcp': [('127.0.0.1', 80), ('::1', 80)]}`,
			"127.0.0.1:80->80/tcp [::1]:80->80/tcp"},
		{"ip only tuple", `{'80/tcp': ('127.0.0.1',)}`, "127.0.0.1:0->80/tcp"},
		{"empty ip tuple", `{'80/tcp': ('', 8080)}`, "0.0.0.0:8080->80/tcp"},
		{"ipv6 in brackets", `{'80/tcp': ('[::1]', 8080)}`, "[::1]:8080->80/tcp"},
		{"mapped ipv4", `{'80/tcp': ('::ffff:127.0.0.1', 8080)}`, "127.0.0.1:8080->80/tcp"},
		{"docker dict", `{'80/tcp': {'HostIp': '127.0.0.1', 'HostPort': '8080'}}`, "127.0.0.1:8080->80/tcp"},
		{"dict without ip", `{'80/tcp': {'HostPort': 8080}}`, "0.0.0.0:8080->80/tcp"},
		{"sorted as text", `{'8080/tcp': None, '10443/tcp': 443, '53/udp': None}`,
			"0.0.0.0:443->10443/tcp 0.0.0.0:0->53/udp 0.0.0.0:0->8080/tcp"},
		{"same port tcp and udp", `{'53/tcp': 53, '53/udp': 53}`, "0.0.0.0:53->53/tcp 0.0.0.0:53->53/udp"},
		{"same port on two addresses", `{'80/tcp': ('127.0.0.1', 80), '81/tcp': ('127.0.0.2', 80)}`,
			"127.0.0.1:80->80/tcp 127.0.0.2:80->81/tcp"},
		{"two random ports", `{'80/tcp': [None, None]}`, "0.0.0.0:0->80/tcp 0.0.0.0:0->80/tcp"},
		{"empty dict", `{}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := Parse(tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if got := listMappings(ms); got != tt.want {
				t.Errorf("Parse(%s)\n got %s\nwant %s", tt.text, got, tt.want)
			}
		})
	}
}

func TestParseZeroHostIP(t *testing.T) {
	ms, err := Parse(`{'80': None, '81': ('0.0.0.0', None)}`)
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].HostIP.IsValid() {
		t.Errorf("no host address gave %v, want every address (the zero Addr)", ms[0].HostIP)
	}
	if ms[1].HostIP != netip.IPv4Unspecified() {
		t.Errorf("0.0.0.0 gave %v", ms[1].HostIP)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"not a literal", `{'80/tcp': `, "ports"},
		{"not a dict", `['80/tcp']`, "must be a dict"},
		{"string", `host`, `ports "host"`},
		{"bad proto", `{'80/sctp': None}`, `protocol "sctp"`},
		{"bad container port", `{'http/tcp': None}`, `container port "http"`},
		{"container port 0", `{'0/tcp': None}`, `container port "0"`},
		{"container port too big", `{'70000': None}`, `container port "70000"`},
		{"host port too big", `{'80': 70000}`, "host port 70000"},
		{"negative host port", `{'80': -1}`, "host port -1"},
		{"host port text", `{'80': 'eighty'}`, `host port "eighty"`},
		{"host port range", `{'80': '8000-8010'}`, `range "8000-8010"`},
		{"float", `{'80': 80.5}`, "host side 80.5"},
		{"bool", `{'80': True}`, "host side true"},
		{"bad ip", `{'80': ('localhost', 80)}`, `host address "localhost"`},
		{"ip with zone", `{'80': ('fe80::1%eth0', 80)}`, `host address "fe80::1%eth0"`},
		{"ip not a string", `{'80': [('127.0.0.1', 80), (1, 2, 3)]}`, "is not a (host_ip, host_port) tuple"},
		{"long tuple", `{'80': [('127.0.0.1', 80, 1)]}`, "is not a (host_ip, host_port) tuple"},
		{"three-item tuple", `{'8080/tcp': ('127.0.0.1', 18093, 5)}`, "has 3 items; a (host_ip, host_port) tuple has 2"},
		{"empty list", `{'80': []}`, "empty"},
		{"dict without HostPort", `{'80': {'HostIp': '127.0.0.1'}}`, "no HostPort"},
		{"dict unknown key", `{'80': {'HostPort': 1, 'Proto': 'tcp'}}`, `unknown key "Proto"`},
		{"dict bad ip", `{'80': {'HostPort': 1, 'HostIp': 5}}`, "host address 5"},
		{"duplicate", `{'80': 8080, '81': 8080}`,
			"host port 8080/tcp is published twice (for 80/tcp and 81/tcp)"},
		{"duplicate all and one", `{'80': 8080, '81': ('127.0.0.1', 8080)}`, "published twice"},
		{"duplicate in list", `{'80': [8080, 8080]}`, "published twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := Parse(tt.text)
			if !errors.Is(err, ErrSpec) {
				t.Fatalf("Parse(%s) = %v, %v; want ErrSpec", tt.text, ms, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
		})
	}
}

func TestExposed(t *testing.T) {
	ms, err := Exposed([]string{"8080/tcp", "53/udp", "80", "8080/tcp"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := listMappings(ms), "0.0.0.0:0->53/udp 0.0.0.0:0->80/tcp 0.0.0.0:0->8080/tcp"; got != want {
		t.Errorf("Exposed: %s, want %s", got, want)
	}
	if _, err := Exposed([]string{"7000-7002/tcp"}); !errors.Is(err, ErrSpec) {
		t.Errorf("a range: %v, want ErrSpec", err)
	}
}

// format writes mappings back as a ports dict Parse reads.
func format(ms []Mapping) string {
	byPort := map[string][]string{}
	var keys []string
	for _, m := range ms {
		ip := ""
		if m.HostIP.IsValid() {
			ip = m.HostIP.String()
		}
		if _, ok := byPort[m.Port()]; !ok {
			keys = append(keys, m.Port())
		}
		byPort[m.Port()] = append(byPort[m.Port()], fmt.Sprintf("('%s', %d)", ip, m.HostPort))
	}
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("'%s': [%s]", k, strings.Join(byPort[k], ", ")))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// FuzzParse checks that Parse never panics, that every mapping it returns
// is valid, and that writing the mappings back gives the same mappings.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{'9200/tcp': ('0.0.0.0', None)}`, `{'514/tcp': ('127.0.0.1', 514)}`, `{'80/tcp': 8080}`,
		`{'80': None}`, `{'80': [8080, ('::1', 8081)]}`, `{'80/tcp': {'HostIp': '', 'HostPort': '8080'}}`,
		`{'53/udp': ['53']}`, `{1: ('',)}`, `[]`, `{'80': '1-2'}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ms, err := Parse(text)
		if err != nil {
			if !errors.Is(err, ErrSpec) {
				t.Fatalf("error %v does not wrap ErrSpec", err)
			}
			return
		}
		for _, m := range ms {
			if m.Proto != "tcp" && m.Proto != "udp" || m.ContainerPort == 0 || m.HostIP.Zone() != "" ||
				m.HostIP.Is4In6() {
				t.Fatalf("invalid mapping %+v from %q", m, text)
			}
		}
		again, err := Parse(format(ms))
		if err != nil {
			t.Fatalf("Parse(%q) refused the written-back %q: %v", text, format(ms), err)
		}
		if !slices.Equal(again, ms) {
			t.Fatalf("round trip of %q: %v, want %v", text, again, ms)
		}
	})
}
