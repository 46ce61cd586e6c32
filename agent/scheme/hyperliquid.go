package scheme

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"mime"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/keyward/keyward/internal/erase"
)

// hyperliquid signs Hyperliquid exchange actions (POST /exchange). The venue
// signs actions, not HTTP requests: the bot sends
//
//	{"action": {...}, "nonce": …, "vaultAddress": …, "expiresAfter": …}
//
// and the agent sets nonce (a millisecond timestamp, strictly increasing
// per key), adds "signature": {"r", "s", "v"} right after it, and leaves
// every other byte as the bot sent it. Two kinds of action exist, as
// hyperliquid-python-sdk's utils/signing.py signs them:
//
//   - L1 actions (order, cancel, modify, updateLeverage, …):
//     connectionId = keccak256(msgpack(action) || nonce as 8 bytes BE ||
//     0x00, or 0x01 || vault address || [0x00 || expiresAfter as 8 bytes
//     BE]); the key signs the EIP-712 struct Agent(string source, bytes32
//     connectionId) with source "a" on mainnet and "b" on testnet, in the
//     domain {name "Exchange", version "1", chainId 1337, verifyingContract
//     0x0}. The msgpack follows the JSON's key order (hyperliquid_msgpack.go).
//   - user-signed actions (usdSend, withdraw3, approveAgent, …): the key
//     signs the action's fields as the EIP-712 struct
//     "HyperliquidTransaction:<Name>" in the domain {name
//     "HyperliquidSignTransaction", version "1", chainId = the action's
//     signatureChainId, verifyingContract 0x0}. The action's time (or
//     nonce) field is set to the agent's nonce, and its hyperliquidChain
//     must name the host's chain.
//
// The key is an API (agent) wallet's secp256k1 private key; the API key is
// the address of the account it trades for.
type hyperliquid struct{}

const (
	hlMainnetHost = "api.hyperliquid.xyz"
	hlTestnetHost = "api.hyperliquid-testnet.xyz"
	// hlMetaNetwork names the chain (mainnet or testnet) a credential signs
	// for on a host added with --host.
	hlMetaNetwork = "network"
)

func (hyperliquid) Name() string { return "hyperliquid" }

func (hyperliquid) Hosts() []string { return []string{hlMainnetHost, hlTestnetHost} }

func (hyperliquid) Info() Info {
	return Info{
		KeyTypes: []string{KeySecp256k1},
		Meta: map[string]string{
			hlMetaNetwork: "mainnet or testnet: the chain signed for on a host added with --host (Hyperliquid's own hosts imply it)",
		},
	}
}

// hlL1Types are the L1 action types the scheme signs: those
// hyperliquid-python-sdk's Exchange and ccxt send.
var hlL1Types = []string{
	"order", "modify", "batchModify", "cancel", "cancelByCloid", "scheduleCancel",
	"updateLeverage", "updateIsolatedMargin", "topUpIsolatedOnlyMargin", "twapOrder", "twapCancel",
	"setReferrer", "createSubAccount", "subAccountTransfer", "subAccountSpotTransfer",
	"vaultTransfer", "createVault", "reserveRequestWeight", "noop", "evmUserModify",
	"agentEnableDexAbstraction", "agentSetAbstraction", "spotDeploy", "perpDeploy",
	"CSignerAction", "CValidatorAction",
}

// hlSupported lists every action type the scheme signs, for messages.
func hlSupported() string {
	user := make([]string, 0, len(hlUserTypes))
	for k := range hlUserTypes {
		user = append(user, k)
	}
	sort.Strings(user)
	return "L1 actions " + strings.Join(hlL1Types, ", ") + "; user-signed actions " + strings.Join(user, ", ")
}

