package keyring

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// model is what a keyring should hold: credential and secret by name.
type model map[string]modelEntry

type modelEntry struct {
	c      Credential
	secret []byte
}

// checkModel proves k holds exactly m, through Use and Credential.
func checkModel(t *testing.T, k *Keyring, m model, pool []string) {
	t.Helper()
	require.Equal(t, len(m), k.Len())
	for _, name := range pool {
		want, ok := m[name]
		got, err := k.Credential(name)
		if !ok {
			require.ErrorIs(t, err, ErrUnknown, name)
			require.ErrorIs(t, k.Use(name, noopUse), ErrUnknown, name)
			continue
		}
		require.NoError(t, err, name)
		require.Equal(t, want.c, got, name)
		err = k.Use(name, func(c Credential, secret, _ []byte) error {
			assert.Equal(t, want.c, c)
			assert.Equal(t, want.secret, secret)
			return nil
		})
		require.NoError(t, err)
	}
}

// TestTableAgainstModel runs random adds, replacements and removals (enough
// to grow the index and compact the records several times) and checks the
// keyring against a plain map all along.
func TestTableAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	k := newKeyring(t, Options{})
	require.NoError(t, k.Unlock(0, 0, func(func(Credential, int) ([]byte, error)) error { return nil }))
	pool := make([]string, 3000)
	for i := range pool {
		pool[i] = fmt.Sprintf("cred-%d-%s", i, strings.Repeat("x", rng.IntN(40)))
	}
	metas := []map[string]string{nil, {}, {"key_type": "hmac"}, {"key_type": "hmac", "venue": "testnet"}}
	random := func(name string) (Credential, []byte) {
		c := Credential{
			Name:   name,
			Scheme: []string{"binance", "okx"}[rng.IntN(2)],
			APIKey: fmt.Sprintf("key-%d", rng.IntN(3)),
		}
		if m := metas[rng.IntN(len(metas))]; m != nil {
			c.Meta = make(map[string]string, len(m))
			for k, v := range m {
				c.Meta[k] = v
			}
		}
		if rng.IntN(5) == 0 {
			c.APIKey = ""
		}
		secret := make([]byte, 1+rng.IntN(100))
		for i := range secret {
			secret[i] = byte(rng.Uint32()) | 1
		}
		return c, secret
	}
	m := model{}
	for op := range 40_000 {
		name := pool[rng.IntN(len(pool))]
		_, held := m[name]
		switch r := rng.IntN(10); {
		case r < 5: // add
			c, secret := random(name)
			err := k.Add(c, secret)
			if held {
				require.ErrorIs(t, err, ErrExists)
				break
			}
			require.NoError(t, err)
			m[name] = modelEntry{c, secret}
		case r < 7: // replace
			c, secret := random(name)
			err := k.Replace(c, secret)
			if !held {
				require.ErrorIs(t, err, ErrUnknown)
				break
			}
			require.NoError(t, err)
			m[name] = modelEntry{c, secret}
		default: // remove
			err := k.Remove(name)
			if !held {
				require.ErrorIs(t, err, ErrUnknown)
				break
			}
			require.NoError(t, err)
			delete(m, name)
		}
		if op%5000 == 0 {
			checkModel(t, k, m, pool)
		}
	}
	checkModel(t, k, m, pool)

	// Only the distinct profiles in use are kept.
	k.mu.RLock()
	live := 0
	for _, p := range k.st.t.profiles {
		if p.refs > 0 {
			live++
		}
	}
	k.mu.RUnlock()
	assert.LessOrEqual(t, live, 2*len(metas))
}

// TestLentStringsStay proves a string Use lent still reads the same after
// the record is replaced, removed and the records compacted.
func TestLentStringsStay(t *testing.T) {
	k := newKeyring(t, Options{})
	const n = 5000
	require.NoError(t, k.Unlock(n, n*16, func(put func(Credential, int) ([]byte, error)) error {
		for i := range n {
			if _, err := put(Credential{Name: credName(i), Scheme: "binance", APIKey: "api-key-of-" + credName(i)}, 16); err != nil {
				return err
			}
		}
		return nil
	}))
	var kept []string
	for i := range n {
		require.NoError(t, k.Use(credName(i), func(c Credential, _, _ []byte) error {
			kept = append(kept, c.APIKey)
			return nil
		}))
	}
	for i := range n {
		if i%2 == 0 {
			require.NoError(t, k.Replace(Credential{Name: credName(i), Scheme: "binance", APIKey: "new"}, []byte("s")))
		} else {
			require.NoError(t, k.Remove(credName(i)))
		}
	}
	k.mu.RLock()
	assert.Less(t, len(k.st.t.buf), n*alignRec(hdrSize+len(credName(0))+len("api-key-of-")+len(credName(0))), "the records were compacted")
	k.mu.RUnlock()
	for i, s := range kept {
		require.Equal(t, "api-key-of-"+credName(i), s)
	}
	for i := 0; i < n; i += 2 {
		c, err := k.Credential(credName(i))
		require.NoError(t, err)
		assert.Equal(t, "new", c.APIKey)
	}
}

// TestMetaShared proves credentials with equal metadata share one map, that
// Credential hands out copies, and that nil and empty Meta stay apart.
func TestMetaShared(t *testing.T) {
	k := newKeyring(t, Options{})
	require.NoError(t, k.Unlock(0, 0, func(func(Credential, int) ([]byte, error)) error { return nil }))
	for i := range 100 {
		require.NoError(t, k.Add(Credential{Name: credName(i), Scheme: "binance", Meta: map[string]string{"key_type": "hmac"}}, []byte("s")))
	}
	require.NoError(t, k.Add(Credential{Name: "nil", Scheme: "binance"}, []byte("s")))
	require.NoError(t, k.Add(Credential{Name: "empty", Scheme: "binance", Meta: map[string]string{}}, []byte("s")))
	k.mu.RLock()
	assert.Len(t, k.st.t.profiles, 3)
	k.mu.RUnlock()

	c, err := k.Credential(credName(0))
	require.NoError(t, err)
	c.Meta["key_type"] = "changed"
	c, err = k.Credential(credName(1))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"key_type": "hmac"}, c.Meta)

	c, err = k.Credential("nil")
	require.NoError(t, err)
	assert.Nil(t, c.Meta)
	c, err = k.Credential("empty")
	require.NoError(t, err)
	assert.NotNil(t, c.Meta)
	assert.Empty(t, c.Meta)

	for i := range 100 {
		require.NoError(t, k.Remove(credName(i)))
	}
	k.mu.RLock()
	assert.Len(t, k.st.t.freeProfiles, 1, "the last use frees a profile")
	k.mu.RUnlock()
}
