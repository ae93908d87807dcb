package browsertest

// A real browser (Chromium, driven over the DevTools protocol) loads a page from an origin
// the org allows, mints nothing itself — the test gives it a short-lived browser token —
// and runs the HeyGen documentation's complete workflow, unchanged, against the shipped
// gateway (the `aiproxy serve` binary) in front of the simulators. The same page on an
// origin the org does not allow must be refused by the browser.
//
// chromedp is the standard Go driver of the Chrome DevTools protocol: it starts the browser
// binary named by AIPROXY_TEST_CHROMIUM and drives it without any other runtime (no Node,
// no WebDriver server).

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/aiproxy/aiproxy/internal/proctest"
	"github.com/aiproxy/aiproxy/internal/sim"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

// ChromiumEnv names the Chromium binary the test drives. Unset: the test skips (a laptop
// without a browser); set to something that does not start: the test fails.
const ChromiumEnv = "AIPROXY_TEST_CHROMIUM"

//go:embed testdata/page.html
var pageHTML string

// docsModule is the repository's copy of the documentation page's functions.
const docsModule = "../../examples/lib/heygen-docs.mjs"

const (
	org       = "web"
	heygenKey = "hg-browser-tenant-key-93b0e7a4"
)

func TestBrowserOnAnAllowedOriginRunsTheDocumentedWorkflowAndOtherOriginsAreRefused(t *testing.T) {
	chromium := chromiumFromEnv(t)
	docs, err := os.ReadFile(docsModule)
	if err != nil {
		t.Fatal(err)
	}

	// The simulators at real speed: the documentation polls every 5 s, so the first status
	// check finds the video processing and a later one finds it completed.
	_, simSrv := simtest.StartPublic(t, simcore.Options{Speed: 1, Seed: 1}, sim.New)
	simURL := simSrv.URL

	// The gateway, set up with its CLI as an operator would.
	bin := proctest.Build(t)
	db := filepath.Join(t.TempDir(), "aiproxy.db")
	env := proctest.Env("AIPROXY_MASTER_KEY=" + strings.Repeat("5a", 32))
	proctest.Run(t, bin, env, "", "org", "create", org, "--db", db)
	admin := strings.TrimSpace(proctest.Run(t, bin, env, "", "key", "create", "--org", org, "--db", db))
	proctest.Run(t, bin, env, heygenKey+"\n", "credential", "set", "heygen", "--org", org, "--key", "-", "--db", db)
	gw := startGateway(t, bin, env, "--db", db, "--upstream", "heygen="+simURL, "--upstream", "elevenlabs="+simURL)
	gwURL, err := url.Parse(gw)
	if err != nil {
		t.Fatal(err)
	}
	gwOrigin := gwURL.Scheme + "://" + gwURL.Host

	// Two page servers: different ports are different origins. The org allows the first.
	page := pageHandler(gwOrigin, docs)
	allowed := httptest.NewServer(page)
	t.Cleanup(allowed.Close)
	denied := httptest.NewServer(page)
	t.Cleanup(denied.Close)
	call(t, http.MethodPatch, gw+"/orgs/"+org+"/", "Api-Key "+admin, "", map[string]any{"cors_origins": []string{allowed.URL}}, http.StatusOK)
	var minted struct {
		Token     string `json:"token"`
		ExpiresAt string `json:"expires_at"`
	}
	b := call(t, http.MethodPost, gw+"/orgs/"+org+"/tokens/", "Api-Key "+admin, "", map[string]any{"scopes": []string{"heygen:*"}, "ttl_seconds": 600}, http.StatusCreated)
	if err := json.Unmarshal(b, &minted); err != nil || minted.Token == "" || minted.ExpiresAt == "" {
		t.Fatalf("minting a browser token: %s", b)
	}

	// What the gateway tells browsers, asked directly: the allowed origin echoed, never *.
	checkCORSHeaders(t, gw, minted.Token, allowed.URL, denied.URL)

	// The browser.
	opts := chromiumOptions(chromium, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	var mu sync.Mutex
	var console []string
	acao := map[string][]string{} // gateway response URL → Access-Control-Allow-Origin values seen
	if err := chromedp.Listen(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range ev.Args {
				if len(a.Value) > 0 {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			console = append(console, string(ev.Type)+": "+strings.Join(parts, " "))
		case *network.EventResponseReceived:
			if strings.HasPrefix(ev.Response.URL, gwOrigin+"/") {
				v := ""
				for k, h := range ev.Response.Headers {
					if strings.EqualFold(k, "Access-Control-Allow-Origin") {
						v = fmt.Sprint(h)
					}
				}
				acao[ev.Response.URL] = append(acao[ev.Response.URL], v)
			}
		}
	}); err != nil {
		t.Fatalf("%s=%s does not work: %v", ChromiumEnv, chromium, err)
	}
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		t.Logf("browser console:\n\t%s", strings.Join(console, "\n\t"))
	}()
	version, err := chromedp.Run(bctx, chromedp.Evaluate[string](`navigator.userAgent`))
	if err != nil {
		t.Fatalf("%s=%s does not work: %v", ChromiumEnv, chromium, err)
	}
	t.Logf("browser: %s", version)

	// The allowed origin: the documented workflow ends with the video's URL.
	start := time.Now()
	res := runWorkflow(t, bctx, allowed.URL, minted.Token)
	t.Logf("allowed origin %s: %v after %v", allowed.URL, res, time.Since(start).Round(time.Millisecond))
	if res["status"] != "completed" {
		t.Fatalf("the workflow on the allowed origin ended with %v", res)
	}
	if u, _ := res["video_url"].(string); !strings.HasPrefix(u, simURL+"/") {
		t.Errorf("video_url %q is not the simulator's (%s)", u, simURL)
	}
	mu.Lock()
	seen := 0
	for u, vs := range acao {
		for _, v := range vs {
			seen++
			if v != allowed.URL {
				t.Errorf("the gateway answered %s with Access-Control-Allow-Origin %q, want exactly %q", u, v, allowed.URL)
			}
		}
	}
	mu.Unlock()
	t.Logf("the browser saw %d gateway responses, each with Access-Control-Allow-Origin %s", seen, allowed.URL)
	if seen < 4 { // avatars, voices, generate, status (at least once)
		t.Errorf("the browser saw %d gateway responses, want at least 4: %v", seen, acao)
	}

	// Another origin: the browser refuses the gateway's answer; fetch rejects with a
	// TypeError, which the page reports.
	res = runWorkflow(t, bctx, denied.URL, minted.Token)
	t.Logf("denied origin %s: %v", denied.URL, res)
	if res["status"] != "error" || res["name"] != "TypeError" || res["message"] != "Failed to fetch" {
		t.Errorf("the workflow on an origin the org does not allow ended with %v, want a TypeError \"Failed to fetch\"", res)
	}
}

