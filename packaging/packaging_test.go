// Package packaging holds no code: its tests check the packaging files
// that CI cannot run for real. There is no container engine there, so the
// Containerfile's own build line is run and its binary checked. There is
// no cluster, so the Kubernetes example is parsed and held to what it
// promises. The man page and the maintainer scripts are linted.
package packaging

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// instruction is one Containerfile line, continuations joined.
type instruction struct{ cmd, args string }

func readContainerfile(t *testing.T) []instruction {
	t.Helper()
	data, err := os.ReadFile("Containerfile")
	require.NoError(t, err)
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") && cur.Len() == 0 {
			continue
		}
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(s)
			continue
		}
		cur.WriteString(line)
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			continue
		}
		cmd, args, _ := strings.Cut(text, " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
	}
	return out
}

// TestContainerfileLint holds the image to its promises: a final stage
// from scratch, a numeric non-root user, an exec-form entrypoint, a
// static build under runtime/secret, and volumes for the only two places
// the agent writes.
func TestContainerfileLint(t *testing.T) {
	ins := readContainerfile(t)
	var froms []string
	last := -1
	for i, in := range ins {
		require.Contains(t, []string{"FROM", "WORKDIR", "COPY", "RUN", "USER", "ENV", "VOLUME", "ENTRYPOINT", "CMD"}, in.cmd, "unexpected instruction %q", in.cmd)
		if in.cmd == "FROM" {
			froms = append(froms, in.args)
			last = i
		}
	}
	require.GreaterOrEqual(t, len(froms), 2, "a build stage and a final stage")
	assert.Equal(t, "scratch", froms[len(froms)-1], "the final image has nothing but the binary")
	final := ins[last:]
	var user, entry string
	var envs, volumes []string
	for _, in := range final {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entry = in.args
		case "ENV":
			envs = append(envs, in.args)
		case "VOLUME":
			volumes = append(volumes, in.args)
		case "RUN":
			t.Errorf("RUN in the final stage (scratch has no shell): %s", in.args)
		}
	}
	assert.Regexp(t, `^[1-9][0-9]*:[1-9][0-9]*$`, user, "a numeric non-root user and group, so runAsNonRoot can verify it")
	assert.Equal(t, `["/usr/bin/keyward"]`, entry, "exec form: there is no shell to run a string")
	assert.Contains(t, strings.Join(envs, " "), "KEYWARD_SOCK=/run/keyward/sock/agent.sock")
	assert.Contains(t, strings.Join(volumes, " "), `"/run/keyward"`)
	assert.Contains(t, strings.Join(volumes, " "), `"/var/lib/keyward"`)
	build := buildLine(t)
	assert.Contains(t, build, "CGO_ENABLED=0")
	assert.Contains(t, build, "GOEXPERIMENT=runtimesecret")
}

// buildLine returns the Containerfile's `go build` RUN line.
func buildLine(t *testing.T) string {
	t.Helper()
	for _, in := range readContainerfile(t) {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			return in.args
		}
	}
	t.Fatal("no RUN line with go build")
	return ""
}

// TestContainerBinaryIsStaticAndRunsAsNonRoot runs the Containerfile's
// own build line (with the output moved to a temporary directory), then
// checks what scratch needs: no interpreter and no shared library. As
// root it also runs the agent as the image's uid, 65532, with the
// image's environment, and checks that it serves.
func TestContainerBinaryIsStaticAndRunsAsNonRoot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds keyward")
	}
	line := buildLine(t)
	dir, err := os.MkdirTemp("", "kw-image-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "keyward")
	// The line as the build stage's shell runs it, writing to bin instead.
	rx := regexp.MustCompile(`-o /out/\S+`)
	require.Regexp(t, rx, line)
	cmd := exec.Command("sh", "-c", rx.ReplaceAllLiteralString(line, "-o "+bin))
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	f, err := elf.Open(bin)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "a static binary has no interpreter: scratch has no loader")
	}
	libs, _ := f.ImportedLibraries()
	assert.Empty(t, libs, "scratch has no libraries")

	if os.Getuid() != 0 {
		t.Skip("running as the image's uid needs root")
	}
	const uid = 65532
	run := filepath.Join(dir, "run")
	require.NoError(t, os.Mkdir(run, 0o700))
	require.NoError(t, os.Chown(run, uid, uid))
	sock := filepath.Join(run, "sock", "agent.sock")
	agent := exec.Command(bin, "agent")
	agent.Env = []string{"KEYWARD_SOCK=" + sock, "KEYWARD_VAULT=" + filepath.Join(run, "vault")}
	agent.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	var logs bytes.Buffer
	agent.Stderr = &logs
	require.NoError(t, agent.Start())
	defer func() { agent.Process.Signal(syscall.SIGTERM); agent.Wait() }()
	require.Eventually(t, func() bool { _, err := os.Stat(sock); return err == nil }, 20*time.Second, 20*time.Millisecond, "agent: %s", &logs)
	status := exec.Command(bin, "status", "--json")
	status.Env = agent.Env
	status.SysProcAttr = agent.SysProcAttr
	out, err = status.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), `"locked": true`)
}

