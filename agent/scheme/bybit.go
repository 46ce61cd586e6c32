package scheme

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// bybit signs Bybit v5 REST requests and WebSocket auth messages, with a
// system-generated HMAC key or a self-generated RSA key, as
// https://bybit-exchange.github.io/docs/v5/guide documents:
//
//   - the string to sign is timestamp + API key + recv_window + the query
//     string (GET) or the raw JSON body (POST), all exactly as sent;
//   - X-BAPI-SIGN is its HMAC-SHA256 in lowercase hex, or its RSA
//     SHA256withRSA (PKCS#1 v1.5) signature in base64;
//   - X-BAPI-API-KEY, X-BAPI-TIMESTAMP (ms) and X-BAPI-RECV-WINDOW carry
//     the other parts. The recv window is the bot's if it set the header,
//     else 5000, Bybit's default.
//
// The WebSocket auth message ({"op":"auth"} to stream…/v5/private or
// …/v5/trade) gets args [apiKey, expires, signature], where expires is a
// time in ms shortly ahead of Now and the signature is over
// "GET/realtime" + expires, hex (HMAC) or base64 (RSA).
//
// The bot's URL, body and other headers (Referer for brokers,
// X-BAPI-SIGN-TYPE, cdn-request-id) are sent as given.
type bybit struct{}

func (bybit) Name() string { return "bybit" }

func (bybit) Hosts() []string {
	return []string{
		"api.bybit.com",
		"api.bytick.com",
		"api-testnet.bybit.com",
		"api-demo.bybit.com",
		// Regional mainnet hosts the v5 guide lists.
		"api.bybit.nl",
		"api.bybit-tr.com",
		"api.bybit.kz",
		"api.bybitgeorgia.ge",
		"api.bybit.ae",
		"api.bybit.eu",
		"api.bybit.id",
		// WebSocket (private streams and the trade API).
		"stream.bybit.com",
		"stream.bytick.com",
		"stream-testnet.bybit.com",
		"stream-demo.bybit.com",
	}
}

func (bybit) Info() Info {
	return Info{KeyTypes: []string{KeyHMAC, KeyRSA}, WebSocket: true}
}

// Check accepts the HMAC secret Bybit shows for a system-generated key, or
// the PEM private key (PKCS#8 or PKCS#1) whose public half was registered
// as a self-generated key.
func (bybit) Check(k Key) (Checked, error) {
	if isPEM(k.Secret) {
		return checkPEMKey("bybit", k.Secret, false, KeyRSA)
	}
	return checkHMACSecret("bybit", k.Secret)
}

const (
	bybitKeyHeader        = "X-BAPI-API-KEY"
	bybitTimestampHeader  = "X-BAPI-TIMESTAMP"
	bybitSignHeader       = "X-BAPI-SIGN"
	bybitRecvWindowHeader = "X-BAPI-RECV-WINDOW"
	bybitDefaultRecv      = "5000"
	// bybitWSExpiry is how far ahead of Now a WebSocket auth expires, in ms.
	bybitWSExpiry = 10000
)

