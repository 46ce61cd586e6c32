package scheme

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// This file holds the venues' public time endpoints (the Clock interface):
// the agent reads a venue's clock and corrects the timestamps it signs
// with by the offset. A time request is public and unsigned; a host that
// serves no time endpoint (a WebSocket host, Kraken Futures) reports false.
//
// ParseTime's errors are plain: a bad answer is the venue's fault or the
// network's, never the bot's.

// timeRequest is the GET request for path on host, or false when host is
// not a bare host name.
func timeRequest(host, path string) (Request, bool) {
	if !plainHost(host) {
		return Request{}, false
	}
	return Request{Method: "GET", URL: "https://" + strings.ToLower(host) + path}, true
}

// plainHost reports whether host is a host name alone: no scheme, port,
// path or user info.
func plainHost(host string) bool {
	if host == "" || len(host) > 253 {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Times before this are not a venue's clock: a unit mistake (seconds read
// as milliseconds) or garbage.
var (
	clockMin = time.Date(2001, 9, 9, 0, 0, 0, 0, time.UTC)
	clockMax = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// plausible checks t is a venue's clock, not a unit mistake.
func plausible(venue string, t time.Time) (time.Time, error) {
	if t.Before(clockMin) || t.After(clockMax) {
		return time.Time{}, fmt.Errorf("%s: the venue's time %d ms is not a plausible clock", venue, t.UnixMilli())
	}
	return t.UTC(), nil
}

// jsonInt reads an integer that a venue writes as a JSON number or as a
// string of digits ("1688639403423").
func jsonInt(raw json.RawMessage) (int64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		raw = []byte(s)
	}
	if len(raw) == 0 || len(raw) > 20 {
		return 0, errors.New("not an integer")
	}
	return strconv.ParseInt(string(raw), 10, 64)
}

// jsonFloat reads a number (or a numeric string) such as 1589270451.504.
func jsonFloat(raw json.RawMessage) (float64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		raw = []byte(s)
	}
	if len(raw) == 0 || len(raw) > 32 {
		return 0, errors.New("not a number")
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errors.New("not a number")
	}
	return f, nil
}

// timeMillis reads raw, a venue's integer time (a number or a string of
// digits) counted in unit since the Unix epoch.
func timeMillis(venue string, raw json.RawMessage, unit time.Duration) (time.Time, error) {
	if len(raw) == 0 {
		return time.Time{}, fmt.Errorf("%s: the time answer has no time", venue)
	}
	n, err := jsonInt(raw)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: the time answer's time is not an integer", venue)
	}
	if n <= 0 || n > math.MaxInt64/int64(unit) {
		return time.Time{}, fmt.Errorf("%s: the time answer's time %d is out of range", venue, n)
	}
	return plausible(venue, time.Unix(0, n*int64(unit)))
}

// decodeTime unmarshals a time answer, with a message that names the venue.
func decodeTime(venue string, body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: the time answer is not the JSON the venue documents: %w", venue, err)
	}
	return nil
}

// Binance: GET /api/v3/time on the Spot hosts
// (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/general-endpoints#check-server-time),
// /fapi/v1/time on USDⓈ-M futures hosts
// (https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Check-Server-Time),
// /dapi/v1/time on COIN-M ones
// (https://developers.binance.com/docs/derivatives/coin-margined-futures/market-data/rest-api/Check-Server-time);
// each answers {"serverTime": ms}.
func (binance) TimeRequest(host string) (Request, bool) {
	switch strings.ToLower(host) {
	case "fapi.binance.com", "demo-fapi.binance.com", "testnet.binancefuture.com":
		return timeRequest(host, "/fapi/v1/time")
	case "dapi.binance.com", "demo-dapi.binance.com":
		return timeRequest(host, "/dapi/v1/time")
	}
	return timeRequest(host, "/api/v3/time")
}

func (binance) ParseTime(_ string, body []byte) (time.Time, error) {
	var v struct {
		ServerTime json.RawMessage `json:"serverTime"`
	}
	if err := decodeTime("binance", body, &v); err != nil {
		return time.Time{}, err
	}
	return timeMillis("binance", v.ServerTime, time.Millisecond)
}

// Bybit: GET /v5/market/time (https://bybit-exchange.github.io/docs/v5/market/time):
// {"retCode":0,"result":{"timeSecond":"…","timeNano":"…"},"time":ms}. The
// most precise field present is used: timeNano, then time, then timeSecond.
// The stream hosts serve WebSockets only.
func (bybit) TimeRequest(host string) (Request, bool) {
	if strings.HasPrefix(strings.ToLower(host), "stream") {
		return Request{}, false
	}
	return timeRequest(host, "/v5/market/time")
}

