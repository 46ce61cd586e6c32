package peercred

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGetReportsThisProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	require.NoError(t, err)
	defer ln.Close()

	dialed := make(chan error, 1)
	go func() {
		c, err := net.Dial("unix", path)
		if err == nil {
			defer c.Close()
		}
		dialed <- err
	}()
	c, err := ln.AcceptUnix()
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, <-dialed)

	cred, err := Get(c)
	require.NoError(t, err)
	assert.Equal(t, uint32(os.Getuid()), cred.UID)
	assert.Equal(t, uint32(os.Getgid()), cred.GID)
	assert.Equal(t, int32(os.Getpid()), cred.PID)
}

func TestContextRoundTripAndUnknown(t *testing.T) {
	_, err := FromContext(context.Background())
	assert.ErrorIs(t, err, ErrUnknown)

	want := Cred{UID: 1000, GID: 1000, PID: 42}
	got, err := FromContext(NewContext(context.Background(), want))
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Equal(t, "uid=1000 gid=1000 pid=42", got.String())
}
