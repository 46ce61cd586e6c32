package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// venue is a fake Binance Spot exchange: a handful of public and signed
// endpoints, an in-memory order book of resting orders that never fill, and
// a log of every signed request it accepted or refused.
type venue struct {
	apiKey string
	secret []byte
	now    func() time.Time
	log    *slog.Logger

	mu      sync.Mutex // guards orders, nextID and seen
	orders  map[int64]*order
	nextID  int64
	seen    []seenRequest
	symbols map[string]symbolInfo
}

type symbolInfo struct{ base, quote, price string }

type order struct {
	Symbol        string
	OrderID       int64
	ClientOrderID string
	Price         string
	OrigQty       string
	TimeInForce   string
	Type          string
	Side          string
	Time          int64
}

// seenRequest is what GET /fakevenue/requests reports: one signed request
// and the venue's verdict on it. It carries no secret (the venue's secret
// never leaves it; a signature is public once sent).
type seenRequest struct {
	Method   string `json:"method"`
	Path     string `json:"path"`
	Query    string `json:"query"`
	Body     string `json:"body"`
	APIKey   string `json:"api_key"`
	Verified bool   `json:"verified"`
	Status   int    `json:"status"`
	Code     int    `json:"code,omitempty"`
}

func newVenue(apiKey string, secret []byte, log *slog.Logger) *venue {
	return &venue{
		apiKey: apiKey, secret: secret, now: time.Now, log: log,
		orders: make(map[int64]*order), nextID: 1000,
		symbols: map[string]symbolInfo{"BTCUSDT": {"BTC", "USDT", "50000.00000000"}, "ETHUSDT": {"ETH", "USDT", "3000.00000000"}},
	}
}

// binanceError is Binance's error body.
type binanceError struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

// The errors Binance documents (Spot API "Error codes").
var (
	errBadAPIKeyFormat = binanceError{-2014, "API-key format invalid."}
	errRejectedAPIKey  = binanceError{-2015, "Invalid API-key, IP, or permissions for action."}
	errBadSignature    = binanceError{-1022, "Signature for this request is not valid."}
	errRecvWindow      = binanceError{-1021, "Timestamp for this request is outside of the recvWindow."}
	errUnknownOrder    = binanceError{-2011, "Unknown order sent."}
	errBadSymbol       = binanceError{-1121, "Invalid symbol."}
)

func mandatory(name string) binanceError {
	return binanceError{-1102, fmt.Sprintf("Mandatory parameter '%s' was not sent, was empty/null, or malformed.", name)}
}

func (v *venue) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v3/ping", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, struct{}{}) })
	mux.HandleFunc("GET /api/v3/time", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, map[string]int64{"serverTime": v.now().UnixMilli()})
	})
	mux.HandleFunc("GET /api/v3/exchangeInfo", v.exchangeInfo)
	mux.HandleFunc("GET /api/v3/ticker/price", v.tickerPrice)
	mux.HandleFunc("POST /api/v3/order", v.signed(v.newOrder))
	mux.HandleFunc("DELETE /api/v3/order", v.signed(v.cancelOrder))
	mux.HandleFunc("GET /api/v3/order", v.signed(v.getOrder))
	mux.HandleFunc("GET /api/v3/openOrders", v.signed(v.openOrders))
	mux.HandleFunc("GET /api/v3/account", v.signed(v.account))
	mux.HandleFunc("GET /fakevenue/requests", func(w http.ResponseWriter, _ *http.Request) {
		v.mu.Lock()
		defer v.mu.Unlock()
		writeJSON(w, 200, append([]seenRequest{}, v.seen...))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 404, binanceError{-1000, "fakevenue does not serve " + r.Method + " " + r.URL.Path})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// signed wraps a handler of a SIGNED endpoint: it checks the API key, the
// signature and the timestamp as Binance documents, and passes the decoded
// parameters on.
func (v *venue) signed(h func(params url.Values) (int, any)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeJSON(w, 400, binanceError{-1000, "cannot read the body"})
			return
		}
		rec := seenRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(body), APIKey: r.Header.Get("X-MBX-APIKEY")}
		status, reply := v.check(r, string(body))
		if status == 0 {
			rec.Verified = true
			params, perr := decodeParams(r.URL.RawQuery, string(body))
			if perr != nil {
				status, reply = 400, *perr
			} else {
				status, reply = h(params)
			}
		}
		rec.Status = status
		if e, ok := reply.(binanceError); ok {
			rec.Code = e.Code
		}
		v.mu.Lock()
		v.seen = append(v.seen, rec)
		v.mu.Unlock()
		v.log.Info("signed request", "method", r.Method, "path", r.URL.Path, "verified", rec.Verified, "status", status, "code", rec.Code)
		writeJSON(w, status, reply)
	}
}

