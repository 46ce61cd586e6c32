package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/protocol"
)

// The service tests: the real binary under systemd's socket activation
// (systemd-socket-activate passes a listening socket exactly as a .socket
// unit does), the sd_notify protocol, unlock at start, SIGHUP, and a bot
// that may use credentials through group membership.

const testPass = "correct horse battery staple"

// needTool skips the test when a program is not installed.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (.ci/run installs it)", name)
	}
	return p
}

// activated is `keyward agent` under systemd-socket-activate.
type activated struct {
	*agentProc
}

// startActivated runs systemd-socket-activate with the given options
// (listen addresses and flags) in front of `keyward agent args...`. The
// agent starts on the first connection, as under a .socket unit. env is
// passed with -E: systemd-socket-activate passes nothing else.
func startActivated(t *testing.T, saFlags []string, env []string, args ...string) *activated {
	t.Helper()
	sa := needTool(t, "systemd-socket-activate")
	a := &agentProc{logs: &lockedBuffer{}, done: make(chan struct{})}
	argv := append([]string{}, saFlags...)
	for _, e := range append([]string{raceQuiet}, env...) {
		argv = append(argv, "-E", e)
	}
	argv = append(argv, keywardBin, "agent")
	argv = append(argv, args...)
	a.cmd = exec.Command(sa, argv...)
	a.cmd.Stderr = a.logs
	require.NoError(t, a.cmd.Start())
	go func() { a.err = a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		a.signal(syscall.SIGTERM)
		select {
		case <-a.done:
		case <-time.After(10 * time.Second):
			a.cmd.Process.Kill()
			<-a.done
		}
	})
	return &activated{a}
}

// waitLog waits up to 20 s for the logs to match re.
func waitLog(t *testing.T, logs *lockedBuffer, re string) {
	t.Helper()
	rx := regexp.MustCompile(re)
	if !assert.Eventually(t, func() bool { return rx.MatchString(logs.String()) }, 20*time.Second, 10*time.Millisecond) {
		t.Fatalf("log never matched %q:\n%s", re, logs.String())
	}
}

// waitSocketFile waits until systemd-socket-activate has bound path.
func waitSocketFile(t *testing.T, path string) {
	t.Helper()
	require.Eventually(t, func() bool { _, err := os.Lstat(path); return err == nil }, 10*time.Second, 10*time.Millisecond)
}

// TestSystemdSocketActivation: the agent serves on the socket systemd
// passes (hello and status through it from the Go client and the CLI),
// makes no socket of its own, and leaves the passed socket in place when
// it stops, ready for the next activation.
func TestSystemdSocketActivation(t *testing.T) {
	dir := shortTempDir(t, "kw-sa-")
	sock, vault := filepath.Join(dir, "agent.sock"), filepath.Join(dir, "vault")
	unused := filepath.Join(dir, "own", "agent.sock")
	initVault(t, vault, testPass)
	agent := startActivated(t, []string{"-l", sock}, nil, "--vault", vault, "--socket", unused)
	waitSocketFile(t, sock)

	// The first connection starts the agent, and is served.
	c, err := client.Dial(sock)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hello, err := c.Hello(ctx, protocol.HelloArgs{Version: protocol.Version, Client: "e2e"})
	require.NoError(t, err, agent.logs.String())
	assert.Equal(t, protocol.Version, hello.Version)
	st, err := c.Status(ctx)
	require.NoError(t, err)
	assert.True(t, st.Locked)
	assert.True(t, st.VaultPresent)
	out, err := cli(t, sock, "", "status")
	require.NoError(t, err, out)
	assert.Regexp(t, `state:\s+locked`, out)
	assert.Regexp(t, `keyward agent listening.*socket=`+regexp.QuoteMeta(sock)+` activated=true`, agent.logs.String())
	_, err = os.Lstat(filepath.Dir(unused))
	assert.ErrorIs(t, err, os.ErrNotExist, "an activated agent makes no socket of its own")

	require.NoError(t, agent.signal(syscall.SIGTERM))
	require.NoError(t, agent.wait(), agent.logs.String())
	fi, err := os.Lstat(sock)
	require.NoError(t, err, "the activated socket must survive the agent")
	assert.NotZero(t, fi.Mode()&os.ModeSocket)
}

