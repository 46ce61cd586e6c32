package vault

import "fmt"

// Params are the Argon2id cost parameters that turn a passphrase into the
// key-encryption key. They are stored in the vault's kdf line.
type Params struct {
	Time      uint32 // passes over memory (t)
	MemoryKiB uint32 // memory in KiB (m)
	Threads   uint8  // lanes (p)
}

// DefaultParams returns RFC 9106 §4's second recommended option: t=3,
// m=64 MiB, p=4. Anything cheaper than this is meant for tests only.
func DefaultParams() Params {
	return Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}
}

const (
	// minMemoryKiB is far below anything safe for a real vault; it exists so
	// tests under -race stay fast. Real vaults use DefaultParams.
	minMemoryKiB = 64
	// The ceilings bound the work a hostile vault file can make Unlock do.
	maxMemoryKiB = 4 * 1024 * 1024 // 4 GiB
	maxTime      = 64

	saltSize    = 16 // Argon2id salt
	keySize     = 32 // KEK, data key, record keys, MAC key
	nonceSize   = 12 // AES-GCM
	tagSize     = 16 // AES-GCM
	recSaltSize = 32 // HKDF salt per record
)

func (p Params) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("argon2id time t=%d is out of range [1, %d]", p.Time, maxTime)
	case p.Threads < 1:
		return fmt.Errorf("argon2id threads p=%d is out of range [1, 255]", p.Threads)
	case p.MemoryKiB < minMemoryKiB || p.MemoryKiB > maxMemoryKiB:
		return fmt.Errorf("argon2id memory m=%d KiB is out of range [%d, %d]", p.MemoryKiB, minMemoryKiB, maxMemoryKiB)
	case p.MemoryKiB < 8*uint32(p.Threads):
		// argon2 would silently raise m to 8p; refuse so the file says what was used.
		return fmt.Errorf("argon2id memory m=%d KiB is below 8 KiB per thread (p=%d)", p.MemoryKiB, p.Threads)
	}
	return nil
}
