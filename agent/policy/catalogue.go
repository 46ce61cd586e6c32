package policy

import (
	"slices"
	"strings"
)

// The catalogue of money-moving and key-management endpoints, per scheme.
// Every entry is refused unless a grant names it in allow_money_movement
// (by its ID: "METHOD /path" as written here, or "hyperliquid:ACTION").
// Sources: each venue's API reference (wallet, sub-account, transfer and
// API-key sections), read for this list; a venue's new endpoints must be
// added here.

// MoneyEntry is one catalogue entry.
type MoneyEntry struct {
	Scheme string
	ID     string // what a grant names
	What   string // "withdrawal", "transfer", "API-key management", …
	ep     Endpoint
	action string // hyperliquid action type
}

func money(scheme, what string, eps ...string) []MoneyEntry {
	var out []MoneyEntry
	for _, e := range eps {
		ep, err := ParseEndpoint(e)
		if err != nil {
			panic("policy: bad catalogue entry " + e + ": " + err.Error())
		}
		out = append(out, MoneyEntry{Scheme: scheme, ID: e, What: what, ep: ep})
	}
	return out
}

func actions(scheme, what string, names ...string) []MoneyEntry {
	var out []MoneyEntry
	for _, n := range names {
		out = append(out, MoneyEntry{Scheme: scheme, ID: scheme + ":" + n, What: what, action: n})
	}
	return out
}