// The parts of a Deployment the example relies on.
type deployment struct {
	Spec struct {
		Template struct {
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	AutomountServiceAccountToken *bool `yaml:"automountServiceAccountToken"`
	SecurityContext              struct {
		RunAsNonRoot bool  `yaml:"runAsNonRoot"`
		FSGroup      int64 `yaml:"fsGroup"`
	} `yaml:"securityContext"`
	InitContainers []container `yaml:"initContainers"`
	Containers     []container `yaml:"containers"`
	Volumes        []struct {
		Name     string `yaml:"name"`
		EmptyDir *struct {
			Medium string `yaml:"medium"`
		} `yaml:"emptyDir"`
		Secret *struct {
			SecretName  string `yaml:"secretName"`
			DefaultMode int    `yaml:"defaultMode"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Env   []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	SecurityContext struct {
		RunAsUser                int64 `yaml:"runAsUser"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

func (c container) flag(name string) string {
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

func (c container) mountOf(path string) (volume, mount string) {
	for _, m := range c.VolumeMounts {
		if strings.HasPrefix(path, m.MountPath+"/") && len(m.MountPath) > len(mount) {
			volume, mount = m.Name, m.MountPath
		}
	}
	return volume, mount
}

// TestKubernetesSidecar holds the example to its promises: the bot and
// the agent share the socket through an emptyDir; the vault and the
// passphrase come from two different Secrets; the bot is another uid that
// only the agent's --group admits; every container is non-root, has a
// read-only root file system, no capabilities and no escalation.
func TestKubernetesSidecar(t *testing.T) {
	data, err := os.ReadFile("k8s/keyward-sidecar.yaml")
	require.NoError(t, err)
	var d deployment
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(false)
	require.NoError(t, dec.Decode(&d))
	pod := d.Spec.Template.Spec
	require.NotNil(t, pod.AutomountServiceAccountToken)
	assert.False(t, *pod.AutomountServiceAccountToken)
	assert.True(t, pod.SecurityContext.RunAsNonRoot)

	var agent, bot container
	for _, c := range pod.Containers {
		switch c.Name {
		case "keyward":
			agent = c
		case "bot":
			bot = c
		}
	}
	require.Equal(t, "agent", agent.Args[0])
	require.NotEmpty(t, bot.Name)

	for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
		sc := c.SecurityContext
		assert.NotZero(t, sc.RunAsUser, "%s runs as non-root", c.Name)
		assert.True(t, sc.ReadOnlyRootFilesystem, "%s: read-only root", c.Name)
		require.NotNil(t, sc.AllowPrivilegeEscalation, c.Name)
		assert.False(t, *sc.AllowPrivilegeEscalation, c.Name)
		assert.Equal(t, []string{"ALL"}, sc.Capabilities.Drop, c.Name)
	}
	assert.NotEqual(t, agent.SecurityContext.RunAsUser, bot.SecurityContext.RunAsUser,
		"the bot is another uid, so it cannot administer the agent")

	volumes := map[string]int{}
	for i, v := range pod.Volumes {
		volumes[v.Name] = i
	}
	// The socket: in a directory below an emptyDir both containers mount.
	sock := agent.flag("socket")
	require.NotEmpty(t, sock)
	vol, mount := agent.mountOf(sock)
	require.NotEmpty(t, vol, "the socket is on a volume")
	assert.NotNil(t, pod.Volumes[volumes[vol]].EmptyDir, "the socket volume is an emptyDir")
	assert.NotEqual(t, mount, filepath.Dir(sock), "an emptyDir's root is world-writable: the socket needs a directory of its own")
	bvol, bmount := bot.mountOf(sock)
	assert.Equal(t, vol, bvol, "the bot mounts the same volume")
	assert.Equal(t, mount, bmount)
	var keywardSock string
	for _, e := range bot.Env {
		if e.Name == "KEYWARD_SOCK" {
			keywardSock = e.Value
		}
	}
	assert.Equal(t, sock, keywardSock, "the bot's KEYWARD_SOCK is the agent's socket")
	assert.Equal(t, strconv.FormatInt(pod.SecurityContext.FSGroup, 10), agent.flag("group"), "--group is the pod's fsGroup, which both containers are in")

	// Two Secrets: the vault (copied by the init container) and the passphrase.
	pass := agent.flag("unlock-file")
	require.NotEmpty(t, pass)
	pvol, _ := agent.mountOf(pass)
	require.NotNil(t, pod.Volumes[volumes[pvol]].Secret, "the passphrase comes from a Secret")
	passSecret := pod.Volumes[volumes[pvol]].Secret.SecretName
	assert.Zero(t, pod.Volumes[volumes[pvol]].Secret.DefaultMode&0o004, "the agent refuses a passphrase file every user can read")
	require.Len(t, pod.InitContainers, 1)
	var vaultSecret string
	for _, m := range pod.InitContainers[0].VolumeMounts {
		if s := pod.Volumes[volumes[m.Name]].Secret; s != nil {
			vaultSecret = s.SecretName
			assert.True(t, m.ReadOnly)
		}
	}
	require.NotEmpty(t, vaultSecret)
	assert.NotEqual(t, passSecret, vaultSecret, "neither Secret alone opens the vault")
	for _, m := range bot.VolumeMounts {
		assert.Nil(t, pod.Volumes[volumes[m.Name]].Secret, "the bot mounts no Secret")
	}
	vvol, _ := agent.mountOf(agent.flag("vault"))
	assert.NotNil(t, pod.Volumes[volumes[vvol]].EmptyDir, "the working vault is a writable copy")
}

// TestManPageRendersCleanly renders keyward(1) with man's and groff's
// warnings on: any warning fails.
func TestManPageRendersCleanly(t *testing.T) {
	man, err := exec.LookPath("man")
	if err != nil {
		t.Skip("man-db is not installed (.ci/run installs it)")
	}
	cmd := exec.Command(man, "--warnings", "-l", "keyward.1")
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "LC_ALL=C.UTF-8", "MANPAGER=cat", "PAGER=cat")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s", stderr.String())
	assert.Empty(t, stderr.String(), "man/groff warnings")
	text := string(out)
	for _, want := range []string{"--unlock-file", "--config", "--group", "SIGHUP", "CREDENTIALS_DIRECTORY", "KEYWARD_SOCK", "/run/keyward/agent.sock"} {
		assert.Contains(t, strings.ReplaceAll(text, "\u2010", "-"), want)
	}
}

// TestMaintainerScriptsParse checks the maintainer scripts and the build
// script with sh -n, and with shellcheck where it is installed.
func TestMaintainerScriptsParse(t *testing.T) {
	scripts := []string{"debian/postinst", "debian/prerm", "debian/postrm", "build-deb.sh"}
	for _, s := range scripts {
		out, err := exec.Command("sh", "-n", s).CombinedOutput()
		assert.NoError(t, err, "%s: %s", s, out)
		fi, err := os.Stat(s)
		require.NoError(t, err)
		assert.NotZero(t, fi.Mode()&0o100, "%s is executable", s)
	}
	out, err := exec.Command("bash", "-n", "completions/keyward.bash").CombinedOutput()
	assert.NoError(t, err, "%s", out)
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		out, err := exec.Command(sc, append([]string{"-s", "sh"}, scripts...)...).CombinedOutput()
		assert.NoError(t, err, "shellcheck: %s", out)
		out, err = exec.Command(sc, "-s", "bash", "completions/keyward.bash").CombinedOutput()
		assert.NoError(t, err, "shellcheck: %s", out)
	}
}
