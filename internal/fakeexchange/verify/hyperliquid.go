package verify

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// hyperliquid checks Hyperliquid exchange actions (POST /exchange, a JSON
// body {"action", "nonce", "signature": {r, s, v}, "vaultAddress"?,
// "expiresAfter"?}). Hyperliquid authenticates the signer, not a key: the
// signer's address is recovered from the secp256k1 signature, as
// https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/signing
// describes and hyperliquid-python-sdk's utils/signing.py implements
// (https://github.com/hyperliquid-dex/hyperliquid-python-sdk/blob/master/hyperliquid/utils/signing.py):
//
//   - L1 actions (order, cancel, …, any type that is not user-signed):
//     connectionId = keccak256(msgpack(action) || nonce as 8 bytes BE ||
//     0x00, or 0x01 || vault address || [0x00 || expiresAfter as 8 bytes
//     BE]); the signer signs the EIP-712 "phantom agent" Agent(string
//     source, bytes32 connectionId), source "a" on mainnet and "b" on
//     testnet, in the domain {name "Exchange", version "1", chainId 1337,
//     verifyingContract 0x0};
//   - user-signed actions (usdSend, withdraw3, approveAgent, …, see
//     hlUserActions): the action's fields as the EIP-712 struct
//     "HyperliquidTransaction:<Name>" in the domain {name
//     "HyperliquidSignTransaction", version "1", chainId =
//     signatureChainId}; hyperliquidChain must name the network and the
//     action's time/nonce field must equal the request's nonce.
//
// The nonce is a millisecond timestamp that must lie within (T - 2 days,
// T + 1 day) of the server's time
// (https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/nonces-and-api-wallets);
// Verdict.Nonce carries it for the server's increasing check (Hyperliquid
// keeps the 100 highest; the agent's are strictly increasing). An
// expiresAfter in the past is refused.
//
// The network is the host's (api.hyperliquid-testnet.xyz is testnet); on
// another host Verify reads Account.Meta["network"] (keyward's metadata
// key, mainnet by default) and Key, which sees no account, assumes testnet
// when the host name contains "testnet", else mainnet.
//
// Key returns the recovered signer address (lower-case 0x hex). The
// account's signer is the address of the private key in Account.Secret
// when it holds one (64 hex digits, as keyward's credential does; APIKey
// is then the trading account, which may differ for an API wallet), else
// Account.APIKey; AccountKeys("hyperliquid", a) returns it. Not covered:
// multiSig actions (their inner signatures).
func hyperliquid() Venue {
	return Venue{
		Name:  "hyperliquid",
		Hosts: []string{hlMainnetHost, hlTestnetHost},
		Key: func(r *Request) (string, error) {
			req, err := hlRead(r, hlHostTestnet(r.Host, nil))
			if err != nil {
				return "", fmt.Errorf("hyperliquid: %w", err)
			}
			return req.signer, nil
		},
		Verify: hyperliquidVerify,
	}
}

const (
	hlMainnetHost = "api.hyperliquid.xyz"
	hlTestnetHost = "api.hyperliquid-testnet.xyz"
)

func hlHostTestnet(host string, meta map[string]string) bool {
	switch host {
	case hlMainnetHost:
		return false
	case hlTestnetHost:
		return true
	}
	if n, ok := meta["network"]; ok {
		return n == "testnet"
	}
	return strings.Contains(host, "testnet")
}

// hlSigner is the address an account's requests must be signed by.
func hlSigner(a Account) string {
	if addr, ok := hlSecretAddress(a.Secret); ok {
		return addr
	}
	return strings.ToLower(a.APIKey)
}

// hlRequest is what hlRead found in a request.
type hlRequest struct {
	signer       string
	nonce        uint64
	expiresAfter *uint64
}

