package main

// Every rule about what the CLI prints lives in this file: data goes to
// stdout (as JSON with --json), everything meant for a person goes to
// stderr as "keyward: error: …" followed by "keyward: hint: …" lines, and
// the exit code is 0 (success), 1 (failure) or 2 (usage).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/protocol"
)

const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// ui is the CLI's connection to the person or script running it.
type ui struct {
	stdin  *os.File
	stdout io.Writer
	stderr io.Writer
	json   bool
}

// cliError is an error with the exit code and hints it should produce.
type cliError struct {
	code  int
	msg   string
	hints []string
}

func (e *cliError) Error() string { return e.msg }

func usageError(format string, args ...any) error {
	return &cliError{code: exitUsage, msg: fmt.Sprintf(format, args...), hints: []string{"run `keyward help` for usage"}}
}

func failure(msg string, hints ...string) error {
	return &cliError{code: exitFailure, msg: msg, hints: hints}
}

// report prints err for a person and returns the exit code.
func (u *ui) report(err error) int {
	var ce *cliError
	if !errors.As(err, &ce) {
		ce = &cliError{code: exitFailure, msg: err.Error(), hints: hintsFor(err)}
	}
	fmt.Fprintf(u.stderr, "keyward: error: %s\n", ce.msg)
	for _, h := range ce.hints {
		fmt.Fprintf(u.stderr, "keyward: hint: %s\n", h)
	}
	return ce.code
}

// hintsFor suggests the next step for errors from the agent.
func hintsFor(err error) []string {
	switch {
	case client.IsUnreachable(err):
		return []string{"start the agent with `keyward agent` (or point KEYWARD_SOCK at its socket)"}
	case protocol.HasCode(err, protocol.CodeMemlock):
		return []string{"raise the agent's memory-lock limit: LimitMEMLOCK= in its systemd unit, or `ulimit -l` before starting it"}
	}
	return nil
}

// note prints an informational line for a person.
func (u *ui) note(format string, args ...any) {
	fmt.Fprintf(u.stderr, "keyward: "+format+"\n", args...)
}

