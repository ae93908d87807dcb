package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"net/http"
	"strconv"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/gateway"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// Idempotency keys, as the IETF draft "The Idempotency-Key HTTP Header Field" describes
// them (docs/cost-control.md): a client that retries a request it is not sure went through
// sends the same key, and the gateway runs the request once.
const (
	idempotencyKeyHeader = "Idempotency-Key"
	replayedHeader       = "Idempotent-Replayed"
	// idempotencyTTL is how long a key is kept.
	idempotencyTTL = 24 * time.Hour
	// leaseSlack is how long, beyond the action's timeout, an in-progress record is
	// believed to be still running: past it, its process is taken to have died.
	leaseSlack = 10 * time.Minute
	// DefaultIdempotencyMaxBody is the largest passthrough or stream answer kept for replay.
	DefaultIdempotencyMaxBody = 16 << 20
)

// leaseRenewEvery is how often a running idempotent request moves its lease on (a var for
// tests).
var leaseRenewEvery = leaseSlack / 2

var (
	errIdemInProgress = aiproxy.Errorf(aiproxy.ECONFLICT, "A request with this Idempotency-Key is still in progress.")
	errIdemMismatch   = aiproxy.Errorf(aiproxy.EUNPROCESSABLE, "This Idempotency-Key was already used with a different request.")
	errIdemNotKept    = aiproxy.Errorf(aiproxy.ECONFLICT, "The answer to the request with this Idempotency-Key was too large to keep, so it cannot be replayed.")
	errIdemBadKey     = aiproxy.Errorf(aiproxy.EINVALID, "Header 'Idempotency-Key' must be sent once, as 1 to 255 printable ASCII characters.")
)

func errIdemUnknown(org string) error {
	return aiproxy.Errorf(aiproxy.ECONFLICT, "The outcome of the request with this Idempotency-Key is unknown: the provider may have run it. Check the org's jobs (GET …/orgs/%s/jobs/) before sending it again with a new key.", org)
}

