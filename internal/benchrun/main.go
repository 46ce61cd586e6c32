// Command benchrun is `make bench`: the benchmark harness for issue 9. In
// one run it starts the real agent binary (bin/keyward) and its baselines
// (a bare Unix-socket echo server, OpenSSH's ssh-agent) as separate
// processes, drives them with the same client code, and prints a table of
// each figure, its baseline, the ratio and the target, which it also
// writes as JSON. Targets are ratios measured in the same run wherever a
// baseline exists, so machine noise cancels; BENCHMARKS.md says how to
// read them.
//
// It is a measuring tool, not a test of the agent's behaviour: it never
// changes the agent, and it must not be pointed at an agent holding real
// credentials (it makes its own, in a temporary directory).
//
// The flags -echo-server and -exec-memlock are internal: the harness
// re-executes itself with them to run the echo baseline, and to start the
// agent under a given RLIMIT_MEMLOCK.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keyward/keyward/agent/vault"
)

// options are the harness's flags.
type options struct {
	keyward   string
	jsonPath  string
	samples   int
	warmup    int
	window    window
	scaleN    int
	idleN     int
	lowN      int
	timeout   time.Duration
	only      string
	strict    bool
	keepFiles bool
}

// internalFlags are the re-execution modes, left out of -help.
var internalFlags = []string{"echo-server", "reply-size", "exec-memlock"}

func main() {
	var (
		o          options
		echoSock   string
		replySize  int
		memlock    int64
		warm, meas time.Duration
	)
	fs := flag.CommandLine
	fs.StringVar(&o.keyward, "keyward", "bin/keyward", "the agent binary to measure (`make build` makes it)")
	fs.StringVar(&o.jsonPath, "json", "bin/bench.json", "write the report as JSON here (\"\" for none)")
	fs.IntVar(&o.samples, "n", 20000, "round trips measured per latency figure, after the warm-up")
	fs.IntVar(&o.warmup, "warmup", 2000, "round trips sent before measuring")
	fs.DurationVar(&warm, "warm", 500*time.Millisecond, "warm-up of each throughput run")
	fs.DurationVar(&meas, "measure", 2*time.Second, "measuring window of each throughput run")
	fs.IntVar(&o.scaleN, "scale", 100_000, "credentials in the scale vault")
	fs.IntVar(&o.idleN, "idle", 1000, "idle connections opened")
	fs.IntVar(&o.lowN, "low-memlock-creds", 5000, "credentials unlocked under the 64 KiB memlock limit")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "abort the run after this long")
	fs.StringVar(&o.only, "only", "", "run only these groups, comma-separated: "+strings.Join(groupNames(), ","))
	fs.BoolVar(&o.strict, "strict", false, "exit 1 when a target is missed, not only when a figure cannot be measured")
	fs.BoolVar(&o.keepFiles, "keep", false, "keep the temporary directory (vaults, agent logs) for inspection")
	fs.StringVar(&echoSock, "echo-server", "", "internal: serve the echo baseline on this socket")
	fs.IntVar(&replySize, "reply-size", 0, "internal: the echo server's reply body size")
	fs.Int64Var(&memlock, "exec-memlock", 0, "internal: set RLIMIT_MEMLOCK to this many bytes and exec the arguments")
	fs.Usage = usage
	flag.Parse()
	o.window = window{warmup: warm, measure: meas}

	var err error
	switch {
	case echoSock != "":
		err = runEchoServer(echoSock, replySize)
	case memlock != 0:
		err = runExecMemlock(memlock, fs.Args())
	default:
		if fs.NArg() > 0 {
			fmt.Fprintf(os.Stderr, "benchrun: unexpected arguments %q\n", fs.Args())
			os.Exit(2)
		}
		err = run(o)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchrun: error: %v\n", err)
		os.Exit(1)
	}
}

