package main

// End-to-end harness: the shipped gateway (newApp, exactly as `aiproxy serve` wires it)
// in front of the offline provider simulators (sim.New), both on httptest servers. Tests
// talk to the gateway over HTTP as a client following the documentation would.
//
// Every (service, action) that a test invokes successfully (2xx) through the proxy is
// recorded; when the whole package runs, TestMain fails the run if an enabled action of
// the built-in catalog was never invoked, so that a new catalog action needs a test.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/httpapi"
	"github.com/aiproxy/aiproxy/internal/masterkeys"
	"github.com/aiproxy/aiproxy/internal/proctest"
	"github.com/aiproxy/aiproxy/internal/sim"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// The tenant credentials the e2e org stores: distinctive, so a leak is easy to find.
const (
	e2eHeyGenKey = "hg-e2e-tenant-key-4d1f9b0a65c3"
	e2eElevenKey = "el-e2e-tenant-key-7c3e2a9d18f0"
	e2eOrg       = "e2e"
)

// ---- coverage of the catalog ----

var e2eCovered = struct {
	sync.Mutex
	m map[string]bool // "service/action"
}{m: map[string]bool{}}

func recordInvoked(service, action string) {
	e2eCovered.Lock()
	e2eCovered.m[service+"/"+action] = true
	e2eCovered.Unlock()
}

// uncoveredActions lists the enabled built-in actions no test invoked successfully.
func uncoveredActions() ([]string, error) {
	cat, err := catalog.Builtin()
	if err != nil {
		return nil, err
	}
	e2eCovered.Lock()
	defer e2eCovered.Unlock()
	var missing []string
	for _, svc := range cat.Services() {
		for _, ep := range svc.EnabledEndpoints() {
			if !e2eCovered.m[svc.Slug+"/"+ep.Slug] {
				missing = append(missing, svc.Slug+"/"+ep.Slug)
			}
		}
	}
	return missing, nil
}

// wholePackageRun reports whether every test of the package ran: no -run, -skip or -list
// filter, so a missing action means "no test", not "not selected".
func wholePackageRun() bool {
	for _, name := range []string{"test.run", "test.skip", "test.list"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return false
		}
	}
	return true
}

func TestMain(m *testing.M) {
	// proctest.Main keeps the aiproxy binary the process tests build (replicas_test.go,
	// rotate_test.go) for the whole run: one build per test binary.
	code := proctest.Main(m)
	if code == 0 && wholePackageRun() {
		missing, err := uncoveredActions()
		switch {
		case err != nil:
			fmt.Fprintf(os.Stderr, "FAIL: e2e coverage guard: %v\n", err)
			code = 1
		case len(missing) > 0:
			fmt.Fprintf(os.Stderr, "FAIL: e2e coverage guard: these enabled catalog actions were never invoked successfully "+
				"through the proxy by an e2e test (add one to cmd/aiproxy/e2e_*_test.go):\n\t%s\n", strings.Join(missing, "\n\t"))
			code = 1
		}
	}
	os.Exit(code)
}

// ---- the environment ----

// e2eEnv is a running simulator and gateway with one org ("e2e") whose admin key is key
// and whose tenant credentials are e2eHeyGenKey and e2eElevenKey.
type e2eEnv struct {
	t      *testing.T
	sim    *sim.Server
	simURL string
	app    *app
	proxy  *httptest.Server
	mgr    *tenancy.Manager
	key    string // admin API key of the e2e org
	db     string // the gateway's store, and its master key file (for the command line)
	keys   string
}

