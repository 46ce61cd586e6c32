package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServesUntilSignalled(t *testing.T) {
	accounts := filepath.Join(t.TempDir(), "accounts.json")
	require.NoError(t, os.WriteFile(accounts, []byte(`[
		{"venue":"alpaca","api_key":"FAKEALPACAKEYFORTESTS","secret":"fake-secret-for-tests-only",
		 "permissions":{"read":true,"trade":true}},
		{"venue":"bearer","api_key":"fake-label","secret":"fake-token-for-tests-only",
		 "meta":{"hosts":"tokens.internal.test"}}
	]`), 0o600))

	out, stdout := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run([]string{"--accounts", accounts, "--map", "bots.internal.test=bearer"}, strings.NewReader(""), stdout, io.Discard)
		stdout.Close()
	}()

	var ready struct {
		Addr   string   `json:"addr"`
		CAFile string   `json:"ca_file"`
		Hosts  []string `json:"hosts"`
	}
	line, err := bufio.NewReader(out).ReadBytes('\n')
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(line, &ready), "%s", line)
	assert.True(t, strings.HasPrefix(ready.Addr, "127.0.0.1:"))
	assert.Contains(t, ready.Hosts, "bots.internal.test")
	assert.Contains(t, ready.Hosts, "api.alpaca.markets")

	pem, err := os.ReadFile(ready.CAFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	var d net.Dialer
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, ready.Addr)
		},
	}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequest("GET", "https://api.alpaca.markets/v2/account", nil)
	require.NoError(t, err)
	req.Header.Set("APCA-API-KEY-ID", "FAKEALPACAKEYFORTESTS")
	req.Header.Set("APCA-API-SECRET-KEY", "fake-secret-for-tests-only")
	resp, err := c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the account from --accounts is known")

	// The mapped host is served and in the certificate; it has no account.
	resp, err = c.Get("https://bots.internal.test/anything")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	// The bearer account's host is routed, certified and knows the token.
	assert.Contains(t, ready.Hosts, "tokens.internal.test")
	req, err = http.NewRequest("GET", "https://tokens.internal.test/v1/me", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer fake-token-for-tests-only")
	resp, err = c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after SIGTERM")
	}
	_, err = os.Stat(ready.CAFile)
	assert.True(t, errors.Is(err, os.ErrNotExist), "the CA file is removed: %v", err)
}

func TestRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	tests := []struct {
		name  string
		args  []string
		stdin string
		usage bool
		want  string
	}{
		{"bad map", []string{"--map", "nohost"}, "", true, "host=venue"},
		{"unknown venue in map", []string{"--map", "a.test=nowhere"}, "", true, "unknown venue"},
		{"stray argument", []string{"extra"}, "", true, "unexpected arguments"},
		{"accounts not JSON", []string{"--accounts", write("bad.json", "{")}, "", false, "accounts"},
		{"unknown venue in accounts", []string{"--accounts", "-"}, `[{"venue":"nowhere","api_key":"k"}]`, false, "unknown venue"},
		{"empty key", []string{"--accounts", "-"}, `[{"venue":"alpaca"}]`, false, "api_key is empty"},
		{"missing file", []string{"--accounts", filepath.Join(dir, "absent.json")}, "", false, "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := run(tc.args, strings.NewReader(tc.stdin), io.Discard, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, tc.usage, errors.Is(err, errUsage))
		})
	}
}
