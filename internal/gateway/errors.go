package gateway

import (
	"errors"
	"fmt"
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

// UpstreamError is a failed upstream call, as the client sees it (contract §8). The HTTP
// layer renders it; it carries no secret (UpstreamBody is scrubbed).
type UpstreamError struct {
	Status         int    // the gateway's status: 429, 502 or 504
	Detail         string // one of the texts above
	UpstreamStatus int    // 0 when the upstream gave no status
	UpstreamBody   any    // parsed JSON or text, at most 8 KiB; nil when none
	RetryAfter     string // forwarded on 429
	Cause          error  // for the log only
}

func (e *UpstreamError) Error() string {
	if e.UpstreamStatus != 0 {
		return fmt.Sprintf("upstream: status %d", e.UpstreamStatus)
	}
	if e.Cause != nil {
		return "upstream: " + e.Cause.Error()
	}
	return "upstream: " + e.Detail
}

func (e *UpstreamError) Unwrap() error { return e.Cause }

func upstreamFailed(cause error) *UpstreamError {
	return &UpstreamError{Status: http.StatusBadGateway, Detail: detailUpstreamFailed, Cause: cause}
}

func upstreamTimeout(cause error) *UpstreamError {
	return &UpstreamError{Status: http.StatusGatewayTimeout, Detail: detailUpstreamTimeout, Cause: cause}
}

// TooLargeError is a request body above the configured limit (contract §9: 413).
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("Request body is larger than the limit of %d bytes.", e.Limit)
}

func tooLarge(limit int64) error { return &TooLargeError{Limit: limit} }

// readError classifies an error reading the client's request body.
func readError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(mbe.Limit)
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
