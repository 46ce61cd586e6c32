package fakeexchange

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The refusals below follow each venue's published error codes and body
// shapes closely enough for a client's error handling to meet the real
// thing; the wording of free-text details is the fake's own.

// classify sorts verify's refusal into the failure a venue words
// differently: most venues have distinct codes for a stale timestamp and a
// wrong passphrase.
func classify(err error) failure {
	msg := strings.ToLower(err.Error())
	switch {
	case strings.Contains(msg, "passphrase"):
		return failPassphrase
	case strings.Contains(msg, "not this token's account"):
		return failForbidden
	case strings.Contains(msg, "missing"):
		return failSignature
	case strings.Contains(msg, "timestamp"), strings.Contains(msg, "expired"),
		strings.Contains(msg, "window"), strings.Contains(msg, "clock"), strings.Contains(msg, "too old"),
		strings.Contains(msg, "in the future"), strings.Contains(msg, "not yet valid"):
		return failTimestamp
	}
	return failSignature
}

// errorsFor returns how venue words its refusals; a venue the fake has no
// wording for answers like the generic ones.
func errorsFor(venue string) errorer {
	switch venue {
	case "binance":
		return binanceError
	case "bybit":
		return bybitError
	case "okx":
		return okxError
	case "coinbase":
		return coinbaseError
	case "kraken":
		return krakenError
	case "kucoin":
		return kucoinError
	case "gate":
		return gateError
	case "bitget":
		return bitgetError
	case "bitfinex":
		return bitfinexError
	case "deribit":
		return deribitError
	case "hyperliquid":
		return hyperliquidError
	case "alpaca":
		return alpacaError
	case "oanda":
		return oandaError
	}
	return genericError
}

type codeMsg struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

func binanceError(f fault) reply {
	switch f.kind {
	case failNoKey:
		return reply{401, codeMsg{-2014, "API-key format invalid."}}
	case failBadKey, failForbidden:
		return reply{401, codeMsg{-2015, "Invalid API-key, IP, or permissions for action."}}
	case failTimestamp:
		return reply{400, codeMsg{-1021, "Timestamp for this request is outside of the recvWindow."}}
	case failBadInput:
		return reply{400, codeMsg{-1100, "Illegal characters found in a parameter."}}
	case failNotFound:
		return reply{404, codeMsg{-1000, "An unknown error occurred while processing the request."}}
	}
	return reply{400, codeMsg{-1022, "Signature for this request is not valid."}}
}

func bybitError(f fault) reply {
	code, msg := 10004, "error sign! please check your signature generation algorithm"
	status := http.StatusOK // Bybit answers most refusals with 200 and a retCode
	switch f.kind {
	case failNoKey, failBadKey:
		code, msg = 10003, "API key is invalid."
	case failTimestamp:
		code, msg = 10002, fmt.Sprintf("invalid request, please check your server timestamp or recv_window param. server_timestamp[%d]", f.now.UnixMilli())
	case failForbidden:
		code, msg = 10005, "Permission denied, please check your API key permissions."
	case failBadInput:
		code, msg = 10001, "params error: "+f.detail
	case failNotFound:
		status, code, msg = http.StatusNotFound, 10017, "route not found"
	}
	return reply{status, bybitEnvelope(code, msg, struct{}{}, f.now)}
}

func bybitEnvelope(code int, msg string, result any, now time.Time) map[string]any {
	return map[string]any{"retCode": code, "retMsg": msg, "result": result, "retExtInfo": struct{}{}, "time": now.UnixMilli()}
}

type okxMsg struct {
	Code string `json:"code"`
	Msg  string `json:"msg"`
	Data []any  `json:"data"`
}

func okxError(f fault) reply {
	switch f.kind {
	case failNoKey:
		return reply{401, okxMsg{"50103", `Request header "OK-ACCESS-KEY" cannot be empty.`, []any{}}}
	case failBadKey:
		return reply{401, okxMsg{"50111", "Invalid OK-ACCESS-KEY.", []any{}}}
	case failTimestamp:
		return reply{401, okxMsg{"50102", "Timestamp request expired.", []any{}}}
	case failPassphrase:
		return reply{401, okxMsg{"50105", `Invalid OK-ACCESS-PASSPHRASE.`, []any{}}}
	case failForbidden:
		return reply{401, okxMsg{"50120", "API key doesn't have permission to access this endpoint.", []any{}}}
	case failBadInput:
		return reply{400, okxMsg{"50014", "Parameter error: " + f.detail, []any{}}}
	case failNotFound:
		return reply{404, okxMsg{"404", "Not Found", []any{}}}
	}
	return reply{401, okxMsg{"50113", "Invalid Sign", []any{}}}
}

