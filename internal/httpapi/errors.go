package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/gateway"
)

// Texts of contract §2 and §9 that clients match on.
const (
	detailNotAuthenticated = "Authentication credentials were not provided."
	detailInvalidToken     = "Invalid token."
	detailForbidden        = "You do not have permission to perform this action."
	detailNotFound         = "Not found."
)

// writeJSON writes v as the JSON body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status, data = http.StatusInternalServerError, []byte(`{"detail": "Internal error."}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// detailError is an error answered with {"detail": Message} and Status.
type detailError struct {
	Status  int
	Message string
}

func (e *detailError) Error() string { return e.Message }

func detail(status int, format string, args ...any) error {
	return &detailError{Status: status, Message: fmt.Sprintf(format, args...)}
}

var (
	errNotAuthenticated = &detailError{http.StatusUnauthorized, detailNotAuthenticated}
	errInvalidToken     = &detailError{http.StatusUnauthorized, detailInvalidToken}
	errForbidden        = &detailError{http.StatusForbidden, detailForbidden}
	errRouteNotFound    = &detailError{http.StatusNotFound, detailNotFound}
)

// throttledError is an invoke refused by the org's rate limit: 429 with the text and the
// Retry-After header Django REST framework's Throttled gives, which clients know. Wait is
// in whole seconds, rounded up, at least 1.
type throttledError struct{ Wait int }

func (e *throttledError) Error() string {
	// DRF: 'Expected available in {wait} second.' / '… seconds.', by ngettext.
	unit := "seconds"
	if e.Wait == 1 {
		unit = "second"
	}
	return fmt.Sprintf("Request was throttled. Expected available in %d %s.", e.Wait, unit)
}

func errMethodNotAllowed(method string) error {
	return detail(http.StatusMethodNotAllowed, "Method %q not allowed.", method)
}

// writeError is the one place where errors become HTTP statuses and bodies. Invalid input
// answers {"error": ...}; everything else {"detail": ...} (contract §4, §9: clients read
// detail || error).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) int {
	var (
		de  *detailError
		ue  *gateway.UpstreamError
		tle *gateway.TooLargeError
		te  *throttledError
		ae  *aiproxy.Error
	)
	switch {
	case errors.As(err, &de):
		writeJSON(w, de.Status, map[string]any{"detail": de.Message})
		return de.Status
	case errors.As(err, &ue):
		body := map[string]any{"detail": ue.Detail}
		if ue.UpstreamStatus != 0 {
			body["upstream_status"] = ue.UpstreamStatus
			body["upstream_body"] = ue.UpstreamBody
		}
		if ue.RetryAfter != "" {
			w.Header().Set("Retry-After", ue.RetryAfter)
		}
		writeJSON(w, ue.Status, body)
		return ue.Status
	case errors.As(err, &te):
		w.Header().Set("Retry-After", strconv.Itoa(te.Wait))
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"detail": te.Error()})
		return http.StatusTooManyRequests
	case errors.As(err, &tle):
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"detail": tle.Error()})
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &ae):
		status := map[string]int{
			aiproxy.EINVALID:      http.StatusBadRequest,
			aiproxy.ENOTFOUND:     http.StatusNotFound,
			aiproxy.ECONFLICT:     http.StatusConflict,
			aiproxy.EUNAUTHORIZED: http.StatusUnauthorized,
			aiproxy.EFORBIDDEN:    http.StatusForbidden,
		}[ae.Code]
		if status == 0 {
			break
		}
		key := "detail"
		if ae.Code == aiproxy.EINVALID {
			key = "error"
		}
		writeJSON(w, status, map[string]any{key: ae.Message})
		return status
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return 499 // the client left: there is no one to answer
	}
	s.logger.ErrorContext(r.Context(), "internal error", slog.String("request_id", requestID(r.Context())), slog.String("error", err.Error()))
	writeJSON(w, http.StatusInternalServerError, map[string]any{"detail": "Internal error."})
	return http.StatusInternalServerError
}