// Check accepts an API wallet's private key as 64 hex digits, with or
// without 0x (surrounding white space, such as a file's final newline, is
// ignored), and the account's address as the API key.
func (hyperliquid) Check(k Key) (Checked, error) {
	if _, why := hlParseAddress(k.APIKey, false); why != "" {
		return Checked{}, badRequest("hyperliquid: the API key must be the trading account's address (0x and 40 hex digits; for an API wallet, the main account's address, not the API wallet's), and it " + why)
	}
	if n := k.Meta[hlMetaNetwork]; n != "" && n != "mainnet" && n != "testnet" {
		return Checked{}, badRequest("hyperliquid: the network setting must be mainnet or testnet")
	}
	sec := bytes.TrimSpace(k.Secret)
	if isPEM(sec) {
		return Checked{}, badRequest("hyperliquid: this is a PEM file: Hyperliquid keys are an API wallet's private key, 64 hex digits (0x optional), as the API page shows it")
	}
	if len(sec) >= 2 && sec[0] == '0' && (sec[1] == 'x' || sec[1] == 'X') {
		sec = sec[2:]
	}
	for i, c := range sec {
		if !isHex(c) {
			return Checked{}, badRequest(fmt.Sprintf("hyperliquid: the private key has a non-hex character at position %d: give the API wallet's private key as 64 hex digits (0x optional)", i))
		}
	}
	switch len(sec) {
	case 64:
	case 40:
		return Checked{}, badRequest("hyperliquid: this is 40 hex digits, an address: give the API wallet's private key (64 hex digits), not its address")
	default:
		return Checked{}, badRequest(fmt.Sprintf("hyperliquid: the private key has %d hex digits; an API wallet's private key has 64 (0x optional)", len(sec)))
	}
	key := make([]byte, 32)
	if _, err := hex.Decode(key, sec); err != nil {
		clear(key)
		return Checked{}, badRequest("hyperliquid: the private key is not hexadecimal")
	}
	valid := false
	erase.Do(func() {
		var s secp256k1.ModNScalar
		overflow := s.SetByteSlice(key)
		valid = !overflow && !s.IsZero()
		s.Zero()
	})
	if !valid {
		clear(key)
		return Checked{}, badRequest("hyperliquid: the private key is zero or not below the secp256k1 group order, so it is no valid key: copy it again")
	}
	return Checked{KeyType: KeySecp256k1, Secret: key}, nil
}

// hlEdit replaces body[start:end] with text.
type hlEdit struct {
	start, end int
	text       string
}

func (h hyperliquid) Sign(in Input) (Request, error) {
	if len(in.Secret) != 32 {
		return Request{}, fmt.Errorf("hyperliquid: credential's secret is %d bytes, not a 32-byte secp256k1 key", len(in.Secret))
	}
	if in.KeyType != "" && in.KeyType != KeySecp256k1 {
		return Request{}, fmt.Errorf("hyperliquid: credential's key type is %q, not %s", in.KeyType, KeySecp256k1)
	}
	req := in.Request
	if req.Method != "POST" {
		return Request{}, badRequest(fmt.Sprintf("hyperliquid: method %q: only POST /exchange is signed (the info endpoint needs no signature)", truncate(req.Method, 16)))
	}
	base, query, err := splitURL(h, req.URL, in.Meta)
	if err != nil {
		return Request{}, err
	}
	u, err := url.Parse(base)
	if err != nil {
		return Request{}, badRequest("hyperliquid: the URL does not parse")
	}
	if u.EscapedPath() != "/exchange" || query != "" || strings.Contains(req.URL, "?") {
		return Request{}, badRequest("hyperliquid: only the exchange endpoint is signed: POST https://" + hlMainnetHost + "/exchange with no query")
	}
	mainnet, err := hlNetwork(u.Hostname(), in.Meta)
	if err != nil {
		return Request{}, err
	}
	headers, err := hlHeaders(req.Headers)
	if err != nil {
		return Request{}, err
	}

	body := req.Body
	root, err := hlParseJSON(body)
	if err != nil {
		return Request{}, err
	}
	if root.kind != hlObject {
		return Request{}, badRequest(`hyperliquid: the body must be a JSON object {"action": {...}, "nonce": …}`)
	}
	for _, k := range root.keys {
		switch k {
		case "action", "nonce", "vaultAddress", "expiresAfter":
		case "signature":
			return Request{}, badRequest("hyperliquid: the body has a signature: the agent signs; leave signature out")
		default:
			return Request{}, badRequest(fmt.Sprintf("hyperliquid: the body has the key %q: the exchange endpoint takes action, nonce, vaultAddress and expiresAfter (the agent adds signature)", truncate(k, 40)))
		}
	}
	action := root.get("action")
	if action == nil || action.kind != hlObject {
		return Request{}, badRequest(`hyperliquid: the body has no "action" object`)
	}
	typ := action.get("type")
	if typ == nil || typ.kind != hlString {
		return Request{}, badRequest(`hyperliquid: the action has no "type" string; supported: ` + hlSupported())
	}
	vault := root.get("vaultAddress")
	if vault != nil && vault.kind == hlNull {
		vault = nil
	}
	expires := root.get("expiresAfter")
	if expires != nil && expires.kind == hlNull {
		expires = nil
	}

	nonce := in.NextNonce(time.Millisecond)
	var (
		digest [32]byte
		edits  []hlEdit
	)
	if ut, ok := hlUserTypes[typ.str]; ok {
		if vault != nil {
			return Request{}, badRequest(fmt.Sprintf("hyperliquid: %s is a user-signed action, which does not sign vaultAddress: leave it out (name a sub-account inside the action where the venue allows it)", typ.str))
		}
		if expires != nil {
			return Request{}, badRequest(fmt.Sprintf("hyperliquid: %s is a user-signed action, which does not take expiresAfter: leave it out", typ.str))
		}
		var edit hlEdit
		digest, edit, err = hlUserAction(ut, typ.str, action, mainnet, nonce)
		if err != nil {
			return Request{}, err
		}
		edits = append(edits, edit)
	} else if slices.Contains(hlL1Types, typ.str) {
		digest, err = hlL1Action(action, vault, expires, mainnet, nonce)
		if err != nil {
			return Request{}, err
		}
	} else if typ.str == "multiSig" {
		return Request{}, badRequest("hyperliquid: multiSig actions carry other signers' signatures and are not signed by the agent; supported: " + hlSupported())
	} else {
		return Request{}, badRequest(fmt.Sprintf("hyperliquid: action type %q is not one keyward signs; supported: %s", truncate(typ.str, 40), hlSupported()))
	}

	r, s, v, err := hlSignDigest(in.Secret, digest)
	if err != nil {
		return Request{}, err
	}
	sig := `,"signature":{"r":"` + r + `","s":"` + s + `","v":` + strconv.Itoa(v) + `}`
	n := strconv.FormatUint(nonce, 10)
	if nv := root.get("nonce"); nv != nil {
		edits = append(edits, hlEdit{nv.start, nv.end, n + sig})
	} else {
		last := root.vals[len(root.vals)-1].end
		edits = append(edits, hlEdit{last, last, `,"nonce":` + n + sig})
	}
	return Request{Method: req.Method, URL: req.URL, Headers: headers, Body: hlApply(body, edits)}, nil
}

