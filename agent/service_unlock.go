package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/awnumar/memguard"

	"github.com/keyward/keyward/agent/peercred"
	"github.com/keyward/keyward/protocol"
)

// CredentialName is the name of the systemd credential that holds the
// vault passphrase for unattended unlock:
//
//	LoadCredentialEncrypted=keyward.passphrase:/etc/keyward/passphrase.cred
//
// systemd decrypts it into $CREDENTIALS_DIRECTORY/keyward.passphrase,
// readable only by the service, on a file system that is never swapped.
const CredentialName = "keyward.passphrase"

// maxPassphraseFile bounds a passphrase file, as the CLI bounds a line.
const maxPassphraseFile = 64 << 10

// unlockSource picks where to read the passphrase for an unlock at start:
// --unlock-file when given, else the systemd credential when systemd
// loaded one, else nowhere (""). origin names the choice for the log.
func unlockSource(flagPath, credentialsDir string) (path, origin string, err error) {
	if flagPath != "" {
		return flagPath, "--unlock-file", nil
	}
	if credentialsDir == "" {
		return "", "", nil
	}
	p := filepath.Join(credentialsDir, CredentialName)
	_, err = os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", "", nil
	case err != nil:
		return "", "", fmt.Errorf("agent: systemd credential %s: %w", p, err)
	}
	return p, "systemd credential " + CredentialName, nil
}

// readPassphraseFile reads the passphrase from path into locked memory:
// the file's first line, without its line ending. The caller destroys the
// buffer, which wipes it. The file is opened read-only and never changed.
//
// It refuses a file other users can read, an empty passphrase and a file
// of more than one line (most likely the wrong file), and it never puts
// any of the file's content into an error or a log line.
func readPassphraseFile(path string) (*memguard.LockedBuffer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("agent: passphrase file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("agent: passphrase file: %w", err)
	}
	switch {
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("agent: passphrase file %s is not a regular file", path)
	case fi.Mode().Perm()&0o004 != 0:
		return nil, fmt.Errorf("agent: passphrase file %s can be read by every user (mode %04o): run `chmod o-rwx %s`", path, fi.Mode().Perm(), path)
	case fi.Size() > maxPassphraseFile:
		return nil, fmt.Errorf("agent: passphrase file %s is over %d KiB: it should hold one line, the vault passphrase", path, maxPassphraseFile>>10)
	}
	// Read straight into locked memory sized from the file, so no growing
	// heap buffer leaves partial copies behind. One spare byte tells a
	// file that grew since Stat.
	buf := memguard.NewBuffer(int(fi.Size()) + 1)
	n, err := io.ReadFull(f, buf.Bytes())
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
	case err != nil:
		buf.Destroy()
		return nil, fmt.Errorf("agent: passphrase file %s: %w", path, err)
	default:
		buf.Destroy()
		return nil, fmt.Errorf("agent: passphrase file %s changed while it was read", path)
	}
	line := buf.Bytes()[:n]
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	switch {
	case len(line) == 0:
		buf.Destroy()
		return nil, fmt.Errorf("agent: passphrase file %s is empty: write the vault passphrase on one line", path)
	case bytes.ContainsAny(line, "\r\n"):
		buf.Destroy()
		return nil, fmt.Errorf("agent: passphrase file %s has more than one line: it must hold only the vault passphrase", path)
	}
	// Wipe what is past the passphrase (the line ending) and hand back a
	// buffer of exactly the passphrase's length.
	out := memguard.NewBuffer(len(line))
	out.Copy(line)
	buf.Destroy()
	return out, nil
}

// unlockAtStart unlocks a with the passphrase in the file at path, on the
// owner's behalf, and wipes the passphrase whatever happens. It never logs
// the passphrase or any part of the file.
func unlockAtStart(ctx context.Context, a *Agent, owner uint32, path, origin string) (int, error) {
	buf, err := readPassphraseFile(path)
	if err != nil {
		return 0, err
	}
	defer buf.Destroy()
	ctx = peercred.NewContext(ctx, peercred.Cred{UID: owner, GID: uint32(os.Getgid()), PID: int32(os.Getpid())})
	res, err := a.Unlock(ctx, protocol.UnlockArgs{Passphrase: protocol.Secret(buf.Bytes())})
	if err != nil {
		return 0, fmt.Errorf("agent: unlock from %s (%s): %w", origin, path, err)
	}
	return res.Credentials, nil
}
