package httpapi

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/textproto"
	"slices"
	"strings"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// Provider-native routes (docs/native.md): …/orgs/{org}/native/{service}/{provider path}
// answers a request made as if to the provider — its method, path, query, body and content
// type — when the method and path are those of a catalog action of the service. The
// request is turned into the envelope an invoke would carry (a stream, never read whole)
// and runs the invoke's pipeline; a WebSocket action's upgrade runs the relay's. A path the
// catalog does not list is 404 and goes nowhere.

const nativeRoute = "orgs/{org}/native/{service}/{path...}"

// nativeMethods are the methods the native route takes; the action decides the rest.
var nativeMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// isNative reports whether r is a request of the native route.
func (s *Server) isNative(r *http.Request) bool {
	return r.Pattern == s.prefix+"/"+nativeRoute
}

// nativeAuthorization is the Authorization value of a native request that has none: the
// gateway key in the service's own credential header (where official SDKs put the key
// they are given), else, for a WebSocket upgrade, a browser's token as on the realtime
// route. "" when there is none.
func (s *Server) nativeAuthorization(r *http.Request) string {
	if svc := s.tenancy.Catalog.Service(r.PathValue("service")); svc != nil && svc.AuthHeader != "" {
		if v := r.Header.Get(svc.AuthHeader); v != "" {
			if p := svc.AuthPrefix; p != "" && len(v) >= len(p) && strings.EqualFold(v[:len(p)], p) {
				v = v[len(p):]
			}
			return "Bearer " + strings.TrimSpace(v)
		}
	}
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return realtimeAuthorization(r)
	}
	return ""
}

// native serves every method of the native route.
func (s *Server) native(w http.ResponseWriter, r *http.Request) error {
	org, err := s.org(r, tenancy.AnyKey)
	if err != nil {
		return err
	}
	slug := r.PathValue("service")
	li := logInfoFrom(r.Context())
	li.service = slug
	st, err := s.tenancy.UsableService(r.Context(), actorFrom(r), org, slug)
	if err != nil {
		return err
	}
	providerPath, ok := s.nativePath(r)
	if !ok {
		return errNativeNotFound(slug, r.Method)
	}
	ep, params, allow := st.Service.Match(r.Method, providerPath)
	if ep == nil && r.Method == http.MethodHead {
		ep, params, allow = st.Service.Match(http.MethodGet, providerPath)
	}
	if ep == nil {
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			return aiproxy.Errorf(aiproxy.EMETHOD, "Method %q not allowed for %s on service '%s' (allowed: %s).",
				r.Method, providerPath, slug, strings.Join(allow, ", "))
		}
		return errNativeNotFound(slug, r.Method)
	}
	st, ep, err = s.action(r, org, slug, ep.Slug)
	if err != nil {
		return err
	}
	if ep.WebSocket() {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			s.tenancy.Refused(org, slug, ep.Slug)
			return aiproxy.Errorf(aiproxy.EINVALID, "%s is the provider's WebSocket path of action '%s': connect with a WebSocket upgrade request.", providerPath, ep.Slug)
		}
		query, err := allowedQuery(ep, r.URL.Query(), nil)
		if err != nil {
			s.tenancy.Refused(org, slug, ep.Slug)
			return err
		}
		return s.serveRealtime(w, r, org, st, ep, params, query)
	}
	nr, err := s.nativeEnvelope(r, ep, params)
	if err != nil {
		s.tenancy.Refused(org, slug, ep.Slug)
		return err
	}
	err = s.invokeAction(w, nr, org, st, ep)
	if ans, ok := providerAnswer(err); ok {
		// The provider's own refusal reaches the client as the provider sent it (scrubbed),
		// not wrapped in the gateway's 502: SDKs tell their errors apart by status and body.
		ans.write(w)
		li.status, li.err = ans.status, err
		return nil
	}
	return err
}

