package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Microsecond)
	}
	cases := []struct {
		p    float64
		want time.Duration
	}{
		{50, 50 * time.Microsecond},
		{99, 99 * time.Microsecond},
		{99.9, 100 * time.Microsecond},
		{100, 100 * time.Microsecond},
		{0.1, 1 * time.Microsecond},
		{0, 1 * time.Microsecond},
	}
	for _, tt := range cases {
		assert.Equal(t, tt.want, percentile(d, tt.p), "p%v", tt.p)
	}
	assert.Zero(t, percentile(nil, 50))
	assert.Equal(t, 7*time.Second, percentile([]time.Duration{7 * time.Second}, 99))
	// Nearest rank on an odd count: the median is the middle value.
	assert.Equal(t, 2*time.Second, percentile([]time.Duration{1 * time.Second, 2 * time.Second, 3 * time.Second}, 50))
	assert.Equal(t, 2*time.Second, median([]time.Duration{3 * time.Second, 1 * time.Second, 2 * time.Second}), "median sorts a copy")
	assert.InDelta(t, 12.5, micros(12500*time.Nanosecond), 1e-9)
}

func TestRows(t *testing.T) {
	r := ratioRow("p50", "sign p50", "µs", 26, 20, "echo", atMost, 1.3)
	require.NotNil(t, r.Ratio)
	assert.InDelta(t, 1.3, *r.Ratio, 1e-9)
	assert.Equal(t, statusPass, r.Status, "the limit itself passes")
	assert.Equal(t, "≤ 1.3×", r.Target)

	r = ratioRow("rps", "throughput", "req/s", 70, 100, "echo", atLeast, 0.8)
	assert.Equal(t, statusFail, r.Status)
	assert.Equal(t, "≥ 0.8×", r.Target)

	r = ratioRow("x", "x", "µs", 1, 0, "echo", atMost, 1)
	assert.Equal(t, statusError, r.Status, "a zero baseline cannot be compared")
	assert.Nil(t, r.Ratio)

	r = absRow("rss", "RSS", "MiB", 300, atMost, 256)
	assert.Equal(t, statusFail, r.Status)
	assert.Equal(t, "≤ 256 MiB", r.Target)
	assert.Nil(t, r.Baseline)
}

func sampleReport() *Report {
	p50 := ratioRow("sign_p50", "sign p50, 1 conn", "µs", 41.234, 35.5, "echo", atMost, 1.3)
	p50.Note = "request frame 214 B"
	return &Report{
		Started: "2025-01-01T00:00:00Z",
		Machine: Machine{CPU: "Test CPU", Cores: 2, Kernel: "Linux 6.1 x86_64"},
		Rows: []Row{
			p50,
			ratioRow("rps", "throughput, 8 conns", "req/s", 54321, 68000, "echo", atLeast, 0.8),
			absRow("rss", "RSS, 100,000 creds", "MiB", 180.25, atMost, 256),
			noteRow("forward_p50", "forward p50 vs direct HTTPS", "≤ direct + 1.5 echo round trips", statusPending, "forward mode not built"),
		},
	}
}

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	require.NoError(t, sampleReport().WriteTable(&b))
	want := `| figure                      | keyward      | baseline            | ratio  | target                          | pass                            |
| --------------------------- | ------------ | ------------------- | ------ | ------------------------------- | ------------------------------- |
| sign p50, 1 conn            | 41.2 µs      | 35.5 µs (echo)      | 1.16×  | ≤ 1.3×                          | pass                            |
| throughput, 8 conns         | 54,321 req/s | 68,000 req/s (echo) | 0.799× | ≥ 0.8×                          | FAIL                            |
| RSS, 100,000 creds          | 180 MiB      | —                   | —      | ≤ 256 MiB                       | pass                            |
| forward p50 vs direct HTTPS | —            | —                   | —      | ≤ direct + 1.5 echo round trips | pending: forward mode not built |

- sign p50, 1 conn: request frame 214 B
`
	assert.Equal(t, want, b.String())
}

func TestWriteJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "bench.json")
	rep := sampleReport()
	require.NoError(t, rep.WriteJSON(path))
	b, err := os.ReadFile(path)
	require.NoError(t, err)

	var got Report
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, rep, &got, "the JSON round-trips")

	var raw struct {
		Rows []map[string]any `json:"rows"`
	}
	require.NoError(t, json.Unmarshal(b, &raw))
	first := raw.Rows[0]
	assert.Equal(t, "sign_p50", first["id"])
	assert.InDelta(t, 41.234, first["keyward"], 1e-9)
	assert.InDelta(t, 35.5, first["baseline"], 1e-9)
	assert.Equal(t, "<=", first["cmp"])
	assert.Equal(t, 1.3, first["limit"])
	assert.Equal(t, "pass", first["status"])
	pending := raw.Rows[3]
	assert.NotContains(t, pending, "keyward", "a figure not measured has no value, not zero")
	assert.Equal(t, "pending", pending["status"])

	assert.Equal(t, map[string]int{"pass": 2, "FAIL": 1, "pending": 1}, rep.Counts())
}

func TestFormatNumber(t *testing.T) {
	cases := map[float64]string{
		0: "0", 0.0257: "0.0257", 1.5: "1.50", 41.234: "41.2", 180.25: "180",
		1234.4: "1,234", 706891: "706,891", 1234567: "1,234,567", -2500: "-2,500",
	}
	for v, want := range cases {
		assert.Equal(t, want, formatNumber(v), "%v", v)
	}
	assert.Equal(t, "0.8", formatLimit(0.8))
	assert.Equal(t, "100,000", formatLimit(100000))
	assert.Equal(t, "1,000.5", formatLimit(1000.5))
}

func TestWriteTableShortensLongNotes(t *testing.T) {
	long := "keyward: warm-up request 0: read reply header: EOF; agent-ed25519 CRASHED (exit status 2): fatal error: getWeakHandle on invalid pointer"
	row := noteRow("ed25519_p50", "Ed25519 sign p50 vs ssh-agent", "≤ 0.1×", statusError, long)
	row.Unit, row.Baseline, row.BaselineName = "µs", ptr(595), "ssh-agent"
	var b strings.Builder
	require.NoError(t, (&Report{Rows: []Row{row}}).WriteTable(&b))
	lines := strings.Split(b.String(), "\n")
	require.Len(t, lines, 6)
	assert.Contains(t, lines[2], "| 595 µs (ssh-agent) |")
	assert.Contains(t, lines[2], "| error: keyward: warm-up request 0: read reply header: … |")
	assert.Equal(t, "- Ed25519 sign p50 vs ssh-agent: "+long, lines[4], "the whole note follows the table")
}
