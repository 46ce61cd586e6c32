package policy

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
)

// Order is one order a request places or amends, as far as the policy
// needs it. Nil values are absent from the request.
type Order struct {
	Symbol   string
	Quantity *big.Rat // in the base asset or contracts, as the venue counts
	Price    *big.Rat
	Quote    *big.Rat // an order sized in the quote asset (market buys)
}

// orderFields names where a venue's order endpoints carry symbol,
// quantity, price and quote size.
type orderFields struct {
	endpoints               []string // "METHOD /path" patterns
	parsed                  []Endpoint
	symbol, qty, price, quo string
	list                    string // a parameter holding a JSON list of orders (batch endpoints)
	listBody                bool   // the JSON body is itself a list, or holds one under list
}

var orderSpecs = map[string][]orderFields{
	"binance": {
		{endpoints: []string{"POST /api/v3/order", "POST /api/v3/order/test", "POST /api/v3/sor/order", "POST /api/v3/sor/order/test",
			"POST /api/v3/order/cancelReplace", "POST /api/v3/orderList/**", "POST /fapi/v1/order", "PUT /fapi/v1/order", "POST /dapi/v1/order", "PUT /dapi/v1/order"},
			symbol: "symbol", qty: "quantity", price: "price", quo: "quoteOrderQty"},
		{endpoints: []string{"POST /fapi/v1/batchOrders", "PUT /fapi/v1/batchOrders", "POST /dapi/v1/batchOrders"},
			list: "batchOrders", symbol: "symbol", qty: "quantity", price: "price"},
	},
	"binance-ws": {
		{endpoints: []string{"WS /**"}, symbol: "symbol", qty: "quantity", price: "price", quo: "quoteOrderQty"},
	},
	"bybit": {
		{endpoints: []string{"POST /v5/order/create", "POST /v5/order/amend"}, symbol: "symbol", qty: "qty", price: "price"},
		{endpoints: []string{"POST /v5/order/create-batch", "POST /v5/order/amend-batch"}, list: "request", listBody: true, symbol: "symbol", qty: "qty", price: "price"},
	},
	"okx": {
		{endpoints: []string{"POST /api/v5/trade/order"}, symbol: "instId", qty: "sz", price: "px"},
		{endpoints: []string{"POST /api/v5/trade/amend-order"}, symbol: "instId", qty: "newSz", price: "newPx"},
		{endpoints: []string{"POST /api/v5/trade/batch-orders"}, listBody: true, symbol: "instId", qty: "sz", price: "px"},
	},
	"coinbase": {
		{endpoints: []string{"POST /api/v3/brokerage/orders"}, symbol: "product_id", qty: "base_size", price: "limit_price", quo: "quote_size"},
		{endpoints: []string{"POST /orders"}, symbol: "product_id", qty: "size", price: "price", quo: "funds"},
	},
	"kraken": {
		{endpoints: []string{"POST /0/private/AddOrder", "POST /0/private/EditOrder"}, symbol: "pair", qty: "volume", price: "price"},
		{endpoints: []string{"POST /derivatives/api/v3/sendorder", "POST /derivatives/api/v3/editorder"}, symbol: "symbol", qty: "size", price: "limitPrice"},
	},
	"kucoin": {
		{endpoints: []string{"POST /api/v1/orders", "POST /api/v1/hf/orders", "POST /api/v1/margin/order", "POST /api/v1/hf/margin/order", "POST /api/v1/orders/test"},
			symbol: "symbol", qty: "size", price: "price", quo: "funds"},
	},
	"gate": {
		{endpoints: []string{"POST /api/v4/spot/orders"}, symbol: "currency_pair", qty: "amount", price: "price"},
		{endpoints: []string{"POST /api/v4/futures/*/orders", "POST /api/v4/delivery/*/orders"}, symbol: "contract", qty: "size", price: "price"},
		{endpoints: []string{"POST /api/v4/spot/batch_orders"}, listBody: true, symbol: "currency_pair", qty: "amount", price: "price"},
	},
	"bitget": {
		{endpoints: []string{"POST /api/v2/spot/trade/place-order", "POST /api/v2/mix/order/place-order"}, symbol: "symbol", qty: "size", price: "price"},
	},
	"bitfinex": {
		{endpoints: []string{"POST /v2/auth/w/order/submit", "POST /v2/auth/w/order/update"}, symbol: "symbol", qty: "amount", price: "price"},
	},
	"deribit": {
		{endpoints: []string{"GET /api/v2/private/buy", "GET /api/v2/private/sell", "GET /api/v2/private/edit",
			"POST /api/v2/private/buy", "POST /api/v2/private/sell", "POST /api/v2/private/edit"},
			symbol: "instrument_name", qty: "amount", price: "price"},
	},
}

func init() {
	for _, specs := range orderSpecs {
		for i := range specs {
			for _, e := range specs[i].endpoints {
				ep, err := ParseEndpoint(e)
				if err != nil {
					panic("policy: bad order endpoint " + e)
				}
				specs[i].parsed = append(specs[i].parsed, ep)
			}
		}
	}
}

