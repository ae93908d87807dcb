package tenancy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/webhooks"
)

// Provider webhooks in (docs/jobs.md §Webhooks in): the providers call
// POST /api/ai-proxy/webhooks/{service}/ with events about jobs. Nothing in an event is
// believed before its signature is checked against a signing secret the gateway stored when
// it registered the receiver (aiproxy webhooks register); then the event is refused if seen
// before, and the job it names is read again from the provider (so that the job's record
// comes from the provider's own status answer, never from the event's body).

// Incoming is a provider event that passed every check.
type Incoming struct {
	Type string       // the provider's event type
	Job  *aiproxy.Job // the job it names, if the gateway created it on the signer's account; else nil
}

var (
	errWebhookSignature = aiproxy.Errorf(aiproxy.EUNAUTHORIZED, "Webhook signature is missing or does not match.")
	errWebhookStale     = aiproxy.Errorf(aiproxy.EUNAUTHORIZED, "Webhook timestamp is outside the accepted window.")
	errWebhookReplay    = aiproxy.Errorf(aiproxy.ECONFLICT, "This webhook event was already received.")
	errWebhookBody      = invalid("Webhook body must be a JSON object.")
)

// WebhookInService is the credential service under which service's signing secret is kept.
func WebhookInService(service string) string { return aiproxy.WebhookInPrefix + service }

// ReceiveWebhook checks one incoming event of svc: its signature, its freshness, that it
// was not seen before, and which job it is about. It changes nothing but the record of
// seen events, and that only once the signature holds.
func (m *Manager) ReceiveWebhook(ctx context.Context, svc *catalog.Service, h http.Header, body []byte) (*Incoming, error) {
	spec := svc.Webhooks
	if spec == nil {
		return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "Service '%s' does not send webhooks.", svc.Slug)
	}
	var doc any
	jsonErr := json.Unmarshal(body, &doc)
	if _, ok := doc.(map[string]any); !ok && jsonErr == nil {
		jsonErr = errors.New("not an object")
	}
	var job *aiproxy.Job
	if jsonErr == nil {
		if j, err := m.eventJob(ctx, svc, doc); err != nil {
			return nil, err
		} else {
			job = j
		}
	}
	signer, eventID, err := m.verifyWebhook(ctx, svc, job, h, body)
	if err != nil {
		return nil, err
	}
	if jsonErr != nil {
		return nil, errWebhookBody
	}
	var typ string
	if p, perr := catalog.ParsePointer(spec.EventType); perr == nil {
		if v, ok := p.Lookup(doc); ok {
			typ, _ = v.(string)
		}
	}
	if typ == "" {
		return nil, invalid("Webhook body has no event type at %s.", spec.EventType)
	}
	// Replays: the provider's event id when it sends one, and the body itself (a body is
	// never sent twice as two events: it holds the event's own timestamp or id).
	sum := sha256.Sum256(body)
	keys := []string{"sha256:" + hex.EncodeToString(sum[:])}
	if eventID != "" {
		keys = append(keys, "id:"+eventID)
	}
	replay := false
	for _, k := range keys {
		seen, err := m.Store.SeenWebhookEvent(ctx, svc.Slug, k, m.now())
		if err != nil {
			return nil, err
		}
		replay = replay || seen
	}
	if replay {
		return nil, errWebhookReplay
	}
	if job != nil && !signs(signer, job) {
		job = nil // signed by another account than the one that made the job: not its news
	}
	return &Incoming{Type: typ, Job: job}, nil
}

// signs reports whether a secret stored as c belongs to the provider account that made j.
func signs(c *aiproxy.Credential, j *aiproxy.Job) bool {
	if c.Source == aiproxy.SourcePlatform {
		return j.Source == aiproxy.SourcePlatform
	}
	return j.Source == aiproxy.SourceTenant && j.OrgID == c.OrgID
}

// eventJob is the gateway's job the event names, if any.
func (m *Manager) eventJob(ctx context.Context, svc *catalog.Service, doc any) (*aiproxy.Job, error) {
	for _, raw := range svc.Webhooks.JobIDs {
		p, err := catalog.ParsePointer(raw)
		if err != nil {
			continue
		}
		v, ok := p.Lookup(doc)
		if !ok {
			continue
		}
		var id string
		switch x := v.(type) {
		case string:
			id = x
		case float64:
			id = strconv.FormatFloat(x, 'f', -1, 64)
		}
		if id == "" || len(id) > 256 {
			continue
		}
		j, err := m.Store.JobByUpstreamID(ctx, svc.Slug, id)
		if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
			continue
		}
		if err != nil {
			return nil, err
		}
		return j, nil
	}
	return nil, nil
}