// TestSystemdActivationRefusesBadSockets: every socket arrangement other
// than one listening Unix stream socket stops the agent with an error
// that says what to change in keyward.socket.
func TestSystemdActivationRefusesBadSockets(t *testing.T) {
	cases := []struct {
		name  string
		flags func(dir string) []string
		poke  func(t *testing.T, dir string)
		want  string
	}{
		{"two sockets", func(d string) []string {
			return []string{"-l", filepath.Join(d, "a.sock"), "-l", filepath.Join(d, "b.sock")}
		}, dialStream("a.sock"), "passed 2 sockets, and keyward serves exactly one"},
		{"a TCP port", func(d string) []string { return []string{"-l", tcpAddr(t, d)} }, dialTCP,
			"passed a tcp socket (127.0.0.1:"},
		{"Accept=yes", func(d string) []string { return []string{"--accept", "-l", filepath.Join(d, "a.sock")} },
			dialStream("a.sock"), "passed a connected socket, not a listening one: set Accept=no"},
		{"SOCK_SEQPACKET", func(d string) []string { return []string{"--seqpacket", "-l", filepath.Join(d, "a.sock")} },
			dialNet("unixpacket", "a.sock"), "passed a unixpacket socket"},
		{"a datagram socket", func(d string) []string { return []string{"--datagram", "-l", filepath.Join(d, "a.sock")} },
			dialNet("unixgram", "a.sock"), "passed a unixgram socket, and keyward speaks only on a Unix stream socket: use ListenStream=, not ListenDatagram="},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := shortTempDir(t, "kw-sabad-")
			vault := filepath.Join(dir, "vault")
			agent := startActivated(t, tc.flags(dir), nil, "--vault", vault)
			waitLog(t, agent.logs, `Listening on`)
			tc.poke(t, dir)
			waitLog(t, agent.logs, regexp.QuoteMeta("keyward: error: agent: socket activation "+tc.want))
			if tc.name != "Accept=yes" { // there systemd-socket-activate stays, and forks
				var ee *exec.ExitError
				require.ErrorAs(t, agent.wait(), &ee)
				assert.Equal(t, 1, ee.ExitCode())
			}
		})
	}
}

func dialStream(name string) func(*testing.T, string) { return dialNet("unix", name) }

func dialNet(network, name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		waitSocketFile(t, filepath.Join(dir, name))
		c, err := net.Dial(network, filepath.Join(dir, name))
		require.NoError(t, err)
		c.Write([]byte{0, 0, 0, 1, '{'}) // wakes a datagram socket; ignored otherwise
		t.Cleanup(func() { c.Close() })
	}
}

// tcpAddr picks a free local port and remembers it in dir for dialTCP.
func tcpAddr(t *testing.T, dir string) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tcp"), []byte(addr), 0o600))
	return addr
}

func dialTCP(t *testing.T, dir string) {
	addr, err := os.ReadFile(filepath.Join(dir, "tcp"))
	require.NoError(t, err)
	var c net.Conn
	require.Eventually(t, func() bool { c, err = net.Dial("tcp", string(addr)); return err == nil }, 10*time.Second, 10*time.Millisecond)
	t.Cleanup(func() { c.Close() })
}

// notifyListener is a service manager's end of $NOTIFY_SOCKET: it records
// every sd_notify datagram.
type notifyListener struct {
	path string
	mu   sync.Mutex
	msgs []string
}

func listenNotify(t *testing.T, dir string) *notifyListener {
	t.Helper()
	n := &notifyListener{path: filepath.Join(dir, "notify.sock")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, string(buf[:k]))
			n.mu.Unlock()
		}
	}()
	return n
}

func (n *notifyListener) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.msgs...)
}