func (bybit) ParseTime(_ string, body []byte) (time.Time, error) {
	var v struct {
		RetCode json.RawMessage `json:"retCode"`
		RetMsg  string          `json:"retMsg"`
		Result  struct {
			TimeSecond json.RawMessage `json:"timeSecond"`
			TimeNano   json.RawMessage `json:"timeNano"`
		} `json:"result"`
		Time json.RawMessage `json:"time"`
	}
	if err := decodeTime("bybit", body, &v); err != nil {
		return time.Time{}, err
	}
	if code, err := jsonInt(v.RetCode); err != nil || code != 0 {
		return time.Time{}, fmt.Errorf("bybit: the time answer is an error: retCode %s %s", truncate(string(v.RetCode), 16), venueWords(v.RetMsg))
	}
	switch {
	case len(v.Result.TimeNano) > 0:
		return timeMillis("bybit", v.Result.TimeNano, time.Nanosecond)
	case len(v.Time) > 0:
		return timeMillis("bybit", v.Time, time.Millisecond)
	}
	return timeMillis("bybit", v.Result.TimeSecond, time.Second)
}

// OKX: GET /api/v5/public/time
// (https://www.okx.com/docs-v5/en/#public-data-rest-api-get-system-time):
// {"code":"0","data":[{"ts":"…ms"}]}. The ws… hosts serve WebSockets only.
func (okx) TimeRequest(host string) (Request, bool) {
	if strings.HasPrefix(strings.ToLower(host), "ws") {
		return Request{}, false
	}
	return timeRequest(host, "/api/v5/public/time")
}

func (okx) ParseTime(_ string, body []byte) (time.Time, error) {
	var v struct {
		Code string `json:"code"`
		Msg  string `json:"msg"`
		Data []struct {
			TS json.RawMessage `json:"ts"`
		} `json:"data"`
	}
	if err := decodeTime("okx", body, &v); err != nil {
		return time.Time{}, err
	}
	if v.Code != "0" {
		return time.Time{}, fmt.Errorf("okx: the time answer is an error: code %q %s", truncate(v.Code, 16), venueWords(v.Msg))
	}
	if len(v.Data) == 0 {
		return time.Time{}, errors.New("okx: the time answer has no data")
	}
	return timeMillis("okx", v.Data[0].TS, time.Millisecond)
}

// Coinbase: Advanced Trade's GET /api/v3/brokerage/time
// (https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/public/get-server-time):
// {"iso":…,"epochSeconds":"…","epochMillis":"…"}; Coinbase Exchange's
// GET /time (https://docs.cdp.coinbase.com/exchange/reference/exchangerestapi_gettime):
// {"iso":…,"epoch":1589270451.504}, seconds with a fraction. The Advanced
// Trade sandbox serves only accounts and orders, so it has no clock.
func (coinbase) TimeRequest(host string) (Request, bool) {
	switch strings.ToLower(host) {
	case coinbaseAdvancedSbox:
		return Request{}, false
	case coinbaseExchangeHost, coinbaseExchangeSbox:
		return timeRequest(host, "/time")
	}
	return timeRequest(host, "/api/v3/brokerage/time")
}

// ParseTime reads either answer, whichever fields it holds.
func (coinbase) ParseTime(_ string, body []byte) (time.Time, error) {
	var v struct {
		EpochMillis  json.RawMessage `json:"epochMillis"`
		EpochSeconds json.RawMessage `json:"epochSeconds"`
		Epoch        json.RawMessage `json:"epoch"`
	}
	if err := decodeTime("coinbase", body, &v); err != nil {
		return time.Time{}, err
	}
	switch {
	case len(v.EpochMillis) > 0:
		return timeMillis("coinbase", v.EpochMillis, time.Millisecond)
	case len(v.Epoch) > 0:
		f, err := jsonFloat(v.Epoch)
		if err != nil || f <= 0 || f > float64(clockMax.Unix()) {
			return time.Time{}, errors.New("coinbase: the time answer's epoch is not a number of seconds")
		}
		sec, frac := math.Modf(f)
		return plausible("coinbase", time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)))
	}
	return timeMillis("coinbase", v.EpochSeconds, time.Second)
}

// Kraken: Spot's GET /0/public/Time
// (https://docs.kraken.com/api/docs/rest-api/get-server-time):
// {"error":[],"result":{"unixtime":s,"rfc1123":…}}, whole seconds. Kraken
// Futures publishes no time endpoint.
func (kraken) TimeRequest(host string) (Request, bool) {
	switch strings.ToLower(host) {
	case krakenFuturesHost, krakenFuturesDemo:
		return Request{}, false
	}
	return timeRequest(host, "/0/public/Time")
}

