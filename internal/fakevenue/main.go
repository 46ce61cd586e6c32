// Command fakevenue is a local fake of a few Binance Spot REST endpoints for
// keyward's client tests: it serves them over TLS on the loopback address
// with a self-signed certificate it writes to a file, and verifies every
// signed request exactly as Binance documents (HMAC-SHA256 of the query
// string followed by the body, hex, in the signature parameter; the API key
// in X-MBX-APIKEY; the timestamp within recvWindow), answering a bad one with
// Binance's own error JSON.
//
// It is written independently of agent/scheme, with crypto/hmac, so that it
// checks the agent's signatures rather than repeating them; it must never
// import keyward's packages. It is a test tool: it listens on loopback only
// and never logs the secret it verifies with.
//
// Usage:
//
//	fakevenue -cert /tmp/venue.pem -api-key KEY -secret-file FILE [-addr 127.0.0.1:0]
//
// Once it serves, it prints one JSON line on stdout,
// {"url":"https://127.0.0.1:PORT","cert":"/tmp/venue.pem"}, and serves until
// SIGINT or SIGTERM. Public: /api/v3/ping, time, exchangeInfo and
// ticker/price; signed: POST, DELETE and GET /api/v3/order, GET openOrders and
// account. GET /fakevenue/requests lists the signed requests it
// has seen and its verdict on each.
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fakevenue:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on")
	certFile := flag.String("cert", "", "write the self-signed certificate (PEM) here; clients trust it (required)")
	apiKey := flag.String("api-key", "", "the API key the venue accepts in X-MBX-APIKEY (required)")
	secretFile := flag.String("secret-file", "", "file holding the HMAC secret the venue verifies with (required)")
	flag.Parse()
	if *certFile == "" || *apiKey == "" || *secretFile == "" {
		flag.Usage()
		return errors.New("-cert, -api-key and -secret-file are required")
	}
	secret, err := os.ReadFile(*secretFile)
	if err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	secret = bytes.TrimRight(secret, "\r\n")
	if len(secret) == 0 {
		return fmt.Errorf("secret file %s is empty", *secretFile)
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-addr %s: fakevenue listens on a loopback address only", *addr)
	}
	cert, err := selfSigned(*certFile)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	v := newVenue(*apiKey, secret, log)
	srv := &http.Server{
		Handler:           v.routes(),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ready, _ := json.Marshal(map[string]string{"url": "https://" + ln.Addr().String(), "cert": *certFile})
	fmt.Println(string(ready))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return srv.Shutdown(shut)
	}
}

// selfSigned makes a P-256 certificate for 127.0.0.1, ::1 and localhost,
// valid for a day, and writes it (not its key) to path.
func selfSigned(path string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "keyward fakevenue"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(path, pemCert, 0o644); err != nil {
		return tls.Certificate{}, fmt.Errorf("write certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
