package policy

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Rate is a request rate written "10/s", "600/m" or "1000/h".
type Rate struct {
	PerSecond float64
	text      string
}

func (r Rate) String() string { return r.text }

// UnmarshalText parses a rate; the TOML decoder reports its line on error.
func (r *Rate) UnmarshalText(b []byte) error {
	s := string(b)
	n, unit, ok := strings.Cut(s, "/")
	v, err := strconv.ParseFloat(n, 64)
	if !ok || err != nil || v <= 0 {
		return fmt.Errorf("rate %q: write COUNT/UNIT, e.g. \"10/s\", \"600/m\", \"1000/h\"", s)
	}
	switch unit {
	case "s":
	case "m":
		v /= 60
	case "h":
		v /= 3600
	default:
		return fmt.Errorf("rate %q: the unit is s, m or h", s)
	}
	*r = Rate{PerSecond: v, text: s}
	return nil
}

// Duration is a period written "90d", "12h", "30m".
type Duration time.Duration

// UnmarshalText parses a duration; "d" is 24 hours.
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return fmt.Errorf("duration %q: write e.g. \"90d\", \"12h\"", s)
		}
		*d = Duration(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return fmt.Errorf("duration %q: write e.g. \"90d\", \"12h\"", s)
	}
	*d = Duration(v)
	return nil
}

// headers records the line of every [[client]], [[client.grant]] and
// [[credential]] header, so that problems found after decoding can name
// their line. (The TOML decoder reports lines for syntax errors only.)
type headers struct {
	clients     []int
	grants      [][]int // per client
	credentials []int
	keys        map[string]int // first line of each "key =" by bare key name
}

func headerLines(raw []byte) headers {
	var h headers
	h.keys = map[string]int{}
	for i, line := range bytes.Split(raw, []byte("\n")) {
		t := string(bytes.TrimSpace(line))
		n := i + 1
		switch {
		case strings.HasPrefix(t, "[[client.grant]]"):
			if len(h.grants) == 0 {
				h.grants = append(h.grants, nil)
			}
			h.grants[len(h.grants)-1] = append(h.grants[len(h.grants)-1], n)
		case strings.HasPrefix(t, "[[client]]"):
			h.clients = append(h.clients, n)
			h.grants = append(h.grants, nil)
		case strings.HasPrefix(t, "[[credential]]"):
			h.credentials = append(h.credentials, n)
		default:
			if k, _, ok := strings.Cut(t, "="); ok && !strings.HasPrefix(t, "#") {
				k = strings.TrimSpace(k)
				if _, seen := h.keys[k]; !seen {
					h.keys[k] = n
				}
			}
		}
	}
	return h
}

func (h headers) client(i int) int     { return at(h.clients, i) }
func (h headers) credential(i int) int { return at(h.credentials, i) }
func (h headers) grant(ci, gi int) int {
	if ci < len(h.grants) {
		return at(h.grants[ci], gi)
	}
	return 0
}

// keyLine guesses the line of an unknown key from its last part.
func (h headers) keyLine(k toml.Key) int {
	if len(k) == 0 {
		return 0
	}
	return h.keys[k[len(k)-1]]
}

func at(s []int, i int) int {
	if i < len(s) {
		return s[i]
	}
	return 0
}
