package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/budgets"
	"github.com/aiproxy/aiproxy/internal/cache"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/gateway"
	"github.com/aiproxy/aiproxy/internal/httpapi"
	"github.com/aiproxy/aiproxy/internal/masterkeys"
	"github.com/aiproxy/aiproxy/internal/membudget"
	"github.com/aiproxy/aiproxy/internal/postgres"
	"github.com/aiproxy/aiproxy/internal/prom"
	"github.com/aiproxy/aiproxy/internal/providerkeys"
	"github.com/aiproxy/aiproxy/internal/ratelimit"
	"github.com/aiproxy/aiproxy/internal/redislimit"
	"github.com/aiproxy/aiproxy/internal/tenancy"
	"github.com/redis/go-redis/v9"
)

// serverOptions is everything `serve` (and the demo) configure.
type serverOptions struct {
	addr           string
	db             string
	upstreams      []string // SERVICE=URL
	catalogDir     string
	keyFile        string
	logFormat      string
	logLevel       string
	prefix         string
	corsOrigins    string
	maxBody        int64
	maxBuffered    int64         // bytes all requests together may hold in memory
	maxInflight    int           // one key's requests in progress; 0: no bound
	rtSessions     int           // realtime sessions in progress per org (docs/realtime.md)
	bodyIdle       time.Duration // silence allowed between reads of a request body
	publicURL      string        // scheme://host[:port] for absolute links; "": relative links
	idemMaxBody    int64         // largest passthrough/stream answer kept for idempotent replay
	noAccounting   bool          // jobs, usage and budgets off (--accounting=false, for benchmarks)
	webhookPrivate bool          // org webhooks may aim at private addresses, over http
	webhookTimeout time.Duration
	metricsAddr    string
	pprofAddr      string
	redisAddr      string              // Redis for rate limits shared by replicas; "" keeps them in memory
	redisPrefix    string              // put before every Redis key (deployments sharing one Redis differ in it)
	rateLimit      int                 // invokes per minute for orgs without their own limit; 0: unlimited
	getenv         func(string) string // the environment (master keys are read from it, and reread)
}

