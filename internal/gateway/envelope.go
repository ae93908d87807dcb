package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aiproxy/aiproxy"
)

// Envelope is an invoke request (contract §4): what the client asks the upstream call to be.
type Envelope struct {
	Body       json.RawMessage // nil when absent or null
	Query      url.Values
	Headers    http.Header
	PathParams map[string]string
	Files      []File // from the JSON "files" key, in field order

	// parts is set for multipart envelopes: the reader stands at the first file part
	// (firstFile), whose bytes have not been read. Files are streamed from it.
	parts      *multipart.Reader
	firstFile  *multipart.Part
	formFields [][2]string // plain text parts of a multipart envelope
}

// File is one upload given inline in a JSON envelope.
type File struct {
	Field       string
	Filename    string
	ContentType string
	Data        []byte
}

// the envelope's keys, and the multipart parts that carry them as JSON text
const (
	keyBody       = "body"
	keyQuery      = "query"
	keyHeaders    = "headers"
	keyPathParams = "path_params"
	keyFiles      = "files"
)

func invalid(format string, args ...any) error {
	return aiproxy.Errorf(aiproxy.EINVALID, format, args...)
}

// ReadEnvelope reads the envelope from r: a JSON object (an empty body means {}), or
// multipart/form-data whose parts body, query, headers and path_params hold JSON text and
// whose other parts are files. A multipart envelope is read only up to its first file part,
// so that uploads stream; its text parts must come before its files.
func ReadEnvelope(r *http.Request, maxJSON int64) (*Envelope, error) {
	if ct := r.Header.Get("Content-Type"); len(ct) >= 9 && strings.EqualFold(ct[:9], "multipart") {
		mt, params, _ := mime.ParseMediaType(ct)
		if mt != "multipart/form-data" {
			return nil, invalid("Request body must be JSON or multipart/form-data, not %s.", mt)
		}
		if params["boundary"] == "" {
			return nil, invalid("Multipart request body has no boundary.")
		}
		return readMultipartEnvelope(multipart.NewReader(r.Body, params["boundary"]), maxJSON)
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxJSON+1))
	if err != nil {
		return nil, readError(err)
	}
	if int64(len(data)) > maxJSON {
		return nil, tooLarge(maxJSON)
	}
	return ParseJSONEnvelope(data)
}

// ParseJSONEnvelope parses a JSON envelope.
func ParseJSONEnvelope(data []byte) (*Envelope, error) {
	env := &Envelope{}
	if trimmed := bytes.TrimSpace(data); len(trimmed) == 0 || string(trimmed) == "{}" {
		return env, nil // the list actions' usual envelope
	}
	var top map[string]json.RawMessage
	if err := strictUnmarshal(data, &top); err != nil || top == nil {
		return nil, invalid("Request body must be a JSON object.")
	}
	for _, k := range []string{keyBody, keyQuery, keyHeaders, keyPathParams, keyFiles} {
		if raw, ok := top[k]; ok && !isNull(raw) {
			if err := env.set(k, raw); err != nil {
				return nil, err
			}
		}
	}
	return env, nil
}

// set parses one envelope key from its JSON value.
func (env *Envelope) set(key string, raw json.RawMessage) error {
	switch key {
	case keyBody:
		env.Body = raw
	case keyQuery:
		q, err := parseQuery(raw)
		if err != nil {
			return err
		}
		env.Query = q
	case keyHeaders:
		h, err := parseHeaders(raw)
		if err != nil {
			return err
		}
		env.Headers = h
	case keyPathParams:
		p, err := parsePathParams(raw)
		if err != nil {
			return err
		}
		env.PathParams = p
	case keyFiles:
		f, err := parseFiles(raw)
		if err != nil {
			return err
		}
		env.Files = f
	}
	return nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// strictUnmarshal decodes one JSON value; json.Unmarshal already refuses trailing data.
func strictUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

func parseObject(raw json.RawMessage, field string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := strictUnmarshal(raw, &m); err != nil || m == nil {
		return nil, invalid("Field '%s' must be an object.", field)
	}
	return m, nil
}

// scalarText turns a JSON string, number or boolean into its query/form text: a number
// as written (1.50 stays 1.50), a boolean as true/false.
func scalarText(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	case c == 't' || c == 'f':
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return "", false
		}
		return strconv.FormatBool(b), true
	case c == '-' || c >= '0' && c <= '9':
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return "", false
		}
		return n.String(), true
	}
	return "", false
}

func parseQuery(raw json.RawMessage) (url.Values, error) {
	m, err := parseObject(raw, keyQuery)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	for name, v := range m {
		if isNull(v) {
			continue
		}
		if s, ok := scalarText(v); ok {
			q.Add(name, s)
			continue
		}
		var list []json.RawMessage
		if strictUnmarshal(v, &list) != nil {
			return nil, invalid("Query parameter '%s' must be a string, number, boolean or an array of them.", name)
		}
		for _, item := range list {
			s, ok := scalarText(item)
			if !ok {
				return nil, invalid("Query parameter '%s' must be a string, number, boolean or an array of them.", name)
			}
			q.Add(name, s)
		}
	}
	return q, nil
}