// hlNetwork says whether host signs for mainnet: Hyperliquid's own hosts
// imply it; a host added with --host needs the credential's network setting.
func hlNetwork(host string, meta map[string]string) (mainnet bool, err error) {
	set := meta[hlMetaNetwork]
	switch strings.ToLower(host) {
	case hlMainnetHost:
		if set == "testnet" {
			return false, badRequest("hyperliquid: the credential's network is testnet but the host is mainnet's (" + hlMainnetHost + ")")
		}
		return true, nil
	case hlTestnetHost:
		if set == "mainnet" {
			return false, badRequest("hyperliquid: the credential's network is mainnet but the host is testnet's (" + hlTestnetHost + ")")
		}
		return false, nil
	}
	switch set {
	case "mainnet":
		return true, nil
	case "testnet":
		return false, nil
	}
	return false, badRequest("hyperliquid: host " + truncate(host, 64) + " is not Hyperliquid's own, so the chain to sign for is unknown: add the credential with --meta network=mainnet or --meta network=testnet")
}

// hlHeaders copies the bot's headers, refusing a non-JSON Content-Type and
// adding application/json when there is none.
func hlHeaders(in map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(in)+1)
	hasType := false
	for k, v := range in {
		if !headerSafe(k) || !headerSafe(v) {
			return nil, badRequest("hyperliquid: a header has a control character")
		}
		if strings.EqualFold(k, "Content-Type") {
			mt, _, err := mime.ParseMediaType(v)
			if err != nil || mt != "application/json" {
				return nil, badRequest("hyperliquid: Content-Type must be application/json: the exchange endpoint takes a JSON body")
			}
			hasType = true
		}
		out[k] = v
	}
	if !hasType {
		out["Content-Type"] = "application/json"
	}
	return out, nil
}

// hlL1Action returns the EIP-712 digest of an L1 action's phantom agent.
func hlL1Action(action, vault, expires *hlValue, mainnet bool, nonce uint64) ([32]byte, error) {
	data, err := hlMsgpack(make([]byte, 0, 256), action, "action")
	if err != nil {
		return [32]byte{}, err
	}
	data = binary.BigEndian.AppendUint64(data, nonce)
	if vault == nil {
		data = append(data, 0)
	} else {
		if vault.kind != hlString {
			return [32]byte{}, badRequest("hyperliquid: vaultAddress must be a string: the vault's or sub-account's address")
		}
		addr, why := hlParseAddress(vault.str, true)
		if why != "" {
			return [32]byte{}, badRequest("hyperliquid: vaultAddress " + why)
		}
		data = append(append(data, 1), addr[:]...)
	}
	if expires != nil {
		e, ok := hlUint64(expires)
		if !ok {
			return [32]byte{}, badRequest("hyperliquid: expiresAfter must be an integer timestamp in milliseconds (or null)")
		}
		data = binary.BigEndian.AppendUint64(append(data, 0), e)
	}
	return hlAgentDigest(mainnet, hlKeccak(data)), nil
}