// count returns how many messages contain line as one of their lines.
func (n *notifyListener) count(line string) int {
	k := 0
	for _, m := range n.all() {
		for _, l := range strings.Split(m, "\n") {
			if l == line {
				k++
				break
			}
		}
	}
	return k
}

// waitFor waits until a message carries line.
func (n *notifyListener) waitFor(t *testing.T, line string) {
	t.Helper()
	require.Eventually(t, func() bool { return n.count(line) > 0 }, 20*time.Second, 10*time.Millisecond,
		"no sd_notify message with %q; got %q", line, n.all())
}

// TestSystemdNotify drives the agent through its life with a unixgram
// NOTIFY_SOCKET, as systemd runs a Type=notify service with WatchdogSec=:
// READY=1 with its state once serving, STATUS= on every unlock, add and
// lock, WATCHDOG=1 pings that stop as soon as its self-check fails (here:
// its socket file is deleted, so the check cannot dial it), and STOPPING=1.
func TestSystemdNotify(t *testing.T) {
	dir := shortTempDir(t, "kw-notify-")
	sock, vault := filepath.Join(dir, "agent.sock"), filepath.Join(dir, "vault")
	initVault(t, vault, testPass)
	n := listenNotify(t, dir)
	const watchdogUsec = 1_000_000 // pings every 500 ms
	agent := startActivated(t, []string{"-l", sock},
		[]string{"NOTIFY_SOCKET=" + n.path, fmt.Sprintf("WATCHDOG_USEC=%d", watchdogUsec)}, "--vault", vault)
	waitSocketFile(t, sock)
	out, err := cli(t, sock, "", "status")
	require.NoError(t, err, out)

	n.waitFor(t, "READY=1")
	first := n.all()
	assert.Contains(t, first, "READY=1\nSTATUS=locked, 0 credentials in vault", "READY=1 carries the state: %q", first)

	out, err = cli(t, sock, testPass+"\n", "unlock")
	require.NoError(t, err, out)
	n.waitFor(t, "STATUS=unlocked, 0 credentials")
	out, err = cli(t, sock, "not-a-real-secret-123\n", "add", "main", "--scheme", "binance", "--api-key", "k1")
	require.NoError(t, err, out)
	n.waitFor(t, "STATUS=unlocked, 1 credential")
	out, err = cli(t, sock, "", "lock")
	require.NoError(t, err, out)
	n.waitFor(t, "STATUS=locked, 1 credential in vault")
	for _, m := range n.all() {
		assert.NotContains(t, m, testPass, "a notification never carries the passphrase")
		assert.NotContains(t, m, "not-a-real-secret-123")
	}

	require.Eventually(t, func() bool { return n.count("WATCHDOG=1") >= 3 }, 20*time.Second, 50*time.Millisecond,
		"watchdog pings: %q", n.all())
	assert.Contains(t, agent.logs.String(), `msg="watchdog enabled" interval=1s ping_every=500ms`)

	// Break the agent the way a clobbered /run would: its socket is gone,
	// so no client could reach it. The pings must stop.
	require.NoError(t, os.Remove(sock))
	waitLog(t, agent.logs, `watchdog: self-check failed; not pinging the service manager.*dial own socket`)
	before := n.count("WATCHDOG=1")
	time.Sleep(4 * watchdogUsec * time.Microsecond / 2)
	assert.Equal(t, before, n.count("WATCHDOG=1"), "no ping while the self-check fails")

	require.NoError(t, agent.signal(syscall.SIGTERM))
	require.NoError(t, agent.wait(), agent.logs.String())
	n.waitFor(t, "STOPPING=1")
}

// startUnlockAgent runs the agent on its own socket with extra env and
// flags, and returns it once it listens.
func startUnlockAgent(t *testing.T, sock, vault string, env []string, args ...string) *agentProc {
	t.Helper()
	a := &agentProc{logs: &lockedBuffer{}, done: make(chan struct{})}
	a.cmd = exec.Command(keywardBin, append([]string{"agent", "--socket", sock, "--vault", vault}, args...)...)
	a.cmd.Env = append(append(os.Environ(), raceQuiet), env...)
	a.cmd.Stderr = a.logs
	require.NoError(t, a.cmd.Start())
	go func() { a.err = a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		a.signal(syscall.SIGINT)
		select {
		case <-a.done:
		case <-time.After(10 * time.Second):
			a.cmd.Process.Kill()
			<-a.done
		}
	})
	return a
}

