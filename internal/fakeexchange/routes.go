package fakeexchange

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// venueMux serves one venue's endpoints, whatever host reached it: the
// venues that keep several APIs on several hosts (Binance spot and futures,
// Coinbase Advanced and Exchange, Kraken spot and futures) have paths that
// do not collide, so the host matters only for choosing the venue.
func (x *Exchange) venueMux(venue string) http.Handler {
	mux := http.NewServeMux()
	fail := errorsFor(venue)
	signed := func(pattern string, h func(*call) reply) { mux.Handle(pattern, x.signed(venue, fail, h)) }
	public := func(pattern string, h func(now time.Time, r *http.Request) reply) { mux.Handle(pattern, x.public(h)) }

	switch venue {
	case "binance":
		public("GET /api/v3/ping", func(time.Time, *http.Request) reply { return reply{200, struct{}{}} })
		public("GET /api/v3/time", binanceTime)
		public("GET /fapi/v1/time", binanceTime)
		signed("POST /api/v3/order", binanceOrder)
		signed("GET /api/v3/account", binanceAccount)
		signed("GET /sapi/v1/account/apiRestrictions", binanceRestrictions)
		signed("POST /fapi/v1/order", binanceFuturesOrder)
	case "bybit":
		public("GET /v5/market/time", bybitTime)
		signed("POST /v5/order/create", bybitOrder)
		signed("GET /v5/user/query-api", bybitQueryAPI)
	case "okx":
		public("GET /api/v5/public/time", okxTime)
		signed("POST /api/v5/trade/order", okxOrder)
		signed("GET /api/v5/account/config", okxConfig)
	case "coinbase":
		public("GET /api/v3/brokerage/time", coinbaseAdvancedTime)
		signed("POST /api/v3/brokerage/orders", coinbaseAdvancedOrder)
		signed("GET /api/v3/brokerage/key_permissions", coinbaseKeyPermissions)
		public("GET /time", coinbaseExchangeTime)
		signed("POST /orders", coinbaseExchangeOrder)
	case "kraken":
		public("GET /0/public/Time", krakenTime)
		signed("POST /0/private/AddOrder", krakenAddOrder)
		signed("POST /0/private/Balance", krakenBalance)
		signed("POST /derivatives/api/v3/sendorder", krakenFuturesOrder)
	case "kucoin":
		public("GET /api/v1/timestamp", kucoinTime)
		signed("POST /api/v1/orders", kucoinOrder)
		signed("GET /api/v1/user/api-key", kucoinAPIKey)
	case "gate":
		public("GET /api/v4/spot/time", gateTime)
		signed("POST /api/v4/spot/orders", gateOrder)
	case "bitget":
		public("GET /api/v2/public/time", bitgetTime)
		signed("POST /api/v2/spot/trade/place-order", bitgetOrder)
	case "bitfinex":
		public("GET /v2/platform/status", func(time.Time, *http.Request) reply { return reply{200, []int{1}} })
		signed("POST /v2/auth/w/order/submit", bitfinexOrder)
	case "deribit":
		public("GET /api/v2/public/get_time", deribitTime)
		signed("GET /api/v2/private/buy", deribitOrder("buy"))
		signed("GET /api/v2/private/sell", deribitOrder("sell"))
	case "hyperliquid":
		public("POST /info", hyperliquidInfo)
		signed("POST /exchange", hyperliquidExchange)
	case "alpaca":
		signed("POST /v2/orders", alpacaOrder)
		signed("GET /v2/account", alpacaAccount)
		signed("GET /v2/clock", alpacaClock)
	case "oanda":
		signed("GET /v3/accounts", oandaAccounts)
		signed("GET /v3/accounts/{id}/summary", oandaSummary)
		signed("POST /v3/accounts/{id}/orders", oandaOrder)
	default:
		// hmac, bearer and any venue the fake has no endpoints for: every
		// path is a signed endpoint.
		signed("/", func(c *call) reply {
			return reply{200, map[string]any{"ok": true, "path": c.r.URL.Path}}
		})
		return mux
	}
	public("/", func(now time.Time, r *http.Request) reply {
		return fail(fault{kind: failNotFound, r: r, now: now})
	})
	return mux
}

