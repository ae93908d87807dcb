package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sim"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// The demo's org and the provider keys it gives the simulators. They are not secrets: the
// simulators accept any key, and these never leave the machine.
const (
	demoOrg             = "demo"
	demoHeyGenKey       = "demo-heygen-key-0123456789"
	demoElevenKey       = "demo-elevenlabs-key-0123456789"
	demoKeyFile         = "demo-api-key"
	demoOperatorKeyFile = "demo-operator-key"
	demoDefaultDir      = "aiproxy-demo"

	// The platform-wide (shared) provider keys: a different simulated account from the
	// demo org's own, for orgs whose credential policy says "platform"
	// (examples/shared-account.mjs).
	demoPlatformHeyGenKey = "demo-platform-heygen-key-0123456789"
	demoPlatformElevenKey = "demo-platform-elevenlabs-key-0123456789"
)

// demoKeys are the keys the demo prints.
type demoKeys struct {
	admin    string // an admin key of the demo org
	operator string // an operator key (platform-wide powers)
}

// cmdDemo runs the gateway and both simulators in one process, with an org, an admin key,
// tenant credentials, platform credentials and an operator key made on first run, and
// prints how to use them.
func cmdDemo(ctx context.Context, sio stdio, args []string) error {
	fs := newFlags("demo")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address of the gateway")
	simAddr := fs.String("sim-addr", "127.0.0.1:0", "listen address of the simulators (default: any free port)")
	dir := fs.String("data-dir", demoDefaultDir, "where the demo keeps its database and keys")
	speed := fs.Float64("speed", 4, "how much faster than real time simulated jobs move")
	logFormat := fs.String("log-format", "text", "text or json")
	metricsAddr := fs.String("metrics-addr", "", "serve /metrics without a key on this address (default: on the gateway's, for operator keys)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("demo: unexpected argument %q", pos[0])
	}
	if *speed <= 0 {
		return usagef("demo: --speed must be positive")
	}
	logOut := newBufferedLog(sio.stderr)
	defer logOut.Close()
	logger, err := newLogger(logOut, *logFormat, "info")
	if err != nil {
		return err
	}

	simLn, err := net.Listen("tcp", *simAddr)
	if err != nil {
		return fmt.Errorf("simulators: %w", err)
	}
	simURL := "http://" + simLn.Addr().String()
	simulator := sim.New(simcore.Options{Speed: *speed, Seed: 1, PublicURL: simURL})
	defer simulator.Close()
	go func() { _ = http.Serve(simLn, simulator) }()
	defer simLn.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	o := serverOptions{
		db:        filepath.Join(*dir, "aiproxy.db"),
		upstreams: []string{"heygen=" + simURL, "elevenlabs=" + simURL},
		logFormat: *logFormat, prefix: "/api/ai-proxy",
		corsOrigins: "http://localhost:5173,http://127.0.0.1:5173",
		getenv:      sio.getenv,
		metricsAddr: *metricsAddr,
		// A laptop's webhook receivers listen on localhost.
		webhookPrivate: true,
	}
	a, err := newApp(ctx, o, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer a.Close()
	if *metricsAddr != "" {
		if err := sideListener(ctx, *metricsAddr, "metrics", a.metrics.Handler(), logger); err != nil {
			ln.Close()
			return err
		}
	}
	keys, err := demoSetup(ctx, a, *dir)
	if err != nil {
		ln.Close()
		return fmt.Errorf("demo setup: %w", err)
	}
	url := "http://" + ln.Addr().String()
	printDemo(sio.stdout, url, keys)
	logger.Info("demo running: gateway and simulators", slog.String("gateway", url), slog.String("simulators", simURL))
	return serveHTTP(ctx, ln, a.handler, logger)
}

// demoSetup makes the org, its admin key and its tenant credentials, the platform-wide
// credentials and an operator key on first run; later runs find them and reuse the keys
// kept in the data directory.
func demoSetup(ctx context.Context, a *app, dir string) (demoKeys, error) {
	m := a.tenancy
	org, err := m.Org(ctx, tenancy.CLI, demoOrg, tenancy.Admin)
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		org, err = m.CreateOrg(ctx, tenancy.CLI, demoOrg, "Demo")
	}
	if err != nil {
		return demoKeys{}, err
	}
	// The org's own keys (org), then the platform's (nil), each set once.
	creds := []struct {
		org  *aiproxy.Org
		keys map[string]string
	}{
		{org, map[string]string{"heygen": demoHeyGenKey, "elevenlabs": demoElevenKey}},
		{nil, map[string]string{"heygen": demoPlatformHeyGenKey, "elevenlabs": demoPlatformElevenKey}},
	}
	for _, c := range creds {
		for slug, k := range c.keys {
			svc, err := m.Service(slug)
			if err != nil {
				return demoKeys{}, err
			}
			if _, err := m.Credential(ctx, tenancy.CLI, svc, c.org); aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
				if _, err := m.SetCredential(ctx, tenancy.CLI, svc, c.org, k); err != nil {
					return demoKeys{}, err
				}
			} else if err != nil {
				return demoKeys{}, err
			}
		}
	}
	var keys demoKeys
	keys.admin, err = demoKey(ctx, m, filepath.Join(dir, demoKeyFile),
		tenancy.NewKey{Org: org, Name: "demo admin", Role: aiproxy.RoleAdmin})
	if err != nil {
		return demoKeys{}, err
	}
	keys.operator, err = demoKey(ctx, m, filepath.Join(dir, demoOperatorKeyFile),
		tenancy.NewKey{Name: "demo operator", Role: aiproxy.RoleOperator})
	if err != nil {
		return demoKeys{}, err
	}
	return keys, nil
}

