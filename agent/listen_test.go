package agent

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestListenGroupSharesWithTheGroupOnly: with a use group, the directory
// the agent creates is 0750 and the socket 0660, both of that group;
// others get nothing.
func TestListenGroupSharesWithTheGroupOnly(t *testing.T) {
	gid := uint32(os.Getgid())
	if os.Getuid() == 0 {
		gid = 4242 // root may give files to any group
	}
	dir, err := os.MkdirTemp("", "kw-listen-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "shared", "agent.sock")
	ln, err := ListenGroup(path, gid)
	require.NoError(t, err)
	defer ln.Close()
	for _, tc := range []struct {
		path string
		mode os.FileMode
	}{{filepath.Dir(path), 0o750}, {path, 0o660}} {
		fi, err := os.Stat(tc.path)
		require.NoError(t, err)
		assert.Equal(t, tc.mode, fi.Mode().Perm(), tc.path)
		assert.Equal(t, gid, fi.Sys().(*syscall.Stat_t).Gid, tc.path)
	}
}

// TestListenGroupRefusesADirectoryTheGroupCannotEnter: an existing 0700
// directory of another group would make the group's bots fail to connect
// with "permission denied"; the agent says what to change instead.
func TestListenGroupRefusesADirectoryTheGroupCannotEnter(t *testing.T) {
	dir, err := os.MkdirTemp("", "kw-listen-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sub := filepath.Join(dir, "private")
	require.NoError(t, os.Mkdir(sub, 0o700))
	_, err = ListenGroup(filepath.Join(sub, "agent.sock"), 4242)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "keeps group 4242 out: run `chgrp 4242 "+sub+" && chmod 750 "+sub+"`")
}