// params are a form-style request's parameters: the query's, then the
// body's when it is a form.
func (c *call) params() url.Values {
	p, _ := url.ParseQuery(c.r.URL.RawQuery)
	if p == nil {
		p = url.Values{}
	}
	if len(c.body) > 0 && !strings.HasPrefix(strings.TrimSpace(string(c.body)), "{") {
		if b, err := url.ParseQuery(string(c.body)); err == nil {
			for k, vs := range b {
				p[k] = append(p[k], vs...)
			}
		}
	}
	return p
}

// object decodes a JSON object body; an empty body is an empty object.
func (c *call) object() (map[string]any, error) {
	m := map[string]any{}
	if len(strings.TrimSpace(string(c.body))) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(c.body, &m); err != nil {
		return nil, fmt.Errorf("body is not a JSON object: %v", err)
	}
	return m, nil
}

// jsonCall decodes the body and hands it to h, or refuses a malformed one.
func jsonCall(h func(c *call, m map[string]any) reply) func(*call) reply {
	return func(c *call) reply {
		m, err := c.object()
		if err != nil {
			return c.refuse(failBadInput, err.Error())
		}
		return h(c, m)
	}
}

// str is m[k] as a string, whether the client sent a string or a number.
func str(m map[string]any, k string) string {
	switch v := m[k].(type) {
	case string:
		return v
	case nil:
		return ""
	case json.Number:
		return v.String()
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (x *Exchange) nextID() uint64 { return x.ids.Add(1) }

func randHex(n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

func newUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func randUpper(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// ---- Binance ----

func binanceTime(now time.Time, _ *http.Request) reply {
	return reply{200, map[string]int64{"serverTime": now.UnixMilli()}}
}

func binanceOrder(c *call) reply {
	p := c.params()
	ack := map[string]any{
		"symbol": p.Get("symbol"), "orderId": c.x.nextID(), "orderListId": -1,
		"clientOrderId": or(p.Get("newClientOrderId"), randUpper(22)), "transactTime": c.now.UnixMilli(),
	}
	if p.Get("newOrderRespType") == "ACK" {
		return reply{200, ack}
	}
	ack["price"] = or(p.Get("price"), "0.00000000")
	ack["origQty"] = or(p.Get("quantity"), "0.00000000")
	ack["executedQty"] = "0.00000000"
	ack["origQuoteOrderQty"] = or(p.Get("quoteOrderQty"), "0.00000000")
	ack["cummulativeQuoteQty"] = "0.00000000"
	ack["status"] = "NEW"
	ack["timeInForce"] = or(p.Get("timeInForce"), "GTC")
	ack["type"] = p.Get("type")
	ack["side"] = p.Get("side")
	ack["workingTime"] = c.now.UnixMilli()
	ack["selfTradePreventionMode"] = "EXPIRE_MAKER"
	ack["fills"] = []any{}
	return reply{200, ack}
}

func binanceAccount(c *call) reply {
	perms := c.acct.perms
	return reply{200, map[string]any{
		"makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
		"canTrade": perms.Trade, "canWithdraw": perms.Withdraw, "canDeposit": true, "brokered": false,
		"commissionRates":            map[string]string{"maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000", "seller": "0.00000000"},
		"requireSelfTradePrevention": false, "preventSor": false, "updateTime": c.acct.created.UnixMilli(),
		"accountType": "SPOT",
		"balances": []map[string]string{
			{"asset": "BTC", "free": "1.00000000", "locked": "0.00000000"},
			{"asset": "USDT", "free": "10000.00000000", "locked": "0.00000000"},
		},
		"permissions": []string{"SPOT"}, "uid": 354937868,
	}}
}

func binanceRestrictions(c *call) reply {
	perms := c.acct.perms
	return reply{200, map[string]any{
		"ipRestrict": false, "createTime": c.acct.created.UnixMilli(),
		"enableReading":              true, // Binance keys can always read
		"enableWithdrawals":          perms.Withdraw,
		"enableInternalTransfer":     perms.Transfer,
		"permitsUniversalTransfer":   perms.Transfer,
		"enableSpotAndMarginTrading": perms.Trade,
		"enableMargin":               false, "enableFutures": false, "enableVanillaOptions": false,
		"enablePortfolioMarginTrading": false, "enableFixApiTrade": false, "enableFixReadOnly": false,
	}}
}

func binanceFuturesOrder(c *call) reply {
	p := c.params()
	return reply{200, map[string]any{
		"orderId": c.x.nextID(), "symbol": p.Get("symbol"), "status": "NEW",
		"clientOrderId": or(p.Get("newClientOrderId"), randUpper(22)),
		"price":         or(p.Get("price"), "0"), "avgPrice": "0.00", "origQty": or(p.Get("quantity"), "0"),
		"executedQty": "0", "cumQty": "0", "cumQuote": "0", "timeInForce": or(p.Get("timeInForce"), "GTC"),
		"type": p.Get("type"), "origType": p.Get("type"), "reduceOnly": p.Get("reduceOnly") == "true",
		"closePosition": false, "side": p.Get("side"), "positionSide": or(p.Get("positionSide"), "BOTH"),
		"stopPrice": "0", "workingType": "CONTRACT_PRICE", "priceProtect": false, "priceMatch": "NONE",
		"selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0, "updateTime": c.now.UnixMilli(),
	}}
}

// ---- Bybit ----

func bybitTime(now time.Time, _ *http.Request) reply {
	return reply{200, bybitEnvelope(0, "OK", map[string]string{
		"timeSecond": strconv.FormatInt(now.Unix(), 10), "timeNano": strconv.FormatInt(now.UnixNano(), 10),
	}, now)}
}

var bybitOrder = jsonCall(func(c *call, m map[string]any) reply {
	return reply{200, bybitEnvelope(0, "OK", map[string]string{
		"orderId": strconv.FormatUint(c.x.nextID(), 10), "orderLinkId": str(m, "orderLinkId"),
	}, c.now)}
})

func bybitQueryAPI(c *call) reply {
	perms := c.acct.perms
	when := func(ok bool, names ...string) []string {
		if ok {
			return names
		}
		return []string{}
	}
	wallet := when(perms.Transfer, "AccountTransfer", "SubMemberTransfer")
	if perms.Withdraw {
		wallet = append(wallet, "Withdraw")
	}
	readOnly := 1
	if perms.Trade || perms.Withdraw || perms.Transfer {
		readOnly = 0
	}
	return reply{200, bybitEnvelope(0, "", map[string]any{
		"id": strconv.FormatUint(c.x.nextID(), 10), "note": "fakeexchange", "apiKey": c.acct.APIKey,
		"readOnly": readOnly, "secret": "",
		"permissions": map[string][]string{
			"ContractTrade": when(perms.Trade, "Order", "Position"),
			"Spot":          when(perms.Trade, "SpotTrade"),
			"Wallet":        wallet,
			"Options":       when(perms.Trade, "OptionsTrade"),
			"Derivatives":   when(perms.Trade, "DerivativesTrade"),
			"CopyTrading":   {}, "BlockTrade": {}, "Exchange": {}, "NFT": {}, "Affiliate": {},
		},
		"ips": []string{"*"}, "type": 1, "deadlineDay": 90,
		"createdAt": c.acct.created.UTC().Format(time.RFC3339), "unified": 0, "uta": 1,
		"userID": 24617703, "inviterID": 0, "vipLevel": "No VIP", "mktMakerLevel": "0", "affiliateID": 0,
		"rsaPublicKey": "", "isMaster": true, "parentUid": "0", "kycLevel": "LEVEL_DEFAULT", "kycRegion": "",
	}, c.now)}
}

// ---- OKX ----

func okxEnvelope(data ...any) map[string]any {
	return map[string]any{"code": "0", "msg": "", "data": data}
}

func okxTime(now time.Time, _ *http.Request) reply {
	return reply{200, okxEnvelope(map[string]string{"ts": ms(now)})}
}

var okxOrder = jsonCall(func(c *call, m map[string]any) reply {
	env := okxEnvelope(map[string]string{
		"clOrdId": str(m, "clOrdId"), "ordId": strconv.FormatUint(c.x.nextID(), 10), "tag": str(m, "tag"),
		"ts": ms(c.now), "sCode": "0", "sMsg": "Order placed",
	})
	us := strconv.FormatInt(c.now.UnixMicro(), 10)
	env["inTime"], env["outTime"] = us, us
	return reply{200, env}
})

func okxConfig(c *call) reply {
	perms := c.acct.perms
	var perm []string
	if perms.Read {
		perm = append(perm, "read_only")
	}
	if perms.Trade {
		perm = append(perm, "trade")
	}
	if perms.Withdraw {
		perm = append(perm, "withdraw")
	}
	return reply{200, okxEnvelope(map[string]any{
		"acctLv": "2", "autoLoan": false, "ctIsoMode": "automatic", "greeksType": "PA", "level": "Lv1",
		"levelTmp": "", "mgnIsoMode": "automatic", "posMode": "net_mode", "spotOffsetType": "",
		"uid": "44705892343619584", "mainUid": "44705892343619584", "label": "fakeexchange", "roleType": "0",
		"traderInsts": []string{}, "spotRoleType": "0", "spotTraderInsts": []string{}, "opAuth": "0",
		"kycLv": "2", "ip": "", "perm": strings.Join(perm, ","), "enableSpotBorrow": false, "spotBorrowAutoRepay": false,
	})}
}

// ---- Coinbase ----

func coinbaseAdvancedTime(now time.Time, _ *http.Request) reply {
	return reply{200, map[string]string{
		"iso":          now.UTC().Format("2006-01-02T15:04:05.000Z"),
		"epochSeconds": strconv.FormatInt(now.Unix(), 10),
		"epochMillis":  ms(now),
	}}
}

var coinbaseAdvancedOrder = jsonCall(func(c *call, m map[string]any) reply {
	return reply{200, map[string]any{
		"success": true,
		"success_response": map[string]string{
			"order_id": newUUID(), "product_id": str(m, "product_id"), "side": str(m, "side"),
			"client_order_id": str(m, "client_order_id"),
		},
		"order_configuration": m["order_configuration"],
	}}
})

func coinbaseKeyPermissions(c *call) reply {
	perms := c.acct.perms
	return reply{200, map[string]any{
		"can_view": perms.Read, "can_trade": perms.Trade, "can_transfer": perms.Transfer || perms.Withdraw,
		"portfolio_uuid": or(c.acct.Meta["portfolio_uuid"], "0a1b2c3d-0000-4000-8000-00000000fa4e"),
		"portfolio_type": "DEFAULT",
	}}
}

func coinbaseExchangeTime(now time.Time, _ *http.Request) reply {
	return reply{200, map[string]any{
		"iso":   now.UTC().Format("2006-01-02T15:04:05.000Z"),
		"epoch": float64(now.UnixMilli()) / 1000,
	}}
}

var coinbaseExchangeOrder = jsonCall(func(c *call, m map[string]any) reply {
	return reply{200, map[string]any{
		"id": newUUID(), "price": str(m, "price"), "size": str(m, "size"), "product_id": str(m, "product_id"),
		"profile_id": or(c.acct.Meta["profile_id"], "8058d771-2d88-4f0f-ab6e-299c153d4308"),
		"side":       str(m, "side"), "type": or(str(m, "type"), "limit"), "time_in_force": or(str(m, "time_in_force"), "GTC"),
		"post_only": false, "created_at": c.now.UTC().Format(time.RFC3339Nano), "fill_fees": "0.0000000000000000",
		"filled_size": "0.00000000", "executed_value": "0.0000000000000000", "status": "pending", "settled": false,
		"stp": "dc",
	}}
})

// ---- Kraken ----

func krakenTime(now time.Time, _ *http.Request) reply {
	return reply{200, map[string]any{"error": []string{}, "result": map[string]any{
		"unixtime": now.Unix(), "rfc1123": now.UTC().Format("Mon, 02 Jan 06 15:04:05 -0700"),
	}}}
}

func krakenAddOrder(c *call) reply {
	p := c.params()
	descr := fmt.Sprintf("%s %s %s @ %s", p.Get("type"), p.Get("volume"), p.Get("pair"), or(p.Get("ordertype"), "market"))
	if price := p.Get("price"); price != "" {
		descr += " " + price
	}
	txid := randUpper(6) + "-" + randUpper(5) + "-" + randUpper(6)
	return reply{200, map[string]any{"error": []string{}, "result": map[string]any{
		"descr": map[string]string{"order": descr}, "txid": []string{txid},
	}}}
}

func krakenBalance(*call) reply {
	return reply{200, map[string]any{"error": []string{}, "result": map[string]string{
		"ZUSD": "10000.0000", "XXBT": "1.0000000000",
	}}}
}

func krakenFuturesOrder(c *call) reply {
	p := c.params()
	id := newUUID()
	return reply{200, map[string]any{
		"result": "success", "serverTime": isoMillis(c.now),
		"sendStatus": map[string]any{
			"order_id": id, "cliOrdId": p.Get("cliOrdId"), "status": "placed", "receivedTime": isoMillis(c.now),
			"orderEvents": []any{map[string]any{
				"type": "PLACE", "reducedQuantity": nil,
				"order": map[string]any{
					"orderId": id, "cliOrdId": p.Get("cliOrdId"), "type": or(p.Get("orderType"), "lmt"),
					"symbol": p.Get("symbol"), "side": p.Get("side"), "quantity": p.Get("size"), "filled": 0,
					"limitPrice": p.Get("limitPrice"), "reduceOnly": p.Get("reduceOnly") == "true",
					"timestamp": isoMillis(c.now), "lastUpdateTimestamp": isoMillis(c.now),
				},
			}},
		},
	}}
}

// ---- KuCoin ----

func kucoinTime(now time.Time, _ *http.Request) reply {
	return reply{200, map[string]any{"code": "200000", "msg": "success", "data": now.UnixMilli()}}
}

var kucoinOrder = jsonCall(func(c *call, m map[string]any) reply {
	return reply{200, map[string]any{"code": "200000", "data": map[string]string{
		"orderId": randHex(24), "clientOid": str(m, "clientOid"),
	}}}
})

func kucoinAPIKey(c *call) reply {
	perms := c.acct.perms
	var perm []string
	if perms.Read {
		perm = append(perm, "General")
	}
	if perms.Trade {
		perm = append(perm, "Spot")
	}
	if perms.Transfer {
		perm = append(perm, "InnerTransfer")
	}
	if perms.Withdraw {
		perm = append(perm, "Withdrawal")
	}
	return reply{200, map[string]any{"code": "200000", "data": map[string]any{
		"remark": "fakeexchange", "apiKey": c.acct.APIKey, "apiVersion": 3, "permission": strings.Join(perm, ","),
		"ipWhitelist": "", "createdAt": c.acct.created.UnixMilli(), "uid": 165111215, "isMaster": true,
	}}}
}

// ---- Gate ----

func gateTime(now time.Time, _ *http.Request) reply {
	return reply{200, map[string]int64{"server_time": now.UnixMilli()}}
}

var gateOrder = jsonCall(func(c *call, m map[string]any) reply {
	sec := strconv.FormatInt(c.now.Unix(), 10)
	return reply{201, map[string]any{
		"id": strconv.FormatUint(c.x.nextID(), 10), "text": or(str(m, "text"), "apiv4"), "amend_text": "-",
		"create_time": sec, "update_time": sec, "create_time_ms": c.now.UnixMilli(), "update_time_ms": c.now.UnixMilli(),
		"status": "open", "currency_pair": str(m, "currency_pair"), "type": or(str(m, "type"), "limit"),
		"account": or(str(m, "account"), "spot"), "side": str(m, "side"), "amount": str(m, "amount"),
		"price": str(m, "price"), "time_in_force": or(str(m, "time_in_force"), "gtc"), "iceberg": "0",
		"left": str(m, "amount"), "filled_amount": "0", "fill_price": "0", "filled_total": "0", "fee": "0",
		"point_fee": "0", "gt_fee": "0", "gt_discount": false, "rebated_fee": "0", "finish_as": "open",
	}}
})

// ---- Bitget ----

func bitgetEnvelope(now time.Time, data any) map[string]any {
	return map[string]any{"code": "00000", "msg": "success", "requestTime": now.UnixMilli(), "data": data}
}

func bitgetTime(now time.Time, _ *http.Request) reply {
	return reply{200, bitgetEnvelope(now, map[string]string{"serverTime": ms(now)})}
}

var bitgetOrder = jsonCall(func(c *call, m map[string]any) reply {
	return reply{200, bitgetEnvelope(c.now, map[string]string{
		"orderId": strconv.FormatUint(c.x.nextID(), 10), "clientOid": or(str(m, "clientOid"), newUUID()),
	})}
})

// ---- Bitfinex ----

var bitfinexOrder = jsonCall(func(c *call, m map[string]any) reply {
	amount, _ := strconv.ParseFloat(str(m, "amount"), 64)
	price, _ := strconv.ParseFloat(str(m, "price"), 64)
	var cid any
	if v, ok := m["cid"].(float64); ok {
		cid = int64(v)
	}
	// The order array, as Bitfinex lays it out: ID, GID, CID, SYMBOL,
	// MTS_CREATE, MTS_UPDATE, AMOUNT, AMOUNT_ORIG, TYPE, TYPE_PREV, MTS_TIF,
	// _, FLAGS, STATUS, _, _, PRICE, PRICE_AVG, PRICE_TRAILING,
	// PRICE_AUX_LIMIT, _, _, _, NOTIFY, HIDDEN, PLACED_ID, _, _, ROUTING, _,
	// _, META.
	order := make([]any, 32)
	order[0], order[2], order[3] = c.x.nextID(), cid, str(m, "symbol")
	order[4], order[5] = c.now.UnixMilli(), c.now.UnixMilli()
	order[6], order[7], order[8] = amount, amount, str(m, "type")
	order[12], order[13], order[16], order[17], order[18], order[19] = 0, "ACTIVE", price, 0, 0, 0
	order[23], order[24], order[28], order[31] = 0, 0, "API>BFX", m["meta"]
	return reply{200, []any{c.now.UnixMilli(), "on-req", nil, nil, []any{order}, nil, "SUCCESS", "Submitting 1 orders."}}
})

// ---- Deribit ----

func deribitTime(now time.Time, _ *http.Request) reply {
	return reply{200, deribitEnvelope("result", now.UnixMilli(), now)}
}

func deribitOrder(direction string) func(*call) reply {
	return func(c *call) reply {
		p := c.params()
		amount, _ := strconv.ParseFloat(p.Get("amount"), 64)
		price, _ := strconv.ParseFloat(p.Get("price"), 64)
		instrument := p.Get("instrument_name")
		currency, _, _ := strings.Cut(instrument, "-")
		order := map[string]any{
			"web": false, "time_in_force": or(p.Get("time_in_force"), "good_til_cancelled"), "replaced": false,
			"reduce_only": p.Get("reduce_only") == "true", "price": price, "post_only": p.Get("post_only") == "true",
			"order_type": or(p.Get("type"), "limit"), "order_state": "open",
			"order_id": fmt.Sprintf("%s-%d", currency, c.x.nextID()), "max_show": amount,
			"last_update_timestamp": c.now.UnixMilli(), "creation_timestamp": c.now.UnixMilli(),
			"label": p.Get("label"), "is_liquidation": false, "instrument_name": instrument, "filled_amount": 0,
			"direction": direction, "average_price": 0, "api": true, "amount": amount,
		}
		env := deribitEnvelope("result", map[string]any{"trades": []any{}, "order": order}, c.now)
		return reply{200, env}
	}
}

// ---- Hyperliquid ----

func hyperliquidInfo(_ time.Time, r *http.Request) reply {
	var req struct {
		Type string `json:"type"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&req); err != nil {
		return reply{http.StatusUnprocessableEntity, "Failed to deserialize the JSON body into the target type"}
	}
	switch req.Type {
	case "meta":
		return reply{200, map[string]any{"universe": []map[string]any{
			{"name": "BTC", "szDecimals": 5, "maxLeverage": 40},
			{"name": "ETH", "szDecimals": 4, "maxLeverage": 25},
			{"name": "SOL", "szDecimals": 2, "maxLeverage": 20},
		}}}
	}
	return reply{http.StatusUnprocessableEntity, "Failed to deserialize the JSON body into the target type"}
}

var hyperliquidExchange = jsonCall(func(c *call, m map[string]any) reply {
	action, _ := m["action"].(map[string]any)
	kind, _ := action["type"].(string)
	switch kind {
	case "order":
		orders, _ := action["orders"].([]any)
		statuses := make([]any, 0, len(orders))
		for range orders {
			statuses = append(statuses, map[string]any{"resting": map[string]any{"oid": c.x.nextID()}})
		}
		return reply{200, map[string]any{"status": "ok", "response": map[string]any{
			"type": "order", "data": map[string]any{"statuses": statuses},
		}}}
	case "cancel", "cancelByCloid":
		cancels, _ := action["cancels"].([]any)
		statuses := make([]any, 0, len(cancels))
		for range cancels {
			statuses = append(statuses, "success")
		}
		return reply{200, map[string]any{"status": "ok", "response": map[string]any{
			"type": "cancel", "data": map[string]any{"statuses": statuses},
		}}}
	}
	return reply{200, map[string]any{"status": "ok", "response": map[string]any{"type": "default"}}}
})

// ---- Alpaca ----

var alpacaOrder = jsonCall(func(c *call, m map[string]any) reply {
	now := c.now.UTC().Format(time.RFC3339Nano)
	typ := or(str(m, "type"), "market")
	return reply{200, map[string]any{
		"id": newUUID(), "client_order_id": or(str(m, "client_order_id"), newUUID()),
		"created_at": now, "updated_at": now, "submitted_at": now, "filled_at": nil, "expired_at": nil,
		"canceled_at": nil, "failed_at": nil, "replaced_at": nil, "replaced_by": nil, "replaces": nil,
		"asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415", "symbol": str(m, "symbol"), "asset_class": "us_equity",
		"notional": nilIfEmpty(str(m, "notional")), "qty": nilIfEmpty(str(m, "qty")), "filled_qty": "0",
		"filled_avg_price": nil, "order_class": "", "order_type": typ, "type": typ, "side": str(m, "side"),
		"time_in_force": or(str(m, "time_in_force"), "day"), "limit_price": nilIfEmpty(str(m, "limit_price")),
		"stop_price": nilIfEmpty(str(m, "stop_price")), "status": "accepted", "extended_hours": m["extended_hours"] == true,
		"legs": nil, "trail_percent": nil, "trail_price": nil, "hwm": nil, "position_intent": "buy_to_open",
	}}
})

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func alpacaAccount(c *call) reply {
	perms := c.acct.perms
	return reply{200, map[string]any{
		"status": "ACTIVE", "id": or(c.acct.Meta["account_id"], "904837e3-3b76-47ec-b432-046db621571b"),
		"account_number": or(c.acct.Meta["account_number"], "PA3FAKE0TEST"),
		"crypto_status":  "ACTIVE", "currency": "USD", "buying_power": "200000", "regt_buying_power": "200000",
		"cash": "100000", "portfolio_value": "100000", "equity": "100000", "last_equity": "100000",
		"pattern_day_trader": false, "trading_blocked": false, "transfers_blocked": !perms.Transfer,
		"account_blocked": false, "trade_suspended_by_user": false, "shorting_enabled": true, "multiplier": "2",
		"created_at": c.acct.created.UTC().Format(time.RFC3339Nano), "daytrade_count": 0,
	}}
}

func alpacaClock(c *call) reply {
	now := c.now
	if ny, err := time.LoadLocation("America/New_York"); err == nil {
		now = now.In(ny)
	}
	return reply{200, map[string]any{
		"timestamp": now.Format(time.RFC3339Nano), "is_open": false,
		"next_open":  now.Add(12 * time.Hour).Truncate(time.Hour).Format(time.RFC3339),
		"next_close": now.Add(18 * time.Hour).Truncate(time.Hour).Format(time.RFC3339),
	}}
}

// ---- OANDA ----

func oandaAccounts(c *call) reply {
	return reply{200, map[string]any{"accounts": []map[string]any{{"id": c.acct.APIKey, "tags": []string{}}}}}
}

// oandaSummary is GET /v3/accounts/{id}/summary, trimmed: what the
// agent's key check reads (the account's id, that the token grants it).
func oandaSummary(c *call) reply {
	if id := c.r.PathValue("id"); id != c.acct.APIKey {
		return c.refuse(failForbidden, "the token does not grant account "+id)
	}
	return reply{200, map[string]any{"account": map[string]any{
		"id": c.acct.APIKey, "alias": "Primary", "currency": "USD", "balance": "100000.0000",
		"openTradeCount": 0, "openPositionCount": 0, "pendingOrderCount": 0, "hedgingEnabled": false,
	}, "lastTransactionID": "1"}}
}

var oandaOrder = jsonCall(func(c *call, m map[string]any) reply {
	if id := c.r.PathValue("id"); id != c.acct.APIKey {
		return c.refuse(failForbidden, "the token does not grant account "+id)
	}
	order, _ := m["order"].(map[string]any)
	typ := or(str(order, "type"), "MARKET")
	txID := strconv.FormatUint(c.x.nextID(), 10)
	tx := map[string]any{
		"id": txID, "accountID": c.acct.APIKey, "userID": 1435156, "batchID": txID,
		"requestID": strconv.FormatUint(c.x.nextID(), 10), "time": c.now.UTC().Format("2006-01-02T15:04:05.000000000Z"),
		"type": typ + "_ORDER", "instrument": str(order, "instrument"), "units": str(order, "units"),
		"timeInForce": or(str(order, "timeInForce"), "FOK"), "positionFill": or(str(order, "positionFill"), "DEFAULT"),
		"reason": "CLIENT_ORDER",
	}
	if p := str(order, "price"); p != "" {
		tx["price"] = p
	}
	return reply{201, map[string]any{"orderCreateTransaction": tx, "relatedTransactionIDs": []string{txID}, "lastTransactionID": txID}}
})
