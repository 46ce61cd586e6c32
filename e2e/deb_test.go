package e2e

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// installDeb says whether TestDebPackage may install the package on this
// machine with dpkg -i: in CI (CI=true, a throwaway machine, as root), or
// when asked with KEYWARD_TEST_DPKG_INSTALL=1. A developer's machine is
// never changed unasked.
func installDeb() bool {
	return os.Getuid() == 0 && (os.Getenv("CI") == "true" || os.Getenv("KEYWARD_TEST_DPKG_INSTALL") == "1")
}

// cliCommands lists the commands `keyward help` documents.
func cliCommands(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command(keywardBin, "help").Output()
	require.NoError(t, err)
	seen := map[string]bool{}
	var cmds []string
	for _, m := range regexp.MustCompile(`(?m)^  keyward ([a-z]+)`).FindAllStringSubmatch(string(out), -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			cmds = append(cmds, m[1])
		}
	}
	require.NotEmpty(t, cmds)
	return cmds
}

// TestCompletionsAndManPageCoverEveryCommand: the bash and zsh
// completions and keyward(1) name every command `keyward help` lists, so
// a new command cannot ship undocumented.
func TestCompletionsAndManPageCoverEveryCommand(t *testing.T) {
	files := map[string]string{}
	for _, f := range []string{"completions/keyward.bash", "completions/_keyward", "keyward.1"} {
		b, err := os.ReadFile(filepath.Join("..", "packaging", f))
		require.NoError(t, err)
		files[f] = string(b)
	}
	for _, c := range cliCommands(t) {
		assert.Regexp(t, `(?m)"[^"]*\b`+c+`\b[^"]*"`, files["completions/keyward.bash"], "bash completion lacks %q", c)
		assert.Contains(t, files["completions/_keyward"], "'"+c+":", "zsh completion lacks %q", c)
		assert.Regexp(t, `(?m)^\.B `+c+`\b|^\.BR `+c+` `, files["keyward.1"], "keyward(1) lacks %q", c)
	}
}

