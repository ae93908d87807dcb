// Package heygen is an offline simulator of HeyGen's API: the v1/v2 routes the public docs
// name, the upload host's /v1/asset, and the v3 API, with per-key objects, jobs that progress
// on a scaled clock, signed webhooks, downloadable media and injectable faults.
//
// docs/simulators.md describes what it serves (§3–§17). Comments cite that document by
// section, and upstream sources by the tags of its §2, such as [HG-status]. Where HeyGen's
// documentation is silent, the choice made is marked "GAP" and listed there.
//
// The package is split by resource: videos.go, templates.go, avatars.go, voices.go,
// assets.go, translations.go, webhooks.go and user.go hold the v1/v2 and v3 handlers of one
// resource each. Handlers return errors; errors.go renders them (writeError).
package heygen

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

// Server is the HeyGen simulator. It is an http.Handler.
type Server struct {
	opts      simcore.Options
	clock     *simcore.Clock
	ids       *simcore.Rand // object ids: deterministic for a given seed and call order
	reqIDs    *simcore.Rand // X-Request-Id values, separate so reads never shift object ids
	cat       *catalog
	sigHeader string
	started   time.Time
	// maxAssetBytes caps POST /v3/assets uploads (maxV3Asset; tests lower it).
	maxAssetBytes int64

	mux      *http.ServeMux // method-aware routes
	paths    *http.ServeMux // path-only patterns, for Handles
	seenPath map[string]bool
	byStyle  map[style]http.Handler

	mu           sync.Mutex
	closed       bool
	accounts     map[string]*account
	videos       map[string]*video       // every key's videos, for media links
	translations map[string]*translation // every key's translations, for media links
	assets       map[string]*asset       // every key's assets, for media links
	speech       map[string]float64      // v3 speech id → seconds
	mediaCache   map[string][]byte

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	webhook *http.Client
}

// New returns a simulator configured by opts. It starts a background ticker that moves jobs
// forward and sends webhooks; call Close to stop it.
func New(opts simcore.Options) *Server {
	opts = opts.WithFaults()
	s := &Server{
		opts:          opts,
		clock:         simcore.NewClock(opts.Speed),
		ids:           simcore.NewRand(opts.Seed ^ 0x48657947656e),
		reqIDs:        simcore.NewRand(opts.Seed ^ 0x7265712d6964),
		cat:           newCatalog(opts.Seed),
		sigHeader:     opts.WebhookSignatureHeader,
		started:       time.Now(),
		maxAssetBytes: maxV3Asset,
		mux:           http.NewServeMux(),
		paths:         http.NewServeMux(),
		seenPath:      map[string]bool{},
		accounts:      map[string]*account{},
		videos:        map[string]*video{},
		translations:  map[string]*translation{},
		assets:        map[string]*asset{},
		speech:        map[string]float64{},
		mediaCache:    map[string][]byte{},
		// No keep-alives: no idle connection goroutines outlive Close.
		webhook: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	if s.sigHeader == "" {
		s.sigHeader = "X-Signature"
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.routes()
	s.byStyle = map[style]http.Handler{}
	for _, st := range []style{styleV1, styleV2, styleV3, styleMedia} {
		s.byStyle[st] = opts.Faults.Wrap(s.keyOf, s.faultWriter(st), s.mux)
	}
	s.wg.Add(1)
	go s.tick()
	return s
}

// ServeHTTP serves every HeyGen route (see Handles).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Request-Id", s.reqIDs.Hex(32))
	s.byStyle[styleOf(r.URL.Path)].ServeHTTP(w, r)
}

// Handles reports whether path is one of the simulator's routes (any method): the v1/v2
// routes, the upload host's /v1/asset, the v3 routes and the /media/heygen/ downloads.
func (s *Server) Handles(path string) bool {
	_, pattern := s.paths.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: path}})
	return pattern != ""
}