// chromiumFromEnv is the Chromium binary named by ChromiumEnv; the test skips when the
// variable is unset and fails when it names no file.
func chromiumFromEnv(t *testing.T) string {
	t.Helper()
	chromium := os.Getenv(ChromiumEnv)
	if chromium == "" {
		t.Skip(ChromiumEnv + " not set: skipping the real-browser test (set it to a Chromium binary, e.g. /usr/bin/chromium)")
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s=%s: %v", ChromiumEnv, chromium, err)
	}
	return chromium
}

// chromiumOptions starts chromium headless with a fresh profile in dataDir, plus extra
// flags.
func chromiumOptions(chromium, dataDir string, extra ...chromedp.ExecAllocatorOption) []chromedp.ExecAllocatorOption {
	return append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // CI runs as root in a container
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(dataDir),
	}, extra...)
}

// runWorkflow loads the page from origin, runs the documented workflow with the token and
// returns what the page wrote into its DOM.
func runWorkflow(t *testing.T, ctx context.Context, origin, token string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	err := chromedp.Do(ctx,
		chromedp.Navigate(origin+"/"),
		chromedp.Poll[chromedp.Void](`document.getElementById('result').dataset.state === 'ready'`, chromedp.WithPollingInterval(20*time.Millisecond)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`void runWorkflow(%q, %q, 'Hello')`, org, token)),
		chromedp.Poll[chromedp.Void](`document.getElementById('result').dataset.state === 'done'`,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(40*time.Second)),
	)
	if err != nil {
		t.Fatalf("page on %s: %v", origin, err)
	}
	out, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`#result`)))
	if err != nil {
		t.Fatalf("page on %s: %v", origin, err)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("page on %s wrote %q: %v", origin, out, err)
	}
	return res
}

// pageHandler serves the test page (its base URL is the gateway) and the documentation's
// functions as a JavaScript module.
func pageHandler(gatewayOrigin string, docs []byte) http.Handler {
	html := strings.ReplaceAll(pageHTML, "{{GATEWAY_ORIGIN}}", gatewayOrigin)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, html)
	})
	mux.HandleFunc("GET /lib/heygen-docs.mjs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(docs)
	})
	return mux
}

// checkCORSHeaders asks the gateway as a browser would (preflight, then the call) from the
// allowed origin and from another.
func checkCORSHeaders(t *testing.T, gw, token, allowed, denied string) {
	t.Helper()
	u := gw + "/orgs/" + org + "/services/heygen/list-avatars/"
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, u, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := preflight(allowed)
	if got := resp.Header.Get("Access-Control-Allow-Origin"); resp.StatusCode/100 != 2 || got != allowed {
		t.Errorf("preflight from the allowed origin: %d, Access-Control-Allow-Origin %q, want 2xx and %q", resp.StatusCode, got, allowed)
	}
	if h := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")); !strings.Contains(h, "authorization") || !strings.Contains(h, "content-type") {
		t.Errorf("preflight allows headers %q, want Authorization and Content-Type", h)
	}
	resp = preflight(denied)
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("preflight from an origin the org does not allow: Access-Control-Allow-Origin %q, want none", got)
	}
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(`{}`))
	req.Header.Set("Origin", allowed)
	req.Header.Set("Authorization", "Api-Key "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Values("Access-Control-Allow-Origin"); resp.StatusCode != http.StatusOK || len(got) != 1 || got[0] != allowed {
		t.Errorf("call from the allowed origin: %d, Access-Control-Allow-Origin %q, want 200 and exactly %q", resp.StatusCode, got, allowed)
	}
}

// ---- the gateway binary ----

// The binary, its CLI and the gateway process come from internal/proctest (shared with
// cmd/aiproxy's process tests): proctest.Build builds cmd/aiproxy from the repository's
// working tree, with -race when this test is; proctest.Env drops our AIPROXY_* settings;
// proctest.Run runs one command; proctest.Serve starts `aiproxy serve` on a free port.

// startGateway runs `aiproxy serve` on a free port and returns the API's base URL.
func startGateway(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	_, base := proctest.Serve(t, "gateway", bin, env, args...)
	return base
}

// call sends a JSON request and checks the status.
func call(t *testing.T, method, u, auth, origin string, body any, want int) []byte {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, u, resp.StatusCode, want, out)
	}
	return out
}