// hlUserAction checks a user-signed action and returns its EIP-712 digest
// and the edit that puts the agent's nonce into its time/nonce field.
func hlUserAction(ut hlUserType, name string, action *hlValue, mainnet bool, nonce uint64) ([32]byte, hlEdit, error) {
	fail := func(msg string) ([32]byte, hlEdit, error) {
		return [32]byte{}, hlEdit{}, badRequest("hyperliquid: " + name + ": " + msg)
	}
	chainID := new(big.Int)
	sc := action.get("signatureChainId")
	if sc == nil || sc.kind != hlString {
		return fail(`the action needs "signatureChainId", the hex chain id the wallet signs with (the SDKs use "0x66eee")`)
	}
	hexID, ok := strings.CutPrefix(strings.ToLower(sc.str), "0x")
	if _, good := chainID.SetString(hexID, 16); !ok || !good || len(hexID) > 64 || chainID.Sign() == 0 || strings.ContainsAny(hexID, "+-_") {
		return fail(`signatureChainId must be a non-zero chain id in hex with 0x, such as "0x66eee"`)
	}
	wantChain := "Testnet"
	if mainnet {
		wantChain = "Mainnet"
	}
	words := make([][32]byte, len(ut.fields))
	var edit hlEdit
	for i, f := range ut.fields {
		v := action.get(f.name)
		switch {
		case f.name == "hyperliquidChain":
			if v == nil || v.kind != hlString {
				return fail(`the action needs "hyperliquidChain": "` + wantChain + `"`)
			}
			if v.str != wantChain {
				return fail(fmt.Sprintf("hyperliquidChain is %q but the host is %s's: set it to %q", truncate(v.str, 16), strings.ToLower(wantChain), wantChain))
			}
			words[i] = hlKeccak([]byte(v.str))
			continue
		case f.name == ut.nonceField:
			words[i] = hlWordUint64(nonce)
			n := strconv.FormatUint(nonce, 10)
			if v != nil {
				edit = hlEdit{v.start, v.end, n}
			} else {
				last := action.vals[len(action.vals)-1].end
				edit = hlEdit{last, last, `,"` + f.name + `":` + n}
			}
			continue
		case v == nil:
			d, ok := ut.defaults[f.name]
			if !ok {
				return fail(fmt.Sprintf("the action has no %q (%s); it signs %s", f.name, f.typ, ut.typeString()))
			}
			words[i] = hlKeccak([]byte(d))
			continue
		}
		switch f.typ {
		case "string":
			if v.kind != hlString {
				return fail(fmt.Sprintf("%s must be a JSON string", f.name))
			}
			words[i] = hlKeccak([]byte(v.str))
		case "address":
			if v.kind != hlString {
				return fail(fmt.Sprintf("%s must be an address string (0x and 40 hex digits)", f.name))
			}
			a, why := hlParseAddress(v.str, false)
			if why != "" {
				return fail(f.name + " " + why)
			}
			copy(words[i][12:], a[:])
		case "bool":
			if v.kind != hlBool {
				return fail(fmt.Sprintf("%s must be true or false", f.name))
			}
			if v.boolean {
				words[i][31] = 1
			}
		case "uint64":
			n, ok := hlUint64(v)
			if !ok {
				return fail(fmt.Sprintf("%s must be an integer from 0 to 2^64-1, written without fraction or exponent", f.name))
			}
			words[i] = hlWordUint64(n)
		default:
			return [32]byte{}, hlEdit{}, fmt.Errorf("hyperliquid: unknown EIP-712 type %s", f.typ)
		}
	}
	return hlUserDigest(ut, chainID, words), edit, nil
}

// hlApply applies non-overlapping edits to s.
func hlApply(s string, edits []hlEdit) string {
	sort.Slice(edits, func(i, j int) bool { return edits[i].start < edits[j].start })
	var b strings.Builder
	b.Grow(len(s) + 160)
	pos := 0
	for _, e := range edits {
		b.WriteString(s[pos:e.start])
		b.WriteString(e.text)
		pos = e.end
	}
	b.WriteString(s[pos:])
	return b.String()
}
