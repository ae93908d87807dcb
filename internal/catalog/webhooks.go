package catalog

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Provider webhooks, as data: a service's webhooks block says how the provider signs its
// deliveries, where an event states its type and the provider's job, and how the gateway
// registers its own receiver with the provider (an action of the service, the body to send
// it, and where the answer holds the signing secret and the new endpoint's id). The gateway
// receives deliveries at POST {prefix}/webhooks/{service}/; `aiproxy webhooks register`
// registers that URL through Register.

// The signature schemes a webhooks block may name (WebhookSpec.Signature).
const (
	// SignatureHeyGen: the lowercase hex HMAC-SHA256 of the raw body, keyed with the
	// endpoint secret as it is (whsec_ included), in a header of its own
	// (docs/simulators.md §14).
	SignatureHeyGen = "heygen"
	// SignatureElevenLabs: the header ElevenLabs-Signature: t=<unix seconds>,v0=<lowercase
	// hex HMAC-SHA256 of "<t>.<raw body>", keyed with the webhook secret> (docs/simulators.md
	// §25).
	SignatureElevenLabs = "elevenlabs"
)

// Signatures are the signature schemes a webhooks block may name, in a stable order.
var Signatures = []string{SignatureHeyGen, SignatureElevenLabs}

// URLPlaceholder is the string value of a register body that WebhookRegister.BodyFor
// replaces with the receiver's public URL.
const URLPlaceholder = "{url}"

// WebhookSpec is a service's webhooks block: how its provider's deliveries are read. Every
// pointer was checked when the catalog was loaded (a JSON Pointer other than the whole
// document, without "*").
type WebhookSpec struct {
	Signature string           // SignatureHeyGen or SignatureElevenLabs: how deliveries are signed
	EventType string           // JSON pointer to the event's type (a string) in a delivery
	JobIDs    []string         // JSON pointers to the provider's job id in a delivery, tried in order
	Register  *WebhookRegister // how to register a receiver with the provider; nil: not through the catalog

	eventType *Pointer
	jobIDs    []*Pointer
}

// WebhookRegister says how the gateway registers its receiver with the provider: it invokes
// Action (an action of the same service, request_mode json and response_mode json) with
// the body BodyFor(public URL), and reads the signing secret, and the new endpoint's id,
// from the 2xx answer.
type WebhookRegister struct {
	Action     string         // the action's slug
	Body       map[string]any // the request body; every string value "{url}" in it stands for the public URL
	Secret     string         // JSON pointer to the signing secret in the answer
	EndpointID string         // JSON pointer to the new endpoint's id in the answer; "" when the answer has none

	secret, endpointID *Pointer
}

// EventTypeOf returns the event type a decoded delivery states at EventType, and whether it
// states one (a non-empty string).
func (w *WebhookSpec) EventTypeOf(event any) (string, bool) {
	v, _ := w.eventType.Lookup(event)
	s, ok := v.(string)
	return s, ok && s != ""
}

// JobIDOf returns the provider's job id in a decoded delivery: the first of JobIDs that finds
// a non-empty string or a number (as its decimal text), and whether one did.
func (w *WebhookSpec) JobIDOf(event any) (string, bool) {
	for _, p := range w.jobIDs {
		if v, ok := p.Lookup(event); ok {
			if id, ok := jobID(v); ok {
				return id, true
			}
		}
	}
	return "", false
}

// BodyFor returns a deep copy of Body in which every string value "{url}", at any depth
// (object members and array elements), is url. Body itself is never changed.
func (r *WebhookRegister) BodyFor(url string) map[string]any {
	out, _ := substituteURL(r.Body, url).(map[string]any)
	return out
}

func substituteURL(v any, url string) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = substituteURL(e, url)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = substituteURL(e, url)
		}
		return out
	case string:
		if x == URLPlaceholder {
			return url
		}
	}
	return v
}

// SecretOf returns the signing secret in a decoded answer of the register action (a
// non-empty string at Secret), and whether there is one.
func (r *WebhookRegister) SecretOf(answer any) (string, bool) {
	v, _ := r.secret.Lookup(answer)
	s, ok := v.(string)
	return s, ok && s != ""
}

// EndpointIDOf returns the new endpoint's id in a decoded answer of the register action (a
// non-empty string or a number at EndpointID), and whether there is one; always false when
// EndpointID is "".
func (r *WebhookRegister) EndpointIDOf(answer any) (string, bool) {
	if r.endpointID == nil {
		return "", false
	}
	v, _ := r.endpointID.Lookup(answer)
	return jobID(v)
}

