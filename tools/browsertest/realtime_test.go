package browsertest

// A real browser opens a realtime text-to-speech session (docs/realtime.md) on the shipped
// gateway with a short-lived browser token, as a browser application would: the token in a
// WebSocket subprotocol (browsers cannot set headers on a WebSocket), ElevenLabs'
// stream-input messages in, base64 MP3 chunks out. The page decodes what it received with
// the Web Audio API and plays it to the end. A wrong or expired token must leave the page
// without an open socket, and the `?token=` form must work too. The token must reach
// neither the gateway's log nor the provider.

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/aiproxy/aiproxy/internal/proctest"
	"github.com/aiproxy/aiproxy/internal/sim"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

//go:embed testdata/realtime.html
var realtimeHTML string

const (
	elevenLabsKey = "el-browser-tenant-key-5c1e9d02"
	realtimeVoice = "21m00Tcm4TlvDq8ikWAM" // Rachel, a premade voice
	realtimeModel = "eleven_flash_v2_5"
	// simSecondsPerChar is the simulator's speaking rate (internal/sim/elevenlabs, tts.go).
	simSecondsPerChar = 0.06
	// mp3FrameSeconds is one MP3 frame of 1152 samples at 44.1 kHz.
	mp3FrameSeconds = 1152.0 / 44100
)

// speakReport is what the page's speak function reports.
type speakReport struct {
	Error          string   `json:"error"`
	Events         []string `json:"events"`
	Protocol       string   `json:"protocol"`
	Chunks         int      `json:"chunks"`
	AudioBytes     int      `json:"audioBytes"`
	Alignment      bool     `json:"alignment"`
	AlignmentChars string   `json:"alignmentChars"`
	IsFinal        bool     `json:"isFinal"`
	CloseCode      int      `json:"closeCode"`
	CloseReason    string   `json:"closeReason"`
	WasClean       bool     `json:"wasClean"`
	Duration       float64  `json:"duration"`
	SampleRate     float64  `json:"sampleRate"`
	Channels       int      `json:"channels"`
	Length         int      `json:"length"`
	Peak           float64  `json:"peak"`
	ContextState   string   `json:"contextState"`
	Ended          bool     `json:"ended"`
	PlayedSeconds  float64  `json:"playedSeconds"`
	WallSeconds    float64  `json:"wallSeconds"`
}

// openReport is what the page's tryOpen function reports.
type openReport struct {
	Error    string   `json:"error"`
	Opened   bool     `json:"opened"`
	Protocol string   `json:"protocol"`
	Code     int      `json:"code"`
	WasClean bool     `json:"wasClean"`
	Events   []string `json:"events"`
}

// recordingSim is the simulator, recording what reaches it of each realtime handshake.
type recordingSim struct {
	*sim.Server
	mu         sync.Mutex
	handshakes []string // "<path>?<query> protocols=<Sec-WebSocket-Protocol>"
}

func (s *recordingSim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		s.mu.Lock()
		s.handshakes = append(s.handshakes, r.URL.RequestURI()+" protocols="+strings.Join(r.Header.Values("Sec-WebSocket-Protocol"), ","))
		s.mu.Unlock()
	}
	s.Server.ServeHTTP(w, r)
}

func (s *recordingSim) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.handshakes...)
}

