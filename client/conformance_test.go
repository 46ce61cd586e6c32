package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/protocol"
	"github.com/keyward/keyward/protocol/agenttest"
)

// TestConformanceCases runs the request/response cases shared with the
// Python and JavaScript clients (protocol/testdata/conformance, format in
// its README) through this client against a real `keyward agent`, one
// fresh agent per file.
func TestConformanceCases(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "protocol", "testdata", "conformance", "*.json"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 3)
	bin := conformanceBinary(t)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			var story conformanceStory
			require.NoError(t, json.Unmarshal(raw, &story))
			sock := startConformanceAgent(t, bin, story.Passphrase)
			c, err := Dial(sock)
			require.NoError(t, err)
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			hello, err := c.Hello(ctx, protocol.HelloArgs{Client: "conformance"})
			require.NoError(t, err)
			run := 0
			for _, step := range story.Steps {
				if slices.Contains(hello.Operations, step.When.LacksOperation) {
					continue
				}
				runConformanceStep(t, ctx, c, step, story.Secrets)
				run++
			}
			assert.GreaterOrEqual(t, run, 5, "steps run")
		})
	}
}

type conformanceStory struct {
	Passphrase string            `json:"passphrase"`
	Secrets    []string          `json:"secrets"`
	Steps      []conformanceStep `json:"steps"`
}

type conformanceStep struct {
	Name     string          `json:"name"`
	Op       string          `json:"op"`
	Args     json.RawMessage `json:"args"`
	Pipeline int             `json:"pipeline"`
	When     struct {
		LacksOperation string `json:"lacks_operation"`
	} `json:"when"`
	Expect json.RawMessage `json:"expect"`
}

type conformanceExpect struct {
	Result           any    `json:"result"`
	Error            string `json:"error"`
	Message          *string
	BinanceSignature *struct {
		Secret string `json:"secret"`
		APIKey string `json:"api_key"`
	} `json:"binance_signature"`
}

func runConformanceStep(t *testing.T, ctx context.Context, c *Client, step conformanceStep, secrets []string) {
	t.Helper()
	n := max(step.Pipeline, 1)
	type outcome struct {
		result json.RawMessage
		err    error
	}
	outs := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var args any
			if len(step.Args) > 0 {
				args = json.RawMessage(substituteIndex(step.Args, i))
			}
			outs[i].err = c.call(ctx, step.Op, args, &outs[i].result)
		}()
	}
	wg.Wait()
	for i, o := range outs {
		var exp conformanceExpect
		require.NoError(t, json.Unmarshal(substituteIndex(step.Expect, i), &exp), step.Name)
		var m struct {
			Message *string `json:"message"`
		}
		require.NoError(t, json.Unmarshal(substituteIndex(step.Expect, i), &m))
		exp.Message = m.Message

		text := string(o.result)
		if o.err != nil {
			text = o.err.Error()
		}
		for _, s := range secrets {
			assert.NotContains(t, text, s, "%s: a reply carries a secret", step.Name)
			assert.NotContains(t, text, base64.StdEncoding.EncodeToString([]byte(s)), "%s: a reply carries a secret", step.Name)
		}
		if exp.Error != "" {
			if !assert.Error(t, o.err, "%s: want error %s, got %s", step.Name, exp.Error, o.result) {
				continue
			}
			assert.Equal(t, protocol.Code(exp.Error), protocol.CodeOf(o.err), "%s: %v", step.Name, o.err)
			assert.True(t, typedCheck(exp.Error, o.err), "%s: the typed check for %s fails", step.Name, exp.Error)
			if exp.Message != nil {
				assert.EqualError(t, o.err, *exp.Message, step.Name)
			}
			continue
		}
		if !assert.NoError(t, o.err, step.Name) {
			continue
		}
		var got any
		require.NoError(t, json.Unmarshal(o.result, &got))
		assert.Empty(t, matchTemplate(exp.Result, got, "$"), step.Name)
		if sig := exp.BinanceSignature; sig != nil {
			var r protocol.HTTPRequest
			require.NoError(t, json.Unmarshal(o.result, &r))
			assert.NoError(t, agenttest.VerifyBinance(sig.Secret, &r), step.Name)
			assert.Equal(t, sig.APIKey, r.Headers["X-MBX-APIKEY"], step.Name)
		}
	}
}

// typedCheck is the client's own Is… helper for a code, where it has one.
func typedCheck(code string, err error) bool {
	switch protocol.Code(code) {
	case protocol.CodeLocked:
		return IsLocked(err)
	case protocol.CodeDenied:
		return IsDenied(err)
	case protocol.CodeUnknownCredential:
		return IsUnknownCredential(err)
	case protocol.CodeBadRequest:
		return IsBadRequest(err)
	case protocol.CodeUnsupported:
		return IsUnsupported(err)
	case protocol.CodeWrongPassphrase:
		return IsWrongPassphrase(err)
	}
	return protocol.HasCode(err, protocol.Code(code))
}

func substituteIndex(b []byte, i int) []byte {
	return bytes.ReplaceAll(b, []byte("{i}"), []byte(fmt.Sprint(i)))
}

var conformanceTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$`)

// missing stands for a key a reply does not carry (or carries as null).
type missing struct{}

// matchTemplate returns the differences between a reply and a template
// (the language is in protocol/testdata/conformance/README.md).
func matchTemplate(tmpl, got any, at string) []string {
	if s, ok := tmpl.(string); ok && strings.HasPrefix(s, "$") {
		return matchSpecial(s, got, at)
	}
	if _, ok := got.(missing); ok {
		return []string{fmt.Sprintf("%s: missing, want %v", at, tmpl)}
	}
	switch tv := tmpl.(type) {
	case []any:
		gv, ok := got.([]any)
		if !ok || len(gv) != len(tv) {
			return []string{fmt.Sprintf("%s: want %d elements, got %v", at, len(tv), got)}
		}
		var out []string
		for i := range tv {
			out = append(out, matchTemplate(tv[i], gv[i], fmt.Sprintf("%s[%d]", at, i))...)
		}
		return out
	case map[string]any:
		if all, ok := tv["$all"].([]any); ok && len(tv) == 1 {
			var out []string
			for _, t := range all {
				out = append(out, matchTemplate(t, got, at)...)
			}
			return out
		}
		if some, ok := tv["$some"]; ok && len(tv) == 1 {
			gv, ok := got.([]any)
			if !ok {
				return []string{fmt.Sprintf("%s: want an array, got %v", at, got)}
			}
			for _, g := range gv {
				if len(matchTemplate(some, g, at+"[*]")) == 0 {
					return nil
				}
			}
			return []string{fmt.Sprintf("%s: no element matches %v", at, some)}
		}
		gv, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %v", at, got)}
		}
		var out []string
		for k, t := range tv {
			g, present := gv[k]
			if !present || g == nil {
				g = missing{}
			}
			out = append(out, matchTemplate(t, g, at+"."+k)...)
		}
		return out
	}
	if tmpl != got {
		return []string{fmt.Sprintf("%s: want %v, got %v", at, tmpl, got)}
	}
	return nil
}

func matchSpecial(tmpl string, got any, at string) []string {
	_, isMissing := got.(missing)
	s, isString := got.(string)
	ok := false
	switch {
	case tmpl == "$absent":
		ok = isMissing
	case isMissing:
	case tmpl == "$any":
		ok = true
	case tmpl == "$string":
		ok = isString
	case tmpl == "$nonempty":
		ok = isString && s != ""
	case tmpl == "$number":
		_, ok = got.(float64)
	case tmpl == "$bool":
		_, ok = got.(bool)
	case tmpl == "$time":
		ok = isString && conformanceTime.MatchString(s)
	case strings.HasPrefix(tmpl, "$prefix:"):
		ok = isString && strings.HasPrefix(s, strings.TrimPrefix(tmpl, "$prefix:"))
	case strings.HasPrefix(tmpl, "$contains:"):
		want := strings.TrimPrefix(tmpl, "$contains:")
		if arr, isArr := got.([]any); isArr {
			ok = slices.Contains(arr, any(want))
		} else {
			ok = isString && strings.Contains(s, want)
		}
	case strings.HasPrefix(tmpl, "$regexp:"):
		ok = isString && regexp.MustCompile(strings.TrimPrefix(tmpl, "$regexp:")).MatchString(s)
	default:
		return []string{fmt.Sprintf("%s: unknown template matcher %s", at, tmpl)}
	}
	if ok {
		return nil
	}
	return []string{fmt.Sprintf("%s: want %s, got %v", at, tmpl, got)}
}

func TestMatchTemplateCanFail(t *testing.T) {
	assert.NotEmpty(t, matchTemplate(map[string]any{"a": "$absent"}, map[string]any{"a": 1.0}, "$"))
	assert.NotEmpty(t, matchTemplate([]any{1.0}, []any{1.0, 2.0}, "$"))
	assert.NotEmpty(t, matchTemplate(map[string]any{"s": map[string]any{"$some": "x"}}, map[string]any{"s": []any{"y"}}, "$"))
	assert.NotEmpty(t, matchTemplate("$time", "2020", "$"))
	assert.NotEmpty(t, matchTemplate(map[string]any{"$all": []any{"$contains:a", "$contains:b"}}, []any{"a"}, "$"))
	assert.Empty(t, matchTemplate(map[string]any{"u": "$prefix:ab", "n": 1.0}, map[string]any{"u": "abc", "n": 1.0, "extra": true}, "$"))
}

var (
	conformanceBinOnce sync.Once
	conformanceBin     string
	conformanceBinErr  error
)

// conformanceBinary is $KEYWARD_BIN, or keyward built once for this run.
func conformanceBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KEYWARD_BIN"); p != "" {
		return p
	}
	conformanceBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "keyward-conformance-bin-")
		if err != nil {
			conformanceBinErr = err
			return
		}
		conformanceBin = filepath.Join(dir, "keyward")
		cmd := exec.Command("go", "build", "-o", conformanceBin, "../cmd/keyward")
		cmd.Env = append(os.Environ(), "GOEXPERIMENT=runtimesecret")
		if out, err := cmd.CombinedOutput(); err != nil {
			conformanceBinErr = fmt.Errorf("building keyward: %v: %s", err, out)
		}
	})
	require.NoError(t, conformanceBinErr)
	return conformanceBin
}

// startConformanceAgent runs `keyward agent` over a fresh vault and returns
// its socket; the agent is stopped when the test ends.
func startConformanceAgent(t *testing.T, bin, passphrase string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "kwgo-") // short: sun_path is 108 bytes
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock, vault := filepath.Join(dir, "run", "agent.sock"), filepath.Join(dir, "vault")
	initCmd := exec.Command(bin, "init", "--vault", vault, "--argon2-memory", "8", "--argon2-time", "1")
	initCmd.Stdin = strings.NewReader(passphrase + "\n")
	out, err := initCmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	var logs bytes.Buffer
	agent := exec.Command(bin, "agent", "--socket", sock, "--vault", vault)
	agent.Stderr = &logs
	require.NoError(t, agent.Start())
	done := make(chan struct{})
	go func() { agent.Wait(); close(done) }()
	t.Cleanup(func() {
		agent.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			agent.Process.Kill()
			<-done
		}
	})
	require.Eventually(t, func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 20*time.Second, 20*time.Millisecond, "agent did not start")
	return sock
}