// nativeAnswer is a provider's non-2xx answer as the native route returns it.
type nativeAnswer struct {
	status     int
	body       any // json.RawMessage, or text
	retryAfter string
}

// providerAnswer reports whether err is the provider's non-2xx answer to an upstream call
// (the gateway's 502 or 429 carrying upstream_status and upstream_body, contract §8).
func providerAnswer(err error) (nativeAnswer, bool) {
	ae := aiproxy.AsError(err)
	if ae == nil || ae.Fields == nil {
		return nativeAnswer{}, false
	}
	status, ok := ae.Fields["upstream_status"].(int)
	body, hasBody := ae.Fields["upstream_body"]
	if !ok || !hasBody || status < 300 || status > 599 {
		return nativeAnswer{}, false
	}
	return nativeAnswer{status: status, body: body, retryAfter: ae.RetryAfter}, true
}

func (a nativeAnswer) write(w http.ResponseWriter) {
	h := w.Header()
	if a.retryAfter != "" {
		h.Set("Retry-After", a.retryAfter)
	}
	var b []byte
	switch v := a.body.(type) {
	case json.RawMessage:
		h.Set("Content-Type", "application/json")
		b = v
	case string:
		if v != "" {
			h.Set("Content-Type", "text/plain; charset=utf-8")
		}
		b = []byte(v)
	}
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(a.status)
	_, _ = w.Write(b)
}

func errNativeNotFound(service, method string) error {
	return aiproxy.Errorf(aiproxy.ENOTFOUND, "No action of service '%s' has this method and path (%s); the native route serves only the catalog's actions.", service, method)
}

// nativePath is the provider's path of r, as the client escaped it: what follows
// …/native/{service}.
func (s *Server) nativePath(r *http.Request) (string, bool) {
	// "", the prefix's segments, orgs, {org}, native, {service}, then the provider's path:
	// segments are counted, not compared, as any of them may be escaped.
	skip := strings.Count(s.prefix, "/") + 4
	parts := strings.SplitN(r.URL.EscapedPath(), "/", skip+2)
	if len(parts) < skip+2 {
		return "", false
	}
	return "/" + parts[skip+1], true
}

// nativeDroppedHeaders are request headers of a native call that describe the client's
// call to the gateway, not the provider call: the gateway's own credentials and
// idempotency, and a browser's page context. (The gateway's header filter drops the rest
// of what a client may not send: credentials of any provider, framing, routing.)
var nativeDroppedHeaders = []string{"Authorization", idempotencyKeyHeader, "Origin", "Referer", "Cookie"}

