package browsertest

// The JavaScript client (clients/js, the @aiproxy/client package) in a real browser: a page
// on an origin the org allows imports clients/js/src/index.js, unchanged, as an ES module
// and, with a browser token, discovers the services, finds an action by its provider path,
// invokes a JSON action, turns text into speech as a Blob, sends that Blob back as a file
// with upload progress (the XMLHttpRequest path), reads a streamed answer, and checks a
// typed error and an aborted call, against the shipped gateway in front of the simulators.

import (
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

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/aiproxy/aiproxy/internal/proctest"
	"github.com/aiproxy/aiproxy/internal/sim"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

//go:embed testdata/jsclient.html
var jsClientPageHTML string

// jsClientModule is the package's source, served to the page as it is published.
const jsClientModule = "../../clients/js/src/index.js"

const (
	jsClientHeyGenKey     = "hg-jsclient-tenant-key-4c1d9e2a"
	jsClientElevenLabsKey = "el-jsclient-tenant-key-7b3f0a6c"
)

// jsClientReport is what the page writes into its DOM.
type jsClientReport struct {
	Status        string   `json:"status"`
	Name          string   `json:"name"`
	Message       string   `json:"message"`
	Steps         []string `json:"steps"`
	Authorization string   `json:"authorization"`
	Services      []string `json:"services"`
	Found         string   `json:"found"`
	Avatars       int      `json:"avatars"`
	TTS           struct {
		IsBlob bool   `json:"isBlob"`
		Type   string `json:"type"`
		Size   int    `json:"size"`
		MP3    bool   `json:"mp3"`
	} `json:"tts"`
	STT struct {
		Text           string `json:"text"`
		ProgressEvents int    `json:"progressEvents"`
		Total          int    `json:"total"`
		Last           struct {
			Loaded int `json:"loaded"`
			Total  int `json:"total"`
		} `json:"last"`
	} `json:"stt"`
	Stream struct {
		Chunks int `json:"chunks"`
		Bytes  int `json:"bytes"`
	} `json:"stream"`
	Error struct {
		IsAiproxyError bool   `json:"isAiproxyError"`
		Status         int    `json:"status"`
		Detail         string `json:"detail"`
	} `json:"error"`
	Abort string `json:"abort"`
}

func TestJSClientInABrowserWithABrowserToken(t *testing.T) {
	chromium := chromiumFromEnv(t)
	module, err := os.ReadFile(jsClientModule)
	if err != nil {
		t.Fatal(err)
	}

	_, simSrv := simtest.StartPublic(t, simcore.Options{Speed: 20, Seed: 1}, sim.New)

	// The gateway, set up with its CLI as an operator would.
	bin := proctest.Build(t)
	db := filepath.Join(t.TempDir(), "aiproxy.db")
	env := proctest.Env("AIPROXY_MASTER_KEY=" + strings.Repeat("5a", 32))
	proctest.Run(t, bin, env, "", "org", "create", org, "--db", db)
	admin := strings.TrimSpace(proctest.Run(t, bin, env, "", "key", "create", "--org", org, "--db", db))
	proctest.Run(t, bin, env, jsClientHeyGenKey+"\n", "credential", "set", "heygen", "--org", org, "--key", "-", "--db", db)
	proctest.Run(t, bin, env, jsClientElevenLabsKey+"\n", "credential", "set", "elevenlabs", "--org", org, "--key", "-", "--db", db)
	gw := startGateway(t, bin, env, "--db", db, "--upstream", "heygen="+simSrv.URL, "--upstream", "elevenlabs="+simSrv.URL)
	if _, err := url.Parse(gw); err != nil {
		t.Fatal(err)
	}

	// The page's origin, allowed by the org, and its session's token as a backend mints it.
	page := httptest.NewServer(jsClientPageHandler(module))
	t.Cleanup(page.Close)
	call(t, http.MethodPatch, gw+"/orgs/"+org+"/", "Api-Key "+admin, "", map[string]any{"cors_origins": []string{page.URL}}, http.StatusOK)
	token := mintToken(t, gw, admin, []string{"heygen:*", "elevenlabs:*"}, 600)

	// The browser.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, chromiumOptions(chromium, t.TempDir())...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	var mu sync.Mutex
	var console []string
	if err := chromedp.Listen(bctx, func(ev any) {
		if ev, ok := ev.(*runtime.EventConsoleAPICalled); ok {
			var parts []string
			for _, a := range ev.Args {
				if len(a.Value) > 0 {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			mu.Lock()
			console = append(console, string(ev.Type)+": "+strings.Join(parts, " "))
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("%s=%s does not work: %v", ChromiumEnv, chromium, err)
	}
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		t.Logf("browser console:\n\t%s", strings.Join(console, "\n\t"))
	}()

	pctx, pcancel := context.WithTimeout(bctx, 60*time.Second)
	defer pcancel()
	err = chromedp.Do(pctx,
		chromedp.Navigate(page.URL+"/"),
		chromedp.Poll[chromedp.Void](`document.getElementById('result').dataset.state === 'ready'`, chromedp.WithPollingInterval(20*time.Millisecond)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`void runClient(%q, %q, %q)`, gw, org, token)),
		chromedp.Poll[chromedp.Void](`document.getElementById('result').dataset.state === 'done'`,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(50*time.Second)),
	)
	if err != nil {
		t.Fatalf("page on %s: %v", page.URL, err)
	}
	text, err := chromedp.Run(pctx, chromedp.TextContent(chromedp.CSS(`#result`)))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("page report: %s", text)
	var rep jsClientReport
	if err := json.Unmarshal([]byte(text), &rep); err != nil {
		t.Fatalf("the page wrote %q: %v", text, err)
	}
	if rep.Status != "done" {
		t.Fatalf("the page stopped after %v: %s: %s", rep.Steps, rep.Name, rep.Message)
	}
	if rep.Authorization != "Bearer" {
		t.Errorf("a client made with a token sends %q, want Bearer", rep.Authorization)
	}
	if strings.Join(rep.Services, ",") != "elevenlabs,heygen" {
		t.Errorf("discovery listed %v, want elevenlabs and heygen", rep.Services)
	}
	if rep.Found != "tts" {
		t.Errorf("findEndpoint(POST /v1/text-to-speech/{voice_id}) = %q, want tts", rep.Found)
	}
	if rep.Avatars == 0 {
		t.Errorf("list-avatars returned no avatars")
	}
	if !rep.TTS.IsBlob || !strings.HasPrefix(rep.TTS.Type, "audio/mpeg") || rep.TTS.Size < 1000 || !rep.TTS.MP3 {
		t.Errorf("tts: %+v, want an audio/mpeg Blob holding an MP3", rep.TTS)
	}
	if rep.STT.Text == "" {
		t.Errorf("speech-to-text of the Blob returned no text")
	}
	if rep.STT.ProgressEvents < 2 || rep.STT.Total <= rep.TTS.Size || rep.STT.Last.Loaded != rep.STT.Total {
		t.Errorf("upload progress: %+v, want at least two events ending with the whole body (> %d bytes)", rep.STT, rep.TTS.Size)
	}
	if rep.Stream.Chunks < 1 || rep.Stream.Bytes < 1000 {
		t.Errorf("tts-stream: %+v", rep.Stream)
	}
	if !rep.Error.IsAiproxyError || rep.Error.Status != http.StatusNotFound ||
		rep.Error.Detail != "Endpoint 'no-such-action' not found for external proxy service 'heygen'." {
		t.Errorf("the error of an unknown action: %+v", rep.Error)
	}
	if rep.Abort != "AbortError" {
		t.Errorf("an aborted call ended with %q, want AbortError", rep.Abort)
	}
}

// jsClientPageHandler serves the test page and the client module.
func jsClientPageHandler(module []byte) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, jsClientPageHTML)
	})
	mux.HandleFunc("GET /client/index.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(module)
	})
	return mux
}
