package sdktest

// The shipped gateway (the `aiproxy serve` binary, built by internal/proctest) in front of
// the simulators, set up with its CLI as an operator would: an org, its ElevenLabs key, an
// aiproxy key scoped to ElevenLabs. Then `npm ci` installs the pinned SDK into tools/sdk-js
// and `node elevenlabs-sdk.mjs` runs it with the gateway's native route as its base URL and
// the aiproxy key as its API key. The simulator accepts only the org's ElevenLabs key, so a
// call that reaches it with anything else (the aiproxy key passed on) is refused: every
// step that succeeds went through the gateway, which put the org's key in.

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/proctest"
	"github.com/aiproxy/aiproxy/internal/sim"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

// NodeEnv names the node binary the test runs; npm is the one beside it (else the one on
// PATH). Unset: the test skips (a laptop without Node); set to something that does not
// work: the test fails.
const NodeEnv = "AIPROXY_TEST_NODE"

// sdkDir holds package.json, package-lock.json and the script, relative to this package.
const sdkDir = "../sdk-js"

const (
	org           = "sdk"
	elevenLabsKey = "el-sdk-tenant-key-4f1c9d2a7b"

	npmTimeout  = 5 * time.Minute
	nodeTimeout = 3 * time.Minute
)

func TestElevenLabsJavaScriptSDKWorksUnchangedThroughTheNativeRoute(t *testing.T) {
	node := os.Getenv(NodeEnv)
	if node == "" {
		t.Skip(NodeEnv + " not set: skipping the official-SDK test (set it to a node binary, e.g. $(command -v node); npm must be beside it or on PATH)")
	}
	if out, err := exec.Command(node, "--version").CombinedOutput(); err != nil {
		t.Fatalf("%s=%s does not run: %v\n%s", NodeEnv, node, err, out)
	} else {
		t.Logf("node %s", strings.TrimSpace(string(out)))
	}
	npm := filepath.Join(filepath.Dir(node), "npm")
	if _, err := os.Stat(npm); err != nil {
		if npm, err = exec.LookPath("npm"); err != nil {
			t.Fatalf("%s=%s: no npm beside it nor on PATH", NodeEnv, node)
		}
	}
	dir, err := filepath.Abs(sdkDir)
	if err != nil {
		t.Fatal(err)
	}

	// The SDK, exactly as locked: npm ci installs package-lock.json's versions into
	// tools/sdk-js/node_modules (ignored by git), replacing whatever was there.
	start := time.Now()
	runTool(t, npmTimeout, dir, toolEnv(node), npm, "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error")
	t.Logf("npm ci in %v", time.Since(start).Round(time.Millisecond))

	// The simulators at real speed (the realtime sockets' inactivity timeouts are simulated
	// seconds), accepting only the org's ElevenLabs key.
	_, simSrv := simtest.Start(t, simcore.Options{Speed: 1, Seed: 1, ValidKeys: []string{elevenLabsKey}}, sim.New)

	bin := proctest.Build(t)
	db := filepath.Join(t.TempDir(), "aiproxy.db")
	env := proctest.Env("AIPROXY_MASTER_KEY=" + strings.Repeat("6b", 32))
	proctest.Run(t, bin, env, "", "org", "create", org, "--db", db)
	proctest.Run(t, bin, env, elevenLabsKey+"\n", "credential", "set", "elevenlabs", "--org", org, "--key", "-", "--db", db)
	key := strings.TrimSpace(proctest.Run(t, bin, env, "", "key", "create", "--org", org, "--role", "member",
		"--name", "elevenlabs-sdk", "--scopes", "elevenlabs:*", "--db", db))
	if key == "" {
		t.Fatal("key create printed no key")
	}
	gw, base := proctest.Serve(t, "gateway", bin, env, "--db", db, "--upstream", "elevenlabs="+simSrv.URL, "--upstream", "heygen="+simSrv.URL)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}

	// The SDK's own steps; each prints a line, the first failure exits 1.
	start = time.Now()
	out := runTool(t, nodeTimeout, dir, toolEnv(node,
		"AIPROXY_URL="+u.Scheme+"://"+u.Host,
		"AIPROXY_ORG="+org,
		"AIPROXY_KEY="+key,
		"OUT_DIR="+t.TempDir(),
	), node, "elevenlabs-sdk.mjs")
	t.Logf("node elevenlabs-sdk.mjs in %v:\n%s", time.Since(start).Round(time.Millisecond), out)
	if !strings.Contains(out, "PASS:") {
		t.Errorf("elevenlabs-sdk.mjs exited 0 without its PASS line")
	}
	// What the SDK received (the script prints the user's xi_api_key, which the provider
	// fills with its key) never holds the provider key.
	if !strings.Contains(out, "xi_api_key") {
		t.Errorf("the script did not print the user's xi_api_key")
	}
	if found := proctest.FindSecrets(out, map[string][]byte{"the ElevenLabs key": []byte(elevenLabsKey)}); len(found) > 0 {
		t.Errorf("the SDK received %s", strings.Join(found, ", "))
	}

	// Neither key may appear in the gateway's log, in any encoding.
	if found := proctest.FindSecrets(gw.Output.String(), map[string][]byte{
		"the ElevenLabs key": []byte(elevenLabsKey),
		"the aiproxy key":    []byte(key),
	}); len(found) > 0 {
		t.Errorf("the gateway's log contains %s", strings.Join(found, ", "))
	}
}

// toolEnv is the environment of npm and node: ours without any AIPROXY_* or ELEVENLABS_*
// setting (the SDK reads ELEVENLABS_API_KEY; the script reads ELEVENLABS_BASE_URL), with
// node's directory first on PATH (npm runs the node beside it), plus extra.
func toolEnv(node string, extra ...string) []string {
	var env []string
	path := filepath.Dir(node)
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, "AIPROXY_"), strings.HasPrefix(kv, "ELEVENLABS_"):
		case strings.HasPrefix(kv, "PATH="):
			path += string(os.PathListSeparator) + strings.TrimPrefix(kv, "PATH=")
		default:
			env = append(env, kv)
		}
	}
	return append(append(env, "PATH="+path, "NO_UPDATE_NOTIFIER=1", "NPM_CONFIG_UPDATE_NOTIFIER=false"), extra...)
}

// runTool runs bin with args in dir and returns its stdout; a failure, or no end within
// timeout, fails the test with everything it printed.
func runTool(t *testing.T, timeout time.Duration, dir string, env []string, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	name := filepath.Base(bin) + " " + strings.Join(args, " ")
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s (in %s): no end within %v\nstdout:\n%s\nstderr:\n%s", name, dir, timeout, &stdout, &stderr)
	case errors.As(err, &ee):
		t.Fatalf("%s (in %s): exit %d\nstdout:\n%s\nstderr:\n%s", name, dir, ee.ExitCode(), &stdout, &stderr)
	case err != nil:
		t.Fatalf("%s (in %s): %v", name, dir, err)
	}
	return stdout.String()
}