// Close stops the ticker and waits for in-flight webhook deliveries to end (they are
// cancelled). It is safe to call more than once.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// handler is a route's handler: it writes a success body itself and returns an error for
// writeError to render, so that every error reaches the client in its route's shape.
type handler func(http.ResponseWriter, *http.Request, *call) error

// handle registers a route. Every route except media requires a key; billable routes also
// refuse keys that are out of credit.
func (s *Server) handle(pattern string, st style, billable bool, h handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		c := &call{style: st, base: s.baseURL(r)}
		if err := s.authorize(r, c, billable); err != nil {
			s.writeError(w, st, err)
			return
		}
		if st == styleV1 || st == styleV2 {
			// Legacy responses carry deprecation headers. GAP: the JSON `warning` object is
			// left out so the documented envelopes stay exact (docs/simulators.md §4).
			w.Header().Set("Deprecation", "true")
			w.Header().Set("Sunset", "Sat, 31 Oct 2026 00:00:00 GMT")
		}
		if err := h(w, r, c); err != nil {
			s.writeError(w, st, err)
		}
	})
	_, path, _ := strings.Cut(pattern, " ")
	if broader, ok := pathOnly[path]; ok {
		path = broader
	}
	if !s.seenPath[path] {
		s.seenPath[path] = true
		s.paths.HandleFunc(path, func(http.ResponseWriter, *http.Request) {})
	}
}

// authorize fills in the caller's key and account. Media needs no key.
func (s *Server) authorize(r *http.Request, c *call, billable bool) error {
	if c.style == styleMedia {
		return nil
	}
	c.key = s.keyOf(r)
	switch s.opts.CheckKey(c.key) {
	case simcore.KeyMissing, simcore.KeyWrong:
		return errUnauthorized
	case simcore.KeyExhausted:
		c.exhausted = true
		if billable {
			return errNoCredit
		}
	}
	c.acct = s.account(c.key)
	return nil
}

// call is what a handler knows about the request beyond *http.Request.
type call struct {
	style     style
	key       string
	exhausted bool
	acct      *account
	base      string // absolute base URL for links
}

type style int

const (
	styleV1    style = iota // {"code":100,...} envelope, legacy numeric errors
	styleV2                 // {"error":null,"data":...} envelope
	styleV3                 // {"data":...}, {"error":{code,message,param,doc_url}}
	styleMedia              // downloads: no key (presigned upstream)
)

func styleOf(path string) style {
	switch {
	case strings.HasPrefix(path, "/v3/"):
		return styleV3
	case strings.HasPrefix(path, "/v2/"):
		return styleV2
	case strings.HasPrefix(path, mediaPrefix):
		return styleMedia
	}
	return styleV1
}

// keyOf returns the provider key: X-Api-Key (any case, as http.Header does), or for v3 an
// OAuth bearer token [HG-v3-auth]. GAP: precedence when both arrive; X-Api-Key wins
// (docs/simulators.md §4).
func (s *Server) keyOf(r *http.Request) string {
	if k := strings.TrimSpace(r.Header.Get("X-Api-Key")); k != "" {
		return k
	}
	if strings.HasPrefix(r.URL.Path, "/v3/") {
		if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
	}
	return ""
}

func (s *Server) baseURL(r *http.Request) string {
	if s.opts.PublicURL != "" {
		return strings.TrimRight(s.opts.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// tick moves jobs forward so that webhooks fire without anyone polling.
func (s *Server) tick() {
	defer s.wg.Done()
	every := min(max(s.clock.Scale(500*time.Millisecond), 5*time.Millisecond), 250*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.mu.Lock()
			for _, a := range s.accounts {
				for _, v := range a.videos {
					s.advanceVideo(v)
				}
				for _, tr := range a.translations {
					s.advanceTranslation(tr)
				}
				for _, b := range a.batches {
					s.advanceBatch(b)
				}
				for _, se := range a.sessions {
					s.advanceSession(se) // agents.go
				}
			}
			s.mu.Unlock()
		}
	}
}