// TestDebPackage builds the .deb with `make deb`'s script and inspects it
// (dpkg-deb -I and -c: fields, every file and its mode, the units equal
// to systemd/), lints it with lintian (every tag fails the test unless an
// override in packaging/debian/lintian-overrides justifies it), and, in
// CI, installs it with dpkg -i and runs the installed binary, checks the
// user, the state directory and the units, verifies the installed units
// with systemd-analyze, and purges it again, which must keep the vault.
func TestDebPackage(t *testing.T) {
	needTool(t, "dpkg-deb")
	out := shortTempDir(t, "kw-deb-")
	build := exec.Command("sh", "../packaging/build-deb.sh", out)
	build.Env = append(os.Environ(), "GO=go")
	b, err := build.CombinedOutput()
	require.NoError(t, err, "%s", b)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	deb := lines[len(lines)-1]
	require.FileExists(t, deb)

	var v struct{ Version string }
	vout, err := exec.Command(keywardBin, "version", "--json").Output()
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(vout, &v))

	field := func(name string) string {
		out, err := exec.Command("dpkg-deb", "-f", deb, name).Output()
		require.NoError(t, err)
		return strings.TrimSpace(string(out))
	}
	assert.Equal(t, "keyward", field("Package"))
	assert.Equal(t, v.Version, field("Version"), "the package version is the binary's")
	assert.Equal(t, "libc6, adduser", field("Depends"))
	info, err := exec.Command("dpkg-deb", "-I", deb).Output()
	require.NoError(t, err)
	for _, s := range []string{"postinst", "prerm", "postrm", "conffiles", "md5sums"} {
		assert.Regexp(t, `(?m)^\s+\d+ bytes,\s+\d+ lines\s+\*?\s*`+s+`\b`, string(info), "control member %s", s)
	}

	list, err := exec.Command("dpkg-deb", "-c", deb).Output()
	require.NoError(t, err)
	want := map[string]string{
		"./usr/bin/keyward":                               "-rwxr-xr-x",
		"./lib/systemd/system/keyward.socket":             "-rw-r--r--",
		"./lib/systemd/system/keyward.service":            "-rw-r--r--",
		"./usr/lib/systemd/user/keyward.socket":           "-rw-r--r--",
		"./usr/lib/systemd/user/keyward.service":          "-rw-r--r--",
		"./usr/lib/sysusers.d/keyward.conf":               "-rw-r--r--",
		"./usr/lib/tmpfiles.d/keyward.conf":               "-rw-r--r--",
		"./etc/keyward/agent.conf":                        "-rw-r--r--",
		"./usr/share/man/man1/keyward.1.gz":               "-rw-r--r--",
		"./usr/share/bash-completion/completions/keyward": "-rw-r--r--",
		"./usr/share/zsh/vendor-completions/_keyward":     "-rw-r--r--",
		"./usr/share/doc/keyward/copyright":               "-rw-r--r--",
		"./usr/share/doc/keyward/changelog.gz":            "-rw-r--r--",
		"./usr/share/doc/keyward/systemd.md.gz":           "-rw-r--r--",
		"./usr/share/lintian/overrides/keyward":           "-rw-r--r--",
	}
	got := map[string]string{}
	for _, l := range strings.Split(string(list), "\n") {
		f := strings.Fields(l)
		if len(f) >= 6 {
			got[f[len(f)-1]] = f[0]
			assert.Equal(t, "root/root", f[1], "%s is owned by root", f[len(f)-1])
		}
	}
	for path, mode := range want {
		assert.Equal(t, mode, got[path], "%s in the package", path)
	}

	// The units in the package are the ones in systemd/.
	x := filepath.Join(out, "x")
	require.NoError(t, exec.Command("dpkg-deb", "-x", deb, x).Run())
	for pkg, src := range map[string]string{
		"lib/systemd/system/keyward.service":   "systemd/keyward.service",
		"lib/systemd/system/keyward.socket":    "systemd/keyward.socket",
		"usr/lib/systemd/user/keyward.service": "systemd/user/keyward.service",
		"usr/lib/sysusers.d/keyward.conf":      "systemd/sysusers.d/keyward.conf",
		"etc/keyward/agent.conf":               "packaging/agent.conf",
	} {
		a, err := os.ReadFile(filepath.Join(x, pkg))
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join("..", src))
		require.NoError(t, err)
		assert.Equal(t, string(b), string(a), pkg)
	}
	man, err := os.Open(filepath.Join(x, "usr/share/man/man1/keyward.1.gz"))
	require.NoError(t, err)
	zr, err := gzip.NewReader(man)
	require.NoError(t, err)
	page, err := io.ReadAll(zr)
	man.Close()
	require.NoError(t, err)
	src, err := os.ReadFile("../packaging/keyward.1")
	require.NoError(t, err)
	assert.Equal(t, string(src), string(page))

	t.Run("lintian", func(t *testing.T) {
		lintian, err := exec.LookPath("lintian")
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("lintian is not installed: .ci/run must install it")
			}
			t.Skip("lintian is not installed (.ci/run installs it)")
		}
		cmd := exec.Command(lintian, "--pedantic", "--info", "--fail-on", "error,warning,info,pedantic", "--no-tag-display-limit", deb)
		out, err := cmd.CombinedOutput()
		report := regexp.MustCompile(`(?m)^[EWIPX]: .*$`).FindAllString(string(out), -1)
		assert.NoError(t, err, "lintian: %s", out)
		assert.Empty(t, report, "every lintian tag is fixed or justified in packaging/debian/lintian-overrides")
	})

	t.Run("install", func(t *testing.T) {
		if !installDeb() {
			t.Skip("installs the package on this machine: runs in CI, or with KEYWARD_TEST_DPKG_INSTALL=1 as root")
		}
		b, err := exec.Command("dpkg", "-i", deb).CombinedOutput()
		require.NoError(t, err, "dpkg -i: %s", b)
		t.Cleanup(func() {
			b, err := exec.Command("dpkg", "--purge", "keyward").CombinedOutput()
			assert.NoError(t, err, "dpkg --purge: %s", b)
			assert.Contains(t, string(b), "/var/lib/keyward (the encrypted vault) was kept")
			assert.DirExists(t, "/var/lib/keyward", "purging never deletes the vault")
		})

		out, err := exec.Command("/usr/bin/keyward", "version").CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Equal(t, "keyward "+v.Version, strings.Fields(string(out))[0]+" "+strings.Fields(string(out))[1])

		u, err := user.Lookup("keyward")
		require.NoError(t, err, "postinst creates the keyward user")
		g, err := user.LookupGroup("keyward")
		require.NoError(t, err, "and its group")
		assert.Equal(t, g.Gid, u.Gid)
		assert.Equal(t, "/var/lib/keyward", u.HomeDir)
		fi, err := os.Stat("/var/lib/keyward")
		require.NoError(t, err, "postinst creates the state directory")
		assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
		assert.Equal(t, u.Uid, strconv.FormatUint(uint64(fi.Sys().(*syscall.Stat_t).Uid), 10))

		for _, p := range []string{
			"/lib/systemd/system/keyward.socket", "/lib/systemd/system/keyward.service",
			"/usr/lib/systemd/user/keyward.socket", "/usr/lib/systemd/user/keyward.service",
			"/usr/lib/sysusers.d/keyward.conf", "/usr/lib/tmpfiles.d/keyward.conf", "/etc/keyward/agent.conf",
		} {
			assert.FileExists(t, p)
		}
		// deb-systemd-helper enabled the socket, with or without a running systemd.
		if _, err := exec.LookPath("deb-systemd-helper"); err == nil {
			_, err := os.Lstat("/etc/systemd/system/sockets.target.wants/keyward.socket")
			assert.NoError(t, err, "postinst enables keyward.socket")
		}

		// The installed units, as installed: verify finds the binary and
		// the man page their Documentation= names.
		if sa, err := exec.LookPath("systemd-analyze"); err == nil {
			out, err := exec.Command(sa, "verify", "keyward.socket", "keyward.service").CombinedOutput()
			assert.NoError(t, err, "systemd-analyze verify: %s", out)
			assert.Empty(t, strings.TrimSpace(string(out)), "verify is clean")
			xdg := shortTempDir(t, "kw-xdg-")
			cmd := exec.Command(sa, "--user", "verify", "keyward.socket", "keyward.service")
			cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+xdg)
			out, err = cmd.CombinedOutput()
			assert.NoError(t, err, "systemd-analyze --user verify: %s", out)
			assert.Empty(t, strings.TrimSpace(string(out)), "user units verify clean")
		}
		// The installed agent runs as the keyward user under the unit's
		// memory-lock limit, and serves on a socket its group can reach.
		runInstalledAgent(t, u)
	})
}

