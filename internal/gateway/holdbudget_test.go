package gateway

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/membudget"
)

func wantExhausted(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, membudget.ErrExhausted) {
		t.Fatalf("error %v, want membudget.ErrExhausted", err)
	}
	if ae := aiproxy.AsError(err); ae == nil || ae.Code != aiproxy.EUNAVAILABLE || ae.RetryAfter == "" {
		t.Fatalf("error %#v, want EUNAVAILABLE with Retry-After", err)
	}
}

// What an invoke holds is reserved from the deployment's budget first: a request that
// would pass it is refused with 503, and nothing reaches the upstream.
func TestHeldEnvelopeBeyondTheBudgetIs503(t *testing.T) {
	svc := hiCatalog(t)
	b := membudget.New(48 << 10)
	up := newHiUpstream(t)
	g := hiGateway(t, up, Config{Budget: b})
	big := strings.Repeat("a", 64<<10)

	_, err := hiInvoke(t, g, svc, "json", strings.NewReader(`{"body": {"text": "`+big+`"}}`), "application/json")
	wantExhausted(t, err)
	body, ct := hiMultipart(t, [4]string{"description", "", "", big}, [4]string{"file", "a", "", "x"})
	_, err = hiInvoke(t, g, svc, "upload", body, ct)
	wantExhausted(t, err)
	// A text part after the first file, while the upstream request is under way.
	body, ct = hiMultipart(t, [4]string{"file", "a", "", "x"}, [4]string{"description", "", "", big})
	_, err = hiInvoke(t, g, svc, "upload", body, ct)
	wantExhausted(t, err)
	up.noneComplete(t)
	if n := b.Used(); n != 0 {
		t.Fatalf("%d bytes still reserved after the refused requests", n)
	}
}

// The budget is shared: while other requests hold it, a request that needs a little more
// is refused; once they are done it passes, and gives everything back when it ends.
func TestBudgetSpentByOthersRefusesThenRecovers(t *testing.T) {
	svc := hiCatalog(t)
	b := membudget.New(64 << 10)
	up := newHiUpstream(t)
	g := hiGateway(t, up, Config{Budget: b})
	envelope := `{"body": {"text": "` + strings.Repeat("a", 4<<10) + `"}}`
	if err := b.Reserve(60 << 10); err != nil { // other requests in flight
		t.Fatal(err)
	}
	_, err := hiInvoke(t, g, svc, "json", strings.NewReader(envelope), "application/json")
	wantExhausted(t, err)
	up.notCalled(t)
	b.Release(60 << 10)
	if _, err := hiInvoke(t, g, svc, "json", strings.NewReader(envelope), "application/json"); err != nil {
		t.Fatal(err)
	}
	if n := b.Used(); n != 0 {
		t.Fatalf("%d bytes still reserved after the request", n)
	}
}

// Every kind of invoke holds part of the budget while it runs and none after, whether it
// succeeds or fails.
func TestBudgetIsHeldDuringTheInvokeAndReleasedAfter(t *testing.T) {
	svc := hiCatalog(t)
	b := membudget.New(1 << 30)
	var during atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		during.Store(b.Used())
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("fail") != "" {
			w.WriteHeader(500)
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	g := New(Config{Budget: b, Upstreams: map[string]*url.URL{"hisvc": u}, SpoolDir: t.TempDir()})
	t.Cleanup(g.Close)
	data := `"` + strings.Repeat("QUJD", 1000) + `"`
	file := `{"filename": "a", "content_type": "text/plain", "data": ` + data + `}`
	multipartEnvelope, multipartType := hiMultipart(t, [4]string{"body", "", "", `{"name": "x"}`}, [4]string{"file", "a", "", "x"})
	for _, tc := range []struct {
		name, action, envelope, contentType string
		fails                               bool
	}{
		{"json", "json", `{"body": {"text": "hello"}}`, "application/json", false},
		{"json upstream error", "json", `{"query": {"fail": "1"}, "body": {"text": "hello"}}`, "application/json", true},
		{"multipart streamed", "upload", `{"query": {}, "headers": {}, "body": {"n": 1}, "files": {"f": ` + file + `}}`, "application/json", false},
		{"multipart spooled", "upload", `{"files": {"f": ` + file + `}, "body": {"n": 1}}`, "application/json", false},
		{"binary streamed", "binary", `{"query": null, "headers": null, "files": {"f": ` + file + `}}`, "application/json", false},
		{"binary spooled", "binary", `{"files": {"f": ` + file + `}}`, "application/json", false},
		{"multipart envelope", "upload", multipartEnvelope.String(), multipartType, false},
		{"bad envelope", "json", `{"query": 1}`, "application/json", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			during.Store(-1)
			_, err := hiInvoke(t, g, svc, tc.action, strings.NewReader(tc.envelope), tc.contentType)
			if (err != nil) != tc.fails {
				t.Fatalf("error %v", err)
			}
			if !tc.fails && during.Load() <= 0 {
				t.Errorf("nothing was reserved while the upstream was called (%d)", during.Load())
			}
			if n := b.Used(); n != 0 {
				t.Errorf("%d bytes still reserved after the invoke", n)
			}
		})
	}
}