// coinbaseError words refusals two ways: the Advanced Trade API
// (/api/v3/brokerage) answers a failed JWT with a bare "Unauthorized", the
// Exchange API with {"message": ...}.
func coinbaseError(f fault) reply {
	if strings.HasPrefix(f.r.URL.Path, "/api/v3/") {
		type advErr struct {
			Error        string `json:"error"`
			ErrorDetails string `json:"error_details"`
			Message      string `json:"message"`
		}
		switch f.kind {
		case failForbidden:
			return reply{403, advErr{"PERMISSION_DENIED", f.detail, "permission denied"}}
		case failBadInput:
			return reply{400, advErr{"INVALID_ARGUMENT", f.detail, f.detail}}
		case failNotFound:
			return reply{404, advErr{"NOT_FOUND", "", "Not Found"}}
		}
		return reply{401, "Unauthorized\n"}
	}
	type msg struct {
		Message string `json:"message"`
	}
	switch f.kind {
	case failNoKey:
		return reply{400, msg{"CB-ACCESS-KEY header is required"}}
	case failBadKey:
		return reply{401, msg{"Invalid API Key"}}
	case failTimestamp:
		return reply{400, msg{"request timestamp expired"}}
	case failPassphrase:
		return reply{401, msg{"Invalid Passphrase"}}
	case failForbidden:
		return reply{403, msg{"Forbidden"}}
	case failBadInput:
		return reply{400, msg{f.detail}}
	case failNotFound:
		return reply{404, msg{"NotFound"}}
	}
	return reply{401, msg{"invalid signature"}}
}

// krakenError words refusals as Kraken spot ({"error":["EAPI:..."]}, HTTP
// 200) or, under /derivatives/, as Kraken Futures.
func krakenError(f fault) reply {
	if strings.HasPrefix(f.r.URL.Path, "/derivatives/") {
		code, status := "authenticationError", http.StatusUnauthorized
		switch f.kind {
		case failNonce:
			code, status = "nonceBelowThreshold", http.StatusOK
		case failForbidden:
			code = "insufficientPrivileges"
		case failBadInput:
			code, status = "invalidArgument", http.StatusBadRequest
		case failNotFound:
			code, status = "notFound", http.StatusNotFound
		}
		return reply{status, map[string]any{"result": "error", "error": code, "serverTime": isoMillis(f.now)}}
	}
	e, status := "EAPI:Invalid signature", http.StatusOK
	switch f.kind {
	case failNoKey, failBadKey:
		e = "EAPI:Invalid key"
	case failNonce:
		e = "EAPI:Invalid nonce"
	case failForbidden:
		e = "EGeneral:Permission denied"
	case failBadInput:
		e = "EGeneral:Invalid arguments"
	case failNotFound:
		e, status = "EGeneral:Unknown method", http.StatusNotFound
	}
	return reply{status, map[string]any{"error": []string{e}}}
}

type kucoinMsg struct {
	Code string `json:"code"`
	Msg  string `json:"msg"`
}

func kucoinError(f fault) reply {
	switch f.kind {
	case failNoKey:
		return reply{401, kucoinMsg{"400001", "Please check the header of your request for KC-API-KEY, KC-API-SIGN, KC-API-TIMESTAMP, KC-API-PASSPHRASE"}}
	case failBadKey:
		return reply{401, kucoinMsg{"400003", "KC-API-KEY not exists"}}
	case failTimestamp:
		return reply{401, kucoinMsg{"400002", "KC-API-TIMESTAMP Invalid -- Time differs from server time by more than 5 seconds"}}
	case failPassphrase:
		return reply{401, kucoinMsg{"400004", "Invalid KC-API-PASSPHRASE"}}
	case failForbidden:
		return reply{403, kucoinMsg{"400007", "Access Denied -- Your api key does not have sufficient permissions to access the uri"}}
	case failBadInput:
		return reply{400, kucoinMsg{"400100", "Parameter Error -- " + f.detail}}
	case failNotFound:
		return reply{404, kucoinMsg{"404", "Not Found"}}
	}
	return reply{401, kucoinMsg{"400005", "Invalid KC-API-SIGN"}}
}

type gateMsg struct {
	Label   string `json:"label"`
	Message string `json:"message"`
}

func gateError(f fault) reply {
	switch f.kind {
	case failNoKey:
		return reply{400, gateMsg{"MISSING_REQUIRED_HEADER", "Missing required header: KEY"}}
	case failBadKey:
		return reply{401, gateMsg{"INVALID_KEY", "Invalid key provided"}}
	case failTimestamp:
		return reply{401, gateMsg{"REQUEST_EXPIRED", "gap between request Timestamp and server time exceeds 60"}}
	case failForbidden:
		return reply{403, gateMsg{"FORBIDDEN", "API key has no permission for this operation"}}
	case failBadInput:
		return reply{400, gateMsg{"INVALID_PARAM_VALUE", f.detail}}
	case failNotFound:
		return reply{404, gateMsg{"NOT_FOUND", "not found"}}
	}
	return reply{401, gateMsg{"INVALID_SIGNATURE", "Signature mismatch"}}
}

