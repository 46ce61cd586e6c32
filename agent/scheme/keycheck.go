package scheme

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// This file holds the venues' key checks (the KeyChecker interface), for
// `keyward add --verify`: KeyRequest builds the request that asks the venue
// what a key may do, ready for the scheme's own Sign (which adds the key,
// the timestamp or nonce and the signature), and ParseKey reads the answer.
//
// A venue's refusal (an error answer) is a *RequestError quoting the
// venue's code and message, made safe (venueWords); an answer that does not
// parse is a plain error. Detail is a short "name=value,…" summary of the
// venue's own permission fields: never the key, never anything secret.

// keyHost checks the host KeyRequest is given: a bare host name that the
// credential may use.
func keyHost(s Scheme, host string, meta map[string]string) (string, error) {
	if !plainHost(host) {
		return "", badRequest(fmt.Sprintf("%s: %q is not a host name: give the name alone, e.g. %s", s.Name(), truncate(host, 64), firstOr(s.Hosts(), "api.example.com")))
	}
	host = strings.ToLower(host)
	if !HostAllowed(s, meta, host) {
		return "", badRequest(fmt.Sprintf("%s: host %q is not one of the credential's hosts (%s)", s.Name(), truncate(host, 64), strings.Join(AllowedHosts(s, meta), ", ")))
	}
	return host, nil
}

func firstOr(list []string, def string) string {
	if len(list) > 0 {
		return list[0]
	}
	return def
}

func statusOK(status int) bool { return status >= 200 && status <= 299 }

// keyRefused is a venue's refusal of the key, in its words.
func keyRefused(venue string, status int, code, msg string) error {
	s := fmt.Sprintf("%s: the venue refused the key check (HTTP %d)", venue, status)
	if code = venueWords(code); code != "" {
		s += ": " + truncate(code, 32)
		if msg != "" {
			s += " " + venueWords(msg)
		}
	} else if msg != "" {
		s += ": " + venueWords(msg)
	}
	return badRequest(s)
}

// keyRefusedRaw is a refusal whose body is not the venue's documented
// error shape: the body itself, made safe, is quoted.
func keyRefusedRaw(venue string, status int, body []byte) error {
	return keyRefused(venue, status, "", string(body))
}

// keyGarbage is a 2xx answer that does not parse.
func keyGarbage(venue string, err error) error {
	return fmt.Errorf("%s: the key check answer is not the JSON the venue documents: %w", venue, err)
}