func parseHeaders(raw json.RawMessage) (http.Header, error) {
	m, err := parseObject(raw, keyHeaders)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	for name, v := range m {
		var s string
		if strictUnmarshal(v, &s) != nil {
			return nil, invalid("Header '%s' must be a string.", name)
		}
		if !validHeaderName(name) {
			return nil, invalid("Header name '%s' is not a valid HTTP header name.", name)
		}
		if !validHeaderValue(s) {
			return nil, invalid("Header '%s' has a value with control characters.", name)
		}
		h.Add(name, s)
	}
	return h, nil
}

func parsePathParams(raw json.RawMessage) (map[string]string, error) {
	m, err := parseObject(raw, keyPathParams)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(m))
	for name, v := range m {
		var s string
		if strictUnmarshal(v, &s) == nil {
			out[name] = s
			continue
		}
		var n json.Number
		if strictUnmarshal(v, &n) == nil {
			if _, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
				out[name] = n.String()
				continue
			}
		}
		return nil, invalid("Path parameter '%s' must be a string or an integer.", name)
	}
	return out, nil
}

// parseFiles reads {"field": file | [file, ...]}, a file being
// {"filename", "content_type", "data" (base64)}.
func parseFiles(raw json.RawMessage) ([]File, error) {
	m, err := parseObject(raw, keyFiles)
	if err != nil {
		return nil, err
	}
	var out []File
	for _, field := range sortedKeys(m) {
		v := m[field]
		var list []json.RawMessage
		if strictUnmarshal(v, &list) != nil {
			list = []json.RawMessage{v}
		}
		for i, item := range list {
			var f struct {
				Filename    *string `json:"filename"`
				ContentType *string `json:"content_type"`
				Data        *string `json:"data"`
			}
			name := field
			if len(list) > 1 {
				name = fmt.Sprintf("%s[%d]", field, i)
			}
			if strictUnmarshal(item, &f) != nil {
				return nil, invalid("File '%s' must be an object with 'filename', 'content_type' and 'data'.", name)
			}
			if f.Data == nil {
				return nil, invalid("File '%s' is missing 'data' (base64).", name)
			}
			data, err := base64.StdEncoding.DecodeString(*f.Data)
			if err != nil {
				return nil, invalid("File '%s' has 'data' that is not valid base64.", name)
			}
			file := File{Field: field, Data: data, ContentType: "application/octet-stream", Filename: field}
			if f.Filename != nil {
				file.Filename = *f.Filename
			}
			if f.ContentType != nil && *f.ContentType != "" {
				file.ContentType = *f.ContentType
			}
			out = append(out, file)
		}
	}
	return out, nil
}

// readMultipartEnvelope reads the text parts up to the first file part.
func readMultipartEnvelope(mr *multipart.Reader, maxJSON int64) (*Envelope, error) {
	env := &Envelope{parts: mr}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return env, nil
		}
		if err != nil {
			return nil, readError(err)
		}
		if p.FileName() == "" && isEnvelopeKey(p.FormName()) {
			data, err := io.ReadAll(io.LimitReader(p, maxJSON+1))
			if err != nil {
				return nil, readError(err)
			}
			if int64(len(data)) > maxJSON {
				return nil, tooLarge(maxJSON)
			}
			if p.FormName() == keyFiles {
				return nil, invalid("Part 'files' is not allowed in a multipart request: send each file as its own part.")
			}
			if !json.Valid(data) {
				return nil, invalid("Part '%s' must hold JSON text.", p.FormName())
			}
			if !isNull(data) {
				if err := env.set(p.FormName(), data); err != nil {
					return nil, err
				}
			}
			continue
		}
		if p.FileName() == "" {
			// A plain text field that is not an envelope key (what a browser's FormData
			// sends): forwarded as a text field of a multipart upstream request.
			data, err := io.ReadAll(io.LimitReader(p, maxJSON+1))
			if err != nil {
				return nil, readError(err)
			}
			if int64(len(data)) > maxJSON {
				return nil, tooLarge(maxJSON)
			}
			env.formFields = append(env.formFields, [2]string{p.FormName(), string(data)})
			continue
		}
		env.firstFile = p
		return env, nil
	}
}

func isEnvelopeKey(k string) bool {
	switch k {
	case keyBody, keyQuery, keyHeaders, keyPathParams, keyFiles:
		return true
	}
	return false
}

// hasFiles reports whether the envelope carries any file.
func (env *Envelope) hasFiles() bool { return len(env.Files) > 0 || env.firstFile != nil }

// bodyFields returns the keys of a JSON-object body as form fields: strings as they are,
// other values as their JSON text (contract §4).
func (env *Envelope) bodyFields() ([][2]string, error) {
	if env.Body == nil {
		return env.formFields, nil
	}
	var m map[string]json.RawMessage
	if strictUnmarshal(env.Body, &m) != nil || m == nil {
		return nil, invalid("Field 'body' must be an object for a multipart endpoint.")
	}
	out := make([][2]string, 0, len(m)+len(env.formFields))
	out = append(out, env.formFields...)
	for _, k := range sortedKeys(m) {
		v := m[k]
		if isNull(v) {
			continue
		}
		var s string
		if strictUnmarshal(v, &s) == nil {
			out = append(out, [2]string{k, s})
			continue
		}
		out = append(out, [2]string{k, strings.TrimSpace(string(v))})
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