// printJSON writes v to stdout as indented JSON.
func (u *ui) printJSON(v any) error {
	enc := json.NewEncoder(u.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// println writes a line of data to stdout.
func (u *ui) println(format string, args ...any) {
	fmt.Fprintf(u.stdout, format+"\n", args...)
}

// isTerminal reports whether stdin is a terminal.
func (u *ui) isTerminal() bool { return term.IsTerminal(int(u.stdin.Fd())) }

// readSecret reads a passphrase or secret: from the terminal without echo
// (asking twice when confirm is set), or as one line of stdin when stdin is
// not a terminal. It never comes from a flag. The caller wipes the result.
func (u *ui) readSecret(prompt string, confirm bool) ([]byte, error) {
	if !u.isTerminal() {
		b, err := readLine(u.stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		if len(b) == 0 {
			return nil, failure(strings.ToLower(prompt)+" is empty", "write it as one line on stdin, or run from a terminal to be asked")
		}
		return b, nil
	}
	fd := int(u.stdin.Fd())
	fmt.Fprintf(u.stderr, "%s: ", prompt)
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(u.stderr)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", strings.ToLower(prompt), err)
	}
	if len(b) == 0 {
		return nil, failure(strings.ToLower(prompt) + " is empty")
	}
	if confirm {
		fmt.Fprintf(u.stderr, "%s (again): ", prompt)
		again, err := term.ReadPassword(fd)
		fmt.Fprintln(u.stderr)
		if err != nil {
			clear(b)
			return nil, fmt.Errorf("read %s: %w", strings.ToLower(prompt), err)
		}
		same := bytes.Equal(again, b)
		clear(again)
		if !same {
			clear(b)
			return nil, failure("the two entries differ; nothing was changed")
		}
	}
	return b, nil
}

// readSecretOrNextLine asks for a secret at the terminal, or reads it from
// stdin (one line, or a PEM block) when stdin is not a terminal or
// fromStdin is set. A PEM key cannot be pasted at a no-echo prompt, which
// reads one line: the message says to use --secret-file.
func (u *ui) readSecretOrNextLine(prompt string, fromStdin bool) ([]byte, error) {
	if !fromStdin && u.isTerminal() {
		b, err := u.readSecret(prompt, false)
		if err == nil && bytes.HasPrefix(b, []byte("-----BEGIN ")) {
			clear(b)
			return nil, failure("a PEM key spans several lines and cannot be pasted at the prompt", "give it with --secret-file FILE (or --secret-file - and pipe it)")
		}
		return b, err
	}
	b, err := readSecretText(u.stdin)
	if err != nil {
		return nil, fmt.Errorf("read stdin: %w", err)
	}
	if len(b) == 0 {
		return nil, failure(strings.ToLower(prompt)+" is empty", "write it on stdin (a PEM key whole, anything else as one line), or run from a terminal to be asked")
	}
	return b, nil
}

// readOptionalSecret is readSecretOrNextLine for a secret that may be
// absent: an empty answer, an empty line or the end of stdin is none.
func (u *ui) readOptionalSecret(prompt string, fromStdin bool) ([]byte, error) {
	if !fromStdin && u.isTerminal() {
		fd := int(u.stdin.Fd())
		fmt.Fprintf(u.stderr, "%s: ", prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(u.stderr)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", strings.ToLower(prompt), err)
		}
		return b, nil
	}
	return readSecretText(u.stdin)
}

// readSecretText reads one secret from r: one line, or, when the first
// line begins a PEM block, every line up to and including its END line, so
// that a passphrase may follow on the next line. Lines are read with
// readLine, so nothing past the secret is consumed.
func readSecretText(r io.Reader) ([]byte, error) {
	first, err := readLine(r)
	if err != nil || !bytes.HasPrefix(first, []byte("-----BEGIN ")) {
		return first, err
	}
	buf := first
	for {
		line, err := readLine(r)
		if err != nil {
			clear(buf)
			return nil, err
		}
		if len(buf)+1+len(line) > maxSecretLine {
			clear(buf)
			clear(line)
			return nil, failure("the key is longer than 64 KiB")
		}
		grown := make([]byte, 0, len(buf)+1+len(line))
		grown = append(append(append(grown, buf...), '\n'), line...)
		clear(buf)
		end := bytes.HasPrefix(line, []byte("-----END "))
		empty := len(line) == 0
		clear(line)
		buf = grown
		if end {
			return buf, nil
		}
		if empty && bytes.HasSuffix(buf, []byte("\n\n\n")) {
			clear(buf)
			return nil, failure("the PEM key has no -----END line", "give the whole file, from -----BEGIN to -----END")
		}
	}
}

// maxSecretLine bounds a secret or passphrase read from stdin.
const maxSecretLine = 64 << 10

// readLine reads up to a newline, one byte at a time so that nothing past
// the line is buffered (a second secret may follow) and no copy is left
// behind in a buffer the caller cannot wipe. A trailing \r\n or \n is
// dropped.
func readLine(r io.Reader) ([]byte, error) {
	buf := make([]byte, 0, 256)
	var one [1]byte
	for {
		n, err := r.Read(one[:])
		if n == 1 {
			if one[0] == '\n' {
				break
			}
			if len(buf) == cap(buf) {
				if len(buf) >= maxSecretLine {
					clear(buf)
					return nil, failure("the secret on stdin is longer than 64 KiB")
				}
				bigger := make([]byte, len(buf), 2*cap(buf))
				copy(bigger, buf)
				clear(buf)
				buf = bigger
			}
			buf = append(buf, one[0])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			clear(buf)
			return nil, err
		}
	}
	one[0] = 0
	if n := len(buf); n > 0 && buf[n-1] == '\r' {
		buf[n-1] = 0
		buf = buf[:n-1]
	}
	return buf, nil
}
