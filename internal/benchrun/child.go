package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The harness's child processes: how they are started, watched, logged
// and stopped.

// tailBuffer keeps the first 8 KiB and the last 56 KiB written to it: a
// child's log, for error messages (a crash's first line is at its head).
type tailBuffer struct {
	mu         sync.Mutex
	head, tail []byte
	dropped    bool
}

const (
	logHead = 8 << 10
	logTail = 56 << 10
)

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if room := logHead - len(t.head); room > 0 {
		k := min(room, len(p))
		t.head = append(t.head, p[:k]...)
		p = p[k:]
	}
	t.tail = append(t.tail, p...)
	if over := len(t.tail) - logTail; over > 0 {
		t.tail = append(t.tail[:0], t.tail[over:]...)
		t.dropped = true
	}
	return n, nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	sep := ""
	if t.dropped {
		sep = "\n…\n"
	}
	return strings.TrimSpace(string(t.head) + sep + string(t.tail))
}

// crashLine is the log's first line that reports a Go panic or fatal
// error, or "".
func (t *tailBuffer) crashLine() string {
	for line := range strings.SplitSeq(t.String(), "\n") {
		if strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "fatal error:") {
			return line
		}
	}
	return ""
}

// child is a process the harness started.
type child struct {
	name string
	cmd  *exec.Cmd
	logs *tailBuffer
	done chan struct{} // closed once the process has exited
	err  error         // its exit status, set before done closes
}

// pid is the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// alive reports whether the process is still running.
func (c *child) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// stop asks the process to exit (SIGINT) and kills it after 10 s.
func (c *child) stop() {
	if !c.alive() {
		return
	}
	c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// kill ends the process at once.
func (c *child) kill() {
	if c.alive() {
		c.cmd.Process.Kill()
	}
}

// exitError says how a child that should be running ended, with its log
// (a crash's first line, and the log's last lines).
func (c *child) exitError() error {
	if crash := c.logs.crashLine(); crash != "" {
		return fmt.Errorf("%s CRASHED (%v): %s", c.name, c.err, crash)
	}
	return fmt.Errorf("%s exited (%v): %s", c.name, c.err, lastLines(c.logs.String(), 5))
}

// lastLines is s's last n lines, joined with " / ".
func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], " / ")
}

// startChild starts path with args in dir as a child of the harness, with
// its stdout and stderr kept in a tail buffer. dir "" is the harness's
// directory; env nil inherits its environment; cred nil keeps its user.
func (h *harness) startChild(name, dir, path string, args, env []string, cred *syscall.Credential) (*child, error) {
	c := &child{name: name, logs: &tailBuffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(path, args...)
	c.cmd.Dir = dir
	c.cmd.Env = env
	// The whole log also goes to a file, kept with -keep.
	var out io.Writer = c.logs
	logFile, err := os.Create(filepath.Join(h.dir, strings.ReplaceAll(name, " ", "-")+".log"))
	if err == nil {
		out = io.MultiWriter(c.logs, logFile)
	}
	c.cmd.Stdout = out
	c.cmd.Stderr = out
	if cred != nil {
		c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.aborted {
		return nil, errors.New("the run was aborted")
	}
	if err := c.cmd.Start(); err != nil {
		if logFile != nil {
			logFile.Close()
		}
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		c.err = c.cmd.Wait() // returns once the output is copied
		if logFile != nil {
			logFile.Close()
		}
		close(c.done)
	}()
	h.children = append(h.children, c)
	return c, nil
}

// waitListening waits up to 20 s until sock accepts a connection, or
// fails at once if c exits first.
func waitListening(sock string, c *child) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		if nc, err := net.Dial("unix", sock); err == nil {
			nc.Close()
			return nil
		}
		if !c.alive() {
			return c.exitError()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not listen on %s after 20 s: %s", c.name, sock, c.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// copyExecutable copies src to dst, mode 0755: the agent's user must be
// able to run the binaries, wherever the harness's own copies live.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}