// check returns 0 when the request is signed right, else the status and
// Binance error to answer with.
func (v *venue) check(r *http.Request, body string) (int, any) {
	key := r.Header.Get("X-MBX-APIKEY")
	if key == "" {
		return 401, errBadAPIKeyFormat
	}
	if !hmac.Equal([]byte(key), []byte(v.apiKey)) {
		return 401, errRejectedAPIKey
	}
	if body != "" {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return 400, binanceError{-1000, "a body must be application/x-www-form-urlencoded"}
		}
	}
	// totalParams is the query string concatenated with the body, with
	// the signature parameter taken out of whichever carries it.
	query, qsig := cutSignature(r.URL.RawQuery)
	form, bsig := cutSignature(body)
	sig := qsig
	if bsig != "" {
		if qsig != "" {
			return 400, binanceError{-1101, "Duplicate values for parameter 'signature'."}
		}
		sig = bsig
	}
	if sig == "" {
		return 400, mandatory("signature")
	}
	mac := hmac.New(sha256.New, v.secret)
	io.WriteString(mac, query+form)
	want := hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(strings.ToLower(sig)), []byte(want)) {
		return 401, errBadSignature
	}
	params, perr := decodeParams(r.URL.RawQuery, body)
	if perr != nil {
		return 400, *perr
	}
	ts, err := strconv.ParseInt(params.Get("timestamp"), 10, 64)
	if err != nil {
		return 400, mandatory("timestamp")
	}
	window := int64(5000)
	if rw := params.Get("recvWindow"); rw != "" {
		window, err = strconv.ParseInt(rw, 10, 64)
		if err != nil || window <= 0 || window > 60000 {
			return 400, binanceError{-1131, "recvWindow must be less than 60000"}
		}
	}
	now := v.now().UnixMilli()
	if ts < now-window || ts > now+1000 {
		return 400, errRecvWindow
	}
	return 0, nil
}

// cutSignature removes the signature parameter from params and returns
// the rest, exactly as sent, and the signature's value.
func cutSignature(params string) (rest, sig string) {
	if params == "" {
		return "", ""
	}
	parts := strings.Split(params, "&")
	kept := parts[:0]
	for _, p := range parts {
		if name, value, _ := strings.Cut(p, "="); name == "signature" {
			sig = value
			continue
		}
		kept = append(kept, p)
	}
	return strings.Join(kept, "&"), sig
}

// decodeParams decodes the query and the body into one set, refusing a
// parameter sent twice as Binance does.
func decodeParams(query, body string) (url.Values, *binanceError) {
	out := url.Values{}
	for _, s := range []string{query, body} {
		vals, err := url.ParseQuery(s)
		if err != nil {
			return nil, &binanceError{-1100, "Illegal characters found in a parameter."}
		}
		for k, vs := range vals {
			if len(vs) > 1 || out.Has(k) {
				return nil, &binanceError{-1101, fmt.Sprintf("Duplicate values for parameter '%s'.", k)}
			}
			out.Set(k, vs[0])
		}
	}
	out.Del("signature")
	return out, nil
}

func (v *venue) newOrder(p url.Values) (int, any) {
	for _, name := range []string{"symbol", "side", "type"} {
		if p.Get(name) == "" {
			return 400, mandatory(name)
		}
	}
	if _, ok := v.symbols[p.Get("symbol")]; !ok {
		return 400, errBadSymbol
	}
	if side := p.Get("side"); side != "BUY" && side != "SELL" {
		return 400, binanceError{-1117, "Invalid side."}
	}
	typ := p.Get("type")
	if typ != "LIMIT" && typ != "MARKET" {
		return 400, binanceError{-1116, "Invalid orderType."}
	}
	if p.Get("quantity") == "" {
		return 400, mandatory("quantity")
	}
	if typ == "LIMIT" {
		for _, name := range []string{"price", "timeInForce"} {
			if p.Get(name) == "" {
				return 400, mandatory(name)
			}
		}
	}
	v.mu.Lock()
	v.nextID++
	o := &order{
		Symbol: p.Get("symbol"), OrderID: v.nextID, ClientOrderID: p.Get("newClientOrderId"),
		Price: p.Get("price"), OrigQty: p.Get("quantity"), TimeInForce: p.Get("timeInForce"),
		Type: typ, Side: p.Get("side"), Time: v.now().UnixMilli(),
	}
	if o.ClientOrderID == "" {
		o.ClientOrderID = fmt.Sprintf("fakevenue-%d", o.OrderID)
	}
	if o.Price == "" {
		o.Price = "0.00000000"
	}
	v.orders[o.OrderID] = o
	v.mu.Unlock()
	res := o.json("NEW")
	res["transactTime"] = o.Time
	res["fills"] = []any{}
	return 200, res
}

func (o *order) json(status string) map[string]any {
	return map[string]any{
		"symbol": o.Symbol, "orderId": o.OrderID, "orderListId": -1, "clientOrderId": o.ClientOrderID,
		"price": o.Price, "origQty": o.OrigQty, "executedQty": "0.00000000", "cummulativeQuoteQty": "0.00000000",
		"status": status, "timeInForce": o.TimeInForce, "type": o.Type, "side": o.Side,
		"workingTime": o.Time, "selfTradePreventionMode": "EXPIRE_MAKER",
	}
}