// The file forms.
type webhooksFile struct {
	Signature *string              `yaml:"signature"`
	EventType *string              `yaml:"event_type"`
	JobIDs    []string             `yaml:"job_ids"`
	Register  *webhookRegisterFile `yaml:"register"`
}

type webhookRegisterFile struct {
	Action     string         `yaml:"action"`
	Body       map[string]any `yaml:"body"`
	Secret     *string        `yaml:"secret"`
	EndpointID *string        `yaml:"endpoint_id"`
}

// buildWebhooks converts and checks a service's webhooks block on its own; the register
// action is checked against the service's actions by checkWebhookRegister.
func buildWebhooks(f *webhooksFile, fail func(format string, args ...any)) *WebhookSpec {
	w := &WebhookSpec{JobIDs: slices.Clone(f.JobIDs)}
	pointer := func(field, s string) *Pointer { return valuePointer("webhooks", field, s, fail) }
	switch {
	case f.Signature == nil || *f.Signature == "":
		fail("webhooks: missing signature (how the provider signs its deliveries: heygen or elevenlabs)")
	case !slices.Contains(Signatures, *f.Signature):
		fail("webhooks: unknown signature %q (want heygen or elevenlabs)", *f.Signature)
	default:
		w.Signature = *f.Signature
	}
	if f.EventType == nil {
		fail("webhooks: missing event_type (where a delivery states its event's type)")
	} else {
		w.EventType = *f.EventType
		w.eventType = pointer("event_type", *f.EventType)
	}
	if len(f.JobIDs) == 0 {
		fail("webhooks: missing job_ids (where a delivery names the provider's job)")
	}
	for _, s := range f.JobIDs {
		if p := pointer("job_ids", s); p != nil {
			w.jobIDs = append(w.jobIDs, p)
		}
	}
	if rf := f.Register; rf != nil {
		w.Register = buildWebhookRegister(rf, pointer, fail)
	}
	return w
}

func buildWebhookRegister(rf *webhookRegisterFile, pointer func(field, s string) *Pointer, fail func(format string, args ...any)) *WebhookRegister {
	r := &WebhookRegister{Action: rf.Action}
	if rf.Action == "" {
		fail("webhooks: register: missing action (the action of this service that registers a receiver)")
	}
	switch body, err := jsonBody(rf.Body); {
	case rf.Body == nil:
		fail("webhooks: register: missing body (the request body, with %q where the receiver's URL goes)", URLPlaceholder)
	case err != nil:
		fail("webhooks: register: body: %v", err)
	case !hasURLPlaceholder(body):
		fail("webhooks: register: body: no string value %q, so the receiver's URL would not be sent", URLPlaceholder)
	default:
		r.Body = body
	}
	if rf.Secret == nil {
		fail("webhooks: register: missing secret (where the answer holds the signing secret)")
	} else {
		r.Secret = *rf.Secret
		r.secret = pointer("register: secret", *rf.Secret)
	}
	if rf.EndpointID != nil {
		r.EndpointID = *rf.EndpointID
		r.endpointID = pointer("register: endpoint_id", *rf.EndpointID)
	}
	return r
}

// jsonBody returns the YAML body in the form encoding/json decodes to an object (objects
// map[string]any, arrays []any, numbers float64), or an error naming a value JSON cannot
// hold.
func jsonBody(body map[string]any) (map[string]any, error) {
	if body == nil {
		return nil, nil
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("not expressible as JSON: %v", err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func hasURLPlaceholder(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			if hasURLPlaceholder(e) {
				return true
			}
		}
	case []any:
		return slices.ContainsFunc(x, hasURLPlaceholder)
	case string:
		return x == URLPlaceholder
	}
	return false
}

// checkWebhookRegister checks, once the service's actions are known, that the register
// action is one of them and can carry a JSON body and answer JSON.
func checkWebhookRegister(s *Service) []error {
	if s.Webhooks == nil || s.Webhooks.Register == nil || s.Webhooks.Register.Action == "" {
		return nil
	}
	slug := s.Webhooks.Register.Action
	fail := func(format string, args ...any) error {
		return fmt.Errorf("catalog: %s: service %q: webhooks: register: action %q: %s", s.File, s.Slug, slug, fmt.Sprintf(format, args...))
	}
	e := s.bySlug[slug]
	switch {
	case e == nil:
		return []error{fail("no such action")}
	case e.RequestMode != RequestJSON:
		return []error{fail("request_mode is %s, not json: the body could not be sent", e.RequestMode)}
	case e.ResponseMode != ResponseJSON:
		return []error{fail("response_mode is %s, not json: the secret could not be read", e.ResponseMode)}
	}
	return nil
}
