package heygen

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

// Handlers return an error instead of writing one; writeError, the only place that renders
// an error body, gives it the shape of the route's API version (docs/simulators.md §6).

// apiError is one error in all three of HeyGen's shapes: Legacy is the numeric code of the
// v1 form {"code":<int>,"message":...}; Code is the string code of the v2 and v3 forms.
type apiError struct {
	Status  int
	Legacy  int
	Code    string
	Message string
	Param   string // v3 validation errors only
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

var (
	// 401 in the legacy numeric form on v1/v2 and `unauthorized` on v3 [HG-iss-401,
	// HG-v3-err]. GAP: a missing key and a wrong key get the same body (docs/simulators.md §6).
	errUnauthorized = &apiError{Status: 401, Legacy: 400112, Code: "unauthorized",
		Message: "Unauthorized"}
	// v3: 402 insufficient_credit [HG-v3-err]. GAP: the v1/v2 quota-exhausted body is not
	// documented; v2 routes get 402 with the same code in the v2 object form, v1 routes the
	// legacy numeric form with code 400140 (docs/simulators.md §6).
	errNoCredit = &apiError{Status: 402, Legacy: 400140, Code: "insufficient_credit",
		Message: "Your account has 0 credits but this request requires credits. Add credits to continue."}
	// errNoFile is a media download that does not exist (or is not ready): the plain-text
	// 404 of a file host, not an API error body.
	errNoFile = errors.New("no such file")
)

// invalidParam is a 400: legacy 400175 INVALID_PARAMETER [HG-errors], v3 invalid_parameter
// with param [HG-v3-err].
func invalidParam(param, format string, args ...any) *apiError {
	return &apiError{Status: 400, Legacy: 400175, Code: "invalid_parameter", Param: param, Message: fmt.Sprintf(format, args...)}
}

// notFound is a 404 with the given string code; the legacy code is 40031 INVALID_VIDEO_ID.
func notFound(code, message string) *apiError {
	return &apiError{Status: 404, Legacy: 40031, Code: code, Message: message}
}

// missingParam is the legacy 40001 MISSING_PARAMS for a required query parameter.
func missingParam(name string) *apiError {
	return &apiError{Status: 400, Legacy: 40001, Code: "missing_params", Message: "Missing required parameter: " + name}
}

// tooLarge is a 413; HeyGen's CLI names it payload_too_large [HG-cli].
func tooLarge(param, message string) *apiError {
	return &apiError{Status: 413, Legacy: 400413, Code: "payload_too_large", Param: param, Message: message}
}

// writeError writes err in the shape of the route's API version (docs/simulators.md §6):
//
//	v1:    {"code": <legacy int>, "message": ...}
//	v2:    {"error": {"code": ..., "message": ...}}; a 401 uses the v1 form [HG-iss-401, HG-iss-599]
//	v3:    {"error": {"code", "message", "param"?, "doc_url"}}
//	media: v3 form for faults; a missing file is the plain-text 404 of a file host
//
// An error that is not an *apiError becomes a 500 internal_error.
func (s *Server) writeError(w http.ResponseWriter, st style, err error) {
	if errors.Is(err, errNoFile) {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	var e *apiError
	if !errors.As(err, &e) {
		e = &apiError{Status: 500, Legacy: 400500, Code: "internal_error", Message: err.Error()}
	}
	switch {
	case st == styleV1, st == styleV2 && e.Code == "unauthorized":
		writeJSON(w, e.Status, legacyError{Code: e.Legacy, Message: e.Message})
	case st == styleV2:
		// v2 object form, observed on POST /v2/video/generate [HG-iss-postiz].
		writeJSON(w, e.Status, map[string]any{"error": v2Error{Code: e.Code, Message: e.Message}})
	default:
		writeJSON(w, e.Status, map[string]any{"error": v3Error{
			Code: e.Code, Message: e.Message, Param: e.Param,
			DocURL: "https://developers.heygen.com/docs/error-codes#" + strings.ReplaceAll(e.Code, "_", "-"),
		}})
	}
}

type legacyError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type v2Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type v3Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param,omitempty"`
	DocURL  string `json:"doc_url"`
}

// faultWriter adapts writeError to simcore.ErrorWriter for planned faults. GAP: v1/v2 bodies
// for 429 and 5xx are not documented; the legacy numeric code is 400000 + the HTTP status
// (docs/simulators.md §6).
func (s *Server) faultWriter(st style) simcore.ErrorWriter {
	return func(w http.ResponseWriter, status int, code, message string) {
		s.writeError(w, st, &apiError{Status: status, Legacy: 400000 + status, Code: code, Message: message})
	}
}