// aiproxy serve: the gateway. Every flag may also come from its AIPROXY_* variable; the
// flag wins.
func cmdServe(ctx context.Context, sio stdio, args []string) error {
	o := serverOptions{getenv: sio.getenv}
	fs := newFlags("serve")
	fs.StringVar(&o.addr, "addr", sio.envOr("AIPROXY_ADDR", "127.0.0.1:8080"), "listen address")
	fs.StringVar(&o.db, "db", sio.envOr("AIPROXY_DB", defaultDB), "SQLite file or postgres:// URL")
	var ups multiFlag
	fs.Var(&ups, "upstream", "SERVICE=URL: point every endpoint of SERVICE at URL (repeatable)")
	fs.StringVar(&o.catalogDir, "catalog-dir", sio.envOr("AIPROXY_CATALOG_DIR", ""), "directory of catalog files that add or override services")
	fs.StringVar(&o.keyFile, "master-key-file", "", "master key file (default: AIPROXY_MASTER_KEY, AIPROXY_MASTER_KEY_FILE, or aiproxy.key beside a SQLite database)")
	fs.StringVar(&o.logFormat, "log-format", sio.envOr("AIPROXY_LOG_FORMAT", "text"), "text or json")
	fs.StringVar(&o.logLevel, "log-level", sio.envOr("AIPROXY_LOG_LEVEL", "info"), "debug, info, warn or error")
	fs.StringVar(&o.prefix, "prefix", sio.envOr("AIPROXY_PREFIX", httpapi.DefaultPrefix), "URL prefix of the API")
	fs.StringVar(&o.corsOrigins, "cors-origins", sio.envOr("AIPROXY_CORS_ORIGINS", ""), "comma-separated browser origins allowed for every org")
	fs.Int64Var(&o.maxBody, "max-body-bytes", 0, "largest request body accepted (default 5 GiB; JSON envelopes 64 MiB)")
	fs.Int64Var(&o.maxBuffered, "max-buffered-bytes", membudget.DefaultLimit, "bytes all requests together may hold in memory; beyond it requests get 503")
	maxInflight, err := sio.envInt("AIPROXY_MAX_INFLIGHT_PER_KEY")
	if err != nil {
		return err
	}
	if sio.getenv("AIPROXY_MAX_INFLIGHT_PER_KEY") == "" {
		maxInflight = defaultMaxInflightPerKey
	}
	fs.IntVar(&o.maxInflight, "max-inflight-per-key", maxInflight, "requests one key may have in progress at once (0: no bound); beyond it 429")
	rtSessions, err := sio.envInt("AIPROXY_REALTIME_SESSIONS_PER_ORG")
	if err != nil {
		return err
	}
	if sio.getenv("AIPROXY_REALTIME_SESSIONS_PER_ORG") == "" {
		rtSessions = httpapi.DefaultRealtimeSessionsPerOrg
	}
	fs.IntVar(&o.rtSessions, "realtime-sessions-per-org", rtSessions, "realtime (WebSocket) sessions one org may have in progress on this replica; beyond it 429")
	fs.DurationVar(&o.bodyIdle, "body-idle-timeout", httpapi.DefaultBodyIdleTimeout, "silence allowed between reads of a request body before the connection is closed")
	fs.Int64Var(&o.idemMaxBody, "idempotency-max-body-bytes", httpapi.DefaultIdempotencyMaxBody, "largest passthrough or stream answer kept for idempotent replay (json answers are always kept)")
	webhookPrivate := fs.Bool("webhook-allow-private", sio.envOr("AIPROXY_WEBHOOK_ALLOW_PRIVATE", "") == "true", "let org webhooks use http and loopback, private or link-local addresses (tests; receivers on the gateway's own network)")
	fs.DurationVar(&o.webhookTimeout, "webhook-timeout", httpapi.DefaultWebhookTimeout, "how long one webhook delivery attempt may take")
	accounting := fs.Bool("accounting", true, "record jobs, meter usage and hold budgets; false turns all of it off, with the shared-key ownership checks and require_idempotency_key (for benchmark comparisons only)")
	fs.StringVar(&o.publicURL, "public-url", sio.envOr("AIPROXY_PUBLIC_URL", ""), "scheme://host[:port] clients reach the gateway at, for absolute links (default: relative links)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", sio.envOr("AIPROXY_METRICS_ADDR", ""), "serve /metrics without a key on this address (keep it private); without it /metrics needs an operator key")
	fs.StringVar(&o.pprofAddr, "pprof-addr", sio.envOr("AIPROXY_PPROF_ADDR", ""), "serve net/http/pprof on this address (off by default)")
	fs.StringVar(&o.redisAddr, "redis-addr", sio.envOr("AIPROXY_REDIS_ADDR", ""), "Redis host:port or redis:// URL where replicas share rate limits (default: each process counts in memory)")
	fs.StringVar(&o.redisPrefix, "redis-prefix", sio.envOr("AIPROXY_REDIS_PREFIX", "aiproxy:"), "put before every Redis key: deployments that share one Redis must each have their own")
	defRate, err := sio.envInt("AIPROXY_RATE_LIMIT_PER_MINUTE")
	if err != nil {
		return err
	}
	fs.IntVar(&o.rateLimit, "rate-limit-per-minute", defRate, "invokes per minute for each org without a limit of its own (0: unlimited)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("serve: unexpected argument %q", pos[0])
	}
	o.noAccounting = !*accounting
	o.webhookPrivate = *webhookPrivate
	if o.rateLimit < 0 || o.rateLimit > tenancy.MaxRateLimitPerMinute {
		return usagef("serve: --rate-limit-per-minute must be from 0 to %d", tenancy.MaxRateLimitPerMinute)
	}
	if o.maxBuffered < 1<<20 {
		return usagef("serve: --max-buffered-bytes must be at least 1048576")
	}
	if o.maxInflight < 0 {
		return usagef("serve: --max-inflight-per-key must not be negative")
	}
	if o.rtSessions < 1 {
		return usagef("serve: --realtime-sessions-per-org must be at least 1")
	}
	if o.bodyIdle <= 0 {
		return usagef("serve: --body-idle-timeout must be positive")
	}
	if o.publicURL != "" && !tenancy.ValidOrigin(strings.TrimSuffix(o.publicURL, "/")) {
		return usagef("serve: --public-url %q: want scheme://host[:port], e.g. https://gateway.example.com", o.publicURL)
	}
	for _, c := range splitList(o.corsOrigins) {
		if !tenancy.ValidOrigin(c) {
			return usagef("serve: --cors-origins: %q is not an origin like https://app.example.com (lower case, no path, no wildcard)", c)
		}
	}
	if o.redisAddr != "" {
		c, err := redislimit.NewClient(o.redisAddr) // checks the address; connects lazily
		if err != nil {
			return usagef("serve: --redis-addr: %s", err)
		}
		c.Close()
	}
	if env := sio.getenv("AIPROXY_UPSTREAMS"); env != "" && len(ups) == 0 {
		for _, u := range strings.Split(env, ",") {
			ups = append(ups, strings.TrimSpace(u))
		}
	}
	o.upstreams = ups
	logOut := newBufferedLog(sio.stderr)
	defer logOut.Close()
	logger, err := newLogger(logOut, o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	app, err := newApp(ctx, o, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer app.Close()
	if o.metricsAddr != "" {
		if err := sideListener(ctx, o.metricsAddr, "metrics", http.Handler(app.metrics.Handler()), logger); err != nil {
			return err
		}
	}
	if o.pprofAddr != "" {
		if err := sideListener(ctx, o.pprofAddr, "pprof", pprofMux(), logger); err != nil {
			return err
		}
	}
	logger.Info("aiproxy listening", slog.String("addr", "http://"+ln.Addr().String()+app.prefix))
	return serveHTTP(ctx, ln, app.handler, logger)
}

// app is a wired gateway: store, catalog, keyring, HTTP handler.
type app struct {
	store   *cache.Store
	catalog *catalog.Catalog
	vault   *providerkeys.Vault
	api     *httpapi.Server
	tenancy *tenancy.Manager // the service layer the API calls
	handler http.Handler
	prefix  string
	gateway *gateway.Gateway
	// stopWatch stops the change listener of the cache.
	stopWatch func()
	metrics   *prom.Metrics
	// closeLimiter closes the rate limiter's Redis connections, if any.
	closeLimiter func()
}

func (a *app) Close() {
	a.api.Close()
	a.closeLimiter()
	a.stopWatch()
	a.store.Close()
	a.gateway.Close()
}

// cachePoll is how often a replica checks the store for changes made by others; with
// PostgreSQL, LISTEN/NOTIFY tells it at once and the poll is only a safety net.
const cachePoll = 250 * time.Millisecond

// cacheStore puts the in-memory cache in front of db and starts watching for changes that
// other replicas make: PostgreSQL pushes them (LISTEN/NOTIFY), SQLite is polled.
func cacheStore(db aiproxy.Store, logger *slog.Logger) (*cache.Store, func()) {
	pg, ok := db.(*postgres.Store)
	if !ok {
		c := cache.New(db, cachePoll, logger)
		return c, func() {}
	}
	c := cache.New(db, 4*cachePoll, logger)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := pg.Listen(ctx, c.Invalidate); err != nil {
			logger.Warn("listening for changes failed; relying on polling", slog.String("error", err.Error()))
		}
	}()
	return c, func() { cancel(); <-done }
}

func newApp(ctx context.Context, o serverOptions, logger *slog.Logger) (*app, error) {
	cat, err := catalog.Open(o.catalogDir)
	if err != nil {
		return nil, err
	}
	upstreams, err := parseUpstreams(o.upstreams, cat)
	if err != nil {
		return nil, err
	}
	if o.getenv == nil {
		o.getenv = func(string) string { return "" }
	}
	mk := masterKeys{db: o.db, file: o.keyFile, getenv: o.getenv}
	keys, err := mk.load()
	if err != nil {
		return nil, err
	}
	keys.log(logger)
	kr, err := keys.keyring()
	if err != nil {
		return nil, err
	}
	db, err := openStore(ctx, o.db)
	if err != nil {
		return nil, err
	}
	store, stopWatch := cacheStore(db, logger)
	vault := &providerkeys.Vault{Store: store, Keyring: kr, Reload: func() (*masterkeys.Keyring, error) {
		ks, err := mk.load()
		if err != nil {
			return nil, err
		}
		logger.Info("master keys reloaded", slog.String("from", ks.where), slog.Int("keys", len(ks.keys)))
		return ks.keyring()
	}}
	gw := gateway.New(gateway.Config{
		Upstreams: upstreams, MaxUploadBytes: o.maxBody, UserAgent: "aiproxy/" + version,
		Budget:            membudget.New(o.maxBuffered),
		CredentialHeaders: gateway.CredentialHeaderNames(cat.Services()),
	})
	metrics := prom.New()
	var metricsOnAPI http.Handler // /metrics on the main listener, for operator keys
	if o.metricsAddr == "" {
		metricsOnAPI = metrics.Handler()
	}
	limiter, closeLimiter, err := newLimiter(ctx, o, logger)
	if err != nil {
		stopWatch()
		store.Close()
		gw.Close()
		return nil, err
	}
	ledger, stopLedger := newBudgetLedger(o, store, logger)
	api := httpapi.New(httpapi.Config{
		Store: store, Catalog: cat, Gateway: gw, Vault: vault, Logger: logger,
		Prefix: o.prefix, CORSOrigins: splitList(o.corsOrigins), Metrics: metrics, MetricsHandler: metricsOnAPI,
		Limiter: limiter, DefaultRateLimit: o.rateLimit,
		PublicURL: o.publicURL, BodyIdleTimeout: o.bodyIdle, MaxInflightPerKey: o.maxInflight,
		Budgets: ledger, IdempotencyMaxBody: o.idemMaxBody, NoAccounting: o.noAccounting,
		WebhookAllowPrivate: o.webhookPrivate, WebhookTimeout: o.webhookTimeout,
		Realtime: httpapi.RealtimeLimits{MaxSessionsPerOrg: o.rtSessions},
	})
	for svc, u := range upstreams {
		logger.Info("upstream override", slog.String("service", svc), slog.String("url", u.String()))
	}
	return &app{store: store, catalog: cat, vault: vault, api: api, tenancy: api.Tenancy(), handler: api, prefix: o.prefix, gateway: gw,
		stopWatch: stopWatch, metrics: metrics, closeLimiter: func() { closeLimiter(); stopLedger() }}, nil
}

// sweepEvery is how often expired budget reservations (of a replica that died between
// reserving and settling) are given back, and expired idempotency records (24 hours old,
// their answers up to the size limit) deleted.
const sweepEvery = 30 * time.Second

// newBudgetLedger returns where budgets are counted: Redis, falling back to the store when
// Redis does not answer (budgets never fail open), when --redis-addr is given; else the
// store alone. A sweeper gives back expired reservations until stop is called.
func newBudgetLedger(o serverOptions, store aiproxy.Store, logger *slog.Logger) (ledger interface {
	budgets.Ledger
	Sweep(context.Context) (int, error)
}, stop func()) {
	bo := budgets.Options{Logger: logger, Prefix: o.redisKeys() + "budget:"}
	closeRedis := func() {}
	if o.redisAddr != "" {
		if client, err := redislimit.NewClient(o.redisAddr); err == nil {
			f := budgets.NewFailover(client, store, bo)
			ledger, closeRedis = f, func() { f.Close() }
		}
	}
	if ledger == nil {
		ledger = budgets.NewStoreLedger(store, bo)
	}
	// Far from their limits, budgets are taken in blocks: most invokes then cost a map
	// update rather than a transaction or two Redis scripts (see budgets.Blocks).
	ledger = budgets.NewBlocks(ledger)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(sweepEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if n, err := ledger.Sweep(ctx); err != nil {
					logger.Warn("giving back expired budget reservations failed", slog.String("error", err.Error()))
				} else if n > 0 {
					logger.Info("gave back expired budget reservations", slog.Int("reservations", n))
				}
				if n, err := store.PurgeIdempotency(ctx, time.Now()); err != nil {
					logger.Warn("purging expired idempotency records failed", slog.String("error", err.Error()))
				} else if n > 0 {
					logger.Info("purged expired idempotency records", slog.Int("records", n))
				}
				if n, err := store.PurgeWebhooks(ctx, time.Now().Add(-webhookKeep)); err != nil {
					logger.Warn("purging old webhook records failed", slog.String("error", err.Error()))
				} else if n > 0 {
					logger.Info("purged old webhook records", slog.Int("rows", n))
				}
			}
		}
	}()
	return ledger, func() { cancel(); <-done; closeRedis() }
}