// rawCode writes a JSON code (a number or a string) as text.
func rawCode(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// details builds Detail from name=value pairs.
type details []string

func (d *details) add(name string, v any) { *d = append(*d, fmt.Sprintf("%s=%v", name, v)) }

func (d details) String() string { return strings.Join(d, ",") }

// ---- Binance ----

// KeyRequest asks GET /sapi/v1/account/apiRestrictions
// (https://developers.binance.com/docs/wallet/account/api-key-permission).
// The endpoint is served by the Spot hosts (api.binance.com and its
// clusters) only, so the agent passes one of those; Sign adds recvWindow,
// timestamp and signature.
func (b binance) KeyRequest(host, _ string, meta map[string]string) (Request, error) {
	h, err := keyHost(b, host, meta)
	if err != nil {
		return Request{}, err
	}
	return Request{Method: "GET", URL: "https://" + h + "/sapi/v1/account/apiRestrictions"}, nil
}

// ParseKey reads the documented answer: enableReading,
// enableSpotAndMarginTrading, enableWithdrawals… Trade is any trading
// permission; Transfer is enableInternalTransfer or
// permitsUniversalTransfer. An error answer is {"code":-2015,"msg":…}.
func (binance) ParseKey(status int, body []byte) (Permissions, error) {
	if !statusOK(status) {
		var e struct {
			Code json.RawMessage `json:"code"`
			Msg  string          `json:"msg"`
		}
		if json.Unmarshal(body, &e) != nil || len(e.Code) == 0 {
			return Permissions{}, keyRefusedRaw("binance", status, body)
		}
		return Permissions{}, keyRefused("binance", status, rawCode(e.Code), e.Msg)
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(body, &v); err != nil {
		return Permissions{}, keyGarbage("binance", err)
	}
	names := []string{"enableReading", "enableSpotAndMarginTrading", "enableMargin", "enableFutures", "enableVanillaOptions",
		"enablePortfolioMarginTrading", "enableWithdrawals", "enableInternalTransfer", "permitsUniversalTransfer", "ipRestrict"}
	flags := map[string]bool{}
	var d details
	for _, n := range names {
		raw, ok := v[n]
		if !ok {
			continue
		}
		var f bool
		if err := json.Unmarshal(raw, &f); err != nil {
			return Permissions{}, keyGarbage("binance", fmt.Errorf("%s is not true or false", n))
		}
		flags[n] = f
		d.add(n, f)
	}
	if _, ok := v["enableReading"]; !ok {
		return Permissions{}, keyGarbage("binance", fmt.Errorf("no enableReading"))
	}
	if _, ok := v["enableWithdrawals"]; !ok {
		return Permissions{}, keyGarbage("binance", fmt.Errorf("no enableWithdrawals"))
	}
	return Permissions{
		Known:    true,
		Read:     flags["enableReading"],
		Trade:    flags["enableSpotAndMarginTrading"] || flags["enableMargin"] || flags["enableFutures"] || flags["enableVanillaOptions"] || flags["enablePortfolioMarginTrading"],
		Withdraw: flags["enableWithdrawals"],
		Transfer: flags["enableInternalTransfer"] || flags["permitsUniversalTransfer"],
		Detail:   d.String(),
	}, nil
}

// ---- Bybit ----

// KeyRequest asks GET /v5/user/query-api
// (https://bybit-exchange.github.io/docs/v5/user/apikey-info), which any
// key may call.
func (b bybit) KeyRequest(host, _ string, meta map[string]string) (Request, error) {
	h, err := keyHost(b, host, meta)
	if err != nil {
		return Request{}, err
	}
	if strings.HasPrefix(h, "stream") {
		return Request{}, badRequest("bybit: " + h + " serves WebSockets only: check the key on an API host such as api.bybit.com")
	}
	return Request{Method: "GET", URL: "https://" + h + "/v5/user/query-api"}, nil
}

// bybitTradeGroups are the permission groups that place orders.
var bybitTradeGroups = []string{"ContractTrade", "Spot", "Options", "Derivatives", "CopyTrading", "BlockTrade"}

// ParseKey reads result.readOnly (0 read-write, 1 read-only) and
// result.permissions (group → names): Trade is any trading group of a
// read-write key, Withdraw Wallet's "Withdraw", Transfer Wallet's
// AccountTransfer, SubMemberTransfer or SubMemberTransferList. A retCode
// other than 0 is the venue's refusal.
func (bybit) ParseKey(status int, body []byte) (Permissions, error) {
	var v struct {
		RetCode json.RawMessage `json:"retCode"`
		RetMsg  string          `json:"retMsg"`
		Result  *struct {
			ReadOnly    json.RawMessage     `json:"readOnly"`
			Permissions map[string][]string `json:"permissions"`
		} `json:"result"`
	}
	err := json.Unmarshal(body, &v)
	if err != nil || len(v.RetCode) == 0 {
		if !statusOK(status) {
			return Permissions{}, keyRefusedRaw("bybit", status, body)
		}
		if err == nil {
			err = fmt.Errorf("no retCode")
		}
		return Permissions{}, keyGarbage("bybit", err)
	}
	if code, cerr := jsonInt(v.RetCode); cerr != nil || code != 0 || !statusOK(status) {
		return Permissions{}, keyRefused("bybit", status, rawCode(v.RetCode), v.RetMsg)
	}
	if v.Result == nil || v.Result.Permissions == nil {
		return Permissions{}, keyGarbage("bybit", fmt.Errorf("no result.permissions"))
	}
	ro, err := jsonInt(v.Result.ReadOnly)
	if err != nil || ro != 0 && ro != 1 {
		return Permissions{}, keyGarbage("bybit", fmt.Errorf("result.readOnly is not 0 or 1"))
	}
	p := Permissions{Known: true, Read: true}
	var d details
	d.add("readOnly", ro)
	groups := make([]string, 0, len(v.Result.Permissions))
	for g := range v.Result.Permissions {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	for _, g := range groups {
		perms := v.Result.Permissions[g]
		if len(perms) == 0 {
			continue
		}
		d.add(venueWords(truncate(g, 32)), venueWords(truncate(strings.Join(perms, "+"), 96)))
		if ro != 0 {
			continue
		}
		if slices.Contains(bybitTradeGroups, g) {
			p.Trade = true
		}
		if g == "Wallet" {
			p.Withdraw = slices.Contains(perms, "Withdraw")
			p.Transfer = slices.Contains(perms, "AccountTransfer") || slices.Contains(perms, "SubMemberTransfer") || slices.Contains(perms, "SubMemberTransferList")
		}
	}
	p.Detail = d.String()
	return p, nil
}

// ---- OKX ----

// KeyRequest asks GET /api/v5/account/config
// (https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-account-configuration),
// whose perm field lists the key's permissions.
func (o okx) KeyRequest(host, _ string, meta map[string]string) (Request, error) {
	h, err := keyHost(o, host, meta)
	if err != nil {
		return Request{}, err
	}
	if strings.HasPrefix(h, "ws") {
		return Request{}, badRequest("okx: " + h + " serves WebSockets only: check the key on an API host such as www.okx.com")
	}
	return Request{Method: "GET", URL: "https://" + h + "/api/v5/account/config"}, nil
}

// ParseKey reads data[0].perm ("read_only,trade,withdraw"). Transfer
// follows trade: OKX's funds transfer (POST /api/v5/asset/transfer) takes
// the Trade permission. A code other than "0" is the venue's refusal.
func (okx) ParseKey(status int, body []byte) (Permissions, error) {
	var v struct {
		Code *string `json:"code"`
		Msg  string  `json:"msg"`
		Data []struct {
			Perm *string `json:"perm"`
		} `json:"data"`
	}
	err := json.Unmarshal(body, &v)
	if err != nil || v.Code == nil {
		if !statusOK(status) {
			return Permissions{}, keyRefusedRaw("okx", status, body)
		}
		if err == nil {
			err = fmt.Errorf("no code")
		}
		return Permissions{}, keyGarbage("okx", err)
	}
	if *v.Code != "0" || !statusOK(status) {
		return Permissions{}, keyRefused("okx", status, *v.Code, v.Msg)
	}
	if len(v.Data) == 0 || v.Data[0].Perm == nil {
		return Permissions{}, keyGarbage("okx", fmt.Errorf("no data[0].perm"))
	}
	perms := strings.Split(*v.Data[0].Perm, ",")
	for i := range perms {
		perms[i] = strings.TrimSpace(perms[i])
	}
	p := Permissions{
		Known:    true,
		Read:     slices.Contains(perms, "read_only"),
		Trade:    slices.Contains(perms, "trade"),
		Withdraw: slices.Contains(perms, "withdraw"),
	}
	p.Transfer = p.Trade
	p.Detail = "perm=" + venueWords(truncate(strings.Join(perms, "+"), 96))
	return p, nil
}

// ---- Coinbase ----

// KeyRequest asks, for a CDP key on api.coinbase.com, GET
// /api/v3/brokerage/key_permissions
// (https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/data-api/get-api-key-permissions).
// Coinbase Exchange has no permission endpoint: on its hosts the check asks
// GET /accounts (https://docs.cdp.coinbase.com/exchange/reference/exchangerestapi_getaccounts),
// which proves the key works and says nothing of what it may do.
func (c coinbase) KeyRequest(host, _ string, meta map[string]string) (Request, error) {
	h, err := keyHost(c, host, meta)
	if err != nil {
		return Request{}, err
	}
	if h == coinbaseExchangeHost || h == coinbaseExchangeSbox {
		return Request{Method: "GET", URL: "https://" + h + "/accounts"}, nil
	}
	return Request{Method: "GET", URL: "https://" + h + "/api/v3/brokerage/key_permissions"}, nil
}

// ParseKey reads can_view, can_trade and can_transfer (Withdraw and
// Transfer both follow can_transfer: Coinbase's transfer scope sends funds
// off the account), or a Coinbase Exchange account list (Known false).
// Errors are {"error":…,"message":…} (Advanced Trade) or {"message":…}
// (Exchange).
func (coinbase) ParseKey(status int, body []byte) (Permissions, error) {
	if !statusOK(status) {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error == "" && e.Message == "" {
			return Permissions{}, keyRefusedRaw("coinbase", status, body)
		}
		return Permissions{}, keyRefused("coinbase", status, e.Error, e.Message)
	}
	if b := bytes.TrimSpace(body); len(b) > 0 && b[0] == '[' {
		var list []struct {
			Currency *string `json:"currency"`
		}
		if err := json.Unmarshal(b, &list); err != nil {
			return Permissions{}, keyGarbage("coinbase", err)
		}
		for _, a := range list {
			if a.Currency == nil {
				return Permissions{}, keyGarbage("coinbase", fmt.Errorf("an account has no currency"))
			}
		}
		return Permissions{Detail: "accounts=" + strconv.Itoa(len(list))}, nil
	}
	var v struct {
		CanView       *bool  `json:"can_view"`
		CanTrade      *bool  `json:"can_trade"`
		CanTransfer   *bool  `json:"can_transfer"`
		PortfolioType string `json:"portfolio_type"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return Permissions{}, keyGarbage("coinbase", err)
	}
	if v.CanView == nil || v.CanTrade == nil || v.CanTransfer == nil {
		return Permissions{}, keyGarbage("coinbase", fmt.Errorf("no can_view, can_trade or can_transfer"))
	}
	var d details
	d.add("can_view", *v.CanView)
	d.add("can_trade", *v.CanTrade)
	d.add("can_transfer", *v.CanTransfer)
	if v.PortfolioType != "" {
		d.add("portfolio_type", venueWords(truncate(v.PortfolioType, 32)))
	}
	return Permissions{
		Known: true, Read: *v.CanView, Trade: *v.CanTrade,
		Withdraw: *v.CanTransfer, Transfer: *v.CanTransfer,
		Detail: d.String(),
	}, nil
}

// ---- KuCoin ----

// KeyRequest asks GET /api/v1/user/api-key
// (https://www.kucoin.com/docs-new/rest/account-info/account-funding/get-apikey-info),
// served by api.kucoin.com: the agent passes that host.
func (k kucoin) KeyRequest(host, _ string, meta map[string]string) (Request, error) {
	h, err := keyHost(k, host, meta)
	if err != nil {
		return Request{}, err
	}
	return Request{Method: "GET", URL: "https://" + h + "/api/v1/user/api-key"}, nil
}

// kucoinTradePerms are the permissions that place orders.
var kucoinTradePerms = []string{"Spot", "Margin", "Futures", "LeadtradeFutures", "Trade"}

// ParseKey reads data.permission ("General,Spot,Withdrawal,…"): Trade is
// any trading permission, Withdraw "Withdrawal", Transfer "InnerTransfer"
// (Flex Transfer) or "Transfer". A code other than "200000" is the venue's
// refusal.
func (kucoin) ParseKey(status int, body []byte) (Permissions, error) {
	var v struct {
		Code *string `json:"code"`
		Msg  string  `json:"msg"`
		Data *struct {
			Permission *string         `json:"permission"`
			APIVersion json.RawMessage `json:"apiVersion"`
			IsMaster   *bool           `json:"isMaster"`
		} `json:"data"`
	}
	err := json.Unmarshal(body, &v)
	if err != nil || v.Code == nil {
		if !statusOK(status) {
			return Permissions{}, keyRefusedRaw("kucoin", status, body)
		}
		if err == nil {
			err = fmt.Errorf("no code")
		}
		return Permissions{}, keyGarbage("kucoin", err)
	}
	if *v.Code != "200000" || !statusOK(status) {
		return Permissions{}, keyRefused("kucoin", status, *v.Code, v.Msg)
	}
	if v.Data == nil || v.Data.Permission == nil {
		return Permissions{}, keyGarbage("kucoin", fmt.Errorf("no data.permission"))
	}
	perms := strings.Split(*v.Data.Permission, ",")
	for i := range perms {
		perms[i] = strings.TrimSpace(perms[i])
	}
	p := Permissions{Known: true, Read: slices.Contains(perms, "General")}
	for _, t := range kucoinTradePerms {
		p.Trade = p.Trade || slices.Contains(perms, t)
	}
	p.Withdraw = slices.Contains(perms, "Withdrawal")
	p.Transfer = slices.Contains(perms, "InnerTransfer") || slices.Contains(perms, "Transfer")
	var d details
	d.add("permission", venueWords(truncate(strings.Join(perms, "+"), 128)))
	if len(v.Data.APIVersion) > 0 {
		d.add("apiVersion", venueWords(truncate(rawCode(v.Data.APIVersion), 8)))
	}
	if v.Data.IsMaster != nil {
		d.add("isMaster", *v.Data.IsMaster)
	}
	p.Detail = d.String()
	return p, nil
}

// ---- Bitfinex ----

// KeyRequest asks POST /v2/auth/r/permissions with an empty JSON object
// (https://docs.bitfinex.com/reference/key-permissions).
func (b bitfinex) KeyRequest(host, _ string, meta map[string]string) (Request, error) {
	h, err := keyHost(b, host, meta)
	if err != nil {
		return Request{}, err
	}
	return Request{Method: "POST", URL: "https://" + h + "/v2/auth/r/permissions", Body: "{}",
		Headers: map[string]string{"Content-Type": "application/json"}}, nil
}

// ParseKey reads [[scope, read, write], …]: Read is any read, Trade the
// orders scope's write, Withdraw the withdraw scope's write, Transfer the
// wallets scope's write (transfers between wallets). An error answer is
// ["error", code, message].
func (bitfinex) ParseKey(status int, body []byte) (Permissions, error) {
	var arr []json.RawMessage
	err := json.Unmarshal(body, &arr)
	if err == nil && len(arr) > 0 {
		var tag string
		if json.Unmarshal(arr[0], &tag) == nil && tag == "error" {
			code, msg := "", ""
			if len(arr) > 1 {
				code = rawCode(arr[1])
			}
			if len(arr) > 2 {
				msg = rawCode(arr[2])
			}
			return Permissions{}, keyRefused("bitfinex", status, code, msg)
		}
	}
	if !statusOK(status) {
		return Permissions{}, keyRefusedRaw("bitfinex", status, body)
	}
	if err != nil {
		return Permissions{}, keyGarbage("bitfinex", err)
	}
	p := Permissions{Known: true}
	var d details
	for _, raw := range arr {
		var e []json.RawMessage
		var scope string
		if json.Unmarshal(raw, &e) != nil || len(e) < 3 || json.Unmarshal(e[0], &scope) != nil {
			return Permissions{}, keyGarbage("bitfinex", fmt.Errorf("an entry is not [scope, read, write]"))
		}
		r, err1 := jsonInt(e[1])
		w, err2 := jsonInt(e[2])
		if err1 != nil || err2 != nil {
			return Permissions{}, keyGarbage("bitfinex", fmt.Errorf("scope %q's read or write is not 0 or 1", truncate(scope, 32)))
		}
		rw := ""
		if r == 1 {
			rw += "r"
			p.Read = true
		}
		if w == 1 {
			rw += "w"
			switch scope {
			case "orders":
				p.Trade = true
			case "withdraw":
				p.Withdraw = true
			case "wallets":
				p.Transfer = true
			}
		}
		if rw == "" {
			rw = "none"
		}
		d.add(venueWords(truncate(scope, 32)), rw)
	}
	if len(d) == 0 {
		return Permissions{}, keyGarbage("bitfinex", fmt.Errorf("no scopes"))
	}
	p.Detail = d.String()
	return p, nil
}

// ---- Kraken ----

// KeyRequest asks, for Spot, POST /0/private/Balance
// (https://docs.kraken.com/api/docs/rest-api/get-account-balance; Sign adds
// the nonce), and for Futures GET /derivatives/api/v3/accounts
// (https://docs.kraken.com/api/docs/futures-api/trading/get-accounts).
// Neither says what the key may do.
func (k kraken) KeyRequest(host, _ string, meta map[string]string) (Request, error) {
	h, err := keyHost(k, host, meta)
	if err != nil {
		return Request{}, err
	}
	if h == krakenFuturesHost || h == krakenFuturesDemo {
		return Request{Method: "GET", URL: "https://" + h + "/derivatives/api/v3/accounts"}, nil
	}
	return Request{Method: "POST", URL: "https://" + h + "/0/private/Balance"}, nil
}

// ParseKey reads Spot's {"error":[…],"result":…}: no error is a working
// key; "EGeneral:Permission denied" a working key without the Query Funds
// permission; any other error ("EAPI:Invalid key", "EAPI:Invalid
// signature") the venue's refusal. Futures answers {"result":"success"} or
// {"result":"error","error":"authenticationError"}.
func (kraken) ParseKey(status int, body []byte) (Permissions, error) {
	var v struct {
		Error  json.RawMessage `json:"error"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		if !statusOK(status) {
			return Permissions{}, keyRefusedRaw("kraken", status, body)
		}
		return Permissions{}, keyGarbage("kraken", err)
	}
	var futures string
	if json.Unmarshal(v.Result, &futures) == nil {
		if futures == "success" && statusOK(status) {
			return Permissions{Detail: "futures_accounts=ok"}, nil
		}
		return Permissions{}, keyRefused("kraken", status, "", rawCode(v.Error))
	}
	var errs []string
	if len(v.Error) == 0 || json.Unmarshal(v.Error, &errs) != nil {
		if !statusOK(status) {
			return Permissions{}, keyRefusedRaw("kraken", status, body)
		}
		return Permissions{}, keyGarbage("kraken", fmt.Errorf("no error list"))
	}
	switch {
	case len(errs) == 0 && statusOK(status) && len(v.Result) > 0:
		return Permissions{Detail: "query_funds=true"}, nil
	case len(errs) == 1 && errs[0] == "EGeneral:Permission denied" && statusOK(status):
		return Permissions{Detail: "query_funds=false"}, nil
	case len(errs) == 0 && statusOK(status):
		return Permissions{}, keyGarbage("kraken", fmt.Errorf("no result"))
	}
	return Permissions{}, keyRefused("kraken", status, "", strings.Join(errs, "; "))
}

// ---- Alpaca ----

// KeyRequest asks GET /v2/account
// (https://docs.alpaca.markets/reference/getaccount-1) on the credential's
// trading host: the paper or live one it is pinned to (data.alpaca.markets,
// market data only, is swapped for it).
func (a alpaca) KeyRequest(host, apiKey string, meta map[string]string) (Request, error) {
	h, err := keyHost(a, host, meta)
	if err != nil {
		return Request{}, err
	}
	pinned, err := alpacaPinned(apiKey, meta)
	if err != nil {
		return Request{}, badRequest(err.Error())
	}
	if slices.Contains(a.Hosts(), h) && (h == alpacaDataHost || !slices.Contains(pinned, h)) {
		h = pinned[0] // the trading host: paper-api or api
	}
	return Request{Method: "GET", URL: "https://" + h + "/v2/account"}, nil
}

// ParseKey reads the account's status and blocks. An Alpaca key carries
// no scopes: it can do what the account can. Trade is an ACTIVE account
// not blocked from trading; Transfer follows transfers_blocked (the
// account's bank transfers); Withdraw is false, since the Trading API has
// no withdrawal endpoint (its crypto withdrawal, POST /v2/wallets/transfers,
// was removed on 2026-10-09:
// https://docs.alpaca.markets/us/changelog/2026-07-10-crypto-withdrawal-fe07e7d).
// Errors are {"code":40110000,"message":…}.
func (alpaca) ParseKey(status int, body []byte) (Permissions, error) {
	if !statusOK(status) {
		var e struct {
			Code    json.RawMessage `json:"code"`
			Message string          `json:"message"`
		}
		if json.Unmarshal(body, &e) != nil || e.Message == "" {
			return Permissions{}, keyRefusedRaw("alpaca", status, body)
		}
		return Permissions{}, keyRefused("alpaca", status, rawCode(e.Code), e.Message)
	}
	var v struct {
		Status               *string `json:"status"`
		TradingBlocked       bool    `json:"trading_blocked"`
		TransfersBlocked     bool    `json:"transfers_blocked"`
		AccountBlocked       bool    `json:"account_blocked"`
		TradeSuspendedByUser bool    `json:"trade_suspended_by_user"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return Permissions{}, keyGarbage("alpaca", err)
	}
	if v.Status == nil {
		return Permissions{}, keyGarbage("alpaca", fmt.Errorf("no status"))
	}
	var d details
	d.add("status", venueWords(truncate(*v.Status, 32)))
	d.add("trading_blocked", v.TradingBlocked)
	d.add("transfers_blocked", v.TransfersBlocked)
	d.add("account_blocked", v.AccountBlocked)
	d.add("trade_suspended_by_user", v.TradeSuspendedByUser)
	active := *v.Status == "ACTIVE" && !v.AccountBlocked
	return Permissions{
		Known:    true,
		Read:     true,
		Trade:    active && !v.TradingBlocked && !v.TradeSuspendedByUser,
		Transfer: active && !v.TransfersBlocked,
		Detail:   d.String(),
	}, nil
}

// ---- OANDA ----

// KeyRequest asks GET /v3/accounts/{account}/summary
// (https://developer.oanda.com/rest-live-v20/account-ep/), which proves
// the token and that the credential's account is one of the token's, on
// the credential's REST host (a stream host is swapped for its REST one).
func (o oanda) KeyRequest(host, apiKey string, meta map[string]string) (Request, error) {
	h, err := keyHost(o, host, meta)
	if err != nil {
		return Request{}, err
	}
	if !oandaAccountShape(apiKey) {
		return Request{}, badRequest("oanda: the credential's API key is not a v20 account id")
	}
	pinned, err := oandaPinned(meta)
	if err != nil {
		return Request{}, badRequest(err.Error())
	}
	switch h {
	case oandaPracticeStream:
		h = oandaPracticeAPI
	case oandaLiveStream:
		h = oandaLiveAPI
	}
	if slices.Contains(o.Hosts(), h) && !slices.Contains(pinned, h) {
		h = pinned[0]
	}
	return Request{Method: "GET", URL: "https://" + h + "/v3/accounts/" + apiKey + "/summary"}, nil
}

// ParseKey reads the account summary. A token has no scopes: it may read
// and trade; the v20 API has no withdrawal or transfer endpoint
// (https://developer.oanda.com/rest-live-v20/introduction/: market data
// and trading), so Withdraw and Transfer are false. Errors are
// {"errorCode":…,"errorMessage":…}.
func (oanda) ParseKey(status int, body []byte) (Permissions, error) {
	if !statusOK(status) {
		var e struct {
			ErrorCode    string `json:"errorCode"`
			ErrorMessage string `json:"errorMessage"`
		}
		if json.Unmarshal(body, &e) != nil || e.ErrorMessage == "" {
			return Permissions{}, keyRefusedRaw("oanda", status, body)
		}
		return Permissions{}, keyRefused("oanda", status, e.ErrorCode, e.ErrorMessage)
	}
	var v struct {
		Account *struct {
			Currency string `json:"currency"`
		} `json:"account"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return Permissions{}, keyGarbage("oanda", err)
	}
	if v.Account == nil {
		return Permissions{}, keyGarbage("oanda", fmt.Errorf("no account"))
	}
	var d details
	d.add("account", "found")
	if v.Account.Currency != "" {
		d.add("currency", venueWords(truncate(v.Account.Currency, 8)))
	}
	return Permissions{Known: true, Read: true, Trade: true, Detail: d.String()}, nil
}
