package main

import "context"

// Target 4 of issue 9: forward mode adds at most 1.5 bare socket round
// trips to a direct keep-alive HTTPS request to the local fake exchange.

func (h *harness) forwardRows(ctx context.Context) ([]Row, error) {
	return []Row{h.measureForward(ctx)}, nil
}

// measureForward is the forward-mode row.
//
// PENDING: forward mode (op "forward", args {credential, method, url,
// headers, body}) and the fake TLS exchange (internal/fakeexchange) are
// being built. When they land, this should: start the fake exchange, add
// a credential whose meta points the agent at it, measure the p50 of a
// direct keep-alive HTTPS request to it and of the same request through
// the agent's forward op (same raw-frame client as the sign rows), and
// compare the difference with the bare echo round trip of the sign group:
// (forward p50 − direct p50) ≤ 1.5 × echo p50.
func (h *harness) measureForward(context.Context) Row {
	return noteRow("forward_p50", "forward p50 vs direct HTTPS", "≤ direct + 1.5 echo round trips", statusPending, "forward mode not built")
}
