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

// statusOf is the only table from error codes to HTTP statuses (docs/contract.md, "Error
// index").
var statusOf = map[string]int{
	aiproxy.EINVALID:         http.StatusBadRequest,
	aiproxy.EUNAUTHORIZED:    http.StatusUnauthorized,
	aiproxy.EBUDGET:          http.StatusPaymentRequired,
	aiproxy.EFORBIDDEN:       http.StatusForbidden,
	aiproxy.ENOTFOUND:        http.StatusNotFound,
	aiproxy.EMETHOD:          http.StatusMethodNotAllowed,
	aiproxy.ETIMEOUT:         http.StatusRequestTimeout,
	aiproxy.ECONFLICT:        http.StatusConflict,
	aiproxy.EUNPROCESSABLE:   http.StatusUnprocessableEntity,
	aiproxy.ETOOLARGE:        http.StatusRequestEntityTooLarge,
	aiproxy.ETHROTTLED:       http.StatusTooManyRequests,
	aiproxy.EINTERNAL:        http.StatusInternalServerError,
	aiproxy.EUPSTREAM:        http.StatusBadGateway,
	aiproxy.EUNAVAILABLE:     http.StatusServiceUnavailable,
	aiproxy.EUPSTREAMTIMEOUT: http.StatusGatewayTimeout,
}

// statusClientClosed is what the request log records when the client left before any
// answer (nginx's 499): there is no one to answer.
const statusClientClosed = 499

var (
	errRouteNotFound = aiproxy.Errorf(aiproxy.ENOTFOUND, "Not found.")
	errInternal      = &aiproxy.Error{Code: aiproxy.EINTERNAL, Message: "Internal error."}
)

func errMethodNotAllowed(method string) error {
	return aiproxy.Errorf(aiproxy.EMETHOD, "Method %q not allowed.", method)
}

func invalid(format string, args ...any) error {
	return aiproxy.Errorf(aiproxy.EINVALID, format, args...)
}

// writeError is the one place where errors become HTTP answers: the status from statusOf,
// the message under "error" for invalid input and under "detail" for everything else
// (docs/contract.md §4, §9: clients read detail || error), the error's extra fields beside
// it, and Retry-After when it has one. An error that is not an *aiproxy.Error is a bug or
// an unexpected failure: it is logged and answered 500 without its text.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) int {
	a, ok := s.answerOf(r, err)
	if !ok {
		return statusClientClosed
	}
	if a.retryAfter != "" {
		w.Header().Set("Retry-After", a.retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
	return a.status
}

// errorAnswer is an error as the client receives it.
type errorAnswer struct {
	status     int
	body       []byte // JSON
	retryAfter string
}

// answerOf renders err (the rules of writeError); ok is false when the client left and no
// answer is due.
func (s *Server) answerOf(r *http.Request, err error) (errorAnswer, bool) {
	ae := aiproxy.AsError(err)
	if ae == nil || ae.Code == aiproxy.EINTERNAL {
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			return errorAnswer{}, false
		}
		s.logger.ErrorContext(r.Context(), "internal error", slog.String("request_id", requestID(r.Context())), slog.String("error", err.Error()))
		ae = errInternal
	}
	status, ok := statusOf[ae.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	key := "detail"
	if ae.Code == aiproxy.EINVALID {
		key = "error"
	}
	body := make(map[string]any, 1+len(ae.Fields))
	for k, v := range ae.Fields {
		body[k] = v
	}
	body[key] = ae.Message
	data, merr := json.Marshal(body)
	if merr != nil {
		status, data = http.StatusInternalServerError, []byte(`{"detail": "Internal error."}`)
	}
	return errorAnswer{status: status, body: data, retryAfter: ae.RetryAfter}, true
}
