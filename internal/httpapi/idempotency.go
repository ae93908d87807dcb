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

var (
	errIdemInProgress = aiproxy.Errorf(aiproxy.ECONFLICT, "A request with this Idempotency-Key is still in progress.")
	errIdemMismatch   = aiproxy.Errorf(aiproxy.EUNPROCESSABLE, "This Idempotency-Key was already used with a different request.")
	errIdemNotKept    = aiproxy.Errorf(aiproxy.ECONFLICT, "The answer to the request with this Idempotency-Key was too large to keep, so it cannot be replayed.")
	errIdemBadKey     = aiproxy.Errorf(aiproxy.EINVALID, "Header 'Idempotency-Key' must be 1 to 255 printable ASCII characters.")
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
	rec := &aiproxy.IdempotencyRecord{OrgID: inv.Org.ID, Key: key, State: aiproxy.IdemInProgress, RequestID: inv.RequestID,
		CreatedAt: now, ExpiresAt: now.Add(idempotencyTTL),
		LeaseUntil: now.Add(inv.State.Service.TimeoutFor(inv.Endpoint) + leaseSlack)}
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
	res, err := s.call(w, r, inv, callOptions{idempotent: true, fingerprint: fp, capture: capture})
	rec.Fingerprint = hex.EncodeToString(fp.Sum(nil))
	settle := context.WithoutCancel(ctx)
	switch {
	case err == nil:
		rec.State, rec.Status, rec.ContentType = aiproxy.IdemDone, capture.Status, capture.ContentType
		rec.Body, rec.BodyKept = capture.Body, !capture.Truncated
	case !res.Sent:
		// Refused before the upstream (bad input, policy, budget…): nothing ran, the key is
		// free again for the corrected request.
		if ferr := s.store.ForgetIdempotent(settle, inv.Org.ID, key); ferr != nil {
			s.logger.Warn("freeing an idempotency key failed", "error", ferr.Error())
		}
		return err
	case res.Answered && capture.Status != 0:
		// The answer started and then failed: the provider ran the request, the client got
		// part of it; nothing whole to replay.
		rec.State, rec.Status, rec.ContentType, rec.BodyKept = aiproxy.IdemDone, capture.Status, capture.ContentType, false
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
