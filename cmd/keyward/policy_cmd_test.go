package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDefaultPolicyThatCannotBeReadStopsTheAgent: a policy file at the
// default path that is there but cannot be looked at (here a symlink
// loop) is an error, not "no policy", which would let every user of the
// agent use every credential.
func TestDefaultPolicyThatCannotBeReadStopsTheAgent(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)

	t.Setenv("KEYWARD_POLICY", filepath.Join(dir, "absent.toml"))
	h, err := loadAgentPolicy("", log)
	require.NoError(t, err, "no file: no policy")
	assert.Nil(t, h)

	loop := filepath.Join(dir, "policy.toml")
	require.NoError(t, os.Symlink(loop, loop))
	t.Setenv("KEYWARD_POLICY", loop)
	h, err = loadAgentPolicy("", log)
	require.Error(t, err)
	assert.Nil(t, h)
	assert.Contains(t, err.Error(), loop)
}
