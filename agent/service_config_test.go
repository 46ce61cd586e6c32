package agent

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSettings(t *testing.T) {
	cases := []struct {
		name    string
		text    string
		want    Settings
		set     []string
		wantErr string
	}{
		{"empty", "", Settings{}, nil, ""},
		{"all keys, comments and spacing", "# keyward\n\nlock_after = 8h\n  lock_idle=30m   # idle\nlog_level = debug\n",
			Settings{LockAfter: 8 * time.Hour, LockIdle: 30 * time.Minute, LogLevel: slog.LevelDebug},
			[]string{KeyLockAfter, KeyLockIdle, KeyLogLevel}, ""},
		{"zero is never", "lock_idle = 0\n", Settings{}, []string{KeyLockIdle}, ""},
		{"unknown key", "lock_after = 1h\ncolour = blue\n", Settings{}, nil, `line 2: unknown key "colour": the keys are lock_after, lock_idle and log_level`},
		{"not key=value", "lock_after 1h\n", Settings{}, nil, "line 1: want `key = value`"},
		{"bad duration", "lock_idle = soon\n", Settings{}, nil, `line 1: lock_idle: "soon" is not a duration`},
		{"negative duration", "lock_after = -1h\n", Settings{}, nil, "is not a duration"},
		{"bad level", "log_level = loud\n", Settings{}, nil, `line 1: log_level: "loud" is not a level`},
		{"twice", "log_level = info\nlog_level = debug\n", Settings{}, nil, "line 2: log_level is set twice"},
		{"too big", strings.Repeat("# padding line\n", 5000), Settings{}, nil, "over 64 KiB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sf, err := ParseSettings(strings.NewReader(tc.text))
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, sf.Values)
			assert.Len(t, sf.Set, len(tc.set))
			for _, k := range tc.set {
				assert.True(t, sf.Set[k], k)
			}
		})
	}
}

// TestSettingsFlagsWin: a key set by a flag keeps the flag's value; the
// file fills in the rest; keys the file leaves out keep the base.
func TestSettingsFlagsWin(t *testing.T) {
	sf, err := ParseSettings(strings.NewReader("lock_after = 8h\nlog_level = debug\n"))
	require.NoError(t, err)
	base := Settings{LockAfter: time.Hour, LockIdle: time.Minute, LogLevel: slog.LevelWarn}
	got := sf.Over(base, map[string]bool{KeyLogLevel: true})
	assert.Equal(t, Settings{LockAfter: 8 * time.Hour, LockIdle: time.Minute, LogLevel: slog.LevelWarn}, got)
	assert.Equal(t, []string{KeyLogLevel}, sf.Shadowed(map[string]bool{KeyLogLevel: true, KeyLockIdle: true}))
}

func TestLoadSettingsFileNamesThePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.conf")
	_, err := LoadSettingsFile(path)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.NoError(t, os.WriteFile(path, []byte("lock_idle = x\n"), 0o600))
	_, err = LoadSettingsFile(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "agent: config "+path+": line 1: lock_idle")
}

// TestReloaderKeepsSettingsOnBadFile: a reload that fails to parse changes
// nothing; a good one applies the log level at once.
func TestReloaderKeepsSettingsOnBadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.conf")
	require.NoError(t, os.WriteFile(path, []byte("log_level = warn\n"), 0o600))
	lv := new(slog.LevelVar)
	r := &reloader{path: path, pinned: map[string]bool{}, level: lv, log: testLog(t), notifier: &notifier{log: testLog(t)}, agent: struct{}{}}
	s, err := r.initial()
	require.NoError(t, err)
	assert.Equal(t, slog.LevelWarn, s.LogLevel)
	assert.Equal(t, slog.LevelWarn, lv.Level())

	require.NoError(t, os.WriteFile(path, []byte("log_level = shout\n"), 0o600))
	assert.False(t, r.reload(func() string { return "" }))
	assert.Equal(t, slog.LevelWarn, lv.Level(), "a rejected file changes nothing")

	require.NoError(t, os.WriteFile(path, []byte("log_level = debug\nlock_idle = 5m\n"), 0o600))
	assert.True(t, r.reload(func() string { return "" }))
	assert.Equal(t, slog.LevelDebug, lv.Level())
	assert.Equal(t, time.Duration(0), r.current.LockIdle, "an agent without SetLockTimers keeps its timers until restarted")
}

type timerAgent struct{ after, idle time.Duration }

func (a *timerAgent) SetLockTimers(after, idle time.Duration) { a.after, a.idle = after, idle }

func TestReloaderAppliesLockTimersWhenTheAgentCan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.conf")
	require.NoError(t, os.WriteFile(path, []byte(""), 0o600))
	ta := &timerAgent{}
	r := &reloader{path: path, pinned: map[string]bool{KeyLockAfter: true}, base: Settings{LockAfter: time.Hour},
		log: testLog(t), notifier: &notifier{log: testLog(t)}, agent: ta}
	_, err := r.initial()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte("lock_after = 2h\nlock_idle = 5m\n"), 0o600))
	require.True(t, r.reload(func() string { return "" }))
	assert.Equal(t, &timerAgent{after: time.Hour, idle: 5 * time.Minute}, ta, "lock_after is pinned by a flag")
}
