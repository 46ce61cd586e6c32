package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/protocol"
)

// forwardCommand has the agent send a request with a credential and
// prints the venue's answer: the status line, the headers and the body,
// like `curl -i`; with --json, the reply as the protocol carries it.
func forwardCommand() *command {
	var (
		body, bodyFile string
		headers        multiFlag
		timeout        time.Duration
		fail           bool
	)
	h := map[string]string{}
	return &command{
		needsAgent: true, name: "forward",
		args:  "NAME METHOD URL [--body BODY | --body-file FILE] [--header 'Name: value'] [--timeout 30s] [--fail]",
		nargs: 3,
		setup: func(fs *flag.FlagSet) {
			fs.StringVar(&body, "body", "", "request body, exactly as it will be sent")
			fs.StringVar(&bodyFile, "body-file", "", "read the request body from FILE (- for stdin)")
			fs.Var(&headers, "header", "a request header 'Name: value' (repeatable)")
			fs.DurationVar(&timeout, "timeout", 0, "the longest the venue may take to answer (default 30s, at most 2m)")
			fs.BoolVar(&fail, "fail", false, "exit 1 when the venue answers with a status of 400 or more")
		},
		check: func([]string) error {
			if body != "" && bodyFile != "" {
				return usageError("give the body with --body or --body-file, not both")
			}
			if timeout < 0 {
				return usageError("--timeout %s is negative", timeout)
			}
			return parseHeaders(headers, h)
		},
		run: func(ctx context.Context, u *ui, c *client.Client, args []string) error {
			if bodyFile != "" {
				b, err := readBodyFile(bodyFile)
				if err != nil {
					return err
				}
				body = b
			}
			res, err := c.Forward(ctx, protocol.ForwardArgs{
				Credential:  args[0],
				HTTPRequest: protocol.HTTPRequest{Method: args[1], URL: args[2], Headers: h, Body: body},
				TimeoutMS:   timeout.Milliseconds(),
			})
			if err != nil {
				return err
			}
			if u.json {
				if err := u.printJSON(res); err != nil {
					return err
				}
			} else if err := printResponse(u.stdout, res); err != nil {
				return err
			}
			if fail && res.Status >= 400 {
				return failure(fmt.Sprintf("the venue answered %d", res.Status))
			}
			return nil
		},
	}
}

func readBodyFile(path string) (string, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("read --body-file: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, protocol.MaxFrameSize))
	if err != nil {
		return "", fmt.Errorf("read --body-file: %w", err)
	}
	return string(b), nil
}

// printResponse writes res as `curl -i` does: status, headers, a blank
// line, the body (decoded when it travelled as base64).
func printResponse(w io.Writer, res *protocol.HTTPResponse) error {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d\n", res.Status)
	names := make([]string, 0, len(res.Headers))
	for k := range res.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for v := range strings.SplitSeq(res.Headers[k], "\n") {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	b.WriteString("\n")
	body := []byte(res.Body)
	if res.BodyEncoding == "base64" {
		d, err := base64.StdEncoding.DecodeString(res.Body)
		if err != nil {
			return fmt.Errorf("the agent sent a body that is not base64: %w", err)
		}
		body = d
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	if len(body) > 0 && body[len(body)-1] != '\n' {
		_, err := io.WriteString(w, "\n")
		return err
	}
	return nil
}
