package scheme

import (
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"math/rand/v2"
	"testing"

	"github.com/keyward/keyward/internal/erase"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rfc8032Vectors are RFC 8032's Ed25519 test vectors, section 7.1:
// https://www.rfc-editor.org/rfc/rfc8032#section-7.1
// (TEST 1, 2, 3, 1024 and SHA(abc), whose message is SHA-512("abc")).
var rfc8032Vectors = []struct {
	name, secret, public, message, signature string
}{
	{
		name:      "TEST 1",
		secret:    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
		public:    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
		message:   "",
		signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
	},
	{
		name:      "TEST 2",
		secret:    "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
		public:    "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
		message:   "72",
		signature: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
	},
	{
		name:      "TEST 3",
		secret:    "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
		public:    "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
		message:   "af82",
		signature: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
	},
	{
		name:   "TEST 1024",
		secret: "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
		public: "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
		message: "" +
			"08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1" +
			"e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d" +
			"658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a" +
			"7363c344fe6b199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e" +
			"06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc10" +
			"3b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1" +
			"85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a2297acbbb39d" +
			"502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270" +
			"88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089b" +
			"eccf80cfe2df16a2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba" +
			"b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969b" +
			"e3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7" +
			"51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988d" +
			"cda6f3bfd15c4b4c4525004aa06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df" +
			"f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7" +
			"984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4" +
			"88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721aac09" +
			"43bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f" +
			"b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f161" +
			"0e4eafe595f6d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d" +
			"b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8ca" +
			"c60c905c15fc910840b94c00a0b9d0",
		signature: "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
	},
	{
		name:      "TEST SHA(abc)",
		secret:    "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
		public:    "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
		message:   "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
		signature: "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
	},
}

// TestEd25519SignRFC8032Vectors signs RFC 8032's vectors with the stored
// (seed || public key) and the bare-seed forms.
func TestEd25519SignRFC8032Vectors(t *testing.T) {
	for _, v := range rfc8032Vectors {
		t.Run(v.name, func(t *testing.T) {
			seed, pub, msg, want := unhex(t, v.secret), unhex(t, v.public), unhex(t, v.message), unhex(t, v.signature)
			if v.name == "TEST 1024" {
				require.Len(t, msg, 1023)
			}
			if v.name == "TEST SHA(abc)" {
				abc := sha512.Sum512([]byte("abc"))
				require.Equal(t, abc[:], msg)
			}
			key := append(append([]byte{}, seed...), pub...)
			assert.True(t, ed25519KeyConsistent(key), "the vector's public key is its seed's")

			var sig [64]byte
			ed25519Sign(&sig, seed, pub, msg)
			assert.Equal(t, hex.EncodeToString(want), hex.EncodeToString(sig[:]), "stored public key")
			ed25519Sign(&sig, seed, nil, msg)
			assert.Equal(t, hex.EncodeToString(want), hex.EncodeToString(sig[:]), "bare seed")

			for _, k := range [][]byte{key, seed} {
				got, err := signEd25519(k, msg)
				require.NoError(t, err)
				assert.Equal(t, want, got, "signEd25519 with a %d-byte key", len(k))
			}
			assert.Equal(t, want, ed25519.Sign(ed25519.PrivateKey(key), msg), "crypto/ed25519 agrees with the vector")
		})
	}
}

// TestEd25519SignMatchesStdlib compares the signer with crypto/ed25519 for
// many keys and every message length from 0 to 300 bytes (the SHA-512
// block boundaries of prefix||msg and R||A||msg among them).
func TestEd25519SignMatchesStdlib(t *testing.T) {
	rng := rand.New(rand.NewChaCha8([32]byte{'k', 'e', 'y', 'w', 'a', 'r', 'd'}))
	n := 300
	if testing.Short() {
		n = 100
	}
	for msgLen := 0; msgLen <= n; msgLen++ {
		var seed [32]byte
		for i := range seed {
			seed[i] = byte(rng.Uint32())
		}
		msg := make([]byte, msgLen)
		for i := range msg {
			msg[i] = byte(rng.Uint32())
		}
		priv := ed25519.NewKeyFromSeed(seed[:])
		want := ed25519.Sign(priv, msg)

		got, err := signEd25519(priv, msg)
		require.NoError(t, err)
		require.Equal(t, want, got, "stored key, message of %d bytes", msgLen)
		got, err = signEd25519(seed[:], msg)
		require.NoError(t, err)
		require.Equal(t, want, got, "bare seed, message of %d bytes", msgLen)
		require.True(t, ed25519.Verify(priv.Public().(ed25519.PublicKey), msg, got))
		require.True(t, ed25519KeyConsistent(priv))
	}
}

// TestEd25519KeyConsistent: a key whose second half is not its seed's
// public key is refused, since signing with it would leak the key.
func TestEd25519KeyConsistent(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	_, other, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	assert.True(t, ed25519KeyConsistent(priv))

	flipped := append(ed25519.PrivateKey{}, priv...)
	flipped[40] ^= 1
	assert.False(t, ed25519KeyConsistent(flipped), "one bit of the public half changed")
	swapped := append(append([]byte{}, priv.Seed()...), other[32:]...)
	assert.False(t, ed25519KeyConsistent(swapped), "another key's public half")
	assert.False(t, ed25519KeyConsistent(priv.Seed()), "a bare seed has no public half to check")
	assert.False(t, ed25519KeyConsistent(priv[:63]))
	assert.False(t, ed25519KeyConsistent(nil))
}

// TestEd25519SignDoesNotAllocate: the signer's secrets (the expanded key,
// the nonce and the hash state holding them) stay in its stack frame,
// which it wipes and erase.Do erases, never on the heap.
func TestEd25519SignDoesNotAllocate(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	msg := []byte("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=0.1&timestamp=1499827319559")
	var sig [64]byte
	for _, pub := range [][]byte{priv[32:], nil} {
		allocs := testing.AllocsPerRun(100, func() { ed25519Sign(&sig, priv[:32], pub, msg) })
		assert.Zero(t, allocs, "allocations per signature (public key given: %t)", pub != nil)
	}
	assert.True(t, ed25519.Verify(priv.Public().(ed25519.PublicKey), msg, sig[:]))
	allocs := testing.AllocsPerRun(100, func() { ed25519KeyConsistent(priv) })
	assert.Zero(t, allocs, "allocations per key check")
}

func BenchmarkEd25519Sign(b *testing.B) {
	_, priv, err := ed25519.GenerateKey(nil)
	require.NoError(b, err)
	msg := []byte("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559")
	for _, bc := range []struct {
		name string
		key  []byte
	}{{"stored", priv}, {"seed", priv.Seed()}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := signEd25519(bc.key, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The path signEd25519 took before ed25519sign.go, for comparison in
	// the same run: the public key recomputed, then crypto/ed25519.Sign.
	b.Run("stdlib-from-seed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			erase.Do(func() { ed25519.Sign(ed25519.NewKeyFromSeed(priv.Seed()), msg) })
		}
	})
}
