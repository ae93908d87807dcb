package heygen

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
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

// v3 envelope: {"data":...} (docs/simulators.md §5).
func okV3(w http.ResponseWriter, data any) {
	writeJSON(w, http.StatusOK, struct {
		Data any `json:"data"`
	}{data})
}

// v3 list envelope: {"data":[...],"has_more":bool,"next_token":string|null} (docs/simulators.md §7).
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

// paginate cuts items by the query's limit (default def, range 1..max) and opaque token
// [HG-cli]. GAP: an invalid token is a 400 invalid_parameter (docs/simulators.md §7).
func paginate[T any](r *http.Request, items []T, def, maxLimit int) (page[T], error) {
	q := r.URL.Query()
	limit := def
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return page[T]{}, invalidParam("limit", "limit must be an integer between 1 and %d", maxLimit)
		}
		limit = n
	}
	off := 0
	if tok := q.Get("token"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(raw), "off:"))
		if err != nil || err2 != nil || !strings.HasPrefix(string(raw), "off:") || n < 0 {
			return page[T]{}, invalidParam("token", "token is invalid or expired")
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

// okV3Page answers one page of items in the v3 list envelope.
func okV3Page[T any](w http.ResponseWriter, r *http.Request, items []T, def, maxLimit int) error {
	p, err := paginate(r, items, def, maxLimit)
	if err != nil {
		return err
	}
	okV3List(w, p)
	return nil
}

// legacyPage pages a v1 list: limit is 0–100 and 0 (or none) means 100 [HG-vlist]. Items
// is never nil, so an empty page is [].
func legacyPage[T any](r *http.Request, items []T) (page[T], error) {
	q := r.URL.Query()
	if q.Get("limit") == "0" {
		q.Del("limit")
		r.URL.RawQuery = q.Encode()
	}
	p, err := paginate(r, items, 100, 100)
	if p.Items == nil {
		p.Items = []T{}
	}
	return p, err
}

const maxJSONBody = 1 << 20

// readBody reads the whole body, at most limit bytes: a longer body is the tooBig error, a
// failed read the unreadable one.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, tooBig, unreadable error) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooBig
	case err != nil:
		return nil, unreadable
	}
	return body, nil
}

// decodeJSON reads a JSON object body into dst; an empty body counts as {}.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	body, err := readBody(w, r, maxJSONBody,
		tooLarge("", "Request body is too large."), invalidParam("", "could not read the request body"))
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return invalidParam("", "invalid JSON body: %v", err)
	}
	return nil
}

// validator is a request body that checks itself once decoded.
type validator interface{ validate() error }

// decodeValid decodes the JSON body into req and checks it.
func decodeValid(w http.ResponseWriter, r *http.Request, req validator) error {
	if err := decodeJSON(w, r, req); err != nil {
		return err
	}
	return req.validate()
}