// runInstalledAgent starts /usr/bin/keyward agent as the keyward user, as
// the unit does (its flags, its LimitMEMLOCK, set by root before the
// switch as systemd does), with the socket in a temporary directory
// instead of /run/keyward, and asks it for status.
func runInstalledAgent(t *testing.T, u *user.User) {
	t.Helper()
	prlimit, err1 := exec.LookPath("prlimit")
	setpriv, err2 := exec.LookPath("setpriv")
	if err1 != nil || err2 != nil {
		t.Log("prlimit or setpriv (util-linux) is not installed; skipping the run as the keyward user")
		return
	}
	uid, gid := atou(t, u.Uid), atou(t, u.Gid)
	dir := shortTempDir(t, "kw-installed-")
	require.NoError(t, os.Chmod(dir, 0o755))
	for name, mode := range map[string]os.FileMode{"sock": 0o750, "data": 0o700} {
		p := filepath.Join(dir, name)
		require.NoError(t, os.Mkdir(p, mode))
		require.NoError(t, os.Chown(p, int(uid), int(gid)))
	}
	sock := filepath.Join(dir, "sock", "agent.sock")
	// The unit's LimitMEMLOCK=16M, or this machine's hard limit when it is
	// lower and root here may not raise it (a container without
	// CAP_SYS_RESOURCE).
	memlock := uint64(16 << 20)
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(unix.RLIMIT_MEMLOCK, &lim))
	memlock = min(memlock, lim.Max)
	cmd := exec.Command(prlimit, fmt.Sprintf("--memlock=%d:%d", memlock, memlock), "--",
		setpriv, "--reuid="+u.Uid, "--regid="+u.Gid, "--init-groups", "--",
		"/usr/bin/keyward", "agent", "--config", "/etc/keyward/agent.conf", "--group", "keyward",
		"--socket", sock, "--vault", filepath.Join(dir, "data", "vault"))
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/var/lib/keyward"}
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	waitLog(t, logs, `keyward agent listening`)
	st := exec.Command("/usr/bin/keyward", "status", "--json")
	st.Env = append(os.Environ(), "KEYWARD_SOCK="+sock)
	out, err := st.CombinedOutput()
	require.NoError(t, err, "%s\nagent: %s", out, logs.String())
	assert.Contains(t, string(out), `"locked": true`)
	assert.Contains(t, string(out), fmt.Sprintf(`"memlock_limit": %d`, memlock))
	fi, err := os.Stat(sock)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o660), fi.Mode().Perm(), "shared with the keyward group")
}

func atou(t *testing.T, s string) uint32 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 32)
	require.NoError(t, err)
	return uint32(n)
}