// validIdempotencyKey: 1 to 255 printable ASCII characters.
func validIdempotencyKey(k string) bool {
	if k == "" || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// newFingerprint starts the hash of a request: the service and action, then what the
// gateway writes of the envelope (canonical, file bytes included as they stream).
func newFingerprint(inv *tenancy.Invocation) hash.Hash {
	h := sha256.New()
	_, _ = h.Write([]byte(inv.State.Service.Slug + "\x00" + inv.Endpoint.Slug + "\x00"))
	return h
}

// invokeIdempotent runs the invoke once per key: the first request takes the key (atomically
// across replicas) and runs; a duplicate while it runs is 409; a completed duplicate with
// the same fingerprint gets the stored answer again (Idempotent-Replayed: true) without an
// upstream call; a different request under the same key is 422; a key whose request may
// have run upstream without an answer stays taken (409, outcome unknown).
func (s *Server) invokeIdempotent(w http.ResponseWriter, r *http.Request, inv *tenancy.Invocation, key string) error {
	if !validIdempotencyKey(key) {
		s.tenancy.Refused(inv.Org, inv.State.Service.Slug, inv.Endpoint.Slug)
		return errIdemBadKey
	}
	ctx := r.Context()
	now := s.now().UTC()
	lease := inv.State.Service.TimeoutFor(inv.Endpoint) + leaseSlack
	rec := &aiproxy.IdempotencyRecord{OrgID: inv.Org.ID, Key: key, State: aiproxy.IdemInProgress, RequestID: inv.RequestID,
		CreatedAt: now, ExpiresAt: now.Add(idempotencyTTL), LeaseUntil: now.Add(lease)}
	existing, err := s.store.BeginIdempotent(ctx, rec)
	if err != nil {
		return err
	}
	if existing != nil {
		return s.replay(w, r, inv, existing)
	}
	fp := newFingerprint(inv)
	limit := s.idemMaxBody
	if inv.Endpoint.ResponseMode == catalog.ResponseJSON {
		limit = s.gateway.MaxJSONResponse() // json answers are always kept
	}
	capture := &gateway.Capture{Limit: limit}
	stopLease := s.keepLease(inv.Org.ID, key, lease)
	res, err := s.call(w, r, inv, callOptions{idempotent: true, fingerprint: fp, capture: capture})
	stopLease()
	rec.Fingerprint = hex.EncodeToString(fp.Sum(nil))
	settle := context.WithoutCancel(ctx)
	accepted := res.Answered && res.UpstreamStatus >= 200 && res.UpstreamStatus <= 299
	switch {
	case !res.Sent, res.Answered && !accepted && !res.Fingerprinted:
		// Refused before the upstream (bad input, policy, budget…), or refused by the
		// provider before it had read the whole request: nothing ran, and the key is free
		// again for the corrected request. (A partly read request has no fingerprint that
		// a retry could be matched against.)
		if ferr := s.store.ForgetIdempotent(settle, inv.Org.ID, key); ferr != nil {
			s.logger.Warn("freeing an idempotency key failed", "error", ferr.Error())
		}
		return err
	case err == nil && res.Fingerprinted:
		rec.State, rec.Status, rec.ContentType = aiproxy.IdemDone, capture.Status, capture.ContentType
		rec.Body, rec.BodyKept = capture.Body, !capture.Truncated
	case accepted, res.Answered && capture.Status != 0:
		// The provider accepted the request but the client did not get the whole answer
		// (it broke off mid-way, gateway.ErrAborted, or could not be completed here — a
		// job record that could not be written), or the answer came before the whole
		// request was read: the provider ran something, and there is nothing whole to
		// replay. Like a call never answered, its outcome is unknown to the client.
		rec.State = aiproxy.IdemUnknown
	case res.Answered:
		// An upstream error answer is kept like any other answer.
		a, ok := s.answerOf(r, err)
		if !ok {
			rec.State = aiproxy.IdemUnknown
			break
		}
		rec.State, rec.Status, rec.ContentType, rec.Body, rec.BodyKept = aiproxy.IdemDone, a.status, "application/json", a.body, true
	default:
		// Sent, never answered (timeout, connection lost): it may have run and been billed.
		rec.State = aiproxy.IdemUnknown
	}
	if ferr := s.store.FinishIdempotent(settle, rec); ferr != nil {
		s.logger.Warn("recording an idempotent answer failed", "error", ferr.Error())
	}
	return err
}

// keepLease moves the lease of the org's record for key on, every leaseRenewEvery, until
// stop is called: the action's timeout bounds silence, not length, so a long upload or
// stream outlives any lease fixed at the start. Only a process that died stops renewing.
func (s *Server) keepLease(orgID int64, key string, lease time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(leaseRenewEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if err := s.store.ExtendIdempotentLease(ctx, orgID, key, s.now().UTC().Add(lease)); err != nil {
					s.logger.Warn("renewing an idempotency lease failed", "error", err.Error())
				}
				cancel()
			}
		}
	}()
	return func() { close(done); <-finished }
}

// replay answers a request whose key is taken.
func (s *Server) replay(w http.ResponseWriter, r *http.Request, inv *tenancy.Invocation, rec *aiproxy.IdempotencyRecord) error {
	now := s.now()
	switch {
	case rec.State == aiproxy.IdemInProgress && now.Before(rec.LeaseUntil):
		return errIdemInProgress
	case rec.State != aiproxy.IdemDone:
		return errIdemUnknown(inv.Org.Slug)
	}
	fp := newFingerprint(inv)
	if err := s.gateway.Fingerprint(r, gateway.Call{Service: inv.State.Service, Endpoint: inv.Endpoint, RequestID: inv.RequestID}, fp); err != nil {
		return err
	}
	if hex.EncodeToString(fp.Sum(nil)) != rec.Fingerprint {
		return errIdemMismatch
	}
	if !rec.BodyKept {
		return errIdemNotKept
	}
	inv.Replayed()
	h := w.Header()
	if rec.ContentType != "" {
		h.Set("Content-Type", rec.ContentType)
	}
	h.Set("Content-Length", strconv.Itoa(len(rec.Body)))
	h.Set(replayedHeader, "true")
	w.WriteHeader(rec.Status)
	_, _ = w.Write(rec.Body)
	return nil
}