func (b bybit) Sign(in Input) (Request, error) {
	if err := okxCheckInput("bybit", in, false); err != nil {
		return Request{}, err
	}
	if in.KeyType != "" && in.KeyType != KeyHMAC && in.KeyType != KeyRSA {
		return Request{}, fmt.Errorf("bybit: key type %q is not one Bybit signs with", in.KeyType)
	}
	if in.Request.Method == MethodWS {
		return b.signAuth(in)
	}
	req := in.Request
	switch req.Method {
	case "GET", "POST":
	default:
		return Request{}, badRequest(fmt.Sprintf("bybit: method %q is not one Bybit's v5 API uses: use GET or POST", truncate(req.Method, 16)))
	}
	_, query, err := splitURL(b, req.URL, in.Meta)
	if err != nil {
		return Request{}, err
	}
	payload := query
	if req.Method == "POST" {
		if query != "" {
			return Request{}, badRequest("bybit: a POST request is signed over its JSON body alone: move the query parameters into the body")
		}
		payload = req.Body
	}
	setCT, err := okxJSONBody("bybit", req)
	if err != nil {
		return Request{}, err
	}
	recv, botRecv := headerValue(req.Headers, bybitRecvWindowHeader)
	if len(req.Headers) != len(copyHeaders(req.Headers, 0, bybitRecvWindowHeader))+1 && botRecv {
		return Request{}, badRequest("bybit: " + bybitRecvWindowHeader + " is given more than once (in different letter cases); send it once")
	}
	if botRecv {
		if err := bybitCheckRecvWindow(recv); err != nil {
			return Request{}, err
		}
	} else {
		recv = bybitDefaultRecv
	}

	ts := strconv.AppendInt(make([]byte, 0, 20), in.Now.UnixMilli(), 10)
	msg := make([]byte, 0, len(ts)+len(in.APIKey)+len(recv)+len(payload))
	msg = append(msg, ts...)
	msg = append(msg, in.APIKey...)
	msg = append(msg, recv...)
	msg = append(msg, payload...)
	sig, err := bybitSignature(in, msg)
	if err != nil {
		return Request{}, err
	}

	out := Request{Method: req.Method, URL: req.URL, Body: req.Body}
	out.Headers = copyHeaders(req.Headers, 5, bybitKeyHeader, bybitTimestampHeader, bybitSignHeader)
	out.Headers[bybitKeyHeader] = in.APIKey
	out.Headers[bybitTimestampHeader] = string(ts)
	out.Headers[bybitSignHeader] = sig
	if !botRecv {
		out.Headers[bybitRecvWindowHeader] = recv
	}
	if setCT {
		out.Headers["Content-Type"] = okxJSONContentType
	}
	return out, nil
}

// bybitSignature signs msg with the credential's key: hex HMAC-SHA256 or
// base64 SHA256withRSA.
func bybitSignature(in Input, msg []byte) (string, error) {
	if in.KeyType == KeyRSA {
		sig, err := signRSA(in.Secret, msg)
		if err != nil {
			return "", fmt.Errorf("bybit: %w", err)
		}
		return base64.StdEncoding.EncodeToString(sig), nil
	}
	var mac [sha256Size]byte
	return hex.EncodeToString(hmacSHA256(in.Scratch, in.Secret, mac[:0], msg)), nil
}

// bybitCheckRecvWindow accepts a recv window Bybit takes: a whole number of
// milliseconds, greater than 0.
func bybitCheckRecvWindow(v string) error {
	bad := badRequest(fmt.Sprintf("bybit: %s must be a whole number of milliseconds greater than 0, like 5000; got %q", bybitRecvWindowHeader, truncate(v, 20)))
	if v == "" || len(v) > 9 || v[0] == '0' {
		return bad
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return bad
		}
	}
	return nil
}

// signAuth fills the args of a Bybit WebSocket auth message.
func (b bybit) signAuth(in Input) (Request, error) {
	req := in.Request
	if _, _, err := splitURLScheme(b, req.URL, in.Meta, "wss"); err != nil {
		return Request{}, err
	}
	members, argsAt, err := okxParseWSOp("bybit", req.Body, "auth", "req_id")
	if err != nil {
		return Request{}, err
	}
	expires := strconv.AppendInt(nil, in.Now.UnixMilli()+bybitWSExpiry, 10)
	msg := append([]byte("GET/realtime"), expires...)
	sig, err := bybitSignature(in, msg)
	if err != nil {
		return Request{}, err
	}
	var args strings.Builder
	args.WriteByte('[')
	args.Write(okxAppendJSONString(nil, []byte(in.APIKey)))
	args.WriteByte(',')
	args.Write(expires)
	args.WriteString(`,"`)
	args.WriteString(sig)
	args.WriteString(`"]`)
	return Request{Method: MethodWS, URL: req.URL, Headers: okxCloneHeaders(req.Headers), Body: okxBuildWSObject(members, argsAt, []byte(args.String()))}, nil
}
