package elevenlabs

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// writeJSON writes v as the whole response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"detail":{"status":"internal_error","message":"encoding failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeStatusOK writes {"status":"ok"}, ElevenLabs' answer to a successful edit or delete.
func writeStatusOK(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// writeDetail writes the business-error body {"detail":{"status","message"}} [EL-help-401, EL-err].
func writeDetail(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"detail": map[string]string{"status": code, "message": message}})
}

// writeFaultError renders simulated faults as ElevenLabs would. A 429 becomes system_busy,
// the code ElevenLabs uses for server-side overload [EL-help-429, EL-err].
func writeFaultError(w http.ResponseWriter, status int, code, message string) {
	if status == http.StatusTooManyRequests {
		code, message = "system_busy", "We're experiencing a high volume of requests. Please try again later."
	}
	writeDetail(w, status, code, message)
}

// fieldError is one entry of FastAPI's validation list (OpenAPI ValidationError).
// GAP: the wording and type names follow pydantic v2 ("missing" / "Field required"); the
// sources give only the schema {loc, msg, type} (docs/simulators.md §19).
type fieldError struct {
	Loc  []any  `json:"loc"`
	Msg  string `json:"msg"`
	Type string `json:"type"`
}

func (e fieldError) Error() string { return fmt.Sprint(e.Loc, ": ", e.Msg) }

func missing(where, field string) fieldError {
	return fieldError{Loc: []any{where, field}, Msg: "Field required", Type: "missing"}
}

// writeValidation writes HTTP 422 {"detail":[...]} [EL-oas HTTPValidationError].
func writeValidation(w http.ResponseWriter, errs ...fieldError) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": errs})
}

// decodeBody decodes a JSON request body into v, turning decoding failures into the
// validation entries FastAPI would report.
func decodeBody(r *http.Request, v any) []fieldError {
	dec := json.NewDecoder(r.Body)
	err := dec.Decode(v)
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &typeErr):
		loc := []any{"body"}
		for _, p := range strings.Split(typeErr.Field, ".") {
			if p != "" {
				loc = append(loc, p)
			}
		}
		return []fieldError{{Loc: loc, Msg: "Input should be a valid " + pyType(typeErr.Type.Kind().String()), Type: pyType(typeErr.Type.Kind().String()) + "_type"}}
	case errors.As(err, &syntaxErr):
		return []fieldError{{Loc: []any{"body", max(syntaxErr.Offset-1, 0)}, Msg: "JSON decode error", Type: "json_invalid"}}
	default: // empty body or truncated JSON
		return []fieldError{{Loc: []any{"body"}, Msg: "Field required", Type: "missing"}}
	}
}

func pyType(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "bool"
	case "int", "int64", "uint32", "uint64":
		return "int"
	case "float64", "float32":
		return "float"
	case "slice":
		return "list"
	default:
		return "dict"
	}
}
