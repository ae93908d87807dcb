package heygen

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

// apiError is one error in all three of HeyGen's shapes: Legacy is the numeric code of the
// v1 form {"code":<int>,"message":...}; Code is the string code of the v2 and v3 forms.
type apiError struct {
	Status  int
	Legacy  int
	Code    string
	Message string
	Param   string // v3 validation errors only
}

var (
	// Observed: HTTP 401 {"code":400112,"message":"Unauthorized"} [HG-iss-401]; v3 401
	// `unauthorized` [HG-v3-err]. GAP: whether a missing key and a wrong key differ; both
	// get the same body here.
	errUnauthorized = apiError{Status: 401, Legacy: 400112, Code: "unauthorized",
		Message: "Unauthorized"}
	// v3: 402 insufficient_credit [HG-v3-err]. GAP: the v1/v2 quota-exhausted body is not
	// documented (upstream-v1v2 §3 item 2); we send 402 with the same code in the v2 object
	// form, and the legacy numeric form with code 400140 on v1 routes.
	errNoCredit = apiError{Status: 402, Legacy: 400140, Code: "insufficient_credit",
		Message: "Your account has 0 credits but this request requires credits. Add credits to continue."}
)

func invalidParam(param, format string, args ...any) apiError {
	// Legacy 400175 INVALID_PARAMETER [HG-errors]; v3 invalid_parameter with param.
	return apiError{Status: 400, Legacy: 400175, Code: "invalid_parameter", Param: param, Message: fmt.Sprintf(format, args...)}
}

func notFound(code, message string) apiError {
	return apiError{Status: 404, Legacy: 40031, Code: code, Message: message}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes e in the shape of the route's API version.
func (s *Server) writeError(w http.ResponseWriter, st style, e apiError) {
	switch st {
	case styleV1:
		writeJSON(w, e.Status, legacyError{Code: e.Legacy, Message: e.Message})
	case styleV2:
		if e.Code == "unauthorized" {
			// The 401 seen on v2 routes is the legacy numeric form [HG-iss-401, HG-iss-599].
			writeJSON(w, e.Status, legacyError{Code: e.Legacy, Message: e.Message})
			return
		}
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
// for 429 and 5xx are not documented (upstream-v1v2 §3 item 2); the legacy numeric code
// used is 400000 + the HTTP status.
func (s *Server) faultWriter(st style) simcore.ErrorWriter {
	return func(w http.ResponseWriter, status int, code, message string) {
		s.writeError(w, st, apiError{Status: status, Legacy: 400000 + status, Code: code, Message: message})
	}
}

// v1 "code" envelope [HG-status]: {"code":100,"data":...,"message":"Success"}.
func okV1(w http.ResponseWriter, data any) {
	writeJSON(w, http.StatusOK, struct {
		Code    int    `json:"code"`
		Data    any    `json:"data"`
		Message string `json:"message"`
	}{100, data, "Success"})
}

// okUpload is the upload host's variant, which also carries "msg": null [HG-upload, HG-wh].
func okUpload(w http.ResponseWriter, data any) {
	writeJSON(w, http.StatusOK, struct {
		Code    int    `json:"code"`
		Data    any    `json:"data"`
		Msg     any    `json:"msg"`
		Message string `json:"message"`
	}{100, data, nil, "Success"})
}

// v2 "error/data" envelope [HG-gen-v2]: {"error":null,"data":...}.
func okV2(w http.ResponseWriter, data any) {
	writeJSON(w, http.StatusOK, struct {
		Error any `json:"error"`
		Data  any `json:"data"`
	}{nil, data})
}

// v3 envelope [v3 spec §3]: {"data":...}.
func okV3(w http.ResponseWriter, data any) {
	writeJSON(w, http.StatusOK, struct {
		Data any `json:"data"`
	}{data})
}

// v3 list envelope [v3 spec §3]: {"data":[...],"has_more":bool,"next_token":string|null}.
func okV3List[T any](w http.ResponseWriter, p page[T]) {
	items := p.Items
	if items == nil {
		items = []T{}
	}
	writeJSON(w, http.StatusOK, struct {
		Data      []T     `json:"data"`
		HasMore   bool    `json:"has_more"`
		NextToken *string `json:"next_token"`
	}{items, p.HasMore, p.Next})
}

type page[T any] struct {
	Items   []T
	HasMore bool
	Next    *string
}

// paginate cuts items by the query's limit (default def, range 1..max) and opaque token.
// GAP: behaviour on an invalid token [v3 spec §5.2]; we answer 400 invalid_parameter.
func paginate[T any](r *http.Request, items []T, def, maxLimit int) (page[T], *apiError) {
	q := r.URL.Query()
	limit := def
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			e := invalidParam("limit", "limit must be an integer between 1 and %d", maxLimit)
			return page[T]{}, &e
		}
		limit = n
	}
	off := 0
	if tok := q.Get("token"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(raw), "off:"))
		if err != nil || err2 != nil || !strings.HasPrefix(string(raw), "off:") || n < 0 {
			e := invalidParam("token", "token is invalid or expired")
			return page[T]{}, &e
		}
		off = n
	}
	off = min(off, len(items))
	end := min(off+limit, len(items))
	p := page[T]{Items: items[off:end]}
	if end < len(items) {
		t := base64.RawURLEncoding.EncodeToString([]byte("off:" + strconv.Itoa(end)))
		p.HasMore, p.Next = true, &t
	}
	return p, nil
}

const maxJSONBody = 1 << 20

// decodeJSON reads a JSON object body into dst.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) *apiError {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{Status: 413, Legacy: 400413, Code: "payload_too_large", Message: "Request body is too large."}
		}
		e := invalidParam("", "could not read the request body")
		return &e
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, dst); err != nil {
		e := invalidParam("", "invalid JSON body: %v", err)
		return &e
	}
	return nil
}
