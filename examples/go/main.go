// Command go is a small Binance Spot bot that never holds its API secret:
// its http.Client's Transport is keyward's client.Transport, so every
// request is signed by the keyward agent. It reads the price, places a limit
// BUY well below it (so it rests), lists open orders and cancels the order,
// on Binance Spot's testnet by default.
//
//	KEYWARD_CREDENTIAL=binance-testnet go run ./examples/go
//
// Environment: KEYWARD_SOCK, KEYWARD_CREDENTIAL (default binance-testnet),
// KEYWARD_EXAMPLE_BASE_URL (default https://testnet.binance.vision),
// KEYWARD_EXAMPLE_SYMBOL (default BTCUSDT), KEYWARD_EXAMPLE_CAFILE (an extra
// CA certificate to trust, for the tests' fake venue).
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/client"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bot:", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run() error {
	base := strings.TrimRight(env("KEYWARD_EXAMPLE_BASE_URL", "https://testnet.binance.vision"), "/")
	credential := env("KEYWARD_CREDENTIAL", "binance-testnet")
	symbol := env("KEYWARD_EXAMPLE_SYMBOL", "BTCUSDT")

	network := http.DefaultTransport.(*http.Transport).Clone()
	if ca := os.Getenv("KEYWARD_EXAMPLE_CAFILE"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return err
		}
		pool, _ := x509.SystemCertPool()
		if pool == nil {
			pool = x509.NewCertPool()
		}
		pool.AppendCertsFromPEM(pem)
		network.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	public := &http.Client{Transport: network, Timeout: 15 * time.Second}

	kw, err := client.Dial("") // $KEYWARD_SOCK or the default socket
	if err != nil {
		return err
	}
	defer kw.Close()
	// The one change a Go bot makes: its private client signs through keyward.
	private := &http.Client{Transport: &client.Transport{Agent: kw, Credential: credential, Base: network}, Timeout: 15 * time.Second}

	var ticker struct{ Price string }
	if err := call(public, "GET", base+"/api/v3/ticker/price?symbol="+symbol, nil, &ticker); err != nil {
		return err
	}
	last, err := strconv.ParseFloat(ticker.Price, 64)
	if err != nil {
		return fmt.Errorf("ticker price %q: %w", ticker.Price, err)
	}
	// Well below the market, so the order rests; 0.001 BTC is above
	// Binance's minimum notional at any recent price.
	price := strconv.FormatFloat(float64(int64(last*0.8)), 'f', 2, 64)
	qty := "0.00100"
	fmt.Printf("%s last price %s; placing a limit BUY of %s at %s\n", symbol, ticker.Price, qty, price)

	form := url.Values{"symbol": {symbol}, "side": {"BUY"}, "type": {"LIMIT"}, "timeInForce": {"GTC"}, "quantity": {qty}, "price": {price}}
	var order struct {
		OrderID int64  `json:"orderId"`
		Status  string `json:"status"`
	}
	if err := call(private, "POST", base+"/api/v3/order", strings.NewReader(form.Encode()), &order); err != nil {
		return err
	}
	fmt.Printf("placed order %d: %s\n", order.OrderID, order.Status)

	var open []struct {
		OrderID int64 `json:"orderId"`
	}
	if err := call(private, "GET", base+"/api/v3/openOrders?symbol="+symbol, nil, &open); err != nil {
		return err
	}
	ids := make([]string, len(open))
	for i, o := range open {
		ids[i] = strconv.FormatInt(o.OrderID, 10)
	}
	fmt.Printf("open orders on %s: %s\n", symbol, strings.Join(ids, ", "))

	var cancelled struct {
		OrderID int64  `json:"orderId"`
		Status  string `json:"status"`
	}
	q := url.Values{"symbol": {symbol}, "orderId": {strconv.FormatInt(order.OrderID, 10)}}
	if err := call(private, "DELETE", base+"/api/v3/order?"+q.Encode(), nil, &cancelled); err != nil {
		return err
	}
	fmt.Printf("cancelled order %d: %s\n", cancelled.OrderID, cancelled.Status)
	return nil
}

func call(c *http.Client, method, u string, body io.Reader, out any) error {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if client.IsLocked(err) {
		return fmt.Errorf("%w (the owner runs `keyward unlock`)", err)
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, req.URL.Path, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}
