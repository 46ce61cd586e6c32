package scheme

import (
	"crypto/sha256"
	"hash"
	"sync"
)

// sha256s holds SHA-256 digests between HMACs: the commonest scheme's
// hash is then not allocated per signature. A digest goes back Reset
// (hmacWith's last step), so it holds no key-equivalent midstate, and with
// no key bytes in its partial-block buffer (see clearPartialBlock).
var sha256s = sync.Pool{New: func() any { return sha256.New() }}

// hmacSHA256 appends HMAC-SHA256(key, msg...) to dst; see hmacSum.
func hmacSHA256(scratch, key, dst []byte, msg ...[]byte) []byte {
	h := sha256s.Get().(hash.Hash)
	dst = hmacWith(h, scratch, key, dst, msg...)
	sha256s.Put(h)
	return dst
}

// hmacSum appends HMAC(key, msg[0]||msg[1]||…) (RFC 2104) over the hash made
// by newHash to dst and returns the extended slice.
//
// It exists because crypto/hmac copies the XORed key blocks (ipad/opad) into
// the ordinary heap, where they outlive the call: those blocks are
// key-equivalent. Here the key blocks are built in scratch, which the caller
// lends from locked memory and which is wiped before return; a key longer
// than the block size is hashed into scratch first. The key blocks are
// written to the hash as whole blocks, which the standard library's SHA-2
// implementations compress straight from the caller's slice without copying
// them into the hash state. The hash object is Reset after each use, so no
// midstate (a key-equivalent value) survives in it.
//
// Honest limit: Sum works on a stack copy of the hash state, so an inner
// midstate can briefly sit in the goroutine's (unlocked) stack until that
// memory is reused. Removing that needs our own compression function.
//
// scratch must hold at least two blocks of the hash; hmacSum panics
// otherwise, since that is a programming error (Sign checks first).
func hmacSum(newHash func() hash.Hash, scratch, key, dst []byte, msg ...[]byte) []byte {
	return hmacWith(newHash(), scratch, key, dst, msg...)
}

// hmacWith is hmacSum with the hash object given, fresh or Reset; it is
// Reset again before return.
func hmacWith(h hash.Hash, scratch, key, dst []byte, msg ...[]byte) []byte {
	bs := h.BlockSize()
	if len(scratch) < 2*bs {
		panic("scheme: hmac scratch smaller than two hash blocks")
	}
	used := scratch[: 2*bs : 2*bs]
	defer clear(used)
	defer h.Reset()
	ipad := used[:bs:bs]
	opad := used[bs:]

	k := key
	if len(k) > bs {
		h.Write(k)
		k = h.Sum(opad[:0]) // the hashed key lives in the opad block until overwritten below
		clearPartialBlock(h, bs)
	}
	for i := range ipad {
		var b byte
		if i < len(k) {
			b = k[i]
		}
		ipad[i] = b ^ 0x36
	}
	// k may alias opad: each k[i] is read before opad[i] is written.
	for i := range opad {
		var b byte
		if i < len(k) {
			b = k[i]
		}
		opad[i] = b ^ 0x5c
	}

	h.Write(ipad)
	for _, m := range msg {
		h.Write(m)
	}
	inner := h.Sum(ipad[:0]) // ipad is spent; keep the inner digest in locked memory too
	h.Reset()
	h.Write(opad)
	h.Write(inner)
	// Summed into scratch and copied, so that dst, which never reaches
	// the hash's interface, can live on the caller's stack.
	return append(dst, h.Sum(used[:0])...)
}

// clearPartialBlock zeroes the hash's buffer for a partial block, which
// Reset leaves as it was: after a key longer than a block was hashed, it
// holds the key's last bytes, in a hash object that may live on in the
// pool. One byte and then a block less one fill the buffer with zeros (a
// whole block at once would be compressed from the caller's slice without
// passing through it). h is left Reset.
func clearPartialBlock(h hash.Hash, bs int) {
	var zeros [128]byte // the widest block, SHA-512's
	h.Reset()
	h.Write(zeros[:1])
	h.Write(zeros[1:bs])
	h.Reset()
}
