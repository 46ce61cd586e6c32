package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair with the kernel's ioctls.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	var unlock int32
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, m.Fd(), unix.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock)))
	require.Zero(t, errno)
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	require.NoError(t, err)
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	return m, s
}

// TestPassphraseIsNotEchoed runs `keyward init` on a real terminal, waits
// for each prompt, types the passphrase as a person would, and checks that
// the terminal never shows it.
func TestPassphraseIsNotEchoed(t *testing.T) {
	master, slave := openPTY(t)
	defer master.Close()

	var stderr bytes.Buffer
	stderrR, stderrW, err := os.Pipe()
	require.NoError(t, err)
	cmd := exec.Command(keywardBin, "init", "--vault", filepath.Join(t.TempDir(), "vault"), "--argon2-memory", "8", "--argon2-time", "1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, stderrW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	require.NoError(t, cmd.Start())
	slave.Close()
	stderrW.Close()

	// Everything the terminal shows, collected in the background.
	screen := make(chan []byte, 1)
	go func() {
		var all []byte
		buf := make([]byte, 1024)
		for {
			n, err := master.Read(buf)
			all = append(all, buf[:n]...)
			if err != nil {
				screen <- all
				return
			}
		}
	}()

	const pass = "correct horse battery staple"
	waitFor := func(prompt string, count int) {
		deadline := time.Now().Add(20 * time.Second)
		buf := make([]byte, 256)
		for strings.Count(stderr.String(), prompt) < count {
			require.True(t, time.Now().Before(deadline), "no prompt %q; stderr so far: %q", prompt, stderr.String())
			stderrR.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			n, _ := stderrR.Read(buf)
			stderr.Write(buf[:n])
		}
	}
	// The prompt is written just before echo goes off: type only once the
	// terminal itself says echo is off, as it is while a person types.
	echoOff := func() {
		require.Eventually(t, func() bool {
			tio, err := unix.IoctlGetTermios(int(master.Fd()), unix.TCGETS)
			return err == nil && tio.Lflag&unix.ECHO == 0
		}, 20*time.Second, time.Millisecond, "echo never went off")
	}
	waitFor("New vault passphrase: ", 1)
	echoOff()
	_, err = master.Write([]byte(pass + "\r"))
	require.NoError(t, err)
	waitFor("New vault passphrase (again): ", 1)
	echoOff()
	_, err = master.Write([]byte(pass + "\r"))
	require.NoError(t, err)

	require.NoError(t, cmd.Wait(), "stderr: %s", stderr.String())
	master.SetReadDeadline(time.Now().Add(2 * time.Second))
	shown := <-screen
	assert.Contains(t, string(shown), "Created an empty vault", "the terminal shows the output")
	assert.NotContains(t, string(shown), "correct horse", "the passphrase is not echoed")
	assert.NotContains(t, stderr.String(), "correct horse")
}
