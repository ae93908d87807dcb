package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

const (
	e2eDetailFailed    = "The upstream external service request failed."
	e2eDetailRateLimit = "The upstream external service rate limit was exceeded."
)

// e2eUpstreamError checks a mapped provider error (contract §8) and returns it decoded.
func e2eUpstreamError(t *testing.T, what string, status int, body []byte, wantStatus int, wantDetail string, wantUpstream any) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s: body is not a JSON object: %s", what, body)
	}
	if status != wantStatus || m["detail"] != wantDetail {
		t.Errorf("%s: %d %s, want %d with detail %q", what, status, body, wantStatus, wantDetail)
	}
	if got, ok := m["upstream_status"]; wantUpstream == nil && ok {
		t.Errorf("%s: upstream_status %v present, want none", what, got)
	} else if wantUpstream != nil && got != wantUpstream {
		t.Errorf("%s: upstream_status %v, want %v", what, got, wantUpstream)
	}
	return m
}

func TestE2EProviderErrorsAreMappedAsTheContractSays(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	fault := func(spec string) map[string]any {
		return map[string]any{"headers": map[string]any{"X-Sim-Fault": spec}}
	}

	t.Run("429 keeps Retry-After and the provider body", func(t *testing.T) {
		e := e.with(t)
		status, hdr, body := e.invoke("heygen", "list-avatars", fault("kind=rate_limit,retry_after=7"))
		m := e2eUpstreamError(t, "rate limit", status, body, http.StatusTooManyRequests, e2eDetailRateLimit, float64(429))
		if hdr.Get("Retry-After") != "7" {
			t.Errorf("Retry-After = %q, want 7", hdr.Get("Retry-After"))
		}
		if jget(m, "upstream_body", "error", "code") != "rate_limit_exceeded" {
			t.Errorf("upstream_body = %v", m["upstream_body"])
		}

		// The same through the simulator's fault registry, for ElevenLabs.
		e.planFault(e2eElevenKey, `{"kind": "rate_limit", "retry_after": 3}`)
		status, hdr, body = e.invoke("elevenlabs", "list-voices", nil)
		m = e2eUpstreamError(t, "ElevenLabs rate limit", status, body, http.StatusTooManyRequests, e2eDetailRateLimit, float64(429))
		if hdr.Get("Retry-After") != "3" || jget(m, "upstream_body", "detail", "status") != "system_busy" {
			t.Errorf("Retry-After %q, upstream_body %v", hdr.Get("Retry-After"), m["upstream_body"])
		}
	})

	t.Run("5xx is 502 with upstream_status", func(t *testing.T) {
		e := e.with(t)
		status, _, body := e.invoke("heygen", "v3-list-videos", fault("kind=status,status=503"))
		m := e2eUpstreamError(t, "503", status, body, http.StatusBadGateway, e2eDetailFailed, float64(503))
		if jget(m, "upstream_body", "error", "code") != "internal_error" {
			t.Errorf("upstream_body = %v", m["upstream_body"])
		}
		e.planFault(e2eElevenKey, `{"kind": "status", "status": 500}`)
		status, _, body = e.invoke("elevenlabs", "get-subscription", nil)
		e2eUpstreamError(t, "ElevenLabs 500", status, body, http.StatusBadGateway, e2eDetailFailed, float64(500))
	})

	t.Run("invalid JSON is 502 without upstream_status", func(t *testing.T) {
		e := e.with(t)
		status, _, body := e.invoke("heygen", "list-templates", fault("kind=invalid_json"))
		m := e2eUpstreamError(t, "invalid JSON", status, body, http.StatusBadGateway, e2eDetailFailed, nil)
		if len(m) != 1 {
			t.Errorf("body %s, want only detail", body)
		}
	})

	t.Run("a reset connection is 502", func(t *testing.T) {
		e := e.with(t)
		status, _, body := e.invoke("heygen", "list-voices", fault("kind=reset"))
		e2eUpstreamError(t, "reset", status, body, http.StatusBadGateway, e2eDetailFailed, nil)
	})

	t.Run("exhausted keys: the provider's quota error in upstream_body", func(t *testing.T) {
		e := e.with(t)
		key := e.addOrg("broke", "exhausted-hg-e2e-key-01", "exhausted-el-e2e-key-01")
		status, _, body := e.invokeAs("broke", key, "heygen", "generate-video", map[string]any{
			"body": simtest.HeyGenVideoRequest("Abigail_expressive_2024112501", "f38a635bee7a4d1f9b0a654a31d050d2", "No credit left."),
		})
		m := e2eUpstreamError(t, "HeyGen out of credit", status, body, http.StatusBadGateway, e2eDetailFailed, float64(402))
		if jget(m, "upstream_body", "error", "code") != "insufficient_credit" {
			t.Errorf("upstream_body = %v, want insufficient_credit", m["upstream_body"])
		}
		status, _, body = e.invokeAs("broke", key, "elevenlabs", "tts", ttsEnvelope("No quota left."))
		m = e2eUpstreamError(t, "ElevenLabs out of quota", status, body, http.StatusBadGateway, e2eDetailFailed, float64(401))
		if jget(m, "upstream_body", "detail", "status") != "quota_exceeded" {
			t.Errorf("upstream_body = %v, want quota_exceeded", m["upstream_body"])
		}
		if bytes.Contains(body, []byte("exhausted-el-e2e-key-01")) {
			t.Errorf("the error leaks the credential: %s", body)
		}
	})

	t.Run("wrong keys: 502 with upstream_status 401", func(t *testing.T) {
		e := e.with(t)
		key := e.addOrg("wrong", "invalid-hg-e2e-key-01", "invalid-el-e2e-key-01")
		status, _, body := e.invokeAs("wrong", key, "heygen", "list-avatars", nil)
		e2eUpstreamError(t, "HeyGen wrong key", status, body, http.StatusBadGateway, e2eDetailFailed, float64(401))
		status, _, body = e.invokeAs("wrong", key, "elevenlabs", "list-voices", nil)
		m := e2eUpstreamError(t, "ElevenLabs wrong key", status, body, http.StatusBadGateway, e2eDetailFailed, float64(401))
		if jget(m, "upstream_body", "detail", "status") != "invalid_api_key" {
			t.Errorf("upstream_body = %v, want invalid_api_key", m["upstream_body"])
		}
	})

	t.Run("ElevenLabs 422 validation list in upstream_body", func(t *testing.T) {
		e := e.with(t)
		status, _, body := e.invoke("elevenlabs", "tts", map[string]any{
			"path_params": map[string]any{"voice_id": rachel}, "body": map[string]any{"model_id": "eleven_multilingual_v2"},
		})
		m := e2eUpstreamError(t, "422", status, body, http.StatusBadGateway, e2eDetailFailed, float64(422))
		list, ok := jget(m, "upstream_body", "detail").([]any)
		if !ok || len(list) == 0 {
			t.Fatalf("upstream_body.detail = %v, want the validation list", jget(m, "upstream_body", "detail"))
		}
		loc, _ := json.Marshal(jget(list, 0, "loc"))
		if string(loc) != `["body","text"]` || jget(list, 0, "type") != "missing" {
			t.Errorf("first validation error = %v, want text missing", list[0])
		}
	})
}

// planFault plans a failure for the next call made with a provider key, through the
// simulator's /_sim/faults admin route.
func (e *e2eEnv) planFault(providerKey, faultJSON string) {
	e.t.Helper()
	var f map[string]any
	if err := json.Unmarshal([]byte(faultJSON), &f); err != nil {
		e.t.Fatal(err)
	}
	f["key"] = providerKey
	b, _ := json.Marshal(f)
	resp, err := http.Post(e.simURL+"/_sim/faults", "application/json", bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		e.t.Fatalf("/_sim/faults: status %d", resp.StatusCode)
	}
}