// ordersOf extracts the orders a request places, or ok=false when the
// request is not to an order endpoint the policy knows.
func ordersOf(scheme, method string, p *parsedRequest, body string) (orders []Order, ok bool, err error) {
	if scheme == "hyperliquid" {
		return hyperliquidOrders(body)
	}
	if scheme == "binance-ws" && !binanceWSOrderMethod(body) {
		return nil, false, nil
	}
	for _, spec := range orderSpecs[scheme] {
		hit := false
		for _, ep := range spec.parsed {
			hit = hit || ep.Match(method, p.path)
		}
		if !hit {
			continue
		}
		p.params()
		var items []map[string]any
		switch {
		case spec.listBody && spec.list == "":
			for _, it := range p.jsonList {
				if m, ok := it.(map[string]any); ok {
					items = append(items, m)
				}
			}
		case spec.listBody:
			if l, ok := p.json[spec.list].([]any); ok {
				for _, it := range l {
					if m, ok := it.(map[string]any); ok {
						items = append(items, m)
					}
				}
			}
		case spec.list != "":
			raw, _ := p.get(spec.list)
			d := json.NewDecoder(strings.NewReader(raw))
			d.UseNumber()
			if d.Decode(&items) != nil {
				return nil, true, fmt.Errorf("%s is not a JSON list of orders", spec.list)
			}
		default:
			for _, name := range []string{spec.symbol, spec.qty, spec.price, spec.quo} {
				if name != "" && len(p.query[name])+len(p.form[name]) > 1 {
					// quantity=1&quantity=1000: the limits would read the
					// first, a venue may act on the last.
					return nil, true, fmt.Errorf("%s appears more than once: the agent cannot tell which one the venue reads", name)
				}
			}
			o, err := orderFrom(spec, p.get, p.json)
			return []Order{o}, true, err
		}
		for _, it := range items {
			m := it
			o, err := orderFrom(spec, func(k string) (string, bool) { return scalar(m[k]) }, m)
			if err != nil {
				return nil, true, err
			}
			orders = append(orders, o)
		}
		return orders, true, nil
	}
	return nil, false, nil
}

// orderFrom reads one order; nested is searched too (Coinbase's
// order_configuration holds the sizes one level down).
func orderFrom(spec orderFields, get func(string) (string, bool), obj map[string]any) (Order, error) {
	var o Order
	o.Symbol, _ = get(spec.symbol)
	find := func(name string) (string, bool) {
		if v, ok := get(name); ok {
			return v, true
		}
		return nested(obj, name, 3)
	}
	var err error
	if o.Quantity, err = decimalField(find, spec.qty); err != nil {
		return o, err
	}
	if o.Price, err = decimalField(find, spec.price); err != nil {
		return o, err
	}
	if spec.quo != "" {
		if o.Quote, err = decimalField(find, spec.quo); err != nil {
			return o, err
		}
	}
	return o, nil
}

func nested(obj map[string]any, name string, depth int) (string, bool) {
	if depth == 0 {
		return "", false
	}
	for _, v := range obj {
		if m, ok := v.(map[string]any); ok {
			if s, ok := scalar(m[name]); ok {
				return s, true
			}
			if s, ok := nested(m, name, depth-1); ok {
				return s, true
			}
		}
	}
	return "", false
}

func decimalField(get func(string) (string, bool), name string) (*big.Rat, error) {
	if name == "" {
		return nil, nil
	}
	s, ok := get(name)
	if !ok || s == "" {
		return nil, nil
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || strings.ContainsAny(s, "/") {
		return nil, fmt.Errorf("%s %q is not a decimal number", name, s)
	}
	return r.Abs(r), nil
}

// hyperliquidOrders reads an /exchange body's order or modify action.
func hyperliquidOrders(body string) ([]Order, bool, error) {
	var b struct {
		Action struct {
			Type     string            `json:"type"`
			Orders   []json.RawMessage `json:"orders"`
			Order    json.RawMessage   `json:"order"`
			Modifies []struct {
				Order json.RawMessage `json:"order"`
			} `json:"modifies"`
		} `json:"action"`
	}
	if json.Unmarshal([]byte(body), &b) != nil {
		return nil, false, nil
	}
	var raws []json.RawMessage
	switch b.Action.Type {
	case "order":
		raws = b.Action.Orders
	case "modify":
		raws = []json.RawMessage{b.Action.Order}
	case "batchModify":
		for _, m := range b.Action.Modifies {
			raws = append(raws, m.Order)
		}
	case "twapOrder":
		var t struct {
			Action struct {
				Twap struct {
					A json.Number `json:"a"`
					S string      `json:"s"`
				} `json:"twap"`
			} `json:"action"`
		}
		if json.Unmarshal([]byte(body), &t) != nil {
			return nil, true, fmt.Errorf("twapOrder action does not parse")
		}
		q, ok := new(big.Rat).SetString(t.Action.Twap.S)
		if !ok {
			return nil, true, fmt.Errorf("twap size %q is not a decimal", t.Action.Twap.S)
		}
		return []Order{{Symbol: t.Action.Twap.A.String(), Quantity: q.Abs(q)}}, true, nil
	default:
		return nil, false, nil
	}
	var out []Order
	for _, r := range raws {
		var o struct {
			A json.Number `json:"a"`
			P string      `json:"p"`
			S string      `json:"s"`
		}
		if json.Unmarshal(r, &o) != nil {
			return nil, true, fmt.Errorf("an order in the action does not parse")
		}
		q, ok1 := new(big.Rat).SetString(o.S)
		p, ok2 := new(big.Rat).SetString(o.P)
		if !ok1 || !ok2 {
			return nil, true, fmt.Errorf("order size %q or price %q is not a decimal", o.S, o.P)
		}
		out = append(out, Order{Symbol: o.A.String(), Quantity: q.Abs(q), Price: p.Abs(p)})
	}
	return out, true, nil
}

// binanceWSOrderMethod reports whether a Binance WebSocket API request
// places or amends orders.
func binanceWSOrderMethod(body string) bool {
	var b struct {
		Method string `json:"method"`
	}
	if json.Unmarshal([]byte(body), &b) != nil {
		return false
	}
	switch b.Method {
	case "order.place", "order.test", "order.cancelReplace", "order.amend.keepPriority",
		"sor.order.place", "sor.order.test", "orderList.place", "orderList.place.oco", "orderList.place.oto", "orderList.place.otoco":
		return true
	}
	return false
}