// newE2E starts a simulator running speed times faster than real time and the shipped
// gateway pointed at it.
func newE2E(t *testing.T, speed float64) *e2eEnv {
	t.Helper()
	ctx := context.Background()

	simulator, simSrv := simtest.StartPublic(t, simcore.Options{Speed: speed, Seed: 1}, sim.New)
	simURL := simSrv.URL

	dir := t.TempDir()
	keyFile := filepath.Join(dir, "master.key")
	if _, err := masterkeys.CreateKeyFile(keyFile); err != nil {
		t.Fatal(err)
	}
	a, err := newApp(ctx, serverOptions{
		db:        filepath.Join(dir, "aiproxy.db"),
		upstreams: []string{"heygen=" + simURL, "elevenlabs=" + simURL},
		keyFile:   keyFile,
		prefix:    httpapi.DefaultPrefix,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	proxy := httptest.NewServer(a.handler)
	t.Cleanup(proxy.Close)

	e := &e2eEnv{t: t, sim: simulator, simURL: simURL, app: a, proxy: proxy,
		mgr: a.tenancy, db: filepath.Join(dir, "aiproxy.db"), keys: keyFile}
	e.key = e.addOrg(e2eOrg, e2eHeyGenKey, e2eElevenKey)
	return e
}

// with returns the environment for a subtest: failures go to t.
func (e *e2eEnv) with(t *testing.T) *e2eEnv {
	c := *e
	c.t = t
	return &c
}

// addOrg creates an org with tenant credentials for both services and returns its admin key.
func (e *e2eEnv) addOrg(slug, heygenKey, elevenKey string) string {
	e.t.Helper()
	ctx := context.Background()
	org, err := e.mgr.CreateOrg(ctx, tenancy.CLI, slug, strings.ToUpper(slug))
	if err != nil {
		e.t.Fatal(err)
	}
	for svc, k := range map[string]string{"heygen": heygenKey, "elevenlabs": elevenKey} {
		if _, err := e.mgr.SetCredential(ctx, tenancy.CLI, e.mgr.Catalog.Service(svc), org, k); err != nil {
			e.t.Fatal(err)
		}
	}
	_, key, err := e.mgr.CreateKey(ctx, tenancy.CLI, tenancy.NewKey{Org: org, Name: "e2e admin", Role: aiproxy.RoleAdmin})
	if err != nil {
		e.t.Fatal(err)
	}
	return key
}

// sharePlatformKey stores key as the platform's key of service and makes it every org's
// default source: the orgs share one provider account.
func (e *e2eEnv) sharePlatformKey(service, key string) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.mgr.SetCredential(ctx, tenancy.CLI, e.mgr.Catalog.Service(service), nil, key); err != nil {
		e.t.Fatal(err)
	}
	src := string(aiproxy.SourcePlatform)
	yes := true
	if _, err := e.mgr.UpdateSettings(ctx, tenancy.CLI, service, nil, tenancy.SettingsChange{Policy: &tenancy.PolicyPatch{
		AllowPlatformKey: &yes, DefaultSource: &src}}); err != nil {
		e.t.Fatal(err)
	}
}

// send POSTs body to an action as org with key, and records the action when the proxy
// answers 2xx. The caller closes the response body.
func (e *e2eEnv) send(org, key, service, action, contentType string, body io.Reader) *http.Response {
	e.t.Helper()
	u := e.proxy.URL + httpapi.DefaultPrefix + "/orgs/" + org + "/services/" + service + "/" + action + "/"
	req, err := http.NewRequest(http.MethodPost, u, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Api-Key "+key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.proxy.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s/%s: %v", service, action, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		recordInvoked(service, action)
	}
	return resp
}

// encodeEnvelope turns an envelope into a request body: nil is an empty body, a string or
// []byte is sent as it is, anything else as JSON.
func encodeEnvelope(t *testing.T, envelope any) io.Reader {
	t.Helper()
	switch v := envelope.(type) {
	case nil:
		return nil
	case string:
		return strings.NewReader(v)
	case []byte:
		return bytes.NewReader(v)
	}
	b, err := json.Marshal(envelope)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

// invoke sends a JSON envelope as the e2e org and returns the whole answer.
func (e *e2eEnv) invoke(service, action string, envelope any) (int, http.Header, []byte) {
	e.t.Helper()
	return e.invokeAs(e2eOrg, e.key, service, action, envelope)
}

func (e *e2eEnv) invokeAs(org, key, service, action string, envelope any) (int, http.Header, []byte) {
	e.t.Helper()
	return e.exchange(org, key, service, action, "application/json", encodeEnvelope(e.t, envelope))
}

// exchange is send, with the whole answer read.
func (e *e2eEnv) exchange(org, key, service, action, contentType string, body io.Reader) (int, http.Header, []byte) {
	e.t.Helper()
	resp := e.send(org, key, service, action, contentType, body)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s/%s: reading the answer: %v", service, action, err)
	}
	return resp.StatusCode, resp.Header, b
}

// call invokes an action that must answer 200 with JSON, and returns it decoded.
func (e *e2eEnv) call(service, action string, envelope any) any {
	e.t.Helper()
	status, _, body := e.invoke(service, action, envelope)
	if status != http.StatusOK {
		e.t.Fatalf("%s/%s: status %d, want 200: %s", service, action, status, body)
	}
	return e2eDecode(e.t, body)
}

func e2eDecode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v: %.300s", err, b)
	}
	return v
}