// webhookKeep is how long finished webhook deliveries and seen provider events are kept.
const webhookKeep = 48 * time.Hour

// redisKeys is what every Redis key of this deployment starts with.
func (o serverOptions) redisKeys() string {
	if o.redisPrefix == "" {
		return "aiproxy:"
	}
	return o.redisPrefix
}

// newLimiter returns the rate limiter: on Redis when --redis-addr is given, so that every
// replica draws on one budget per org; otherwise in this process's memory (one replica, or
// SQLite). A Redis that does not answer at start is a warning, not a failure: requests are
// then allowed without counting (redislimit fails open) until it answers.
func newLimiter(ctx context.Context, o serverOptions, logger *slog.Logger) (ratelimit.Limiter, func(), error) {
	if o.redisAddr == "" {
		logger.Info("rate limits counted in memory", slog.Int("default_per_minute", o.rateLimit))
		return ratelimit.NewMemory(nil), func() {}, nil
	}
	client, err := redislimit.NewClient(o.redisAddr)
	if err != nil {
		return nil, nil, usagef("--redis-addr: %s", err)
	}
	redis.SetLogger(redisLog{logger}) // the client's own reports (failed dials), at debug level
	addr := client.Options().Addr     // never the URL: it may hold a password
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		logger.Warn("Redis does not answer: rate limits are not enforced until it does",
			slog.String("redis", addr), slog.String("error", err.Error()))
	} else {
		logger.Info("rate limits shared through Redis", slog.String("redis", addr), slog.Int("default_per_minute", o.rateLimit))
	}
	return redislimit.New(client, redislimit.Options{Logger: logger, Prefix: o.redisKeys() + "ratelimit:"}), func() { client.Close() }, nil
}