// demoKey returns the key kept at path when it still works with nk's org and role, else
// makes one as nk says and keeps it there.
func demoKey(ctx context.Context, m *tenancy.Manager, path string, nk tenancy.NewKey) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		key := strings.TrimSpace(string(b))
		var orgID int64
		if nk.Org != nil {
			orgID = nk.Org.ID
		}
		if k, err := m.Authenticate(ctx, "Api-Key "+key); err == nil && k.Role == nk.Role && k.OrgID == orgID {
			return key, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	_, key, err := m.CreateKey(ctx, tenancy.CLI, nk)
	if err != nil {
		return "", err
	}
	// The demo keeps its keys in clear so the next run prints the same ones; a real
	// deployment never stores keys in clear (only their hashes).
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", err
	}
	return key, nil
}

func printDemo(w io.Writer, url string, keys demoKeys) {
	// One write: whoever sees AIPROXY_KEY (.ci/run waits for it) sees every line.
	fmt.Fprintf(w, "AIPROXY_URL=%s\nAIPROXY_ORG=%s\nAIPROXY_KEY=%s\nAIPROXY_OPERATOR_KEY=%s\n", url, demoOrg, keys.admin, keys.operator)
	fmt.Fprint(w, `
# Paste the four lines above into your shell (or: export them), then try:

# 1. Discovery: which services this org may use, and HeyGen's actions
curl -s -H "Authorization: Api-Key $AIPROXY_KEY" "$AIPROXY_URL/api/ai-proxy/orgs/$AIPROXY_ORG/services/"
curl -s -H "Authorization: Api-Key $AIPROXY_KEY" "$AIPROXY_URL/api/ai-proxy/orgs/$AIPROXY_ORG/services/heygen/"

# 2. HeyGen: generate a test video, then ask for its status (repeat until "completed")
curl -s -X POST -H "Authorization: Api-Key $AIPROXY_KEY" -H "Content-Type: application/json" \
  "$AIPROXY_URL/api/ai-proxy/orgs/$AIPROXY_ORG/services/heygen/generate-video/" \
  -d '{"body": {"test": true, "video_inputs": [{"character": {"type": "avatar", "avatar_id": "Abigail_expressive_2024112501", "avatar_style": "normal"}, "voice": {"type": "text", "input_text": "Hello, this is a test video.", "voice_id": "f38a635bee7a4d1f9b0a654a31d050d2"}}], "dimension": {"width": 1280, "height": 720}}}'
curl -s -X POST -H "Authorization: Api-Key $AIPROXY_KEY" -H "Content-Type: application/json" \
  "$AIPROXY_URL/api/ai-proxy/orgs/$AIPROXY_ORG/services/heygen/video-status/" \
  -d '{"query": {"video_id": "PASTE_VIDEO_ID"}}'

# 3. ElevenLabs: text to speech, saved to speech.mp3
curl -s -X POST -H "Authorization: Api-Key $AIPROXY_KEY" -H "Content-Type: application/json" \
  "$AIPROXY_URL/api/ai-proxy/orgs/$AIPROXY_ORG/services/elevenlabs/tts/" \
  -d '{"path_params": {"voice_id": "21m00Tcm4TlvDq8ikWAM"}, "body": {"text": "Hello from aiproxy.", "model_id": "eleven_multilingual_v2"}}' \
  -o speech.mp3

# 4. Operator (AIPROXY_OPERATOR_KEY, platform-wide powers): the orgs, and usage across them
curl -s -H "Authorization: Api-Key $AIPROXY_OPERATOR_KEY" "$AIPROXY_URL/api/ai-proxy/orgs/"
curl -s -H "Authorization: Api-Key $AIPROXY_OPERATOR_KEY" "$AIPROXY_URL/api/ai-proxy/usage/?group_by=org,service"

# The programs in examples/ run the documentation's workflows: node examples/heygen-workflow.mjs
# node examples/shared-account.mjs: two orgs sharing the platform's provider keys, kept apart
`)
}
