package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// aiproxyInstall is a built aiproxy binary with a prepared database: org "bench", one
// admin key, the ElevenLabs and HeyGen credentials.
type aiproxyInstall struct {
	bin, db, apiKey      string
	env                  []string // AIPROXY_MASTER_KEY, for every command
	pprof                bool     // serve has --pprof-addr
	accountingFlag       bool     // serve has --accounting (issue 11)
	inflightFlag         bool     // serve has --max-inflight-per-key
	realtimeFlag         bool     // serve has --realtime-sessions-per-org
	elevenKey, heygenKey string   // the provider keys the upstream expects
}

const benchOrg = "bench"

// installAiproxy builds ./cmd/aiproxy as shipped (from the working tree of the repository
// at root, or from git revision rev when it is set) and prepares its database in dir.
func installAiproxy(ctx context.Context, root, dir, rev, elevenKey, heygenKey string) (*aiproxyInstall, error) {
	a := &aiproxyInstall{bin: filepath.Join(dir, "aiproxy"), db: filepath.Join(dir, "aiproxy.db"), elevenKey: elevenKey, heygenKey: heygenKey}
	build := exec.CommandContext(ctx, "go", "build", "-o", a.bin, "./cmd/aiproxy")
	build.Dir = root
	if rev != "" {
		src := filepath.Join(dir, "src")
		if err := os.MkdirAll(src, 0o755); err != nil {
			return nil, err
		}
		export := exec.CommandContext(ctx, "sh", "-c", `git archive --format=tar "$1" | tar -x -C "$2"`, "sh", rev, src)
		export.Dir = root
		if out, err := export.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("git archive %s: %w: %s", rev, err, out)
		}
		build.Dir = src
	}
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/aiproxy: %w: %s", err, out)
	}
	mk := make([]byte, 32)
	if _, err := rand.Read(mk); err != nil {
		return nil, err
	}
	a.env = []string{"AIPROXY_MASTER_KEY=" + hex.EncodeToString(mk)}
	var err error
	if a.apiKey, err = a.prepare(ctx, a.db); err != nil {
		return nil, err
	}
	// Which of the newer serve flags does this build take (--rev may be older)?
	a.pprof = a.serveHasFlag(ctx, "--pprof-addr", "127.0.0.1:1")
	a.accountingFlag = a.serveHasFlag(ctx, "--accounting=false")
	a.inflightFlag = a.serveHasFlag(ctx, "--max-inflight-per-key", "0")
	a.realtimeFlag = a.serveHasFlag(ctx, "--realtime-sessions-per-org", "1")
	return a, nil
}

// serveHasFlag says whether `aiproxy serve` takes the flag (with its value): serve is asked
// with it and a bad --log-level, which serve refuses before it listens, while an unknown
// flag is refused first, with "not defined".
func (a *aiproxyInstall) serveHasFlag(ctx context.Context, flag ...string) bool {
	args := append(append([]string{"serve"}, flag...), "--log-level", "probe")
	probe, _ := exec.CommandContext(ctx, a.bin, args...).CombinedOutput()
	return !bytes.Contains(probe, []byte("not defined")) && bytes.Contains(probe, []byte("log-level"))
}

// prepare fills the database db (a SQLite file or a postgres:// URL): org "bench", an admin
// key, which it returns, and the ElevenLabs and HeyGen credentials.
func (a *aiproxyInstall) prepare(ctx context.Context, db string) (string, error) {
	if _, err := a.adminDB(ctx, db, "", "org", "create", benchOrg); err != nil {
		return "", err
	}
	out, err := a.adminDB(ctx, db, "", "key", "create", "--org", benchOrg, "--name", "bench")
	if err != nil {
		return "", err
	}
	key := strings.TrimSpace(out)
	if key == "" || strings.ContainsAny(key, " \n") {
		return "", fmt.Errorf("key create printed %q, want one key", out)
	}
	// --key - reads stdin, so the credential is not in the process list.
	if _, err := a.adminDB(ctx, db, a.elevenKey+"\n", "credential", "set", "elevenlabs", "--org", benchOrg, "--key", "-"); err != nil {
		return "", err
	}
	if _, err := a.adminDB(ctx, db, a.heygenKey+"\n", "credential", "set", "heygen", "--org", benchOrg, "--key", "-"); err != nil {
		return "", err
	}
	return key, nil
}

// adminDB runs an aiproxy command on the database db and returns its stdout.
func (a *aiproxyInstall) adminDB(ctx context.Context, db, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, a.bin, append(args, "--db", db)...)
	cmd.Env = append(os.Environ(), a.env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("aiproxy %s %s: %w: %s", args[0], args[1], err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// serve starts `aiproxy serve` on addr with the bench's SQLite database, request log
// (info, text) to logPath.
func (a *aiproxyInstall) serve(addr, upstreamURL, pprofAddr, logPath string) (*child, error) {
	return a.serveDB(addr, a.db, upstreamURL, pprofAddr, logPath)
}

// serveDB starts `aiproxy serve` on addr with database db and the extra flags, request log
// (info, text) to logPath.
func (a *aiproxyInstall) serveDB(addr, db, upstreamURL, pprofAddr, logPath string, extra ...string) (*child, error) {
	args := []string{"serve", "--addr", addr, "--db", db,
		"--upstream", "elevenlabs=" + upstreamURL, "--upstream", "heygen=" + upstreamURL,
		"--log-level", "info"}
	if a.pprof && pprofAddr != "" {
		args = append(args, "--pprof-addr", pprofAddr)
	}
	args = append(args, extra...)
	return startChild("aiproxy", logPath, a.env, a.bin, args...)
}
