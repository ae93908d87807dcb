package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/proctest"
)

// runningDemo is `aiproxy demo` started by run() in a goroutine.
type runningDemo struct {
	url, org, key string
	operatorKey   string       // AIPROXY_OPERATOR_KEY
	stop          func() error // cancels the demo and returns run's error
}

// demoVars are the AIPROXY_* lines the demo prints, in order.
var demoVars = []string{"AIPROXY_URL", "AIPROXY_ORG", "AIPROXY_KEY", "AIPROXY_OPERATOR_KEY"}

// startDemo runs the demo on a free port with its data in dir and waits for the four
// AIPROXY_* lines it prints.
func startDemo(t *testing.T, dir string) *runningDemo {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &proctest.Buffer{}, &proctest.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--addr", "127.0.0.1:0", "--data-dir", dir}, strings.NewReader(""), stdout, stderr)
	}()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatalf("the demo did not stop; stderr:\n%s", stderr.String())
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })

	vars := map[string]string{}
	deadline := time.Now().Add(20 * time.Second)
	for len(vars) < len(demoVars) {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("the demo ended early: %v\nstderr:\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo printed no AIPROXY_* lines; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
		for _, line := range strings.Split(stdout.String(), "\n") {
			for _, name := range demoVars {
				if v, ok := strings.CutPrefix(line, name+"="); ok && v != "" {
					vars[name] = v
				}
			}
		}
	}
	// The lines come first, in this order, each once (.ci/run evals them).
	var printed []string
	for _, line := range strings.Split(stdout.String(), "\n") {
		if strings.HasPrefix(line, "AIPROXY_") {
			name, _, _ := strings.Cut(line, "=")
			printed = append(printed, name)
		}
	}
	if strings.Join(printed, " ") != strings.Join(demoVars, " ") {
		t.Fatalf("the demo printed the variables %v, want %v; stdout:\n%s", printed, demoVars, stdout.String())
	}
	return &runningDemo{url: vars["AIPROXY_URL"], org: vars["AIPROXY_ORG"], key: vars["AIPROXY_KEY"],
		operatorKey: vars["AIPROXY_OPERATOR_KEY"], stop: stop}
}

// get calls the demo's API with its admin key.
func (d *runningDemo) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	return d.getWith(t, d.key, path)
}

// getWith calls the demo's API with key.
func (d *runningDemo) getWith(t *testing.T, key, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, d.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Api-Key "+key)
	req.Close = true // no idle connection outlives the demo
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestDemoPrintsWorkingCredentialsAndKeepsTheKeyAcrossRuns(t *testing.T) {
	dir := t.TempDir()
	d := startDemo(t, dir)
	if strings.HasSuffix(d.url, ":0") || !strings.HasPrefix(d.url, "http://127.0.0.1:") {
		t.Fatalf("AIPROXY_URL = %q, want the real listening address", d.url)
	}
	if d.org != demoOrg {
		t.Errorf("AIPROXY_ORG = %q, want %q", d.org, demoOrg)
	}

	// Discovery with the printed values: both services.
	status, body := d.get(t, "/api/ai-proxy/orgs/"+d.org+"/services/")
	if status != http.StatusOK {
		t.Fatalf("discovery: %d %s", status, body)
	}
	var services []map[string]any
	if err := json.Unmarshal(body, &services); err != nil {
		t.Fatalf("discovery is not a JSON array: %s", body)
	}
	slugs := map[any]bool{}
	for _, s := range services {
		slugs[s["slug"]] = true
	}
	if !slugs["heygen"] || !slugs["elevenlabs"] {
		t.Errorf("discovery lists %v, want heygen and elevenlabs", slugs)
	}
	status, body = d.get(t, "/api/ai-proxy/orgs/"+d.org+"/services/heygen/")
	if status != http.StatusOK || !bytes.Contains(body, []byte(`"generate-video"`)) {
		t.Errorf("heygen discovery: %d %.300s", status, body)
	}

	// The operator key: platform-wide routes work with it, not with the org's admin key.
	if d.operatorKey == "" || d.operatorKey == d.key {
		t.Fatalf("AIPROXY_OPERATOR_KEY = %q, want a key of its own", d.operatorKey)
	}
	status, body = d.getWith(t, d.operatorKey, "/api/ai-proxy/orgs/")
	if status != http.StatusOK || !bytes.Contains(body, []byte(`"slug":"`+demoOrg+`"`)) {
		t.Errorf("GET orgs/ with the operator key: %d %.300s", status, body)
	}
	if status, body := d.get(t, "/api/ai-proxy/orgs/"); status != http.StatusForbidden {
		t.Errorf("GET orgs/ with the admin key: %d %.300s, want 403", status, body)
	}
	// The shared account: the platform-wide credentials are set.
	for _, name := range []string{"heygen", "elevenlabs"} {
		status, body := d.getWith(t, d.operatorKey, "/api/ai-proxy/platform-credentials/"+name+"/")
		if status != http.StatusOK || !bytes.Contains(body, []byte(`"source":"platform"`)) {
			t.Errorf("platform credential %s: %d %.300s", name, status, body)
		}
	}
	for _, f := range []string{demoKeyFile, demoOperatorKeyFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	if err := d.stop(); err != nil {
		t.Fatalf("the demo stopped with %v", err)
	}

	// A second run over the same data directory prints the same keys, which still work.
	again := startDemo(t, dir)
	if again.key != d.key {
		t.Errorf("second run printed key %q, want the first run's %q", again.key, d.key)
	}
	if again.operatorKey != d.operatorKey {
		t.Errorf("second run printed operator key %q, want the first run's %q", again.operatorKey, d.operatorKey)
	}
	if status, body := again.get(t, "/api/ai-proxy/orgs/"+again.org+"/services/"); status != http.StatusOK {
		t.Errorf("discovery on the second run: %d %s", status, body)
	}
	if status, body := again.getWith(t, again.operatorKey, "/api/ai-proxy/orgs/"); status != http.StatusOK {
		t.Errorf("GET orgs/ with the operator key on the second run: %d %.300s", status, body)
	}
	if err := again.stop(); err != nil {
		t.Fatalf("the second demo stopped with %v", err)
	}
}