func hlRead(r *Request, testnet bool) (*hlRequest, error) {
	if r.Method != "POST" || r.Path != "/exchange" {
		return nil, fmt.Errorf("%s %s is not POST /exchange", r.Method, clip(r.Path))
	}
	v, err := hlDecode(r.Body)
	if err != nil {
		return nil, fmt.Errorf("body is not JSON: %w", err)
	}
	body, ok := v.(hlObject)
	if !ok {
		return nil, errors.New("body is not a JSON object")
	}
	av, _ := body.get("action")
	action, ok := av.(hlObject)
	if !ok {
		return nil, errors.New("body has no action object")
	}
	sv, _ := body.get("signature")
	sig, ok := sv.(hlObject)
	if !ok {
		return nil, errors.New("body has no signature object")
	}
	out := &hlRequest{}
	nv, _ := body.get("nonce")
	nn, ok := nv.(json.Number)
	if !ok {
		return nil, errors.New("body has no numeric nonce")
	}
	if out.nonce, err = strconv.ParseUint(string(nn), 10, 64); err != nil {
		return nil, fmt.Errorf("nonce %s is not a uint64", clip(string(nn)))
	}
	if ev, ok := body.get("expiresAfter"); ok && ev != nil {
		en, ok := ev.(json.Number)
		e, err := strconv.ParseUint(string(en), 10, 64)
		if !ok || err != nil {
			return nil, errors.New("expiresAfter is not a uint64")
		}
		out.expiresAfter = &e
	}
	typ, _ := action.get("type")
	name, _ := typ.(string)
	if name == "" {
		return nil, errors.New("action has no type")
	}

	var digest [32]byte
	if u, ok := hlUserActions[name]; ok {
		digest, err = hlUserDigest(u, action, out.nonce, testnet)
	} else {
		digest, err = hlL1Digest(action, body, out, testnet)
	}
	if err != nil {
		return nil, err
	}
	if out.signer, err = hlRecover(digest, sig); err != nil {
		return nil, err
	}
	return out, nil
}

func hlL1Digest(action, body hlObject, req *hlRequest, testnet bool) ([32]byte, error) {
	data, err := hlMsgpack(nil, action)
	if err != nil {
		return [32]byte{}, fmt.Errorf("action: %w", err)
	}
	data = binary.BigEndian.AppendUint64(data, req.nonce)
	if vv, ok := body.get("vaultAddress"); ok && vv != nil {
		s, _ := vv.(string)
		addr, err := hlAddress(s)
		if err != nil {
			return [32]byte{}, fmt.Errorf("vaultAddress: %w", err)
		}
		data = append(append(data, 0x01), addr...)
	} else {
		data = append(data, 0x00)
	}
	if req.expiresAfter != nil {
		data = binary.BigEndian.AppendUint64(append(data, 0x00), *req.expiresAfter)
	}
	connID := keccak(data)
	source := "a"
	if testnet {
		source = "b"
	}
	th, sh := keccak([]byte("Agent(string source,bytes32 connectionId)")), keccak([]byte(source))
	return hlDigest(hlDomain("Exchange", big.NewInt(1337)), keccak(th[:], sh[:], connID[:])), nil
}

func hlUserDigest(u hlUserAction, action hlObject, nonce uint64, testnet bool) ([32]byte, error) {
	chain, _ := action.get("hyperliquidChain")
	want := "Mainnet"
	if testnet {
		want = "Testnet"
	}
	if chain != want {
		return [32]byte{}, fmt.Errorf("action hyperliquidChain is %v, this host is %s", chain, want)
	}
	cv, _ := action.get("signatureChainId")
	cs, _ := cv.(string)
	h, ok := strings.CutPrefix(cs, "0x")
	chainID, ok2 := new(big.Int).SetString(h, 16)
	if !ok || !ok2 || chainID.Sign() <= 0 || chainID.BitLen() > 256 {
		return [32]byte{}, errors.New("action signatureChainId is not 0x-prefixed hex")
	}
	nv, _ := action.get(u.nonce)
	if n, ok := nv.(json.Number); !ok || string(n) != strconv.FormatUint(nonce, 10) {
		return [32]byte{}, fmt.Errorf("action %s does not equal the request's nonce", u.nonce)
	}
	sh, err := u.hashStruct(action)
	if err != nil {
		return [32]byte{}, err
	}
	return hlDigest(hlDomain("HyperliquidSignTransaction", chainID), sh), nil
}

func hyperliquidVerify(r *Request, a Account) (Verdict, error) {
	req, err := hlRead(r, hlHostTestnet(r.Host, a.Meta))
	if err != nil {
		return Verdict{}, fmt.Errorf("hyperliquid: %w", err)
	}
	if !equalString(req.signer, hlSigner(a)) {
		return Verdict{}, fmt.Errorf("hyperliquid: %w (the recovered signer is not the account's)", errSignature)
	}
	ts := time.UnixMilli(int64(req.nonce))
	if err := checkWindow(ts, r.Now, 48*time.Hour, 24*time.Hour); err != nil {
		return Verdict{}, fmt.Errorf("hyperliquid: nonce %w", err)
	}
	if req.expiresAfter != nil && r.Now.UnixMilli() > int64(*req.expiresAfter) {
		return Verdict{}, fmt.Errorf("hyperliquid: action expired: expiresAfter is %s in the past", fmtDur(r.Now.Sub(time.UnixMilli(int64(*req.expiresAfter)))))
	}
	return Verdict{APIKey: a.APIKey, Time: ts, Nonce: req.nonce}, nil
}