// catalogue is built once; it is a function so nothing can change it.
func catalogue() []MoneyEntry {
	var c []MoneyEntry
	add := func(e []MoneyEntry) { c = append(c, e...) }
	for _, b := range []string{"binance", "binance-ws"} {
		add(money(b, "withdrawal",
			"POST /sapi/*/capital/withdraw/**", "POST /sapi/*/localentity/withdraw/**"))
		add(money(b, "transfer",
			"POST /sapi/*/asset/transfer", "POST /sapi/*/futures/transfer", "POST /sapi/*/margin/transfer",
			"POST /sapi/*/sub-account/transfer/**", "POST /sapi/*/sub-account/universalTransfer",
			"POST /sapi/*/sub-account/futures/transfer", "POST /sapi/*/sub-account/margin/transfer",
			"POST /sapi/*/sub-account/futures/internalTransfer", "POST /sapi/*/sub-account/assets/**",
			"POST /sapi/*/giftcard/**", "POST /sapi/*/pay/**", "POST /sapi/*/asset/dust",
			"POST /fapi/*/asset/wallet/transfer"))
		add(money(b, "API-key or account management",
			"POST /sapi/*/sub-account/virtualSubAccount", "POST /sapi/*/sub-account/subAccountApi/**",
			"POST /sapi/*/account/apiRestrictions/**", "DELETE /sapi/*/sub-account/subAccountApi/**"))
	}
	add(money("bybit", "withdrawal", "POST /v5/asset/withdraw/create"))
	add(money("bybit", "transfer",
		"POST /v5/asset/transfer/inter-transfer", "POST /v5/asset/transfer/universal-transfer",
		"POST /v5/asset/transfer/save-transfer-sub-member"))
	add(money("bybit", "API-key or account management",
		"POST /v5/user/create-sub-member", "POST /v5/user/create-sub-api", "POST /v5/user/update-api",
		"POST /v5/user/update-sub-api", "POST /v5/user/delete-api", "POST /v5/user/delete-sub-api",
		"POST /v5/user/frozen-sub-member"))
	add(money("okx", "withdrawal", "POST /api/v5/asset/withdrawal", "POST /api/v5/asset/withdrawal-lightning"))
	add(money("okx", "transfer", "POST /api/v5/asset/transfer", "POST /api/v5/asset/subaccount/transfer",
		"POST /api/v5/users/subaccount/set-transfer-out"))
	add(money("okx", "API-key or account management",
		"POST /api/v5/users/subaccount/apikey", "POST /api/v5/users/subaccount/modify-apikey",
		"POST /api/v5/users/subaccount/delete-apikey", "POST /api/v5/users/subaccount/create-subaccount"))
	add(money("coinbase", "withdrawal or send",
		"POST /v2/accounts/*/transactions", "POST /v2/accounts/*/withdrawals", "POST /v2/accounts/*/withdrawals/**",
		"POST /withdrawals/**"))
	add(money("coinbase", "transfer",
		"POST /api/v3/brokerage/portfolios/move_funds", "POST /profiles/transfer", "POST /transfers/**"))
	add(money("kraken", "withdrawal", "POST /0/private/Withdraw", "POST /derivatives/api/v3/withdrawal"))
	add(money("kraken", "transfer",
		"POST /0/private/WalletTransfer", "POST /0/private/AccountTransfer",
		"POST /derivatives/api/v3/transfer", "POST /derivatives/api/v3/transfer/**"))
	add(money("kraken", "API-key or account management", "POST /0/private/CreateSubaccount"))
	add(money("kucoin", "withdrawal", "POST /api/v1/withdrawals", "POST /api/v3/withdrawals"))
	add(money("kucoin", "transfer",
		"POST /api/v2/accounts/inner-transfer", "POST /api/v3/accounts/universal-transfer",
		"POST /api/v2/accounts/sub-transfer", "POST /api/v3/transfer-out", "POST /api/v1/accounts/sub-transfer"))
	add(money("kucoin", "API-key or account management",
		"POST /api/v1/sub/api-key", "POST /api/v1/sub/api-key/update", "DELETE /api/v1/sub/api-key",
		"POST /api/v2/sub/user/created"))
	add(money("gate", "withdrawal", "POST /api/v4/withdrawals", "POST /api/v4/withdrawals/push"))
	add(money("gate", "transfer",
		"POST /api/v4/wallet/transfers", "POST /api/v4/wallet/sub_account_transfers",
		"POST /api/v4/wallet/sub_account_to_sub_account"))
	add(money("gate", "API-key or account management",
		"POST /api/v4/sub_accounts", "POST /api/v4/sub_accounts/*/keys", "PUT /api/v4/sub_accounts/*/keys/*",
		"DELETE /api/v4/sub_accounts/*/keys/*"))
	add(money("bitget", "withdrawal", "POST /api/v2/spot/wallet/withdrawal"))
	add(money("bitget", "transfer", "POST /api/v2/spot/wallet/transfer", "POST /api/v2/spot/wallet/subaccount-transfer"))
	add(money("bitget", "API-key or account management",
		"POST /api/v2/user/create-virtual-subaccount", "POST /api/v2/user/create-virtual-subaccount-apikey",
		"POST /api/v2/user/modify-virtual-subaccount-apikey"))
	add(money("bitfinex", "withdrawal", "POST /v2/auth/w/withdraw"))
	add(money("bitfinex", "transfer", "POST /v2/auth/w/transfer"))
	for _, m := range []string{"GET", "POST"} {
		add(money("deribit", "withdrawal", m+" /api/v2/private/withdraw", m+" /api/v2/private/add_to_address_book"))
		add(money("deribit", "transfer",
			m+" /api/v2/private/submit_transfer_to_user", m+" /api/v2/private/submit_transfer_to_subaccount",
			m+" /api/v2/private/submit_transfer_between_subaccounts"))
		add(money("deribit", "API-key or account management",
			m+" /api/v2/private/create_api_key", m+" /api/v2/private/edit_api_key", m+" /api/v2/private/enable_api_key",
			m+" /api/v2/private/remove_api_key", m+" /api/v2/private/reset_api_key", m+" /api/v2/private/create_subaccount"))
	}
	add(actions("hyperliquid", "withdrawal or send", "withdraw3", "usdSend", "spotSend", "sendAsset"))
	add(actions("hyperliquid", "transfer", "usdClassTransfer", "subAccountTransfer", "subAccountSpotTransfer",
		"vaultTransfer", "cDeposit", "cWithdraw", "tokenDelegate"))
	add(actions("hyperliquid", "API-key or account management", "approveAgent", "approveBuilderFee", "createSubAccount", "convertToMultiSigUser"))
	return c
}

