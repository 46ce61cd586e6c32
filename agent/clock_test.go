package agent

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func dateHeader(t time.Time) http.Header {
	return http.Header{"Date": []string{t.UTC().Format(http.TimeFormat)}}
}

func TestClockBookPrefersServerTimeUntilContradicted(t *testing.T) {
	b := newClockBook()
	now := time.Now()
	sent, received := now, now.Add(2*time.Millisecond)

	// Small offsets within their uncertainty are not applied.
	b.fromDate("api.example.com", dateHeader(now), sent, received)
	assert.Equal(t, now, b.correct("api.example.com", now))

	// A time endpoint's reading replaces it, and is applied.
	b.fromServerTime("api.example.com", now.Add(1500*time.Millisecond), sent, received)
	require.True(t, b.startProbe("api.example.com", now))
	b.probeDone("api.example.com")
	assert.InDelta(t, 1500, b.correct("api.example.com", now).Sub(now).Milliseconds(), 5)

	// A Date header that agrees leaves it; the next probe waits.
	b.fromDate("api.example.com", dateHeader(now.Add(1500*time.Millisecond)), sent, received)
	assert.Equal(t, "server_time", b.list()[0].Source)
	assert.False(t, b.startProbe("api.example.com", now.Add(time.Minute)))

	// The clock steps 30 s: the Date header contradicts the reading, takes
	// over, and the time endpoint may be asked again at once.
	b.fromDate("api.example.com", dateHeader(now.Add(31500*time.Millisecond)), sent, received)
	got := b.list()[0]
	assert.Equal(t, "date", got.Source)
	assert.InDelta(t, 32000, got.OffsetMS, 1100)
	assert.True(t, b.startProbe("api.example.com", now.Add(time.Minute)), "a contradicted reading is probed again")
	assert.InDelta(t, 32000, b.correct("api.example.com", now).Sub(now).Milliseconds(), 1100)
}
