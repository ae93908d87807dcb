package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/gateway"
	"github.com/aiproxy/aiproxy/internal/tenancy"
	"github.com/aiproxy/aiproxy/internal/webhooks"
)

// Webhooks (docs/jobs.md): an org's outgoing webhook (PUT/GET/DELETE …/orgs/{org}/webhook/,
// its deliveries and retries), delivered by one webhooks.Deliverer per replica from the
// store's outbox; and the providers' webhooks in (POST …/webhooks/{service}/).

// maxIncomingWebhook bounds an incoming event's body. Events about jobs are small; the
// largest a provider sends (a call's whole audio, base64) are not about jobs.
const maxIncomingWebhook = 4 << 20

func (s *Server) webhookRoutes() {
	s.route("orgs/{org}/webhook", methods{"GET": s.getWebhook, "PUT": s.putWebhook, "DELETE": s.deleteWebhook}, true)
	s.route("orgs/{org}/webhook/deliveries", methods{"GET": s.listDeliveries}, true)
	s.route("orgs/{org}/webhook/deliveries/{id}/retry", methods{"POST": s.retryDelivery}, true)
	s.route("webhooks/{service}", methods{"POST": s.receiveWebhook}, false)
}

func (s *Server) putWebhook(w http.ResponseWriter, r *http.Request) error {
	org, err := s.org(r, tenancy.Admin)
	if err != nil {
		return err
	}
	var body struct {
		URL          *string   `json:"url"`
		Events       *[]string `json:"events"`
		RotateSecret *bool     `json:"rotate_secret"`
	}
	if err := decodeBody(w, r, &body, map[string]string{
		"url":           "Field 'url' must be a non-empty string.",
		"events":        "Field 'events' must be a list of event types (job.completed, job.failed).",
		"rotate_secret": "Field 'rotate_secret' must be true or false.",
	}); err != nil {
		return err
	}
	in := tenancy.WebhookInput{}
	if body.URL != nil {
		in.URL = *body.URL
	}
	if body.Events != nil {
		in.Events = *body.Events
		if in.Events == nil {
			in.Events = []string{}
		}
	}
	if body.RotateSecret != nil {
		in.RotateSecret = *body.RotateSecret
	}
	hook, secret, err := s.tenancy.PutOrgWebhook(r.Context(), actorFrom(r), org, in, s.webhookAllowPrivate)
	if err != nil {
		return err
	}
	_, cred, err := s.tenancy.OrgWebhook(r.Context(), actorFrom(r), org)
	if err != nil {
		return err
	}
	v := tenancy.WebhookView(hook, cred)
	if secret != "" {
		v["secret"] = secret // shown this once
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) error {
	org, err := s.org(r, tenancy.Admin)
	if err != nil {
		return err
	}
	hook, cred, err := s.tenancy.OrgWebhook(r.Context(), actorFrom(r), org)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tenancy.WebhookView(hook, cred))
	return nil
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	org, err := s.org(r, tenancy.Admin)
	if err != nil {
		return err
	}
	if err := s.tenancy.DeleteOrgWebhook(r.Context(), actorFrom(r), org); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// GET …/orgs/{org}/webhook/deliveries/?limit=&cursor=: newest first, each with its attempts.
func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	org, err := s.org(r, tenancy.Admin)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	limit := tenancy.DefaultDeliveriesLimit
	if v := q.Get("limit"); v != "" {
		if limit, _ = strconv.Atoi(v); limit == 0 {
			limit = -1
		}
	}
	var before int64
	if v := q.Get("cursor"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 1 {
			before = -1
		}
	}
	ds, attempts, cursor, err := s.tenancy.DeliveriesPage(r.Context(), actorFrom(r), org, before, limit)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(ds))
	for _, d := range ds {
		out = append(out, tenancy.DeliveryView(d, attempts[d.ID]))
	}
	var next *string
	if cursor != 0 {
		u := s.pageURL(r, url.Values{"limit": {strconv.Itoa(limit)}, "cursor": {strconv.FormatInt(cursor, 10)}})
		next = &u
	}
	writeJSON(w, http.StatusOK, list{Results: out, Next: next})
	return nil
}