// paramRule says which parameter sets belong to money-moving endpoints of
// a venue that does not sign the path (Binance, Bybit): a signature over
// them could be replayed against the withdrawal endpoint whatever path the
// bot claimed.
type paramRule struct {
	any   []string   // any of these parameter names
	all   [][]string // or all names of one of these sets
	ids   []string   // the catalogue entries these parameters belong to
	names *nameTable // each name above, as a bit of the set present
}

var paramRules = map[string]paramRule{
	"binance": {
		any: []string{"address", "addressTag", "withdrawOrderId", "toEmail", "fromEmail", "fromAccountType", "toAccountType", "transactionFeeFlag"},
		all: [][]string{{"asset", "amount"}, {"coin", "amount"}, {"token", "amount"}},
		ids: []string{"POST /sapi/*/capital/withdraw/**", "POST /sapi/*/asset/transfer", "POST /sapi/*/futures/transfer",
			"POST /sapi/*/margin/transfer", "POST /sapi/*/sub-account/universalTransfer", "POST /sapi/*/sub-account/transfer/**",
			"POST /sapi/*/giftcard/**", "POST /fapi/*/asset/wallet/transfer"},
	},
	"bybit": {
		any: []string{"address", "tag", "toMemberId", "fromMemberId", "fromAccountType", "toAccountType", "permissions", "readOnly", "ips"},
		all: [][]string{{"coin", "amount"}},
		ids: []string{"POST /v5/asset/withdraw/create", "POST /v5/asset/transfer/inter-transfer", "POST /v5/asset/transfer/universal-transfer",
			"POST /v5/user/create-sub-api", "POST /v5/user/update-api", "POST /v5/user/update-sub-api"},
	},
}

func init() {
	for scheme, r := range paramRules {
		bit := map[string]uint64{}
		for _, n := range slices.Concat(append([][]string{r.any}, r.all...)...) {
			if _, ok := bit[n]; !ok {
				bit[n] = 1 << len(bit)
			}
		}
		if len(bit) > 64 {
			panic("policy: more than 64 parameter names for " + scheme + ": present is a uint64")
		}
		r.names = newNameTable(bit)
		paramRules[scheme] = r
	}
	paramRules["binance-ws"] = paramRules["binance"]
}

// moneyEndpoint returns the catalogue entry a request hits, or nil: the
// first in catalogue order, found through the scheme's moneyIndex. The
// entry is shared: the caller must not change it.
func moneyEndpoint(scheme, method, path, body string) *MoneyEntry {
	if x := moneyIndexes[scheme]; x != nil {
		if i := x.lookup(method, path, body); i >= 0 {
			return &x.entries[i]
		}
	}
	return nil
}

var byScheme = func() map[string][]MoneyEntry {
	m := map[string][]MoneyEntry{}
	for _, e := range catalogue() {
		m[e.Scheme] = append(m[e.Scheme], e)
	}
	return m
}()

func catalogueFor(scheme string) []MoneyEntry { return byScheme[scheme] }

// Catalogue returns every entry, for `keyward policy catalogue` and docs.
func Catalogue() []MoneyEntry { return catalogue() }

// moneyParams reports whether the request's parameter names form a set
// that belongs to a money-moving endpoint of a venue that does not sign
// the path. It reads the names of the query, of a form body and of the
// top level of a JSON body (a JSON-RPC body's "params"), each once.
func moneyParams(scheme string, p *parsedRequest) (string, bool) {
	r, ok := paramRules[scheme]
	if !ok {
		return "", false
	}
	present := r.names.formBits(p.rawQuery)
	switch {
	case p.formBody():
		present |= r.names.formBits(p.body)
	case p.body != "":
		for k := range p.params().json {
			present |= r.names.of(k)
		}
	}
	if present == 0 {
		return "", false
	}
	bit := r.names.bit
	for _, n := range r.any {
		if present&bit[n] != 0 {
			return n, true
		}
	}
	for _, set := range r.all {
		hit := true
		for _, n := range set {
			hit = hit && present&bit[n] != 0
		}
		if hit {
			return strings.Join(set, "+"), true
		}
	}
	return "", false
}