// findLocked returns the order p names (orderId or origClientOrderId).
// v.mu must be held.
func (v *venue) findLocked(p url.Values) (*order, *binanceError) {
	if p.Get("symbol") == "" {
		e := mandatory("symbol")
		return nil, &e
	}
	if id := p.Get("orderId"); id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if o, ok := v.orders[n]; err == nil && ok && o.Symbol == p.Get("symbol") {
			return o, nil
		}
		return nil, &errUnknownOrder
	}
	if cid := p.Get("origClientOrderId"); cid != "" {
		for _, o := range v.orders {
			if o.ClientOrderID == cid && o.Symbol == p.Get("symbol") {
				return o, nil
			}
		}
		return nil, &errUnknownOrder
	}
	e := binanceError{-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"}
	return nil, &e
}

func (v *venue) cancelOrder(p url.Values) (int, any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	o, err := v.findLocked(p)
	if err != nil {
		return 400, *err
	}
	delete(v.orders, o.OrderID)
	res := o.json("CANCELED")
	res["origClientOrderId"] = o.ClientOrderID
	res["transactTime"] = v.now().UnixMilli()
	return 200, res
}

func (v *venue) getOrder(p url.Values) (int, any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	o, err := v.findLocked(p)
	if err != nil {
		return 400, *err
	}
	res := o.json("NEW")
	res["time"], res["updateTime"], res["isWorking"] = o.Time, o.Time, true
	return 200, res
}

func (v *venue) openOrders(p url.Values) (int, any) {
	sym := p.Get("symbol")
	if _, ok := v.symbols[sym]; sym != "" && !ok {
		return 400, errBadSymbol
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	out := []map[string]any{}
	for _, o := range v.orders {
		if sym == "" || o.Symbol == sym {
			res := o.json("NEW")
			res["time"], res["updateTime"], res["isWorking"] = o.Time, o.Time, true
			out = append(out, res)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["orderId"].(int64) < out[j]["orderId"].(int64) })
	return 200, out
}

func (v *venue) account(url.Values) (int, any) {
	return 200, map[string]any{
		"makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
		"commissionRates": map[string]string{"maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000", "seller": "0.00000000"},
		"canTrade":        true, "canWithdraw": false, "canDeposit": false, "brokered": false,
		"requireSelfTradePrevention": false, "preventSor": false,
		"updateTime": v.now().UnixMilli(), "accountType": "SPOT",
		"balances": []map[string]string{
			{"asset": "BTC", "free": "1.00000000", "locked": "0.00000000"},
			{"asset": "ETH", "free": "10.00000000", "locked": "0.00000000"},
			{"asset": "USDT", "free": "10000.00000000", "locked": "0.00000000"},
		},
		"permissions": []string{"SPOT"}, "uid": 1,
	}
}

// tickerPrice answers a fixed last price, so a bot can place a limit order
// away from it.
func (v *venue) tickerPrice(w http.ResponseWriter, r *http.Request) {
	s, ok := v.symbols[r.URL.Query().Get("symbol")]
	if !ok {
		writeJSON(w, 400, errBadSymbol)
		return
	}
	writeJSON(w, 200, map[string]string{"symbol": r.URL.Query().Get("symbol"), "price": s.price})
}

func (v *venue) exchangeInfo(w http.ResponseWriter, _ *http.Request) {
	syms := []map[string]any{}
	names := make([]string, 0, len(v.symbols))
	for n := range v.symbols {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := v.symbols[n]
		syms = append(syms, map[string]any{
			"symbol": n, "status": "TRADING", "baseAsset": s.base, "baseAssetPrecision": 8,
			"quoteAsset": s.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
			"baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
			"orderTypes":     []string{"LIMIT", "LIMIT_MAKER", "MARKET"},
			"icebergAllowed": true, "ocoAllowed": true, "otoAllowed": true,
			"quoteOrderQtyMarketAllowed": true, "allowTrailingStop": true, "cancelReplaceAllowed": true,
			"isSpotTradingAllowed": true, "isMarginTradingAllowed": false,
			"filters": []map[string]any{
				{"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
				{"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
				{"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": true, "maxNotional": "9000000.00000000", "applyMaxToMarket": false, "avgPriceMins": 5},
			},
			"permissions": []string{}, "permissionSets": [][]string{{"SPOT"}},
			"defaultSelfTradePreventionMode":  "EXPIRE_MAKER",
			"allowedSelfTradePreventionModes": []string{"EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"},
		})
	}
	writeJSON(w, 200, map[string]any{
		"timezone": "UTC", "serverTime": v.now().UnixMilli(),
		"rateLimits": []any{}, "exchangeFilters": []any{}, "symbols": syms,
	})
}