// TestUnlockAtStart: the agent unlocks itself from --unlock-file, or from
// the systemd credential keyward.passphrase in $CREDENTIALS_DIRECTORY; the
// file is left exactly as it was; the passphrase never reaches the log;
// and, read from the agent's memory as root, the passphrase is only in
// locked memory while unlocked and nowhere after lock: the buffer it was
// read into was wiped.
func TestUnlockAtStart(t *testing.T) {
	const pass = "unattended-passphrase-Hq27xLmV"
	cases := []struct {
		name  string
		setup func(t *testing.T, dir, file string) (env, args []string)
		from  string
	}{
		{"--unlock-file", func(t *testing.T, dir, file string) ([]string, []string) {
			return nil, []string{"--unlock-file", file}
		}, "--unlock-file"},
		{"CREDENTIALS_DIRECTORY", func(t *testing.T, dir, file string) ([]string, []string) {
			// What systemd makes for LoadCredentialEncrypted=keyward.passphrase:…
			creds := filepath.Join(dir, "credentials")
			require.NoError(t, os.Mkdir(creds, 0o700))
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(creds, "keyward.passphrase"), data, 0o400))
			return []string{"CREDENTIALS_DIRECTORY=" + creds}, nil
		}, "systemd credential keyward.passphrase"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := shortTempDir(t, "kw-unlock-")
			sock, vault := agentPaths(dir)
			initVault(t, vault, pass)
			file := filepath.Join(dir, "passphrase")
			require.NoError(t, os.WriteFile(file, []byte(pass+"\n"), 0o600))
			old, err := os.Stat(file)
			require.NoError(t, err)
			env, args := tc.setup(t, dir, file)
			agent := startUnlockAgent(t, sock, vault, env, args...)
			waitListening(t, sock, agent.logs)

			out, err := cli(t, sock, "", "status", "--json")
			require.NoError(t, err, out)
			assert.Contains(t, out, `"locked": false`, "the agent unlocked itself")
			assert.Regexp(t, `msg="unlocked at start" from="?`+regexp.QuoteMeta(tc.from)+`"? credentials=0`, agent.logs.String())
			assert.NotContains(t, agent.logs.String(), pass)

			data, err := os.ReadFile(file)
			require.NoError(t, err)
			assert.Equal(t, pass+"\n", string(data), "the passphrase file is not altered")
			now, err := os.Stat(file)
			require.NoError(t, err)
			assert.Equal(t, old.ModTime(), now.ModTime())
			assert.Equal(t, old.Mode(), now.Mode())

			if os.Getuid() != 0 {
				return
			}
			pid := agent.cmd.Process.Pid
			needles := map[string][]byte{"passphrase": []byte(pass)}
			for _, h := range scan(t, pid, needles) {
				assert.Contains(t, h, "(locked)", "while unlocked, the passphrase outside locked memory: %s", h)
			}
			out, err = cli(t, sock, "", "lock")
			require.NoError(t, err, out)
			assert.Empty(t, scan(t, pid, needles), "after lock, the passphrase is nowhere in the agent's memory")
		})
	}
}