// nativeEnvelope returns a copy of r whose body is the envelope of the native request:
// query, headers and path_params first, then the body as the action's request mode takes
// it — JSON text as "body", a multipart form's parts after the envelope's own, one upload
// as the binary action's file — streamed, never read whole.
func (s *Server) nativeEnvelope(r *http.Request, ep *catalog.Endpoint, params map[string]string) (*http.Request, error) {
	headers := map[string]string{}
	for name, vs := range r.Header {
		if slices.Contains(nativeDroppedHeaders, name) || strings.HasPrefix(name, "Sec-") || len(vs) == 0 {
			continue
		}
		if svc := s.tenancy.Catalog.Service(r.PathValue("service")); svc != nil && strings.EqualFold(name, svc.AuthHeader) {
			continue
		}
		headers[name] = strings.Join(vs, ", ")
	}
	query := map[string]any{}
	for name, vs := range r.URL.Query() {
		if len(vs) == 1 {
			query[name] = vs[0]
		} else {
			query[name] = vs
		}
	}
	parts := [][2]string{}
	for _, kv := range []struct {
		key string
		v   any
	}{{"query", query}, {"headers", headers}, {"path_params", params}} {
		b, err := json.Marshal(kv.v)
		if err != nil {
			return nil, err
		}
		parts = append(parts, [2]string{kv.key, string(b)})
	}

	nr := new(http.Request)
	*nr = *r
	nr.Header = r.Header.Clone()
	nr.Header.Del("Content-Length")
	nr.ContentLength = -1
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	ct := r.Header.Get("Content-Type")
	mediaType, mparams, _ := mime.ParseMediaType(ct)

	switch ep.RequestMode {
	case catalog.RequestMultipart:
		boundary := mparams["boundary"]
		if !strings.HasPrefix(mediaType, "multipart/") || boundary == "" {
			return nil, aiproxy.Errorf(aiproxy.EINVALID, "Action '%s' takes a multipart/form-data body (Content-Type %q).", ep.Slug, ct)
		}
		var pre strings.Builder
		for _, p := range parts {
			fmt.Fprintf(&pre, "--%s\r\nContent-Disposition: form-data; name=%q\r\nContent-Type: application/json\r\n\r\n%s\r\n", boundary, p[0], p[1])
		}
		nr.Body = readCloser{io.MultiReader(strings.NewReader(pre.String()), body), body}
		// the client's Content-Type, boundary included, stays

	case catalog.RequestBinary:
		boundary := randomBoundary()
		var pre strings.Builder
		for _, p := range parts {
			fmt.Fprintf(&pre, "--%s\r\nContent-Disposition: form-data; name=%q\r\nContent-Type: application/json\r\n\r\n%s\r\n", boundary, p[0], p[1])
		}
		field := "file"
		if len(ep.FileFields) > 0 {
			field = ep.FileFields[0]
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf("form-data; name=%q; filename=%q", field, "upload"))
		h.Set("Content-Type", ct)
		fmt.Fprintf(&pre, "--%s\r\nContent-Disposition: %s\r\nContent-Type: %s\r\n\r\n", boundary, h.Get("Content-Disposition"), headerValue(ct))
		nr.Body = readCloser{io.MultiReader(strings.NewReader(pre.String()), body, strings.NewReader("\r\n--"+boundary+"--\r\n")), body}
		nr.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)

	default: // json, or raw (no body: one sent is not forwarded)
		var pre strings.Builder
		pre.WriteByte('{')
		for i, p := range parts {
			if i > 0 {
				pre.WriteByte(',')
			}
			fmt.Fprintf(&pre, "%q:%s", p[0], p[1])
		}
		rest := []io.Reader{strings.NewReader(pre.String())}
		if ep.RequestMode == catalog.RequestJSON {
			br := bufio.NewReaderSize(body, 512)
			if nonEmpty, err := hasContent(br); err != nil {
				return nil, aiproxy.Errorf(aiproxy.EINVALID, "The request body could not be read.")
			} else if nonEmpty {
				if mediaType != "" && mediaType != "application/json" && !strings.HasSuffix(mediaType, "+json") {
					return nil, aiproxy.Errorf(aiproxy.EINVALID, "Action '%s' takes a JSON body (Content-Type %q).", ep.Slug, ct)
				}
				rest = append(rest, strings.NewReader(`,"body":`), br)
			}
		}
		rest = append(rest, strings.NewReader("}"))
		nr.Body = readCloser{io.MultiReader(rest...), body}
		nr.Header.Set("Content-Type", "application/json")
	}
	return nr, nil
}

// hasContent reports whether br holds anything but white space, reading no further than
// the first byte that is not.
func hasContent(br *bufio.Reader) (bool, error) {
	for {
		b, err := br.Peek(1)
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			_, _ = br.Discard(1)
		default:
			return true, nil
		}
	}
}

// headerValue keeps a client's header value on one line.
func headerValue(v string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, v)
}

func randomBoundary() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "aiproxy-native-" + hex.EncodeToString(b[:])
}

// readCloser reads r and closes c (the client's body).
type readCloser struct {
	io.Reader
	c io.Closer
}

func (rc readCloser) Close() error { return rc.c.Close() }