func (s *Server) retryDelivery(w http.ResponseWriter, r *http.Request) error {
	org, err := s.org(r, tenancy.Admin)
	if err != nil {
		return err
	}
	if err := s.tenancy.RetryDelivery(r.Context(), actorFrom(r), org, r.PathValue("id")); err != nil {
		return err
	}
	if s.deliverer != nil {
		s.deliverer.Kick()
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": r.PathValue("id"), "state": aiproxy.DeliveryPending})
	return nil
}

// POST …/webhooks/{service}/ (no key: the provider signs instead). A verified event about
// a job the gateway made reads that job from the provider at once, which records its state,
// wakes its waiters and, at its end, enqueues the org's webhook.
func (s *Server) receiveWebhook(w http.ResponseWriter, r *http.Request) error {
	svc := s.catalog.Service(r.PathValue("service"))
	if svc == nil {
		return aiproxy.Errorf(aiproxy.ENOTFOUND, "Service '%s' not found.", r.PathValue("service"))
	}
	if li := logInfoFrom(r.Context()); li != nil {
		li.service, li.known = svc.Slug, true
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxIncomingWebhook))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return aiproxy.Errorf(aiproxy.ETOOLARGE, "Request body is larger than the limit of %d bytes.", maxIncomingWebhook)
	} else if err != nil {
		return err
	}
	in, err := s.tenancy.ReceiveWebhook(r.Context(), svc, r.Header, body)
	if err != nil {
		return err
	}
	if in.Job == nil {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ignored", "event": in.Type})
		return nil
	}
	if s.watcher != nil {
		// Read the job now, on the provider's word; bounded, so that a slow provider does
		// not hold its own webhook past its timeout (the watcher reads it later anyway).
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 8*time.Second)
		s.watcher.watch(ctx, in.Job)
		cancel()
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "accepted", "event": in.Type, "job_id": in.Job.ID})
	return nil
}

// newDeliverer is this replica's sender of the org webhooks' outbox.
func (s *Server) newDeliverer(allowPrivate bool, timeout time.Duration) *webhooks.Deliverer {
	return &webhooks.Deliverer{
		Store: s.store, Owner: s.watcher.owner, AllowPrivate: allowPrivate, Logger: s.logger,
		Client: webhooks.NewClient(allowPrivate, timeout),
		Secret: s.tenancy.OrgWebhookSecret,
		Render: s.renderDelivery,
	}
}

// renderDelivery is the body of a delivery: {"type", "timestamp", "data": the job's view}.
func (s *Server) renderDelivery(ctx context.Context, d *aiproxy.WebhookDelivery) ([]byte, error) {
	org, err := s.store.OrgByID(ctx, d.OrgID)
	if err != nil {
		return nil, err
	}
	j, err := s.tenancy.Job(ctx, tenancy.CLI, org, d.JobID)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"type": d.Type, "timestamp": d.CreatedAt.UTC().Format(time.RFC3339Nano), "data": s.newJobView(j)})
}

// UpstreamCall calls one catalog action through gw with the given provider key, outside any
// client request (the command line registering a webhook), and returns the answer's body;
// an answer other than 2xx is an error naming its status.
func UpstreamCall(gw *gateway.Gateway) tenancy.UpstreamCall {
	return func(ctx context.Context, svc *catalog.Service, ep *catalog.Endpoint, key string, body map[string]any) ([]byte, error) {
		env, err := json.Marshal(map[string]any{"body": body})
		if err != nil {
			return nil, err
		}
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, "/", bytes.NewReader(env))
		if err != nil {
			return nil, err
		}
		r.Header.Set("Content-Type", "application/json")
		rec := &memWriter{header: http.Header{}, limit: 1 << 20}
		if _, err := gw.Invoke(rec, r, gateway.Call{Service: svc, Endpoint: ep, RequestID: newRequestID(),
			Credential: func(context.Context) (string, error) { return key, nil }}); err != nil {
			return nil, err
		}
		if rec.status/100 != 2 {
			msg := strings.TrimSpace(rec.body.String())
			if len(msg) > 300 {
				msg = msg[:300] + "…"
			}
			return nil, aiproxy.Errorf(aiproxy.EUPSTREAM, "The provider answered %s with status %d: %s", ep.Slug, rec.status, msg)
		}
		return rec.body.Bytes(), nil
	}
}