// TestUnlockAtStartFailures: a wrong passphrase or an unsafe file stops
// the agent with an error that names the file, never its content.
func TestUnlockAtStartFailures(t *testing.T) {
	cases := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
	}{
		{"wrong passphrase", "not-the-passphrase-Pw4\n", 0o600, "wrong passphrase: the vault was not unlocked"},
		{"world-readable", testPass + "\n", 0o644, "can be read by every user (mode 0644)"},
		{"two lines", testPass + "\nnot-the-passphrase-Pw4\n", 0o600, "has more than one line"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := shortTempDir(t, "kw-unlockbad-")
			sock, vault := agentPaths(dir)
			initVault(t, vault, testPass)
			file := filepath.Join(dir, "passphrase")
			require.NoError(t, os.WriteFile(file, []byte(tc.content), 0o600))
			require.NoError(t, os.Chmod(file, tc.mode))
			agent := startUnlockAgent(t, sock, vault, nil, "--unlock-file", file)
			var ee *exec.ExitError
			require.ErrorAs(t, agent.wait(), &ee)
			assert.Equal(t, 1, ee.ExitCode())
			logs := agent.logs.String()
			assert.Contains(t, logs, "keyward: error: agent: ")
			assert.Contains(t, logs, tc.want)
			assert.Contains(t, logs, file)
			assert.NotContains(t, logs, "not-the-passphrase-Pw4")
			assert.NotContains(t, logs, testPass)
		})
	}
}

// TestSighupReload: SIGHUP re-reads --config. A good file takes effect at
// once (log_level = debug makes connections show in the log); a bad one
// is rejected with its line and reason and the running settings stay; a
// flag wins over the file. A bad file at start is a clear failure.
func TestSighupReload(t *testing.T) {
	dir := shortTempDir(t, "kw-hup-")
	sock, vault := agentPaths(dir)
	initVault(t, vault, testPass)
	conf := filepath.Join(dir, "agent.conf")
	require.NoError(t, os.WriteFile(conf, []byte("# keyward\nlog_level = info\nlock_idle = 30m\n"), 0o600))
	agent := startUnlockAgent(t, sock, vault, nil, "--config", conf, "--lock-after", "8h")
	waitListening(t, sock, agent.logs)
	out, err := cli(t, sock, "", "status", "--json")
	require.NoError(t, err, out)
	assert.Contains(t, out, `"lock_idle": "30m0s"`, "the file sets lock_idle")
	assert.Contains(t, out, `"lock_after": "8h0m0s"`, "the flag sets lock_after")
	assert.NotContains(t, agent.logs.String(), "connection accepted", "info level hides debug lines")

	// A good file: debug logging from now on.
	require.NoError(t, os.WriteFile(conf, []byte("log_level = debug\nlock_idle = 30m\nlock_after = 1h\n"), 0o600))
	require.NoError(t, agent.signal(syscall.SIGHUP))
	waitLog(t, agent.logs, `SIGHUP: configuration reloaded" .*log_level=DEBUG overridden_by_flags=lock_after`)
	out, err = cli(t, sock, "", "status")
	require.NoError(t, err, out)
	waitLog(t, agent.logs, `level=DEBUG msg="connection accepted"`)

	// A bad file: rejected, and the agent keeps logging at debug.
	require.NoError(t, os.WriteFile(conf, []byte("log_level = info\nlock_idle = soon\n"), 0o600))
	require.NoError(t, agent.signal(syscall.SIGHUP))
	waitLog(t, agent.logs, `SIGHUP: configuration rejected; keeping the running settings.*line 2: lock_idle: \\"soon\\" is not a duration`)
	mark := len(agent.logs.String())
	out, err = cli(t, sock, "", "status")
	require.NoError(t, err, out)
	require.Eventually(t, func() bool {
		return strings.Contains(agent.logs.String()[mark:], `level=DEBUG msg="connection accepted"`)
	}, 10*time.Second, 10*time.Millisecond, "the old settings stay after a rejected reload")

	// The agent still serves, and still stops cleanly.
	require.NoError(t, agent.signal(syscall.SIGTERM))
	require.NoError(t, agent.wait(), agent.logs.String())

	// A bad file at start stops the agent before it serves.
	bad := startUnlockAgent(t, filepath.Join(dir, "run2", "agent.sock"), vault, nil, "--config", conf)
	var ee *exec.ExitError
	require.ErrorAs(t, bad.wait(), &ee)
	assert.Equal(t, 1, ee.ExitCode())
	assert.Contains(t, bad.logs.String(), "keyward: error: agent: config "+conf+": line 2: lock_idle")
}