func usage() {
	out := flag.CommandLine.Output()
	fmt.Fprintf(out, "usage: benchrun [-keyward bin/keyward] [-json bin/bench.json] [flags]\n\n")
	fmt.Fprintf(out, "Measures the keyward agent against a bare socket echo and OpenSSH's ssh-agent (issue 9).\n\n")
	flag.VisitAll(func(f *flag.Flag) {
		if slices.Contains(internalFlags, f.Name) {
			return
		}
		name, use := flag.UnquoteUsage(f)
		fmt.Fprintf(out, "  -%s %s\n    \t%s", f.Name, name, use)
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
			fmt.Fprintf(out, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(out)
	})
}

// harness is one run: its options, working directory and children.
type harness struct {
	opts     options
	dir      string // temporary; holds the agents' directories and sockets
	keyward  string // the agent binary the children run
	self     string // this harness's executable, for re-execution
	asNobody bool   // the harness is root: agents run as uid 65534
	kdf      vault.Params

	mu       sync.Mutex
	children []*child
	aborted  bool
}

// group is a set of rows measured together.
type group struct {
	name string
	run  func(h *harness, ctx context.Context) ([]Row, error)
	// about names the figures, for the progress lines and the error row.
	about string
}

var groups = []group{
	{"sign", (*harness).signRows, "sign round trip and throughput vs echo"},
	{"ed25519", (*harness).ed25519Rows, "Ed25519 sign vs ssh-agent"},
	{"forward", (*harness).forwardRows, "forward vs direct HTTPS"},
	{"scale", (*harness).scaleRows, "100k credentials"},
	{"idle", (*harness).idleRows, "idle connections"},
	{"memlock", (*harness).lowMemlockRows, "64 KiB memlock"},
}

func groupNames() []string {
	var names []string
	for _, g := range groups {
		names = append(names, g.name)
	}
	return names
}

// benchKDF are the vaults' Argon2id parameters: real Argon2id, cheaper
// than the default (t=3, 64 MiB, p=4) so that repeated unlocks fit the
// run; the scale figure subtracts one derivation anyway.
var benchKDF = vault.Params{Time: 1, MemoryKiB: 16 * 1024, Threads: 2}

func run(o options) error {
	keyward, err := checkBinary(o.keyward)
	if err != nil {
		return err
	}
	var selected []group
	for _, name := range strings.Split(o.only, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		i := slices.IndexFunc(groups, func(g group) bool { return g.name == name })
		if i < 0 {
			return fmt.Errorf("-only %s: no such group; the groups are %s", name, strings.Join(groupNames(), ", "))
		}
		selected = append(selected, groups[i])
	}
	if len(selected) == 0 {
		selected = groups
	}
	h, err := newHarness(o, keyward)
	if err != nil {
		return err
	}
	defer h.cleanup()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	// Killing the children unblocks any read waiting on them.
	context.AfterFunc(ctx, h.abort)

	started := time.Now()
	rep := &Report{
		Started:  started.UTC().Format(time.RFC3339),
		Keyward:  o.keyward,
		Version:  keywardVersion(keyward),
		Machine:  machine(h.asNobody),
		Settings: h.settings(),
	}
	for _, g := range selected {
		fmt.Fprintf(os.Stderr, "benchrun: %s (%s)…\n", g.name, g.about)
		t0 := time.Now()
		rows, err := g.run(h, ctx)
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%w (the run's %s limit, or an interrupt): %w", ctx.Err(), o.timeout, err)
			}
			rows = append(rows, noteRow(g.name, g.about, "", statusError, err.Error()))
			fmt.Fprintf(os.Stderr, "benchrun: %s: error: %v\n", g.name, err)
		}
		rep.Rows = append(rep.Rows, rows...)
		fmt.Fprintf(os.Stderr, "benchrun: %s done in %.1f s\n", g.name, time.Since(t0).Seconds())
	}
	rep.Seconds = time.Since(started).Seconds()

	m := rep.Machine
	fmt.Printf("\n%s, %d cores, %s, %s; agent as %s; %s\n\n", m.CPU, m.Cores, m.Kernel, m.Go, m.AgentUser, rep.Version)
	if err := rep.WriteTable(os.Stdout); err != nil {
		return err
	}
	if o.jsonPath != "" {
		if err := rep.WriteJSON(o.jsonPath); err != nil {
			return err
		}
		fmt.Printf("\nwritten to %s in %.0f s\n", o.jsonPath, rep.Seconds)
	}
	counts := rep.Counts()
	switch {
	case counts[statusError] > 0:
		return fmt.Errorf("%d figure(s) could not be measured; see the table", counts[statusError])
	case o.strict && counts[statusFail] > 0:
		return fmt.Errorf("%d target(s) missed", counts[statusFail])
	}
	return nil
}

