package protocol

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSpecExamples checks every example in SPEC.md: each hex block is one
// whole frame whose body is the JSON block before it, and the JSON decodes
// as a request or a reply of this package.
func TestSpecExamples(t *testing.T) {
	spec, err := os.ReadFile("SPEC.md")
	require.NoError(t, err)
	re := regexp.MustCompile("(?s)```json\n(.*?)\n```\n\n```hex\n(.*?)\n```")
	examples := re.FindAllStringSubmatch(string(spec), -1)
	require.GreaterOrEqual(t, len(examples), 7)
	for _, ex := range examples {
		body, hexText := ex[1], ex[2]
		raw, err := hex.DecodeString(strings.Join(strings.Fields(hexText), ""))
		require.NoError(t, err)
		got, err := ReadFrame(strings.NewReader(string(raw)), nil)
		require.NoError(t, err, body)
		assert.Equal(t, body, string(got))

		var probe map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(got, &probe))
		if _, isRequest := probe["op"]; isRequest {
			_, err := DecodeRequest(got)
			assert.NoError(t, err, body)
		} else {
			var r Reply
			require.NoError(t, json.Unmarshal(got, &r), body)
			assert.True(t, (r.Result == nil) != (r.Error == nil), "exactly one of result and error: %s", body)
		}
	}
}

// TestSpecHelloListsEveryOperation: the hello reply example names the
// operations this version speaks, in order.
func TestSpecHelloListsEveryOperation(t *testing.T) {
	spec, err := os.ReadFile("SPEC.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)### hello reply\n.*?```json\n(.*?)\n```").FindSubmatch(spec)
	require.NotNil(t, m)
	var r struct {
		Result HelloResult `json:"result"`
	}
	require.NoError(t, json.Unmarshal(m[1], &r))
	assert.Equal(t, Operations(), r.Result.Operations)
}
