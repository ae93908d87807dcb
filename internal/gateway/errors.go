package gateway

import (
	"errors"
	"io"
	"net/http"

	"github.com/aiproxy/aiproxy"
)

// Texts of contract §8.
const (
	detailUpstreamFailed    = "The upstream external service request failed."
	detailUpstreamRateLimit = "The upstream external service rate limit was exceeded."
	detailUpstreamTimeout   = "The upstream external service did not respond in time."
)

// Upstream failures are domain errors (contract §8): EUPSTREAM (502), EUPSTREAMTIMEOUT
// (504) and ETHROTTLED (429), with the provider's status and scrubbed error body as extra
// fields. The cause is kept for the log only.

func upstreamFailed(cause error) *aiproxy.Error {
	return &aiproxy.Error{Code: aiproxy.EUPSTREAM, Message: detailUpstreamFailed, Err: cause}
}

func upstreamTimeout(cause error) *aiproxy.Error {
	return &aiproxy.Error{Code: aiproxy.EUPSTREAMTIMEOUT, Message: detailUpstreamTimeout, Err: cause}
}

// upstreamAnswered is a non-2xx upstream answer: 429 stays a rate limit (with its
// Retry-After), anything else is an upstream failure; both carry upstream_status and
// upstream_body.
func upstreamAnswered(status int, body any, retryAfter string) *aiproxy.Error {
	e := &aiproxy.Error{Code: aiproxy.EUPSTREAM, Message: detailUpstreamFailed,
		Fields: map[string]any{"upstream_status": status, "upstream_body": body}}
	if status == http.StatusTooManyRequests {
		e.Code, e.Message, e.RetryAfter = aiproxy.ETHROTTLED, detailUpstreamRateLimit, retryAfter
	}
	return e
}

// tooLarge is a request body above its limit (contract §9: 413).
func tooLarge(limit int64) error {
	return aiproxy.Errorf(aiproxy.ETOOLARGE, "Request body is larger than the limit of %d bytes.", limit)
}

// readError classifies an error reading the client's request body.
func readError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(mbe.Limit)
	}
	if ae := aiproxy.AsError(err); ae != nil {
		return ae // the body reader's own verdict (a stalled body: ETIMEOUT)
	}
	return aiproxy.Errorf(aiproxy.EINVALID, "Could not read the request body: %s.", clientReadReason(err))
}

func clientReadReason(err error) string {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "it ended early"
	default:
		return "malformed multipart data"
	}
}
