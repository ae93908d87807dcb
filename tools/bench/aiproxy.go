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
	bin, db, apiKey string
	env             []string // AIPROXY_MASTER_KEY, for every command
	pprof           bool     // serve has --pprof-addr
}

const benchOrg = "bench"

// installAiproxy builds ./cmd/aiproxy as shipped (from the working tree of the repository
// at root, or from git revision rev when it is set) and prepares its database in dir.
func installAiproxy(ctx context.Context, root, dir, rev, elevenKey, heygenKey string) (*aiproxyInstall, error) {
	a := &aiproxyInstall{bin: filepath.Join(dir, "aiproxy"), db: filepath.Join(dir, "aiproxy.db")}
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
	if _, err := a.admin(ctx, "", "org", "create", benchOrg); err != nil {
		return nil, err
	}
	key, err := a.admin(ctx, "", "key", "create", "--org", benchOrg, "--name", "bench")
	if err != nil {
		return nil, err
	}
	a.apiKey = strings.TrimSpace(key)
	if a.apiKey == "" || strings.ContainsAny(a.apiKey, " \n") {
		return nil, fmt.Errorf("key create printed %q, want one key", key)
	}
	// --key - reads stdin, so the credential is not in the process list.
	if _, err := a.admin(ctx, elevenKey+"\n", "credential", "set", "elevenlabs", "--org", benchOrg, "--key", "-"); err != nil {
		return nil, err
	}
	if _, err := a.admin(ctx, heygenKey+"\n", "credential", "set", "heygen", "--org", benchOrg, "--key", "-"); err != nil {
		return nil, err
	}
	// Does serve take --pprof-addr? Ask with a bad --log-level, which serve refuses before
	// it listens: an unknown flag is refused first, with "not defined".
	probe, _ := exec.CommandContext(ctx, a.bin, "serve", "--pprof-addr", "127.0.0.1:1", "--log-level", "probe").CombinedOutput()
	a.pprof = !bytes.Contains(probe, []byte("not defined")) && bytes.Contains(probe, []byte("log-level"))
	return a, nil
}

func (a *aiproxyInstall) admin(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, a.bin, append(args, "--db", a.db)...)
	cmd.Env = append(os.Environ(), a.env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("aiproxy %s %s: %w: %s", args[0], args[1], err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// serve starts `aiproxy serve` on addr, request log (info, text) to logPath.
func (a *aiproxyInstall) serve(addr, upstreamURL, pprofAddr, logPath string) (*child, error) {
	args := []string{"serve", "--addr", addr, "--db", a.db,
		"--upstream", "elevenlabs=" + upstreamURL, "--upstream", "heygen=" + upstreamURL,
		"--log-level", "info"}
	if a.pprof && pprofAddr != "" {
		args = append(args, "--pprof-addr", pprofAddr)
	}
	return startChild("aiproxy", logPath, a.env, a.bin, args...)
}