// verifyWebhook finds the stored secret that signed the event: first the one of the account
// that made its job, then every other of the service. It returns that secret's credential
// and the provider's event id (when its scheme has one).
func (m *Manager) verifyWebhook(ctx context.Context, svc *catalog.Service, job *aiproxy.Job, h http.Header, body []byte) (*aiproxy.Credential, string, error) {
	name := WebhookInService(svc.Slug)
	var cands []*aiproxy.Credential
	if job != nil {
		orgID := job.OrgID
		if job.Source == aiproxy.SourcePlatform {
			orgID = 0
		}
		c, err := m.Store.GetCredential(ctx, name, job.Source, orgID)
		if err != nil && aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND {
			return nil, "", err
		}
		if c != nil {
			cands = append(cands, c)
		}
	}
	all, err := m.Store.ServiceCredentials(ctx, name)
	if err != nil {
		return nil, "", err
	}
	for _, c := range all {
		if len(cands) == 0 || c.Source != cands[0].Source || c.OrgID != cands[0].OrgID {
			cands = append(cands, c)
		}
	}
	stale := false
	now := time.Now()
	for _, c := range cands {
		secret, err := m.Vault.Open(c)
		if err != nil {
			m.logf("opening a webhook signing secret failed", "service", svc.Slug, "error", err.Error())
			continue
		}
		var id string
		switch svc.Webhooks.Signature {
		case "elevenlabs":
			_, err = webhooks.VerifyElevenLabs(secret, h.Get("ElevenLabs-Signature"), body, now)
		case "heygen":
			id, _, err = webhooks.VerifyHeyGen(secret, h, body, now)
		default:
			err = webhooks.ErrBadSignature
		}
		if err == nil {
			return c, id, nil
		}
		stale = stale || errors.Is(err, webhooks.ErrStale)
	}
	if stale {
		return nil, "", errWebhookStale
	}
	return nil, "", errWebhookSignature
}

// UpstreamCall sends one request to the provider through the catalog action ep, with key,
// and returns the answer's body (an error for anything but 2xx). The command line gives
// one built on the gateway.
type UpstreamCall func(ctx context.Context, svc *catalog.Service, ep *catalog.Endpoint, key string, body map[string]any) ([]byte, error)

// RegisterWebhook registers receiverURL with the provider of svc, on the org's own account
// (org) or the platform's (org nil), through the catalog's register action, and stores the
// signing secret the provider answers, sealed. It returns the provider's endpoint id.
func (m *Manager) RegisterWebhook(ctx context.Context, a Actor, svc *catalog.Service, org *aiproxy.Org, receiverURL string, call UpstreamCall) (string, error) {
	source, orgID, err := credentialLevel(a, org)
	if err != nil {
		return "", err
	}
	spec := svc.Webhooks
	if spec == nil || spec.Register == nil {
		return "", invalid("Service '%s' has no webhook registration in the catalog.", svc.Slug)
	}
	ep := svc.Endpoint(spec.Register.Action)
	if ep == nil {
		return "", invalid("Service '%s' has no action '%s'.", svc.Slug, spec.Register.Action)
	}
	cred, err := m.Store.GetCredential(ctx, svc.Slug, source, orgID)
	if err != nil {
		return "", notFoundAs(err, errCredentialNotFound(svc, source))
	}
	key, err := m.Vault.Open(cred)
	if err != nil {
		return "", err
	}
	answer, err := call(ctx, svc, ep, key, spec.Register.BodyFor(receiverURL))
	if err != nil {
		return "", err
	}
	var doc any
	if err := json.Unmarshal(answer, &doc); err != nil {
		return "", aiproxy.Errorf(aiproxy.EUPSTREAM, "The provider's answer to %s is not JSON.", ep.Slug)
	}
	text := func(ptr string) string {
		p, err := catalog.ParsePointer(ptr)
		if err != nil {
			return ""
		}
		v, _ := p.Lookup(doc)
		s, _ := v.(string)
		return s
	}
	secret, id := text(spec.Register.Secret), text(spec.Register.EndpointID)
	if secret == "" {
		return "", aiproxy.Errorf(aiproxy.EUPSTREAM, "The provider's answer to %s has no signing secret at %s.", ep.Slug, spec.Register.Secret)
	}
	if _, err := m.Vault.Set(ctx, WebhookInService(svc.Slug), source, orgID, secret); err != nil {
		return "", err
	}
	after := map[string]any{"service": svc.Slug, "source": string(source), "url": receiverURL, "endpoint_id": id}
	if err := m.audit(ctx, a, orgID, "webhook.register", svc.Slug, nil, after); err != nil {
		m.logf("recording an audit entry failed", "error", err.Error())
	}
	return id, nil
}

// WebhookRegistered reports whether a signing secret of svc is stored for the account that
// made j: the provider then tells the gateway when j ends, and polling is only a fallback.
func (m *Manager) WebhookRegistered(ctx context.Context, j *aiproxy.Job) bool {
	orgID := j.OrgID
	if j.Source == aiproxy.SourcePlatform {
		orgID = 0
	}
	_, err := m.Store.GetCredential(ctx, WebhookInService(j.Service), j.Source, orgID)
	return err == nil
}
