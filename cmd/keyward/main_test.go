package main

import (
	"flag"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		pos     []string
		scheme  string
		hosts   string
		wantErr string
	}{
		{args: []string{"main", "--scheme", "binance"}, pos: []string{"main"}, scheme: "binance"},
		{args: []string{"--scheme=binance", "main"}, pos: []string{"main"}, scheme: "binance"},
		{args: []string{"main", "--host", "a", "x", "--host", "b"}, pos: []string{"main", "x"}, hosts: "a,b"},
		{args: []string{"main", "--", "--scheme", "x"}, pos: []string{"main", "--scheme", "x"}},
		{args: []string{"main", "--nosuch"}, wantErr: "flag provided but not defined: -nosuch"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		scheme := fs.String("scheme", "", "")
		var hosts multiFlag
		fs.Var(&hosts, "host", "")
		pos, err := parseInterspersed(fs, tc.args)
		if tc.wantErr != "" {
			assert.EqualError(t, err, tc.wantErr, "%v", tc.args)
			continue
		}
		require.NoError(t, err, "%v", tc.args)
		assert.Equal(t, tc.pos, pos, "%v", tc.args)
		assert.Equal(t, tc.scheme, *scheme, "%v", tc.args)
		assert.Equal(t, tc.hosts, hosts.String(), "%v", tc.args)
	}
}

func TestReadLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"secret\n", "secret"},
		{"secret\r\n", "secret"},
		{"secret", "secret"},
		{"first\nsecond\n", "first"},
		{"\n", ""},
		{"", ""},
		{"with spaces and\ttabs \n", "with spaces and\ttabs "},
	} {
		// One byte per Read, as a terminal or a slow pipe delivers.
		got, err := readLine(iotest.OneByteReader(strings.NewReader(tc.in)))
		require.NoError(t, err)
		assert.Equal(t, tc.want, string(got), "%q", tc.in)
	}

	// Nothing past the line is consumed: a second secret can follow.
	r := strings.NewReader("old pass\nnew pass\n")
	first, err := readLine(r)
	require.NoError(t, err)
	second, err := readLine(r)
	require.NoError(t, err)
	assert.Equal(t, "old pass", string(first))
	assert.Equal(t, "new pass", string(second))

	_, err = readLine(strings.NewReader(strings.Repeat("x", maxSecretLine+1)))
	assert.EqualError(t, err, "the secret on stdin is longer than 64 KiB")
}