// formFile is one file part of a multipart envelope.
type formFile struct {
	field, filename, contentType string
	data                         []byte
}

// invokeMultipart sends a multipart/form-data envelope: the JSON parts (body, query,
// headers, path_params) first, then the files, each under its own field name.
func (e *e2eEnv) invokeMultipart(service, action string, parts map[string]any, files ...formFile) (int, http.Header, []byte) {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(parts)) {
		j, err := json.Marshal(parts[name])
		if err != nil {
			e.t.Fatal(err)
		}
		if err := mw.WriteField(name, string(j)); err != nil {
			e.t.Fatal(err)
		}
	}
	for _, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, f.field, f.filename))
		h.Set("Content-Type", f.contentType)
		w, err := mw.CreatePart(h)
		if err != nil {
			e.t.Fatal(err)
		}
		_, _ = w.Write(f.data)
	}
	if err := mw.Close(); err != nil {
		e.t.Fatal(err)
	}
	return e.exchange(e2eOrg, e.key, service, action, mw.FormDataContentType(), &buf)
}

// download GETs an absolute URL (a simulator media link) with optional header pairs.
func (e *e2eEnv) download(u string, header ...string) (int, http.Header, []byte) {
	e.t.Helper()
	resp, b := simtest.Do(e.t, http.DefaultClient, http.MethodGet, u, nil, header...)
	return resp.StatusCode, resp.Header, b
}

// e2ePoll calls check until it reports done, failing the test after a generous
// deadline (the simulators run fast; the deadline only guards against a hang).
func e2ePoll(t *testing.T, what string, check func() bool) {
	t.Helper()
	simtest.WaitFor(t, what, 20*time.Second, 20*time.Millisecond, check)
}

// e2ePathParams is the envelope {"path_params": {name: value}}.
func e2ePathParams(name string, value any) map[string]any {
	return map[string]any{"path_params": map[string]any{name: value}}
}

// e2eWebhookSink starts a server that accepts every webhook delivery, until the test ends,
// and returns its URL.
func e2eWebhookSink(t *testing.T) string {
	t.Helper()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(hook.Close)
	return hook.URL
}

// ---- reading JSON ----

// jget walks a decoded JSON value: jget(v, "data", "avatars", 0, "avatar_id").
func jget(v any, path ...any) any { return simtest.Get(v, path...) }

// jstr returns the string at path, failing the test when there is none.
func jstr(t *testing.T, v any, path ...any) string {
	t.Helper()
	s, ok := jget(v, path...).(string)
	if !ok || s == "" {
		b, _ := json.Marshal(v)
		t.Fatalf("no string at %v in %.500s", path, b)
	}
	return s
}

// jlist returns the array at path, failing the test when there is none.
func jlist(t *testing.T, v any, path ...any) []any {
	t.Helper()
	a, ok := jget(v, path...).([]any)
	if !ok {
		b, _ := json.Marshal(v)
		t.Fatalf("no array at %v in %.500s", path, b)
	}
	return a
}

// isMP4 reports whether b starts with an ISO-BMFF ftyp box.
func isMP4(b []byte) bool { return len(b) >= 8 && string(b[4:8]) == "ftyp" }

// tinyPNG is a valid 2×2 PNG.
var tinyPNG = func() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}()
