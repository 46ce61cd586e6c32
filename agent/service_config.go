package agent

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
)

// Settings are what the agent's optional config file may set, and what
// SIGHUP reloads. The file holds `key = value` lines:
//
//	# comments and blank lines are ignored
//	lock_after = 8h     # lock this long after unlocking; 0 = never
//	lock_idle  = 30m    # lock after this long without a signature; 0 = never
//	log_level  = info   # debug, info, warn or error
//
// A key may appear once; an unknown key or a bad value rejects the whole
// file. The file never holds a secret, and nothing read from it is ever
// treated as one.
type Settings struct {
	LockAfter time.Duration
	LockIdle  time.Duration
	LogLevel  slog.Level
}

// The config file's keys.
const (
	KeyLockAfter = "lock_after"
	KeyLockIdle  = "lock_idle"
	KeyLogLevel  = "log_level"
)

// maxConfigSize bounds the file: it holds three short lines.
const maxConfigSize = 64 << 10

// SettingsFile is a parsed config file: its values, and which keys it set.
type SettingsFile struct {
	Values Settings
	Set    map[string]bool
}

// LoadSettingsFile reads and parses the config file at path.
func LoadSettingsFile(path string) (SettingsFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return SettingsFile{}, fmt.Errorf("agent: config %s: %w", path, err)
	}
	defer f.Close()
	sf, err := ParseSettings(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return SettingsFile{}, fmt.Errorf("agent: config %s: %w", path, err)
	}
	return sf, nil
}

// ParseSettings parses config file text. Errors name the line and say what
// is allowed there.
func ParseSettings(r io.Reader) (SettingsFile, error) {
	sf := SettingsFile{Set: map[string]bool{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxConfigSize)
	size := 0
	for line := 1; sc.Scan(); line++ {
		size += len(sc.Bytes()) + 1
		if size > maxConfigSize {
			return SettingsFile{}, fmt.Errorf("the file is over %d KiB; it holds only %s, %s and %s", maxConfigSize>>10, KeyLockAfter, KeyLockIdle, KeyLogLevel)
		}
		text, _, _ := strings.Cut(sc.Text(), "#")
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		key, value, ok := strings.Cut(text, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !ok || key == "" {
			return SettingsFile{}, fmt.Errorf("line %d: want `key = value`, got %.80q", line, text)
		}
		if sf.Set[key] {
			return SettingsFile{}, fmt.Errorf("line %d: %s is set twice", line, key)
		}
		if err := sf.setValue(key, value); err != nil {
			return SettingsFile{}, fmt.Errorf("line %d: %w", line, err)
		}
		sf.Set[key] = true
	}
	if err := sc.Err(); err != nil {
		return SettingsFile{}, fmt.Errorf("read: %w", err)
	}
	return sf, nil
}

func (sf *SettingsFile) setValue(key, value string) error {
	switch key {
	case KeyLockAfter, KeyLockIdle:
		d, err := parseLockDuration(value)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if key == KeyLockAfter {
			sf.Values.LockAfter = d
		} else {
			sf.Values.LockIdle = d
		}
	case KeyLogLevel:
		var lv slog.Level
		if err := lv.UnmarshalText([]byte(value)); err != nil {
			return fmt.Errorf("%s: %.40q is not a level: use debug, info, warn or error", key, value)
		}
		sf.Values.LogLevel = lv
	default:
		return fmt.Errorf("unknown key %.40q: the keys are %s, %s and %s", key, KeyLockAfter, KeyLockIdle, KeyLogLevel)
	}
	return nil
}

// parseLockDuration accepts a Go duration such as 8h or 30m, or 0 for never.
func parseLockDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%.40q is not a duration: write one such as 8h, 30m or 90s, or 0 for never", s)
	}
	return d, nil
}

// Over returns base with the file's settings applied, except the keys in
// pinned, which flags set: flags win over the file, at start and at every
// reload, so a reload gives the same settings a restart would.
func (sf SettingsFile) Over(base Settings, pinned map[string]bool) Settings {
	use := func(key string) bool { return sf.Set[key] && !pinned[key] }
	if use(KeyLockAfter) {
		base.LockAfter = sf.Values.LockAfter
	}
	if use(KeyLockIdle) {
		base.LockIdle = sf.Values.LockIdle
	}
	if use(KeyLogLevel) {
		base.LogLevel = sf.Values.LogLevel
	}
	return base
}

// Shadowed lists the keys the file sets that flags override, for the log.
func (sf SettingsFile) Shadowed(pinned map[string]bool) []string {
	var out []string
	for _, k := range []string{KeyLockAfter, KeyLockIdle, KeyLogLevel} {
		if sf.Set[k] && pinned[k] {
			out = append(out, k)
		}
	}
	return out
}