func bitgetError(f fault) reply {
	code, msg, status := "40009", "sign signature error", http.StatusBadRequest
	switch f.kind {
	case failNoKey:
		code, msg = "40001", "ACCESS_KEY cannot be empty"
	case failBadKey:
		code, msg = "40006", "Invalid ACCESS_KEY"
	case failTimestamp:
		code, msg = "40008", "Request timestamp expired"
	case failPassphrase:
		code, msg = "40011", "Invalid ACCESS_PASSPHRASE"
	case failForbidden:
		code, msg, status = "40014", "Incorrect permissions", http.StatusForbidden
	case failBadInput:
		code, msg = "40017", "Parameter verification failed"
	case failNotFound:
		code, msg, status = "40404", "Request URL NOT FOUND", http.StatusNotFound
	}
	return reply{status, map[string]any{"code": code, "msg": msg, "requestTime": f.now.UnixMilli(), "data": nil}}
}

// bitfinexError: Bitfinex v2 answers ["error", CODE, "MESSAGE"] with HTTP 500.
func bitfinexError(f fault) reply {
	code, msg, status := 10100, "apikey: digest invalid", http.StatusInternalServerError
	switch f.kind {
	case failNoKey, failBadKey:
		msg = "apikey: invalid"
	case failNonce:
		code, msg = 10114, "nonce: small"
	case failForbidden:
		msg = "apikey: no permission"
	case failBadInput:
		code, msg = 10020, "request: error"
	case failNotFound:
		code, msg, status = 10020, "endpoint: not found", http.StatusNotFound
	}
	return reply{status, []any{"error", code, msg}}
}

// deribitError: a JSON-RPC error object, HTTP 400.
func deribitError(f fault) reply {
	code, msg, reason := 13004, "invalid_credentials", "invalid signature"
	status := http.StatusBadRequest
	switch f.kind {
	case failNoKey:
		code, msg, reason = 13009, "unauthorized", "no client credentials"
	case failBadKey:
		reason = "unknown client id"
	case failTimestamp:
		reason = "invalid timestamp"
	case failNonce:
		reason = "nonce already used"
	case failForbidden:
		code, msg, reason = 13021, "forbidden", "scope insufficient"
	case failBadInput:
		code, msg, reason = -32602, "Invalid params", f.detail
	case failNotFound:
		code, msg, reason, status = -32601, "Method not found", "", http.StatusNotFound
	}
	e := map[string]any{"code": code, "message": msg}
	if reason != "" {
		e["data"] = map[string]string{"reason": reason}
	}
	return reply{status, deribitEnvelope("error", e, f.now)}
}

func deribitEnvelope(field string, v any, now time.Time) map[string]any {
	us := now.UnixMicro()
	return map[string]any{"jsonrpc": "2.0", field: v, "usIn": us, "usOut": us + 137, "usDiff": 137, "testnet": false}
}

// hyperliquidError: Hyperliquid answers {"status":"err","response":"..."}
// with HTTP 200; a bad signature recovers another address, which it then
// reports as unknown.
func hyperliquidError(f fault) reply {
	msg := fmt.Sprintf("User or API Wallet %s does not exist.", f.key)
	status := http.StatusOK
	switch f.kind {
	case failNoKey, failSignature, failTimestamp:
		msg = "L1 error: User or API Wallet does not exist."
	case failNonce:
		msg = "Invalid nonce: duplicate nonce"
	case failForbidden:
		msg = "Action not allowed for this wallet."
	case failBadInput:
		status, msg = http.StatusUnprocessableEntity, "Failed to deserialize the JSON body into the target type"
	case failNotFound:
		status, msg = http.StatusNotFound, "Not Found"
	}
	if status != http.StatusOK {
		return reply{status, msg}
	}
	return reply{status, map[string]string{"status": "err", "response": msg}}
}

func alpacaError(f fault) reply {
	type msg struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	switch f.kind {
	case failForbidden:
		return reply{403, msg{40310000, "request is not authorized"}}
	case failBadInput:
		return reply{422, msg{42210000, f.detail}}
	case failNotFound:
		return reply{404, msg{40410000, "endpoint not found"}}
	}
	return reply{401, msg{40110000, "request is not authorized"}}
}

func oandaError(f fault) reply {
	type msg struct {
		ErrorMessage string `json:"errorMessage"`
	}
	switch f.kind {
	case failForbidden:
		return reply{403, msg{"The provided request was forbidden."}}
	case failBadInput:
		return reply{400, msg{f.detail}}
	case failNotFound:
		return reply{404, msg{"The requested endpoint does not exist."}}
	}
	return reply{401, msg{"Insufficient authorization to perform request."}}
}

func genericError(f fault) reply {
	type msg struct {
		Error string `json:"error"`
	}
	switch f.kind {
	case failNoKey:
		return reply{401, msg{"missing credentials"}}
	case failBadKey:
		return reply{401, msg{"invalid API key"}}
	case failTimestamp:
		return reply{401, msg{"timestamp outside the window"}}
	case failNonce:
		return reply{401, msg{"invalid nonce"}}
	case failForbidden:
		return reply{403, msg{"forbidden"}}
	case failBadInput:
		return reply{400, msg{f.detail}}
	case failNotFound:
		return reply{404, msg{"not found"}}
	}
	return reply{401, msg{"invalid signature"}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// An error here means the client went away: no one is left to tell.
	_ = json.NewEncoder(w).Encode(v)
}

func isoMillis(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