func TestBrowserRealtimeTTSWithABrowserTokenPlaysTheAudio(t *testing.T) {
	chromium := chromiumFromEnv(t)
	testStart := time.Now()

	// The simulator at real speed: its inactivity timeout (20 simulated seconds) must not
	// end a session between the page's messages.
	provider, simSrv := simtest.Start(t, simcore.Options{Speed: 1, Seed: 1}, func(o simcore.Options) *recordingSim {
		return &recordingSim{Server: sim.New(o)}
	})

	// The gateway, set up with its CLI as an operator would; its log is kept.
	bin := proctest.Build(t)
	db := filepath.Join(t.TempDir(), "aiproxy.db")
	env := proctest.Env("AIPROXY_MASTER_KEY=" + strings.Repeat("5a", 32))
	proctest.Run(t, bin, env, "", "org", "create", org, "--db", db)
	admin := strings.TrimSpace(proctest.Run(t, bin, env, "", "key", "create", "--org", org, "--db", db))
	proctest.Run(t, bin, env, elevenLabsKey+"\n", "credential", "set", "elevenlabs", "--org", org, "--key", "-", "--db", db)
	gwProc, gw := proctest.Serve(t, "gateway", bin, env, "--db", db, "--upstream", "elevenlabs="+simSrv.URL)
	gwURL, err := url.Parse(gw)
	if err != nil {
		t.Fatal(err)
	}
	realtimePath := gwURL.Path + "/orgs/" + org + "/services/elevenlabs/realtime/tts-websocket/"
	sessionURL := "ws://" + gwURL.Host + realtimePath + "?" + url.Values{
		"voice_id": {realtimeVoice}, "model_id": {realtimeModel}, "output_format": {"mp3_44100_128"},
	}.Encode()

	// The page's origin, allowed by the org (the handshake does not check Origin, but an
	// application's page is on an allowed origin for its other calls).
	page := httptest.NewServer(realtimePageHandler())
	t.Cleanup(page.Close)
	call(t, http.MethodPatch, gw+"/orgs/"+org+"/", "Api-Key "+admin, "", map[string]any{"cors_origins": []string{page.URL}}, http.StatusOK)

	// The page's token, as its backend would mint it for one user's session; and one that
	// lives a second, for the expired case.
	token := mintToken(t, gw, admin, []string{"elevenlabs:tts*"}, 600)
	expired := mintToken(t, gw, admin, []string{"elevenlabs:tts*"}, 1)
	wrong := token[:len(token)-6] + "x0x0x0"
	if wrong == token {
		wrong = token[:len(token)-6] + "y1y1y1"
	}

	// The browser, allowed to play audio without a user's gesture (a headless page has no
	// user to click).
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, chromiumOptions(chromium, t.TempDir(),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	var mu sync.Mutex
	var console []string
	if err := chromedp.Listen(bctx, func(ev any) {
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
			mu.Lock()
			console = append(console, string(ev.Type)+": "+strings.Join(parts, " "))
			mu.Unlock()
		case *runtime.EventExceptionThrown:
			mu.Lock()
			console = append(console, "exception: "+ev.ExceptionDetails.Text)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("%s=%s does not work: %v", ChromiumEnv, chromium, err)
	}
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		if len(console) > 0 {
			t.Logf("browser console:\n\t%s", strings.Join(console, "\n\t"))
		}
	}()
	pageCtx, cancelPage := context.WithTimeout(bctx, 15*time.Second)
	defer cancelPage()
	if err := chromedp.Do(pageCtx,
		chromedp.Navigate(page.URL+"/"),
		chromedp.Poll[chromedp.Void](`document.getElementById('result').dataset.state === 'ready'`, chromedp.WithPollingInterval(20*time.Millisecond)),
	); err != nil {
		t.Fatalf("%s=%s: loading the page: %v", ChromiumEnv, chromium, err)
	}
	version, err := chromedp.Run(bctx, chromedp.Evaluate[string](`navigator.userAgent`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("browser: %s; setup took %v", version, time.Since(testStart).Round(time.Millisecond))

	// 1. The token as a subprotocol: a whole session, decoded and played.
	chunks := []string{"Hello from a browser. ", "Streamed through ", "the gateway, ", "played back."}
	text := strings.Join(chunks, "")
	start := time.Now()
	rep := speak(t, bctx, map[string]any{
		"url":              sessionURL,
		"protocols":        []string{"aiproxy", "aiproxy.token." + token},
		"chunks":           chunks,
		"voiceSettings":    map[string]any{"stability": 0.5, "similarity_boost": 0.8},
		"generationConfig": map[string]any{"chunk_length_schedule": []int{50}},
		"play":             true,
	})
	t.Logf("subprotocol session (%v): %d chunks, %d bytes of MP3, decoded %.3f s at %v Hz, %d channel(s), peak %v; context %s; played %.3f s (audio clock), %.3f s (wall); closed %d %q; events %v",
		time.Since(start).Round(time.Millisecond), rep.Chunks, rep.AudioBytes, rep.Duration, rep.SampleRate, rep.Channels, rep.Peak,
		rep.ContextState, rep.PlayedSeconds, rep.WallSeconds, rep.CloseCode, rep.CloseReason, rep.Events)
	if rep.Error != "" {
		t.Fatalf("the page's session failed: %s (events %v)", rep.Error, rep.Events)
	}
	if rep.Protocol != "aiproxy" {
		t.Errorf("ws.protocol = %q, want %q (the gateway selects aiproxy, never echoes the token beside it)", rep.Protocol, "aiproxy")
	}
	if rep.CloseCode != 1000 || !rep.WasClean {
		t.Errorf("the session closed with %d (clean %v), want 1000 after the final message", rep.CloseCode, rep.WasClean)
	}
	if !rep.IsFinal {
		t.Errorf("no isFinal message before the close: %v", rep.Events)
	}
	// chunk_length_schedule [50]: one generation once 50 characters are buffered (after
	// the third chunk), another for the rest when the input ends.
	if rep.Chunks < 2 {
		t.Errorf("%d audio messages, want at least 2 (chunk_length_schedule [50] over %d characters)", rep.Chunks, utf8.RuneCountInString(text))
	}
	if !rep.Alignment || rep.AlignmentChars != text {
		t.Errorf("alignment: arrived %v, characters %q, want %q", rep.Alignment, rep.AlignmentChars, text)
	}
	// The duration the simulator speaks: 0.06 s a character, each generation rounded to
	// whole frames (half a frame each at most), a frame more for the decoder's priming.
	want := simSecondsPerChar * float64(utf8.RuneCountInString(text))
	if tol := float64(rep.Chunks+2) * mp3FrameSeconds; rep.Duration <= 0 || math.Abs(rep.Duration-want) > tol {
		t.Errorf("decoded duration %.3f s, want %.3f s ± %.3f (%d characters at %.2f s each)", rep.Duration, want, tol, utf8.RuneCountInString(text), simSecondsPerChar)
	}
	if rep.SampleRate != 44100 || rep.Channels < 1 {
		t.Errorf("decoded %v Hz, %d channels; want 44100 Hz (mp3_44100_128)", rep.SampleRate, rep.Channels)
	}
	if rep.ContextState != "running" {
		t.Errorf("AudioContext state %q after resume, want running (autoplay allowed)", rep.ContextState)
	}
	if !rep.Ended {
		t.Errorf("the AudioBufferSourceNode's ended event did not fire: %v", rep.Events)
	}
	// Played, not skipped: the audio clock advanced by the buffer's length.
	if rep.PlayedSeconds < rep.Duration*0.9 {
		t.Errorf("ended after %.3f s of the audio clock, want about the buffer's %.3f s", rep.PlayedSeconds, rep.Duration)
	}

	// 2. The token in the query (no subprotocol): a short session, decoded, not played.
	short := []string{"Query token."}
	rep = speak(t, bctx, map[string]any{
		"url":    sessionURL + "&token=" + url.QueryEscape(token),
		"chunks": short,
	})
	t.Logf("query-token session: %d chunks, decoded %.3f s at %v Hz; closed %d; events %v", rep.Chunks, rep.Duration, rep.SampleRate, rep.CloseCode, rep.Events)
	if rep.Error != "" {
		t.Fatalf("the page's session with ?token= failed: %s (events %v)", rep.Error, rep.Events)
	}
	if rep.Protocol != "" || rep.CloseCode != 1000 || !rep.IsFinal || rep.Chunks < 1 || rep.Duration <= 0 {
		t.Errorf("the session with ?token=: protocol %q, close %d, isFinal %v, %d chunks, %.3f s; want no protocol, 1000, true, ≥ 1, > 0",
			rep.Protocol, rep.CloseCode, rep.IsFinal, rep.Chunks, rep.Duration)
	}

	// 3. Refusals: the gateway answers the handshake with 401, so the page never gets an
	// open socket: error, then close 1006. First what the gateway answers (asked directly),
	// then what the page sees.
	waitUntilRefused(t, gw+strings.TrimPrefix(realtimePath, gwURL.Path), expired)
	for _, c := range []struct {
		name      string
		url       string
		protocols []string
		token     string
	}{
		{"wrong token as a subprotocol", sessionURL, []string{"aiproxy", "aiproxy.token." + wrong}, wrong},
		{"expired token as a subprotocol", sessionURL, []string{"aiproxy", "aiproxy.token." + expired}, expired},
		{"wrong token in the query", sessionURL + "&token=" + url.QueryEscape(wrong), nil, wrong},
	} {
		if status, body := handshake(t, c.url, c.protocols); status != http.StatusUnauthorized {
			t.Errorf("%s: the gateway answered the handshake %d %s, want 401", c.name, status, body)
		}
		rep := tryOpen(t, bctx, c.url, c.protocols)
		t.Logf("%s: opened %v, close %d, events %v", c.name, rep.Opened, rep.Code, rep.Events)
		if rep.Error != "" || rep.Opened || rep.Code != 1006 || len(rep.Events) == 0 || rep.Events[0] != "error" {
			t.Errorf("%s: the page saw %+v; want no open socket: error, then close 1006", c.name, rep)
		}
	}

	// 4. The token never reached the provider, nor the gateway's log.
	handshakes := provider.seen()
	if len(handshakes) != 2 {
		t.Errorf("the provider saw %d handshakes, want 2 (the two sessions): %q", len(handshakes), handshakes)
	}
	for _, h := range handshakes {
		if strings.Contains(h, "token") || strings.Contains(h, token) {
			t.Errorf("the provider's handshake carried the token: %s", h)
		}
	}
	// Stopped, the gateway has written every line of its log (a request's line follows
	// its answer).
	if err := gwProc.Stop(); err != nil {
		t.Errorf("stopping the gateway: %v", err)
	}
	log := gwProc.Output.String()
	for name, tok := range map[string]string{"the token": token, "the expired token": expired, "the wrong token": wrong} {
		if strings.Contains(log, tok) {
			t.Errorf("%s appears in the gateway's log", name)
		}
	}
	var lines []string
	statuses := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^.*msg=request .*path=`+regexp.QuoteMeta(realtimePath)+` status=(\d+).*$`).FindAllStringSubmatch(log, -1) {
		lines = append(lines, m[0])
		statuses[m[1]]++
	}
	// Two sessions; the refusals: three asked from Go, three by the page, one or more
	// while waiting for the short token to expire.
	if statuses["101"] != 2 || statuses["401"] < 7 {
		t.Errorf("the gateway logged realtime requests with statuses %v, want 2 × 101 and at least 7 × 401:\n%s", statuses, log)
	}
	t.Logf("the gateway's log (%d bytes) holds no token; its realtime request lines:\n\t%s", len(log), strings.Join(lines, "\n\t"))
	t.Logf("total %v", time.Since(testStart).Round(time.Millisecond))
}

// realtimePageHandler serves the realtime page.
func realtimePageHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, realtimeHTML)
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	return mux
}

// mintToken mints a browser token of the org with the admin key.
func mintToken(t *testing.T, gw, admin string, scopes []string, ttl int) string {
	t.Helper()
	var minted struct {
		Token string `json:"token"`
	}
	b := call(t, http.MethodPost, gw+"/orgs/"+org+"/tokens/", "Api-Key "+admin, "", map[string]any{"scopes": scopes, "ttl_seconds": ttl}, http.StatusCreated)
	if err := json.Unmarshal(b, &minted); err != nil || len(minted.Token) < 16 {
		t.Fatalf("minting a browser token: %s", b)
	}
	return minted.Token
}

// pageTimeout bounds one page function; the page's own deadlines are shorter, so a stuck
// step is reported by the page with its name.
const pageTimeout = 20 * time.Second

// speak runs the page's speak function with args (timeoutMs added).
func speak(t *testing.T, ctx context.Context, args map[string]any) speakReport {
	t.Helper()
	args["timeoutMs"] = 10000
	var rep speakReport
	runPage(t, ctx, "speak", args, &rep)
	return rep
}

// tryOpen runs the page's tryOpen function.
func tryOpen(t *testing.T, ctx context.Context, u string, protocols []string) openReport {
	t.Helper()
	var rep openReport
	runPage(t, ctx, "tryOpen", map[string]any{"url": u, "protocols": protocols, "timeoutMs": 10000}, &rep)
	return rep
}

// runPage awaits window[fn](args) in the page and decodes its report into out.
func runPage(t *testing.T, ctx context.Context, fn string, args map[string]any, out any) {
	t.Helper()
	a, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, pageTimeout)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](fmt.Sprintf(`window.%s(%s)`, fn, a), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("the page's %s did not report within %v: %v", fn, pageTimeout, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("the page's %s reported %s: %v", fn, raw, err)
	}
}

// handshake opens a WebSocket handshake as a browser would and returns the status and body
// of the answer (the connection is not used).
func handshake(t *testing.T, wsURL string, protocols []string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http"+strings.TrimPrefix(wsURL, "ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if len(protocols) > 0 {
		req.Header.Set("Sec-WebSocket-Protocol", strings.Join(protocols, ", "))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// waitUntilRefused waits, within 10 s, until the gateway refuses token on the realtime
// route u (http) with 401: a token minted with ttl_seconds 1 has then expired.
func waitUntilRefused(t *testing.T, u, token string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, u+"?voice_id="+realtimeVoice, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a token minted with ttl_seconds 1 is still accepted (%d) 10 s later", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
