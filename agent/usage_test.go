package agent

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestUsageSavedOffTheSigningPath: the once-a-minute save of key usage
// times happens after touch returns, and flush writes what is left.
func TestUsageSavedOffTheSigningPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.usage")
	u := newUsageTracker(path, slog.New(slog.DiscardHandler))
	now := time.Now()
	u.touch("a", now) // first touch: a save is due
	require.Eventually(t, func() bool {
		raw, err := os.ReadFile(path)
		var got map[string]time.Time
		return err == nil && json.Unmarshal(raw, &got) == nil && got["a"].Equal(now)
	}, 5*time.Second, 5*time.Millisecond)

	u.touch("b", now.Add(time.Second)) // within the minute: not saved yet
	u.flush()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var got map[string]time.Time
	got = nil // Unmarshal would merge into the old map
	require.NoError(t, json.Unmarshal(raw, &got))
	require.Len(t, got, 2)

	// A save that fails is tried again by the next one. The file is put
	// under a regular file, which no user, root included, can write in.
	blocker := filepath.Join(t.TempDir(), "not-a-directory")
	require.NoError(t, os.WriteFile(blocker, nil, 0o600))
	u.path = filepath.Join(blocker, "vault.usage")
	u.touch("c", now.Add(2*time.Second))
	u.flush()
	u.path = path
	raw, err = os.ReadFile(path)
	require.NoError(t, err)
	got = nil // Unmarshal would merge into the old map
	require.NoError(t, json.Unmarshal(raw, &got))
	require.Len(t, got, 2, "the failed save wrote nothing here")
	u.flush()
	raw, err = os.ReadFile(path)
	require.NoError(t, err)
	got = nil // Unmarshal would merge into the old map
	require.NoError(t, json.Unmarshal(raw, &got))
	require.Len(t, got, 3)
}