func (kraken) ParseTime(_ string, body []byte) (time.Time, error) {
	var v struct {
		Error  []string `json:"error"`
		Result struct {
			Unixtime json.RawMessage `json:"unixtime"`
		} `json:"result"`
	}
	if err := decodeTime("kraken", body, &v); err != nil {
		return time.Time{}, err
	}
	if len(v.Error) > 0 {
		return time.Time{}, fmt.Errorf("kraken: the time answer is an error: %s", venueWords(strings.Join(v.Error, "; ")))
	}
	return timeMillis("kraken", v.Result.Unixtime, time.Second)
}

// KuCoin: GET /api/v1/timestamp on the spot and futures hosts
// (https://www.kucoin.com/docs-new/rest/spot-trading/market-data/get-server-time,
// https://www.kucoin.com/docs-new/rest/futures-trading/market-data/get-server-time):
// {"code":"200000","data":ms}. The broker host serves broker endpoints
// only.
func (kucoin) TimeRequest(host string) (Request, bool) {
	if strings.EqualFold(host, "api-broker.kucoin.com") {
		return Request{}, false
	}
	return timeRequest(host, "/api/v1/timestamp")
}

func (kucoin) ParseTime(_ string, body []byte) (time.Time, error) {
	var v struct {
		Code string          `json:"code"`
		Msg  string          `json:"msg"`
		Data json.RawMessage `json:"data"`
	}
	if err := decodeTime("kucoin", body, &v); err != nil {
		return time.Time{}, err
	}
	if v.Code != "200000" {
		return time.Time{}, fmt.Errorf("kucoin: the time answer is an error: code %q %s", truncate(v.Code, 16), venueWords(v.Msg))
	}
	return timeMillis("kucoin", v.Data, time.Millisecond)
}

// Gate: GET /api/v4/spot/time
// (https://www.gate.com/docs/developers/apiv4/en/#get-server-current-time):
// {"server_time": ms}. Every Gate host serves the whole APIv4.
func (gate) TimeRequest(host string) (Request, bool) {
	return timeRequest(host, "/api/v4/spot/time")
}

func (gate) ParseTime(_ string, body []byte) (time.Time, error) {
	var v struct {
		ServerTime json.RawMessage `json:"server_time"`
	}
	if err := decodeTime("gate", body, &v); err != nil {
		return time.Time{}, err
	}
	return timeMillis("gate", v.ServerTime, time.Millisecond)
}

// Bitget: GET /api/v2/public/time
// (https://www.bitget.com/api-doc/common/public/Get-Server-Time):
// {"code":"00000","data":{"serverTime":"…ms"}}.
func (bitget) TimeRequest(host string) (Request, bool) {
	return timeRequest(host, "/api/v2/public/time")
}

func (bitget) ParseTime(_ string, body []byte) (time.Time, error) {
	var v struct {
		Code string `json:"code"`
		Msg  string `json:"msg"`
		Data struct {
			ServerTime json.RawMessage `json:"serverTime"`
		} `json:"data"`
	}
	if err := decodeTime("bitget", body, &v); err != nil {
		return time.Time{}, err
	}
	if v.Code != "00000" {
		return time.Time{}, fmt.Errorf("bitget: the time answer is an error: code %q %s", truncate(v.Code, 16), venueWords(v.Msg))
	}
	return timeMillis("bitget", v.Data.ServerTime, time.Millisecond)
}

// Deribit: GET /api/v2/public/get_time (https://docs.deribit.com/#public-get_time):
// {"jsonrpc":"2.0","result":ms}.
func (deribit) TimeRequest(host string) (Request, bool) {
	return timeRequest(host, "/api/v2/public/get_time")
}

func (deribit) ParseTime(_ string, body []byte) (time.Time, error) {
	var v struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    json.RawMessage `json:"code"`
			Message string          `json:"message"`
		} `json:"error"`
	}
	if err := decodeTime("deribit", body, &v); err != nil {
		return time.Time{}, err
	}
	if v.Error != nil {
		return time.Time{}, fmt.Errorf("deribit: the time answer is an error: code %s %s", truncate(string(v.Error.Code), 16), venueWords(v.Error.Message))
	}
	return timeMillis("deribit", v.Result, time.Millisecond)
}

// venueWords makes a venue's message safe to quote: printable ASCII and
// UTF-8 text, control bytes as '?', at most 200 bytes.
func venueWords(s string) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 200 {
			b.WriteString("…")
			break
		}
		if r < ' ' || r == 0x7f || r == 0xfffd {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}
