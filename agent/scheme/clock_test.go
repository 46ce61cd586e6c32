package scheme

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type clockVectors struct {
	Cases []struct {
		Name   string          `json:"name"`
		Venue  string          `json:"venue"`
		Host   string          `json:"host"`
		URL    string          `json:"url"`
		Source string          `json:"source"`
		Body   json.RawMessage `json:"body"`
		WantNS int64           `json:"want_ns"`
	} `json:"cases"`
	Malformed []struct {
		Venue    string `json:"venue"`
		BodyText string `json:"body_text"`
	} `json:"malformed"`
}

func clockOf(t *testing.T, venue string) Clock {
	t.Helper()
	s, ok := Lookup(venue)
	require.True(t, ok, venue)
	c, ok := s.(Clock)
	require.True(t, ok, "%s does not implement Clock", venue)
	return c
}

// TestClockDocumentedAnswers reads each venue's documented time answer and
// expects the time it states, from the request the scheme builds.
func TestClockDocumentedAnswers(t *testing.T) {
	v := loadVectors[clockVectors](t, "clock")
	require.NotEmpty(t, v.Cases)
	venues := map[string]bool{}
	for _, c := range v.Cases {
		t.Run(c.Name, func(t *testing.T) {
			require.NotEmpty(t, c.Source)
			clk := clockOf(t, c.Venue)
			req, ok := clk.TimeRequest(c.Host)
			require.True(t, ok)
			assert.Equal(t, Request{Method: "GET", URL: c.URL}, req)
			got, err := clk.ParseTime(c.Host, c.Body)
			require.NoError(t, err)
			assert.Equal(t, c.WantNS, got.UnixNano())
			assert.Equal(t, time.UTC, got.Location())
			venues[c.Venue] = true
		})
	}
	// Every venue with a clock has a documented answer here.
	for _, s := range all() {
		if _, ok := s.(Clock); ok {
			assert.True(t, venues[s.Name()], "%s implements Clock but has no documented answer in testdata/clock.json", s.Name())
		}
	}
}

// TestClockMalformed: error answers, garbage and implausible times are
// errors (plain ones: never the bot's fault), never a time.
func TestClockMalformed(t *testing.T) {
	v := loadVectors[clockVectors](t, "clock")
	for _, m := range v.Malformed {
		clk := clockOf(t, m.Venue)
		got, err := clk.ParseTime("x", []byte(m.BodyText))
		require.Error(t, err, "%s %q gave %v", m.Venue, m.BodyText, got)
		assert.True(t, strings.HasPrefix(err.Error(), m.Venue+": "), err.Error())
		assert.False(t, errors.As(err, new(*RequestError)), "%s: %v", m.Venue, err)
	}
	// Every Clock refuses the empty body and JSON null.
	for _, s := range all() {
		if clk, ok := s.(Clock); ok {
			for _, body := range []string{"", "null", "{", `"1700000000000"`, "[1700000000000]"} {
				_, err := clk.ParseTime("x", []byte(body))
				assert.Error(t, err, "%s %q", s.Name(), body)
			}
		}
	}
}

// TestClockHosts: every time request goes, over https, to the host asked
// about, which is one of the scheme's; WebSocket-only hosts and hosts
// without a time endpoint say false.
func TestClockHosts(t *testing.T) {
	none := map[string][]string{
		"bybit":    {"stream.bybit.com", "stream.bytick.com", "stream-testnet.bybit.com", "stream-demo.bybit.com"},
		"okx":      {"ws.okx.com", "wsaws.okx.com", "wspap.okx.com", "wseea.okx.com", "wseeapap.okx.com", "wsus.okx.com", "wsuspap.okx.com"},
		"kraken":   {"futures.kraken.com", "demo-futures.kraken.com"},
		"coinbase": {"api-sandbox.coinbase.com"},
		"kucoin":   {"api-broker.kucoin.com"},
	}
	for _, s := range all() {
		clk, ok := s.(Clock)
		if !ok {
			continue
		}
		for _, h := range s.Hosts() {
			req, ok := clk.TimeRequest(h)
			if !ok {
				assert.Contains(t, none[s.Name()], h, "%s: %s has no time request", s.Name(), h)
				continue
			}
			assert.NotContains(t, none[s.Name()], h)
			assert.Equal(t, "GET", req.Method)
			assert.True(t, strings.HasPrefix(req.URL, "https://"+h+"/"), req.URL)
			_, _, err := splitURL(s, req.URL, nil)
			assert.NoError(t, err, "%s %s", s.Name(), req.URL)
			// The host's case does not matter.
			upper, ok := clk.TimeRequest(strings.ToUpper(h))
			assert.True(t, ok)
			assert.Equal(t, req, upper)
		}
		for _, bad := range []string{"", "api.example.com/x", "https://api.example.com", "api.example.com:443", "user@api.example.com", "a b"} {
			_, ok := clk.TimeRequest(bad)
			assert.False(t, ok, "%s %q", s.Name(), bad)
		}
	}
}

func TestVenueWords(t *testing.T) {
	assert.Equal(t, "a?b", venueWords("a\nb"))
	assert.Equal(t, "héllo", venueWords(" héllo "))
	assert.Equal(t, "?", venueWords("\xff"))
	long := venueWords(strings.Repeat("x", 500))
	assert.Equal(t, strings.Repeat("x", 200)+"…", long)
}

func FuzzClockParse(f *testing.F) {
	f.Add(`{"serverTime":1499827319559}`)
	f.Add(`{"retCode":0,"result":{"timeSecond":"1688639403","timeNano":"1688639403423213947"},"time":1688639403423}`)
	f.Add(`{"epoch":1589270451.504}`)
	f.Add(`{"error":[],"result":{"unixtime":1688669448}}`)
	f.Fuzz(func(t *testing.T, body string) {
		for _, s := range all() {
			clk, ok := s.(Clock)
			if !ok {
				continue
			}
			got, err := clk.ParseTime("x", []byte(body))
			if err == nil {
				require.False(t, got.Before(clockMin) || got.After(clockMax), "%s: %v", s.Name(), got)
			}
		}
	})
}