// checkBinary returns the agent binary's absolute path, or an error that
// says how to build it.
func checkBinary(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("keyward binary %s: %w", path, err)
	}
	st, err := os.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("the keyward binary %s does not exist: run `make build` first, or pass -keyward PATH (`make bench` does both)", path)
	case err != nil:
		return "", fmt.Errorf("keyward binary: %w", err)
	case st.IsDir() || st.Mode().Perm()&0o111 == 0:
		return "", fmt.Errorf("%s is not an executable file: run `make build`, or pass -keyward PATH", path)
	}
	return abs, nil
}

// newHarness makes the run's temporary directory. As root it copies the
// agent binary and itself there, where uid 65534 can run them.
func newHarness(o options, keyward string) (*harness, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this harness's executable: %w", err)
	}
	dir, err := os.MkdirTemp("", "kwbench-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	h := &harness{opts: o, dir: dir, keyward: keyward, self: self, asNobody: os.Getuid() == 0, kdf: benchKDF}
	if h.asNobody {
		// Others may traverse, not list: the agents' own directories are 0700.
		if err := os.Chmod(dir, 0o711); err != nil {
			h.cleanup()
			return nil, fmt.Errorf("temporary directory: %w", err)
		}
		h.keyward, h.self = filepath.Join(dir, "keyward"), filepath.Join(dir, "benchrun")
		for src, dst := range map[string]string{keyward: h.keyward, self: h.self} {
			if err := copyExecutable(src, dst); err != nil {
				h.cleanup()
				return nil, err
			}
		}
	}
	raiseNofile(o.idleN + 256)
	return h, nil
}

// raiseNofile lifts the soft RLIMIT_NOFILE to at least need (up to the
// hard limit): the idle-connection figure holds a descriptor per
// connection.
func raiseNofile(need int) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur >= uint64(need) {
		return
	}
	lim.Cur = min(max(uint64(need), lim.Cur), lim.Max)
	unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
}

// abort kills every child: the run's time is up or it was interrupted.
func (h *harness) abort() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.aborted = true
	for _, c := range h.children {
		c.kill()
	}
}

// cleanup stops every child still running and removes the directory.
func (h *harness) cleanup() {
	h.mu.Lock()
	children := slices.Clone(h.children)
	h.mu.Unlock()
	for _, c := range children {
		c.stop()
	}
	if h.opts.keepFiles {
		fmt.Fprintf(os.Stderr, "benchrun: kept %s\n", h.dir)
		return
	}
	os.RemoveAll(h.dir)
}

// settings records what the figures depend on.
func (h *harness) settings() map[string]string {
	o := h.opts
	return map[string]string{
		"latency_samples":   strconv.Itoa(o.samples),
		"latency_warmup":    strconv.Itoa(o.warmup),
		"throughput_warmup": o.window.warmup.String(),
		"throughput_window": o.window.measure.String(),
		"argon2id":          fmt.Sprintf("t=%d m=%d KiB p=%d", h.kdf.Time, h.kdf.MemoryKiB, h.kdf.Threads),
		"scale_credentials": strconv.Itoa(o.scaleN),
		"idle_connections":  strconv.Itoa(o.idleN),
		"agent_memlock":     fmt.Sprintf("%d (low-memlock figure: %d)", memlockDefault, memlockLow),
	}
}

// machine describes this computer.
func machine(asNobody bool) Machine {
	m := Machine{Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(), CPU: cpuModel()}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Machine[:])
	}
	if asNobody {
		m.AgentUser = "uid 65534 (the harness runs as root)"
	} else {
		m.AgentUser = fmt.Sprintf("uid %d (the harness's user)", os.Getuid())
	}
	return m
}

// cpuModel is the first "model name" in /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(val)
		}
	}
	return "unknown"
}

// keywardVersion is `keyward version`'s output, for the record.
func keywardVersion(bin string) string {
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
