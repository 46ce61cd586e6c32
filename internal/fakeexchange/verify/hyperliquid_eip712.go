package verify

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"golang.org/x/crypto/sha3"
)

// EIP-712 (https://eips.ethereum.org/EIPS/eip-712) as Hyperliquid uses it:
// hashStruct(s) = keccak256(typeHash || encodeData(s)), the digest signed
// is keccak256(0x19 0x01 || domainSeparator || hashStruct(message)).

func keccak(parts ...[]byte) [32]byte {
	h := sha3.NewLegacyKeccak256()
	for _, p := range parts {
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

const eip712DomainType = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"

// hlDomain hashes {name, version "1", chainId, verifyingContract 0x0}.
func hlDomain(name string, chainID *big.Int) [32]byte {
	th, nh, vh := keccak([]byte(eip712DomainType)), keccak([]byte(name)), keccak([]byte("1"))
	var chain, contract [32]byte
	chainID.FillBytes(chain[:])
	return keccak(th[:], nh[:], vh[:], chain[:], contract[:])
}

func hlDigest(domain, structHash [32]byte) [32]byte {
	return keccak([]byte{0x19, 0x01}, domain[:], structHash[:])
}

// hlField is one member of a user-signed action's EIP-712 type.
type hlField struct{ name, typ string }

// hlUserAction is a user-signed action's EIP-712 primary type and the
// field that carries its nonce.
type hlUserAction struct {
	primary string
	nonce   string
	fields  []hlField
}

// hlUserActions are the user-signed actions, typed as
// hyperliquid-python-sdk's utils/signing.py types them (USD_SEND_SIGN_TYPES,
// SPOT_TRANSFER_SIGN_TYPES, WITHDRAW_SIGN_TYPES, USD_CLASS_TRANSFER_SIGN_TYPES,
// SEND_ASSET_SIGN_TYPES, TOKEN_DELEGATE_TYPES,
// CONVERT_TO_MULTI_SIG_USER_SIGN_TYPES, USER_DEX_ABSTRACTION_SIGN_TYPES,
// sign_agent, sign_approve_builder_fee):
// https://github.com/hyperliquid-dex/hyperliquid-python-sdk/blob/master/hyperliquid/utils/signing.py
var hlUserActions = map[string]hlUserAction{
	"usdSend":   {"HyperliquidTransaction:UsdSend", "time", []hlField{{"hyperliquidChain", "string"}, {"destination", "string"}, {"amount", "string"}, {"time", "uint64"}}},
	"spotSend":  {"HyperliquidTransaction:SpotSend", "time", []hlField{{"hyperliquidChain", "string"}, {"destination", "string"}, {"token", "string"}, {"amount", "string"}, {"time", "uint64"}}},
	"withdraw3": {"HyperliquidTransaction:Withdraw", "time", []hlField{{"hyperliquidChain", "string"}, {"destination", "string"}, {"amount", "string"}, {"time", "uint64"}}},
	"usdClassTransfer": {"HyperliquidTransaction:UsdClassTransfer", "nonce", []hlField{
		{"hyperliquidChain", "string"}, {"amount", "string"}, {"toPerp", "bool"}, {"nonce", "uint64"}}},
	"sendAsset": {"HyperliquidTransaction:SendAsset", "nonce", []hlField{
		{"hyperliquidChain", "string"}, {"destination", "string"}, {"sourceDex", "string"}, {"destinationDex", "string"},
		{"token", "string"}, {"amount", "string"}, {"fromSubAccount", "string"}, {"nonce", "uint64"}}},
	"tokenDelegate": {"HyperliquidTransaction:TokenDelegate", "nonce", []hlField{
		{"hyperliquidChain", "string"}, {"validator", "address"}, {"wei", "uint64"}, {"isUndelegate", "bool"}, {"nonce", "uint64"}}},
	"convertToMultiSigUser": {"HyperliquidTransaction:ConvertToMultiSigUser", "nonce", []hlField{
		{"hyperliquidChain", "string"}, {"signers", "string"}, {"nonce", "uint64"}}},
	"userDexAbstraction": {"HyperliquidTransaction:UserDexAbstraction", "nonce", []hlField{
		{"hyperliquidChain", "string"}, {"user", "address"}, {"enabled", "bool"}, {"nonce", "uint64"}}},
	"userSetAbstraction": {"HyperliquidTransaction:UserSetAbstraction", "nonce", []hlField{
		{"hyperliquidChain", "string"}, {"user", "address"}, {"abstraction", "string"}, {"nonce", "uint64"}}},
	"approveAgent": {"HyperliquidTransaction:ApproveAgent", "nonce", []hlField{
		{"hyperliquidChain", "string"}, {"agentAddress", "address"}, {"agentName", "string"}, {"nonce", "uint64"}}},
	"approveBuilderFee": {"HyperliquidTransaction:ApproveBuilderFee", "nonce", []hlField{
		{"hyperliquidChain", "string"}, {"maxFeeRate", "string"}, {"builder", "address"}, {"nonce", "uint64"}}},
}

// hashStruct hashes action's fields as the type u.
func (u hlUserAction) hashStruct(action hlObject) ([32]byte, error) {
	var ts strings.Builder
	ts.WriteString(u.primary + "(")
	for i, f := range u.fields {
		if i > 0 {
			ts.WriteByte(',')
		}
		ts.WriteString(f.typ + " " + f.name)
	}
	ts.WriteByte(')')
	th := keccak([]byte(ts.String()))
	enc := [][]byte{th[:]}
	for _, f := range u.fields {
		v, ok := action.get(f.name)
		if !ok {
			if f.name != "agentName" { // the SDK sends approveAgent without a name as ""
				return [32]byte{}, fmt.Errorf("action lacks field %s", f.name)
			}
			v = ""
		}
		word, err := hlEncodeField(f, v)
		if err != nil {
			return [32]byte{}, err
		}
		enc = append(enc, word[:])
	}
	return keccak(enc...), nil
}

// hlEncodeField is EIP-712 encodeData for one atomic or string field.
func hlEncodeField(f hlField, v any) ([32]byte, error) {
	var w [32]byte
	switch f.typ {
	case "string":
		s, ok := v.(string)
		if !ok {
			return w, fmt.Errorf("action field %s is not a string", f.name)
		}
		return keccak([]byte(s)), nil
	case "bool":
		b, ok := v.(bool)
		if !ok {
			return w, fmt.Errorf("action field %s is not a bool", f.name)
		}
		if b {
			w[31] = 1
		}
		return w, nil
	case "uint64":
		n, ok := v.(json.Number)
		if !ok {
			return w, fmt.Errorf("action field %s is not a number", f.name)
		}
		u, err := strconv.ParseUint(string(n), 10, 64)
		if err != nil {
			return w, fmt.Errorf("action field %s is not a uint64", f.name)
		}
		new(big.Int).SetUint64(u).FillBytes(w[:])
		return w, nil
	case "address":
		s, ok := v.(string)
		if !ok {
			return w, fmt.Errorf("action field %s is not an address", f.name)
		}
		a, err := hlAddress(s)
		if err != nil {
			return w, fmt.Errorf("action field %s: %w", f.name, err)
		}
		copy(w[12:], a)
		return w, nil
	}
	return w, fmt.Errorf("field type %s is not supported", f.typ)
}

// hlAddress reads 0x and 40 hex digits.
func hlAddress(s string) ([]byte, error) {
	h, ok := strings.CutPrefix(strings.ToLower(s), "0x")
	if !ok || len(h) != 40 {
		return nil, fmt.Errorf("%q is not 0x and 40 hex digits", clip(s))
	}
	return hex.DecodeString(h)
}

// hlRecover returns the lower-case 0x address that signed digest with
// {r, s, v} (v 27 or 28, as the SDK sends it).
func hlRecover(digest [32]byte, sig hlObject) (string, error) {
	var compact [65]byte
	for i, name := range []string{"r", "s"} {
		v, _ := sig.get(name)
		s, ok := v.(string)
		h, ok2 := strings.CutPrefix(s, "0x")
		n, ok3 := new(big.Int).SetString(h, 16)
		if !ok || !ok2 || !ok3 || h == "" || n.BitLen() > 256 {
			return "", fmt.Errorf("signature %s is not 0x-prefixed hex of at most 32 bytes", name)
		}
		n.FillBytes(compact[1+32*i : 33+32*i])
	}
	vv, _ := sig.get("v")
	num, ok := vv.(json.Number)
	if !ok || (num != "27" && num != "28") {
		return "", errors.New("signature v is not 27 or 28")
	}
	compact[0] = byte(27 + (num[1] - '7')) // uncompressed-key recovery code
	pub, _, err := ecdsa.RecoverCompact(compact[:], digest[:])
	if err != nil {
		return "", fmt.Errorf("%w (no key recovers from it)", errSignature)
	}
	return hlPubAddress(pub), nil
}

func hlPubAddress(pub *secp256k1.PublicKey) string {
	h := keccak(pub.SerializeUncompressed()[1:])
	return "0x" + hex.EncodeToString(h[12:])
}

// hlSecretAddress derives the signer address from a 64-hex-digit private
// key (0x optional), as keyward's hyperliquid credential holds it.
func hlSecretAddress(secret []byte) (string, bool) {
	s := strings.TrimPrefix(strings.TrimSpace(string(secret)), "0x")
	if len(s) != 64 {
		return "", false
	}
	k, err := hex.DecodeString(s)
	if err != nil {
		return "", false
	}
	return hlPubAddress(secp256k1.PrivKeyFromBytes(k).PubKey()), true
}