// TestGroupMemberUsesButCannotAdminister: with --group, a bot's user that
// is in the group only as a supplementary group (seen through
// SO_PEERGROUPS) may use credentials: hello, status, list, sign. It may
// not administer: unlock, lock, add, rm are refused with a reason. The
// same user without the group is refused at connect.
func TestGroupMemberUsesButCannotAdminister(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("running a client as another user needs root")
	}
	const bot, botGroup, keywardGroup = 65534, 65534, 4242
	dir := shortTempDir(t, "kw-group-")
	require.NoError(t, os.Chmod(dir, 0o755))
	sock, vault := agentPaths(dir)
	initVault(t, vault, testPass)
	agent := startUnlockAgent(t, sock, vault, nil, "--group", fmt.Sprint(keywardGroup))
	waitListening(t, sock, agent.logs)
	// With --group the agent shares its own socket with the group, as
	// keyward.socket does for the system service: 0660 in a 0750
	// directory, both of the group.
	for path, mode := range map[string]os.FileMode{filepath.Dir(sock): 0o750, sock: 0o660} {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, mode, fi.Mode().Perm(), path)
		assert.Equal(t, uint32(keywardGroup), fi.Sys().(*syscall.Stat_t).Gid, path)
	}

	out, err := cli(t, sock, testPass+"\n", "unlock")
	require.NoError(t, err, out)
	out, err = cli(t, sock, "group-test-secret-not-real\n", "add", "main", "--scheme", "binance", "--api-key", "k1")
	require.NoError(t, err, out)

	member := func(stdin string, args ...string) (int, string) {
		cmd := asUser(bot, botGroup, []string{"KEYWARD_SOCK=" + sock}, keywardBin, args...)
		cmd.SysProcAttr.Credential.Groups = []uint32{keywardGroup}
		cmd.Stdin = strings.NewReader(stdin)
		b, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(b)
		}
		require.NoError(t, err)
		return 0, string(b)
	}
	for _, args := range [][]string{
		{"status"}, {"list"}, {"sign", "main", "GET", "https://api.binance.com/api/v3/account"},
	} {
		code, out := member("", args...)
		assert.Equal(t, 0, code, "a group member may %v: %s\n%s", args, out, agent.logs.String())
	}
	code, out := member("", "sign", "main", "GET", "https://api.binance.com/api/v3/account")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "signature=")

	for _, tc := range []struct {
		stdin string
		args  []string
	}{
		{"", []string{"lock"}},
		{testPass + "\n", []string{"unlock"}},
		{"another-secret-not-real\n", []string{"add", "other", "--scheme", "binance", "--api-key", "k2"}},
		{"", []string{"rm", "main"}},
	} {
		code, out := member(tc.stdin, tc.args...)
		assert.Equal(t, 1, code, "%v: %s", tc.args, out)
		assert.Contains(t, out, "may use credentials but not", "%v", tc.args)
	}
	st, err := cli(t, sock, "", "status", "--json")
	require.NoError(t, err)
	assert.Contains(t, st, `"locked": false`, "the member's lock was refused")

	// Without the group: refused. First by the filesystem; and where it
	// is opened up by mistake, by the agent, from the kernel's credentials.
	code, stderr := runAs(t, bot, botGroup, sock, "status")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "permission denied")
	require.NoError(t, os.Chmod(filepath.Dir(sock), 0o755))
	require.NoError(t, os.Chmod(sock, 0o666))
	code, stderr = runAs(t, bot, botGroup, sock, "status")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "uid 65534 may not use this agent")
}

