package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy/internal/proctest"
	"github.com/aiproxy/aiproxy/internal/sim/media"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

// ttyBuffer is an output that says it is a terminal.
type ttyBuffer struct{ proctest.Buffer }

func (*ttyBuffer) isTerminal() bool { return true }

type output interface {
	Write([]byte) (int, error)
	String() string
}

// callAs runs `aiproxy call ARGS` against the e2e gateway, with AIPROXY_URL, AIPROXY_ORG
// and AIPROXY_KEY from env (the e2e org's when nil), and returns its exit status.
func callAs(e *e2eEnv, env map[string]string, stdout, stderr output, args ...string) int {
	if env == nil {
		env = map[string]string{"AIPROXY_URL": e.proxy.URL, "AIPROXY_ORG": e2eOrg, "AIPROXY_KEY": e.key}
	}
	sio := stdio{stdin: strings.NewReader(""), stdout: stdout, stderr: stderr, getenv: func(k string) string { return env[k] }}
	err := dispatch(context.Background(), append([]string{"call"}, args...), sio)
	return exitCode(err, stderr)
}

// callPiped runs `aiproxy call` with stdout and stderr not terminals.
func callPiped(t *testing.T, e *e2eEnv, args ...string) (string, string, int) {
	t.Helper()
	var out, errb proctest.Buffer
	code := callAs(e, nil, &out, &errb, args...)
	if strings.Contains(out.String()+errb.String(), e.key) {
		t.Errorf("call %v printed the key", args)
	}
	return out.String(), errb.String(), code
}

func isMP3(b []byte) bool {
	return len(b) > 4 && (string(b[:3]) == "ID3" || b[0] == 0xFF && b[1]&0xE0 == 0xE0)
}

