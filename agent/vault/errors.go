package vault

import (
	"errors"
	"io/fs"
	"strings"
)

// Sentinel errors, for errors.Is. The errors this package returns wrap them
// with the operation, the path and what to do next, and never contain secret
// material.
var (
	// ErrNotExist: there is no vault file at the path. It also matches
	// fs.ErrNotExist.
	ErrNotExist = &sentinel{msg: "no vault", also: fs.ErrNotExist}
	// ErrExists: Create found a file already at the path.
	ErrExists = &sentinel{msg: "vault already exists", also: fs.ErrExist}
	// ErrWrongPassphrase: the passphrase does not unwrap the data key. An
	// edited kdf or key line looks the same, by construction.
	ErrWrongPassphrase = errors.New("wrong passphrase")
	// ErrCorrupt: the file is damaged (truncated, a byte changed, a malformed
	// line). Detected without the passphrase.
	ErrCorrupt = errors.New("vault file is damaged")
	// ErrTampered: the file is intact but was edited outside keyward: its MAC
	// or a record's authentication failed under the right passphrase, or its
	// records are not in the order keyward writes them.
	ErrTampered = errors.New("vault file failed authentication: it was modified outside keyward")
	// ErrUnsupportedVersion: the file is in a format this keyward cannot read.
	ErrUnsupportedVersion = errors.New("unsupported vault format")
	// ErrPermissions: the file is readable or writable by group or others.
	ErrPermissions = errors.New("vault file permissions are too open")
	// ErrNotRegular: the path is a symbolic link, a directory, a FIFO or
	// another file that is not a plain vault file.
	ErrNotRegular = errors.New("the vault path is not a regular file")
	// ErrRecordExists: Add was given a name that is already in the vault.
	ErrRecordExists = errors.New("credential already exists")
	// ErrNoRecord: no record has that name.
	ErrNoRecord = errors.New("no such credential")
	// ErrLockHeld: another process holds the vault's lock file.
	ErrLockHeld = errors.New("vault is in use by another keyward agent")
	// ErrClosed: the Vault was closed and its data key destroyed.
	ErrClosed = errors.New("vault is closed")
)

// sentinel is an error that also matches a standard fs error, so callers
// that only know the os package still see a missing or existing file.
type sentinel struct {
	msg  string
	also error
}

func (e *sentinel) Error() string        { return e.msg }
func (e *sentinel) Is(target error) bool { return target == e.also }

// shellQuote quotes a path for a command the user is told to run.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+,:=@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
