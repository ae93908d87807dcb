package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/httpapi"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// TestWebhooksRegisterMakesTheProviderTellTheGatewayWhenAVideoEnds: `aiproxy webhooks
// register heygen --org` registers the gateway's receiver with the (simulated) provider on
// the org's own account and stores the secret it answers, without printing it; then a video
// nobody waits on is completed by the provider's signed webhook, sooner than the 5 s poll
// interval would allow.
func TestWebhooksRegisterMakesTheProviderTellTheGatewayWhenAVideoEnds(t *testing.T) {
	e := newE2E(t, 1) // a test video renders in 2 s
	out, errs, code := cli(t, e.db, "", "webhooks", "register", "heygen", "--public-url", e.proxy.URL,
		"--org", e2eOrg, "--upstream", "heygen="+e.simURL, "--master-key-file", e.keys)
	if code != 0 || !strings.Contains(out, "registered heygen webhooks: "+e.proxy.URL+httpapi.DefaultPrefix+"/webhooks/heygen/") {
		t.Fatalf("register: exit %d, out %q, err %q", code, out, errs)
	}
	ctx := context.Background()
	org, err := e.mgr.Org(ctx, tenancy.CLI, e2eOrg, tenancy.Admin)
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.app.store.GetCredential(ctx, tenancy.WebhookInService("heygen"), aiproxy.SourceTenant, org.ID)
	if err != nil {
		t.Fatalf("no signing secret stored: %v", err)
	}
	secret, err := e.mgr.Vault.Open(c)
	if err != nil || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("stored secret %q, %v", secret, err)
	}
	if strings.Contains(out+errs, secret) {
		t.Fatal("register printed the signing secret")
	}

	resp := e.send(e2eOrg, e.key, "heygen", "generate-video", "application/json",
		encodeEnvelope(t, map[string]any{"body": simtest.HeyGenVideoRequest("Abigail_expressive_2024112501", "f38a635bee7a4d1f9b0a654a31d050d2", "Told by a webhook.")}))
	var created struct {
		Data struct {
			VideoID string `json:"video_id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&created); err != nil || created.Data.VideoID == "" {
		t.Fatalf("generate-video: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	start := time.Now()
	simtest.WaitFor(t, "the video's job to be completed", 15*time.Second, 50*time.Millisecond, func() bool {
		j, err := e.app.store.JobByUpstreamID(ctx, "heygen", created.Data.VideoID)
		return err == nil && j.Status == aiproxy.JobCompleted
	})
	took := time.Since(start)
	if took > 4500*time.Millisecond {
		t.Errorf("completed after %v: the webhook should beat the 5 s poll interval", took)
	}
	t.Logf("completed %v after creation (render 2 s, poll interval 5 s)", took)
}

// TestWebhooksRegisterRefusesBadArgumentsAndMissingKeys: the command's usage errors exit 2
// with one line; an account without a provider key is refused, naming it, and stores nothing.
func TestWebhooksRegisterRefusesBadArgumentsAndMissingKeys(t *testing.T) {
	e := newE2E(t, 1)
	for _, args := range [][]string{
		{"webhooks", "register", "heygen", "--org", e2eOrg},
		{"webhooks", "register", "heygen", "--public-url", "https://gw.example.com"},
		{"webhooks", "register", "heygen", "--public-url", "https://gw.example.com", "--org", e2eOrg, "--platform"},
		{"webhooks", "register", "heygen", "--public-url", "ftp://gw.example.com", "--platform"},
		{"webhooks", "register", "nope", "--public-url", "https://gw.example.com", "--platform"},
	} {
		_, errs, code := cli(t, e.db, "", append(args, "--master-key-file", e.keys)...)
		if code != 2 || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line", args, code, errs)
		}
	}
	_, errs, code := cli(t, e.db, "", "webhooks", "register", "heygen", "--public-url", "https://gw.example.com",
		"--platform", "--upstream", "heygen="+e.simURL, "--master-key-file", e.keys)
	if code == 0 || !strings.Contains(errs, "platform") {
		t.Errorf("without a platform key: exit %d, stderr %q", code, errs)
	}
	if _, err := e.app.store.GetCredential(context.Background(), tenancy.WebhookInService("heygen"), aiproxy.SourcePlatform, 0); aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
		t.Errorf("a refused registration stored a secret: %v", err)
	}
}

// TestWebhooksRegisterElevenLabsStoresTheSecretThatVerifiesItsDeliveries: registered on the
// org's ElevenLabs workspace, the gateway accepts the (simulated) provider's signed
// deliveries: the simulator reports its delivery answered 2xx (no job of ours: ignored).
func TestWebhooksRegisterElevenLabsStoresTheSecretThatVerifiesItsDeliveries(t *testing.T) {
	e := newE2E(t, 1)
	out, errs, code := cli(t, e.db, "", "webhooks", "register", "elevenlabs", "--public-url", e.proxy.URL,
		"--org", e2eOrg, "--upstream", "elevenlabs="+e.simURL, "--master-key-file", e.keys)
	if code != 0 || !strings.Contains(out, "registered elevenlabs webhooks") {
		t.Fatalf("register: exit %d, out %q, err %q", code, out, errs)
	}
	req, _ := http.NewRequest("POST", e.simURL+"/_sim/webhooks/send",
		strings.NewReader(`{"type": "speech_to_text_transcription", "data": {"request_id": "req-none"}}`))
	req.Header.Set("xi-api-key", e2eElevenKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sent struct {
		DeliveredTo int `json:"delivered_to"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&sent); err != nil || resp.StatusCode != 200 || sent.DeliveredTo != 1 {
		t.Fatalf("the simulator's delivery: %d %+v %v, want delivered to the gateway", resp.StatusCode, sent, err)
	}
}