// unitRoot makes a root tree in which `systemd-analyze verify --root`
// can check the system units before anything is installed: the host's
// unit directory (for sockets.target and friends), the binary under test
// as /usr/bin/keyward, /bin/kill for ExecReload=, and keyward's units.
func unitRoot(t *testing.T) string {
	t.Helper()
	root := shortTempDir(t, "kw-units-")
	for _, d := range []string{"usr/bin", "usr/lib/systemd"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	require.NoError(t, os.Symlink("usr/lib", filepath.Join(root, "lib")))
	require.NoError(t, os.Symlink("usr/bin", filepath.Join(root, "bin")))
	out, err := exec.Command("cp", "-a", "/usr/lib/systemd/system", filepath.Join(root, "usr/lib/systemd/")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	kill, err := exec.LookPath("kill")
	require.NoError(t, err)
	for src, dst := range map[string]string{
		keywardBin: "usr/bin/keyward", kill: "usr/bin/kill",
		"../systemd/keyward.socket":  "usr/lib/systemd/system/keyward.socket",
		"../systemd/keyward.service": "usr/lib/systemd/system/keyward.service",
	} {
		out, err := exec.Command("cp", src, filepath.Join(root, dst)).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	return root
}

// verify runs systemd-analyze verify and returns its combined output; a
// clean unit gives exit status 0 and no output at all (verify reports
// unknown keys as warnings with status 0).
func verify(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(needTool(t, "systemd-analyze"), append([]string{"verify", "--man=no"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestSystemdUnitsVerify: systemd-analyze verify finds nothing to say
// about the system units (in a root tree, before install) or the user
// units, and does flag a mistake planted in a copy (the control). The man
// page in Documentation= is checked after the .deb is installed
// (TestDebPackage), where it exists.
func TestSystemdUnitsVerify(t *testing.T) {
	root := unitRoot(t)
	out, err := verify(t, nil, "--root="+root, "keyward.socket", "keyward.service")
	assert.NoError(t, err, out)
	assert.Empty(t, out, "system units verify clean")

	// The user units run `keyward` from the fixed search path, which
	// holds no keyward before install: point ExecStart at the binary
	// under test, and change nothing else.
	user := shortTempDir(t, "kw-userunits-")
	for _, name := range []string{"keyward.socket", "keyward.service"} {
		b, err := os.ReadFile(filepath.Join("../systemd/user", name))
		require.NoError(t, err)
		b = []byte(strings.Replace(string(b), "ExecStart=keyward ", "ExecStart="+keywardBin+" ", 1))
		require.NoError(t, os.WriteFile(filepath.Join(user, name), b, 0o644))
	}
	xdg := shortTempDir(t, "kw-xdg-")
	out, err = verify(t, []string{"XDG_RUNTIME_DIR=" + xdg}, "--user", filepath.Join(user, "keyward.socket"), filepath.Join(user, "keyward.service"))
	assert.NoError(t, err, out)
	assert.Empty(t, out, "user units verify clean")

	// Control: a planted mistake is reported.
	svc := filepath.Join(root, "usr/lib/systemd/system/keyward.service")
	b, err := os.ReadFile(svc)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(svc, []byte(strings.Replace(string(b), "[Service]\n", "[Service]\nProtectSystm=strict\n", 1)), 0o644))
	out, _ = verify(t, nil, "--root="+root, "keyward.service")
	assert.Contains(t, out, "Unknown key 'ProtectSystm'", "the check sees mistakes")
}

// TestSystemdUnitSecurityRating reads the exposure level systemd-analyze
// gives keyward.service and fails above 1.5 (the bar).
func TestSystemdUnitSecurityRating(t *testing.T) {
	cmd := exec.Command(needTool(t, "systemd-analyze"), "security", "--offline=true", "--no-pager", "../systemd/keyward.service")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	m := regexp.MustCompile(`Overall exposure level for keyward\.service: ([0-9]+\.[0-9])`).FindSubmatch(out)
	require.NotNil(t, m, "no exposure level in:\n%s", out)
	var level float64
	_, err = fmt.Sscanf(string(m[1]), "%g", &level)
	require.NoError(t, err)
	t.Logf("systemd-analyze security: exposure %.1f", level)
	assert.LessOrEqual(t, level, 1.5, "keyward.service must rate 1.5 or lower:\n%s", out)
}