func TestCallPipedJSONTTSFileUploadAndErrors(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	dir := t.TempDir()

	// JSON: compact, one line, nothing on stderr.
	out, errs, code := callPiped(t, e, "heygen", "list-voices")
	if code != 0 || errs != "" || strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("list-voices: exit %d, stderr %q, stdout %.200q", code, errs, out)
	}
	if len(jlist(t, e2eDecode(t, []byte(out)), "data", "voices")) == 0 {
		t.Errorf("no voices: %.200s", out)
	}

	// TTS to a file: an MP3, and nothing printed (no progress when not a terminal).
	mp3 := filepath.Join(dir, "speech.mp3")
	out, errs, code = callPiped(t, e, "elevenlabs", "tts", "--path", "voice_id="+rachel,
		"--body", `{"text": "Hello from aiproxy call.", "model_id": "eleven_multilingual_v2"}`, "--out", mp3)
	if code != 0 || out != "" || errs != "" {
		t.Fatalf("tts --out: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	audio, err := os.ReadFile(mp3)
	if err != nil || !isMP3(audio) {
		t.Fatalf("tts --out wrote %d bytes (%v), not an MP3", len(audio), err)
	}
	if d, err := media.MP3Duration(audio); err != nil || d <= 0 {
		t.Errorf("MP3 duration %v, %v", d, err)
	}

	// Binary answers piped: the bytes on stdout.
	out, errs, code = callPiped(t, e, "elevenlabs", "tts", "--path", "voice_id="+rachel, "--body", `{"text": "Piped."}`)
	if code != 0 || errs != "" || !isMP3([]byte(out)) {
		t.Errorf("tts piped: exit %d, stderr %q, %d bytes, MP3 %v", code, errs, len(out), isMP3([]byte(out)))
	}

	// Upload: the MP3 streamed as a multipart envelope, the body from a file.
	bodyFile := filepath.Join(dir, "stt.json")
	if err := os.WriteFile(bodyFile, []byte(`{"model_id": "scribe_v2"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errs, code = callPiped(t, e, "elevenlabs", "speech-to-text", "--body", "@"+bodyFile, "--file", "file=@"+mp3)
	if code != 0 || errs != "" {
		t.Fatalf("speech-to-text --file: exit %d, stderr %q, stdout %.300s", code, errs, out)
	}
	tr := e2eDecode(t, []byte(out))
	jstr(t, tr, "text")
	jstr(t, tr, "transcription_id")

	// Errors: the detail on stderr, exit 1; the provider's status when it failed.
	out, errs, code = callPiped(t, e, "heygen", "no-such-action")
	if want := "aiproxy call: Endpoint 'no-such-action' not found for external proxy service 'heygen'.\n"; code != 1 || out != "" || errs != want {
		t.Errorf("unknown action: exit %d, stdout %q, stderr %q, want 1 and %q", code, out, errs, want)
	}
	_, errs, code = callPiped(t, e, "elevenlabs", "get-transcript", "--path", "transcription_id=nope")
	if code != 1 || !strings.HasPrefix(errs, "aiproxy call: The upstream external service request failed. (upstream_status 404: {") {
		t.Errorf("get-transcript of an unknown id: exit %d, stderr %q", code, errs)
	}
	_, errs, code = callPiped(t, e, "elevenlabs", "tts", "--body", "{")
	if code != 2 || !strings.Contains(errs, "--body is not JSON") {
		t.Errorf("--body {: exit %d, stderr %q", code, errs)
	}
	_, errs, code = callPiped(t, e, "elevenlabs", "tts", "--path", "voice_id="+rachel, "--body", `{"text": "x"}`)
	if code != 0 || errs != "" {
		t.Errorf("tts piped again: exit %d %q", code, errs)
	}
	_, errs, code = callPiped(t, e, "heygen", "list-voices", "--org", "someone-else")
	if code != 1 || errs != "aiproxy call: You do not have permission to perform this action.\n" {
		t.Errorf("--org of another org: exit %d, stderr %q", code, errs)
	}

	// Without the environment: a usage error naming the variables.
	var o, eb proctest.Buffer
	code = callAs(e, map[string]string{"AIPROXY_URL": e.proxy.URL}, &o, &eb, "heygen", "list-voices")
	if code != 2 || !strings.Contains(eb.String(), "AIPROXY_ORG, AIPROXY_KEY") || o.String() != "" {
		t.Errorf("no AIPROXY_ORG/KEY: exit %d, stderr %q", code, eb.String())
	}
}

func TestCallOnATerminal(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	dir := t.TempDir()
	var out, errs ttyBuffer

	// JSON is indented.
	if code := callAs(e, nil, &out, &errs, "heygen", "list-voices"); code != 0 || !strings.Contains(out.String(), "\n  \"data\": {\n") {
		t.Fatalf("list-voices on a terminal: exit %d, stderr %q, stdout %.200q", code, errs.String(), out.String())
	}

	// Binary answers are not sprayed on a terminal.
	out.Reset()
	errs.Reset()
	tts := []string{"elevenlabs", "tts", "--path", "voice_id=" + rachel, "--body", `{"text": "A terminal."}`}
	if code := callAs(e, nil, &out, &errs, tts...); code != 1 || out.String() != "" || !strings.Contains(errs.String(), "audio/mpeg") || !strings.Contains(errs.String(), "--out FILE") {
		t.Errorf("tts on a terminal: exit %d, stdout %d bytes, stderr %q", code, len(out.String()), errs.String())
	}

	// --out: a download bar on stderr, complete; nothing on stdout.
	out.Reset()
	errs.Reset()
	mp3 := filepath.Join(dir, "a.mp3")
	if code := callAs(e, nil, &out, &errs, append(tts, "--out", mp3)...); code != 0 || out.String() != "" ||
		!strings.Contains(errs.String(), "download a.mp3 [##############################]") || !strings.Contains(errs.String(), "100%") {
		t.Errorf("tts --out on a terminal: exit %d, stdout %q, stderr %q", code, out.String(), errs.String())
	}

	// An upload shows its bar.
	out.Reset()
	errs.Reset()
	if code := callAs(e, nil, &out, &errs, "elevenlabs", "speech-to-text", "--body", `{"model_id": "scribe_v2"}`, "--file", "file=@"+mp3); code != 0 ||
		!strings.Contains(errs.String(), "upload a.mp3 [##############################]") || !strings.Contains(errs.String(), "100%") {
		t.Errorf("speech-to-text --file on a terminal: exit %d, stderr %q", code, errs.String())
	}
}

func TestCallWaitFollowsTheJobToItsEnd(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	body, _ := json.Marshal(simtest.HeyGenVideoRequest("Abigail_expressive_2024112501", "f38a635bee7a4d1f9b0a654a31d050d2", "Hello from aiproxy call."))
	out, errs, code := callPiped(t, e, "heygen", "generate-video", "--body", string(body), "--wait")
	if code != 0 || errs != "" {
		t.Fatalf("generate-video --wait: exit %d, stderr %q, stdout %s", code, errs, out)
	}
	job := e2eDecode(t, []byte(out))
	if jget(job, "status") != "completed" || jget(job, "action") != "generate-video" || jstr(t, job, "result", "video_url") == "" {
		t.Errorf("job view %s", out)
	}

	// A job that fails: its view printed, exit 3, why on stderr; a spinner on a terminal.
	body, _ = json.Marshal(simtest.HeyGenVideoRequest("Abigail_expressive_2024112501", "f38a635bee7a4d1f9b0a654a31d050d2", "This render will FAIL on purpose."))
	var o proctest.Buffer
	var eb ttyBuffer
	code = callAs(e, nil, &o, &eb, "heygen", "generate-video", "--body", string(body), "--wait")
	if code != 3 || jget(e2eDecode(t, []byte(o.String())), "status") != "failed" || !strings.Contains(eb.String(), "aiproxy call: job ") ||
		!strings.Contains(eb.String(), " failed: {") || !strings.Contains(eb.String(), "\r\x1b[K| job ") {
		t.Errorf("failing video --wait: exit %d, stdout %s, stderr %q", code, o.String(), eb.String())
	}

	// An action that creates no job has nothing to wait for.
	_, errs, code = callPiped(t, e, "heygen", "list-voices", "--wait")
	if code != 1 || !strings.Contains(errs, "--wait: the answer names no job") {
		t.Errorf("list-voices --wait: exit %d, stderr %q", code, errs)
	}
	if bytes.Contains([]byte(errs), []byte(e.key)) {
		t.Error("the key was printed")
	}
}