// redisLog passes the Redis client's own log lines to the server's log, at debug level:
// the limiter reports an unreachable Redis itself, once every ten seconds.
type redisLog struct{ l *slog.Logger }

func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

const version = "0.1.0"

// defaultMaxInflightPerKey is how many requests one key may have in progress unless
// configured: far above what one client does, far below what would starve the others.
const defaultMaxInflightPerKey = 256

// parseUpstreams reads SERVICE=URL pairs, checking the service exists and the URL is an
// absolute http(s) URL.
func parseUpstreams(pairs []string, cat *catalog.Catalog) (map[string]*url.URL, error) {
	out := map[string]*url.URL{}
	for _, p := range pairs {
		svc, raw, ok := strings.Cut(p, "=")
		if !ok || svc == "" || raw == "" {
			return nil, usagef("--upstream %q: want SERVICE=URL", p)
		}
		if cat.Service(svc) == nil {
			return nil, usagef("--upstream %q: unknown service %q", p, svc)
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usagef("--upstream %q: want an absolute http(s) URL", p)
		}
		out[svc] = u
	}
	return out, nil
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q: want text or json", format)
}

// serveHTTP serves h on ln until ctx ends, then shuts down gracefully.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	srv := httpapi.NewHTTPServer(h, logger, httpapi.Timeouts{})
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// sideListener serves h on addr until ctx ends (metrics, pprof).
func sideListener(ctx context.Context, addr, what string, h http.Handler, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s listener: %w", what, err)
	}
	logger.Info(what+" listening", slog.String("addr", "http://"+ln.Addr().String()))
	go func() { _ = serveHTTP(ctx, ln, h, logger) }()
	return nil
}

// pprofMux serves the runtime profiles; only ever on a listener of its own, opt-in.
func pprofMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
