package main

// Catalog as data, proven: a deployment adds a provider, and overrides a field of a built-in
// one, with YAML files alone (`aiproxy serve --catalog-dir DIR`), and no line of Go for the
// provider. The files are testdata/catalog-dir/*.yaml; docs/adding-a-provider.md walks
// through them.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/httpapi"
	"github.com/aiproxy/aiproxy/internal/masterkeys"
	"github.com/aiproxy/aiproxy/internal/proctest"
)

// The keys the org stores with `aiproxy credential set`: distinctive, so that one in the
// wrong place is easy to see.
const (
	acmeKey        = "acme-tenant-key-5b8e0c2f71d4"
	acmeDecoyHG    = "hg-decoy-key-0f3a9c6e2b71"
	acmeDecoyEL    = "el-decoy-key-8d2b4f1a7c90"
	acmeExampleURL = "https://api.acme.example" // base_url in testdata/catalog-dir/acme.yaml
)

// acmeUpstream stands in for the made-up provider: it answers the three actions of
// acme.yaml as a real API would, and records every request's headers so that the test can
// tell which credential reached it.
type acmeUpstream struct {
	t       *testing.T
	srv     *httptest.Server
	release chan struct{} // closed by the test once it has read the stream's first event

	mu      sync.Mutex
	headers []http.Header
}

func newAcmeUpstream(t *testing.T) *acmeUpstream {
	u := &acmeUpstream{t: t, release: make(chan struct{})}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *acmeUpstream) seen() []http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.headers)
}

func acmeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (u *acmeUpstream) serve(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.headers = append(u.headers, r.Header.Clone())
	u.mu.Unlock()

	// Acme's own credential header, with its prefix; nothing else authenticates.
	if r.Header.Get("X-Acme-Token") != "Token "+acmeKey {
		acmeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{"code": "unauthorized"}})
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v2/widgets":
		mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/form-data" {
			acmeJSON(w, http.StatusUnsupportedMediaType, map[string]any{"error": map[string]any{"code": "want_multipart"}})
			return
		}
		form, err := multipart.NewReader(r.Body, params["boundary"]).ReadForm(1 << 20)
		if err != nil {
			acmeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"code": "bad_form", "message": err.Error()}})
			return
		}
		files := form.File["artwork"]
		if len(files) != 1 || len(form.Value["title"]) != 1 {
			acmeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": map[string]any{"code": "validation_error",
				"message": "artwork (one file) and title are required"}})
			return
		}
		f, err := files[0].Open()
		if err != nil {
			acmeJSON(w, http.StatusBadRequest, nil)
			return
		}
		data, _ := io.ReadAll(f)
		f.Close()
		acmeJSON(w, http.StatusCreated, map[string]any{"widget_id": "wdg_7f3e", "title": form.Value["title"][0],
			"filename": files[0].Filename, "content_type": files[0].Header.Get("Content-Type"), "bytes": len(data)})

	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v2/widgets/") && strings.HasSuffix(r.URL.Path, "/render"):
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v2/widgets/"), "/render")
		var body struct {
			Size string `json:"size"`
		}
		if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&body) != nil {
			acmeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"code": "want_json"}})
			return
		}
		switch {
		case id == "wdg_busy":
			w.Header().Set("Retry-After", "4")
			acmeJSON(w, http.StatusTooManyRequests, map[string]any{"error": map[string]any{"code": "slow_down"}})
		case id != "wdg_7f3e":
			// Echoes the credential it received, as careless APIs do: the gateway masks it.
			acmeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{"code": "widget_not_found",
				"message": "no widget " + id + " for token " + r.Header.Get("X-Acme-Token")}})
		case body.Size == "":
			acmeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": map[string]any{"code": "validation_error",
				"message": "size is required"}})
		default:
			acmeJSON(w, http.StatusOK, map[string]any{"widget_id": id, "size": body.Size, "status": "rendered",
				"trace": r.Header.Get("X-Acme-Trace")})
		}

	case r.Method == http.MethodPost && r.URL.Path == "/v2/narrations/stream":
		var body struct {
			Text string `json:"text"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Text == "" {
			acmeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": map[string]any{"code": "validation_error"}})
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		words := strings.Fields(body.Text)
		for i, word := range words {
			fmt.Fprintf(w, "event: word\ndata: {\"i\": %d, \"word\": %q}\n\n", i, word)
			w.(http.Flusher).Flush()
			if i == 0 {
				// The rest comes only once the client holds the first event: had the
				// gateway buffered the stream, the test would time out here.
				select {
				case <-u.release:
				case <-time.After(10 * time.Second):
					u.t.Errorf("narrate: the client never saw the first event (the stream was held back)")
					return
				case <-r.Context().Done():
					return
				}
			}
		}
		fmt.Fprint(w, "event: done\ndata: {}\n\n")

	default:
		acmeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{"code": "not_found"}})
	}
}

// catalogDirFromTestdata copies testdata/catalog-dir into a new directory, with acme's
// base_url pointing at the stand-in server.
func catalogDirFromTestdata(t *testing.T, acmeURL string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(filepath.Join("testdata", "catalog-dir"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata", "catalog-dir", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "acme.yaml" {
			if !strings.Contains(string(b), "base_url: "+acmeExampleURL+"\n") {
				t.Fatalf("acme.yaml no longer says base_url: %s", acmeExampleURL)
			}
			b = []byte(strings.Replace(string(b), acmeExampleURL, acmeURL, 1))
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestE2ECatalogDirAddsAProviderWithYAMLAlone: a made-up provider, "acme", defined only by
// testdata/catalog-dir/acme.yaml, with its own base URL, its own credential header and
// three actions in different modes, is listed by discovery, takes its credential from
// `aiproxy credential set`, and answers each action through the gateway: its credential in
// its own header and never another service's, the stream in pieces, its errors mapped as
// every provider's are. The same directory overrides the base URL of the built-in
// elevenlabs service, which discovery shows.
func TestE2ECatalogDirAddsAProviderWithYAMLAlone(t *testing.T) {
	t.Parallel()
	up := newAcmeUpstream(t)
	catDir := catalogDirFromTestdata(t, up.srv.URL)

	dir := t.TempDir()
	db := filepath.Join(dir, "aiproxy.db")
	keyFile := filepath.Join(dir, "master.key")
	if _, err := masterkeys.CreateKeyFile(keyFile); err != nil {
		t.Fatal(err)
	}

	// The administration commands, as an operator types them.
	admin := func(args ...string) (string, string, int) {
		t.Helper()
		return cli(t, db, "", append(args, "--master-key-file", keyFile)...)
	}
	must := func(args ...string) string {
		t.Helper()
		out, errs, code := admin(append(args, "--catalog-dir", catDir)...)
		if code != 0 {
			t.Fatalf("aiproxy %s: exit %d: %s", strings.Join(args, " "), code, errs)
		}
		return out
	}
	must("org", "create", e2eOrg)
	key := strings.TrimSpace(must("key", "create", "--org", e2eOrg))
	// Without the directory, the command line knows no acme.
	if _, errs, code := admin("credential", "set", "acme", "--org", e2eOrg, "--key", acmeKey); code != 2 || !strings.Contains(errs, `unknown service "acme"`) {
		t.Errorf("credential set acme without --catalog-dir: exit %d %q, want 2 naming the unknown service", code, errs)
	}
	if out, errs, code := cli(t, db, acmeKey+"\n", "credential", "set", "acme", "--org", e2eOrg, "--key", "-",
		"--catalog-dir", catDir, "--master-key-file", keyFile); code != 0 {
		t.Fatalf("credential set acme: exit %d: %s %s", code, out, errs)
	}
	// Keys of the other services, which must never reach acme.
	must("credential", "set", "heygen", "--org", e2eOrg, "--key", acmeDecoyHG)
	must("credential", "set", "elevenlabs", "--org", e2eOrg, "--key", acmeDecoyEL)

	// The gateway, wired as `aiproxy serve --catalog-dir` wires it.
	a, err := newApp(context.Background(), serverOptions{
		db: db, catalogDir: catDir, keyFile: keyFile, prefix: httpapi.DefaultPrefix,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	proxy := httptest.NewServer(a.handler)
	t.Cleanup(proxy.Close)
	e := &e2eEnv{t: t, app: a, proxy: proxy, mgr: a.tenancy, key: key, db: db, keys: keyFile}

	get := func(t *testing.T, path string) any {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, proxy.URL+httpapi.DefaultPrefix+path, nil)
		req.Header.Set("Authorization", "Api-Key "+key)
		resp, err := proxy.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return e2eDecode(t, b)
	}

	t.Run("discovery lists acme and its actions", func(t *testing.T) {
		list := jlist(t, get(t, "/orgs/"+e2eOrg+"/services/"))
		var acme map[string]any
		for _, s := range list {
			if m, _ := s.(map[string]any); m["slug"] == "acme" {
				acme = m
			}
		}
		if acme == nil {
			t.Fatalf("the service list has no acme: %v", list)
		}
		if acme["display_name"] != "Acme Studio" || acme["service_type"] != "video" || acme["endpoint_count"] != float64(3) ||
			acme["credential_name"] != "acme" || acme["supports_streaming"] != true || acme["is_enabled"] != true {
			t.Errorf("acme in the list: %v", acme)
		}

		d := get(t, "/orgs/"+e2eOrg+"/services/acme/")
		if jget(d, "base_url") != up.srv.URL || jget(d, "auth_mode") != "header" || jget(d, "default_timeout_seconds") != float64(30) ||
			jget(d, "credential_policy", "default_source") != "tenant" {
			t.Errorf("acme detail: %v", d)
		}
		type ep struct {
			slug, method, path, req, resp string
			params, files                 string
			streaming                     bool
			timeout                       float64
		}
		want := []ep{
			{"upload-artwork", "POST", "/v2/widgets", "multipart", "json", "[]", "[artwork]", false, 30},
			{"render-widget", "POST", "/v2/widgets/{widget_id}/render", "json", "json", "[widget_id]", "[]", false, 30},
			{"narrate", "POST", "/v2/narrations/stream", "json", "stream", "[]", "[]", true, 120},
		}
		eps := jlist(t, d, "endpoints")
		if len(eps) != len(want) {
			t.Fatalf("acme has %d endpoints, want %d: %v", len(eps), len(want), eps)
		}
		strs := func(v any) string {
			var out []string
			for _, x := range asList(v) {
				out = append(out, fmt.Sprint(x))
			}
			return "[" + strings.Join(out, " ") + "]"
		}
		for i, w := range want {
			got := ep{
				slug: fmt.Sprint(jget(eps[i], "slug")), method: fmt.Sprint(jget(eps[i], "http_method")),
				path: fmt.Sprint(jget(eps[i], "path_template")), req: fmt.Sprint(jget(eps[i], "request_mode")),
				resp: fmt.Sprint(jget(eps[i], "response_mode")), params: strs(jget(eps[i], "path_params")),
				files: strs(jget(eps[i], "file_fields")), streaming: jget(eps[i], "supports_streaming") == true,
			}
			got.timeout, _ = jget(eps[i], "timeout_seconds").(float64)
			if got != w {
				t.Errorf("endpoint %d: %+v, want %+v", i, got, w)
			}
		}
		if jget(eps[1], "billable") != true || jget(eps[1], "account_scope") != "job" || jget(eps[2], "account_scope") != "public" {
			t.Errorf("flags: %v", eps)
		}
	})

	t.Run("the override changes one field of a built-in service", func(t *testing.T) {
		builtin, err := catalog.Builtin()
		if err != nil {
			t.Fatal(err)
		}
		el := builtin.Service("elevenlabs")
		d := get(t, "/orgs/"+e2eOrg+"/services/elevenlabs/")
		if jget(d, "base_url") != "https://api.eu.residency.elevenlabs.io" {
			t.Errorf("elevenlabs base_url %v, want the override's", jget(d, "base_url"))
		}
		// Everything else is the built-in's.
		if jget(d, "display_name") != el.DisplayName || jget(d, "service_type") != el.ServiceType ||
			jget(d, "default_timeout_seconds") != el.DefaultTimeout.Seconds() ||
			len(jlist(t, d, "endpoints")) != len(el.EnabledEndpoints()) {
			t.Errorf("elevenlabs detail changed beyond base_url: %v", d)
		}
		if s := a.catalog.Service("elevenlabs"); s.AuthHeader != el.AuthHeader || s.CredentialName != el.CredentialName {
			t.Errorf("elevenlabs auth %q/%q, want the built-in's %q/%q", s.AuthHeader, s.CredentialName, el.AuthHeader, el.CredentialName)
		}
		if got := jget(get(t, "/orgs/"+e2eOrg+"/services/heygen/"), "base_url"); got != builtin.Service("heygen").BaseURL {
			t.Errorf("heygen base_url %v: a file that does not name it changed it", got)
		}
	})

	t.Run("multipart upload to json", func(t *testing.T) {
		e := e.with(t)
		status, _, body := e.invokeMultipart("acme", "upload-artwork", map[string]any{"body": map[string]any{"title": "logo"}},
			formFile{field: "artwork", filename: "logo.png", contentType: "image/png", data: tinyPNG})
		if status != http.StatusCreated {
			t.Fatalf("upload-artwork: %d %s", status, body)
		}
		v := e2eDecode(t, body)
		if jget(v, "widget_id") != "wdg_7f3e" || jget(v, "title") != "logo" || jget(v, "filename") != "logo.png" ||
			jget(v, "content_type") != "image/png" || jget(v, "bytes") != float64(len(tinyPNG)) {
			t.Errorf("upload-artwork answered %s", body)
		}
		// creates_job: the gateway recorded the widget as the org's.
		jobs := jlist(t, get(t, "/orgs/"+e2eOrg+"/jobs/?service=acme"), "results")
		if len(jobs) != 1 || jget(jobs[0], "upstream_job_id") != "wdg_7f3e" || jget(jobs[0], "action") != "upload-artwork" ||
			jget(jobs[0], "credential_source") != "tenant" {
			t.Errorf("acme jobs: %v", jobs)
		}
	})

	t.Run("json to json with a path parameter", func(t *testing.T) {
		e := e.with(t)
		v := e.call("acme", "render-widget", map[string]any{
			"path_params": map[string]any{"widget_id": "wdg_7f3e"},
			"body":        map[string]any{"size": "1080p"},
			// The client tries to slip in credentials: the gateway drops every service's
			// credential header, acme's own included, and passes the rest on.
			"headers": map[string]any{"X-Acme-Token": "Token forged", "X-Api-Key": "smuggled", "xi-api-key": "smuggled",
				"Authorization": "Bearer smuggled", "X-Acme-Trace": "t-1"},
		})
		if jget(v, "widget_id") != "wdg_7f3e" || jget(v, "size") != "1080p" || jget(v, "status") != "rendered" || jget(v, "trace") != "t-1" {
			t.Errorf("render-widget answered %v", v)
		}
	})

	t.Run("json to stream, in pieces", func(t *testing.T) {
		e := e.with(t)
		resp := e.send(e2eOrg, key, "acme", "narrate", "application/json",
			encodeEnvelope(t, map[string]any{"body": map[string]any{"text": "hello from acme"}}))
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("narrate: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		r := bufio.NewReader(resp.Body)
		readEvent := func() string {
			var ev strings.Builder
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					t.Fatalf("narrate: after %q: %v", ev.String(), err)
				}
				if line == "\n" {
					return ev.String()
				}
				ev.WriteString(line)
			}
		}
		// The upstream holds the rest until this first event has arrived.
		if first := readEvent(); first != "event: word\ndata: {\"i\": 0, \"word\": \"hello\"}\n" {
			t.Errorf("first event %q", first)
		}
		close(up.release)
		rest, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(rest), `"word": "acme"`) || !strings.HasSuffix(string(rest), "event: done\ndata: {}\n\n") {
			t.Errorf("rest of the stream: %q", rest)
		}
	})

	t.Run("errors map as every provider's do", func(t *testing.T) {
		e := e.with(t)
		status, _, body := e.invoke("acme", "render-widget", map[string]any{
			"path_params": map[string]any{"widget_id": "wdg_gone"}, "body": map[string]any{"size": "1080p"}})
		m := e2eUpstreamError(t, "404", status, body, http.StatusBadGateway, e2eDetailFailed, float64(404))
		if jget(m, "upstream_body", "error", "code") != "widget_not_found" {
			t.Errorf("upstream_body %v", m["upstream_body"])
		}
		if strings.Contains(string(body), acmeKey) {
			t.Errorf("the provider's echo of its key reached the client: %s", body)
		}

		status, _, body = e.invoke("acme", "render-widget", map[string]any{"path_params": map[string]any{"widget_id": "wdg_7f3e"}})
		m = e2eUpstreamError(t, "422", status, body, http.StatusBadGateway, e2eDetailFailed, float64(422))
		if jget(m, "upstream_body", "error", "message") != "size is required" {
			t.Errorf("upstream_body %v", m["upstream_body"])
		}

		status, hdr, body := e.invoke("acme", "render-widget", map[string]any{
			"path_params": map[string]any{"widget_id": "wdg_busy"}, "body": map[string]any{"size": "1080p"}})
		e2eUpstreamError(t, "429", status, body, http.StatusTooManyRequests, e2eDetailRateLimit, float64(429))
		if hdr.Get("Retry-After") != "4" {
			t.Errorf("Retry-After %q, want the provider's 4", hdr.Get("Retry-After"))
		}

		// The gateway's own checks apply as to any action: a missing path parameter never
		// reaches the provider.
		before := len(up.seen())
		status, _, body = e.invoke("acme", "render-widget", map[string]any{"body": map[string]any{"size": "1080p"}})
		if status != http.StatusBadRequest || jget(e2eDecode(t, body), "error") != "Missing required path parameter: widget_id" {
			t.Errorf("render-widget without widget_id: %d %s", status, body)
		}
		if n := len(up.seen()); n != before {
			t.Errorf("a request without its path parameter reached the provider")
		}
	})

	// Every request acme received carried its own key in its own header, and nothing of
	// another service's.
	seen := up.seen()
	if len(seen) < 6 {
		t.Errorf("acme received %d requests, want at least 6", len(seen))
	}
	for i, h := range seen {
		if got := h.Values("X-Acme-Token"); len(got) != 1 || got[0] != "Token "+acmeKey {
			t.Errorf("request %d: X-Acme-Token %q, want exactly the stored key with its prefix", i, got)
		}
		for _, name := range []string{"X-Api-Key", "Xi-Api-Key", "Authorization"} {
			if v := h.Values(name); len(v) > 0 {
				t.Errorf("request %d: carries %s %q", i, name, v)
			}
		}
		for name, vs := range h {
			for _, v := range vs {
				if strings.Contains(v, acmeDecoyHG) || strings.Contains(v, acmeDecoyEL) || strings.Contains(v, "smuggled") || strings.Contains(v, "forged") {
					t.Errorf("request %d: header %s %q holds another service's key or a client's", i, name, v)
				}
			}
		}
	}
}

func asList(v any) []any { l, _ := v.([]any); return l }

// TestE2ECatalogDirWithABrokenFileStopsServe: `aiproxy serve --catalog-dir` with a file it
// cannot use refuses to start, exit status 1, with a message that names the file and the
// problem.
func TestE2ECatalogDirWithABrokenFileStopsServe(t *testing.T) {
	t.Parallel()
	bin := proctest.Build(t)
	env := proctest.Env("AIPROXY_MASTER_KEY=" + randomHex(32))
	good, err := os.ReadFile(filepath.Join("testdata", "catalog-dir", "acme.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file, content string
		want                []string // in the message, besides the file's path
	}{
		{"not YAML", "acme.yaml", "slug: acme\nendpoints:\n  - slug: narrate\n\tmethod: POST\n",
			[]string{"yaml: line 3: found a tab character"}},
		{"a misspelled field", "acme.yaml", strings.Replace(string(good), "request_mode: multipart", "reqest_mode: multipart", 1),
			[]string{"field reqest_mode not found"}},
		{"an action without its response mode", "acme.yaml", strings.Replace(string(good), "    response_mode: stream\n", "", 1),
			[]string{`service "acme": endpoint "narrate": missing response_mode`}},
		{"an override with a bad base_url", "elevenlabs-eu.yaml", "slug: elevenlabs\nbase_url: ftp://eu.example\n",
			[]string{`service "elevenlabs": base_url: "ftp://eu.example" is not an absolute http(s) URL`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			catDir := t.TempDir()
			path := filepath.Join(catDir, tc.file)
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			db := filepath.Join(t.TempDir(), "aiproxy.db")
			_, stderr, code := proctest.Exec(t, bin, env, "", "serve", "--addr", "127.0.0.1:0", "--db", db, "--catalog-dir", catDir)
			if code != 1 {
				t.Errorf("exit %d, want 1; stderr: %s", code, stderr)
			}
			msg := strings.TrimSpace(stderr)
			t.Log(msg)
			if !strings.HasPrefix(msg, "aiproxy: catalog: "+path+": ") {
				t.Errorf("message %q does not start by naming the file %s", msg, path)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not say %q", msg, w)
				}
			}
			if strings.Contains(msg, "listening") {
				t.Errorf("the server started: %s", msg)
			}
		})
	}
}

// TestCatalogDirExampleMatchesTheDocs: docs/adding-a-provider.md shows the test's acme.yaml
// as its worked example; apart from comments, the two say the same.
func TestCatalogDirExampleMatchesTheDocs(t *testing.T) {
	strip := func(s string) string {
		var out []string
		for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
			if !strings.HasPrefix(strings.TrimSpace(line), "#") {
				out = append(out, line)
			}
		}
		return strings.Join(out, "\n")
	}
	file, err := os.ReadFile(filepath.Join("testdata", "catalog-dir", "acme.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "adding-a-provider.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "```yaml\n")
	if block, _, ok2 := strings.Cut(block, "```"); !ok || !ok2 || strip(block) != strip(string(file)) {
		t.Errorf("the first yaml block of docs/adding-a-provider.md is not testdata/catalog-dir/acme.yaml:\n%s\nwant:\n%s",
			strip(block), strip(string(file)))
	}
}
