// Package catalog holds the actions the gateway offers, as data: one YAML file per service,
// embedded in the binary and validated at start-up, with deployment files able to add or
// override services (--catalog-dir).
package catalog

import (
	"sort"
	"time"

	"github.com/aiproxy/aiproxy"
)

// RequestMode is how an invoke envelope becomes the upstream request body (contract §3).
type RequestMode string

const (
	RequestRaw       RequestMode = "raw"       // no body
	RequestJSON      RequestMode = "json"      // envelope "body" as JSON
	RequestMultipart RequestMode = "multipart" // body keys as form fields, plus file parts
	RequestBinary    RequestMode = "binary"    // one file's bytes are the body
)

// ResponseMode is how the upstream response reaches the client (contract §3, §8).
type ResponseMode string

const (
	ResponseJSON        ResponseMode = "json"        // validated JSON, returned unchanged
	ResponsePassthrough ResponseMode = "passthrough" // bytes streamed as-is
	ResponseStream      ResponseMode = "stream"      // chunked or SSE, each chunk flushed
)

// CallbackMode says how a client learns that an async job finished.
type CallbackMode string

const (
	CallbackNone CallbackMode = "none"
	CallbackPoll CallbackMode = "poll"
)

// Service is one provider as the gateway offers it.
type Service struct {
	Slug              string
	DisplayName       string
	ServiceType       string
	BaseURL           string // the real provider URL, shown in discovery
	AuthMode          string // "header"
	AuthHeader        string // the header the provider key is injected into
	AuthPrefix        string // put before the key in AuthHeader, e.g. "Bearer "; usually empty
	SupportsAsyncJobs bool
	SupportsStreaming bool
	DefaultTimeout    time.Duration
	CredentialName    string
	CredentialPolicy  aiproxy.Policy // the catalog default
	Endpoints         []*Endpoint    // in file order, disabled ones included
	Webhooks          *WebhookSpec   // the provider's webhooks (webhooks.go); nil: none
	File              string         // the file it was loaded from (the last override, if any), for messages

	bySlug map[string]*Endpoint
}

// Endpoint is one action of a service.
type Endpoint struct {
	Slug              string
	Description       string
	HTTPMethod        string
	Path              *PathTemplate
	BaseURL           string // a host of its own (HeyGen uploads); empty: the service's
	RequestMode       RequestMode
	ResponseMode      ResponseMode
	CallbackMode      CallbackMode
	SupportsStreaming bool          // the response is flushed as it arrives (response_mode stream)
	PollAction        string        // the action that reads this job's status
	Timeout           time.Duration // 0: the service's DefaultTimeout
	Enabled           bool
	DisabledReason    string
	Billable          bool
	Destructive       bool
	RequiredQuery     []string // query parameters the upstream requires (informational)
	FileFields        []string // multipart/binary: the file field names the upstream expects
	ContentTypes      []string // binary: accepted content types; empty: any

	// Realtime (realtime.go): websocket actions are relayed, not invoked.
	Transport        Transport // always set by Load: http or websocket
	Query            []string  // websocket: the query parameters a client may pass on
	CredentialFields []string  // websocket: members removed from a client's JSON messages

	// What the action does to jobs and to the provider account (account.go). Load always
	// sets AccountScope; the others are set only where the catalog gives them.
	AccountScope AccountScope
	CreatesJob   []*Pointer  // job actions: where a 2xx json answer holds the new object's id(s)
	JobRef       *JobRef     // job actions: where the envelope names the job it reads or changes
	JobRefs      []*JobRef   // further objects the envelope may name (job_refs), beyond JobRef
	ListFilter   *ListFilter // account list actions whose items can be told apart by id
	Meter        Meter       // units counted beyond one request per call

	// Jobs (jobstatus.go): how a status action's answer tells the job's state, and how
	// often a job a creating action made is read while a client waits for it (0: the
	// default).
	JobStatus    *JobStatus
	PollInterval time.Duration

	// Lifecycle and guidance (deprecation.go), shown in discovery. Dates are UTC midnights;
	// zero: not given.
	Deprecated      bool
	DeprecatedSince time.Time // deprecated_since; the Deprecation header falls back to Sunset
	Sunset          time.Time // the day the provider removes the action
	Successor       string    // the action that replaces it, of the same service
	Note            string    // one sentence for clients
	NextAction      string    // the action a client usually calls next, of the same service
	Aliases         []string  // other slugs that invoke it (Service.Endpoint resolves them)

	file string // the file it was loaded from, for messages
}

// Endpoint returns the action with that slug or alias, enabled or not, or nil.
func (s *Service) Endpoint(slug string) *Endpoint { return s.bySlug[slug] }

// EnabledEndpoints returns the enabled actions in file order.
func (s *Service) EnabledEndpoints() []*Endpoint {
	out := make([]*Endpoint, 0, len(s.Endpoints))
	for _, e := range s.Endpoints {
		if e.Enabled {
			out = append(out, e)
		}
	}
	return out
}

// TimeoutFor returns the endpoint's timeout, or the service default.
func (s *Service) TimeoutFor(e *Endpoint) time.Duration {
	if e.Timeout > 0 {
		return e.Timeout
	}
	return s.DefaultTimeout
}

// BaseURLFor returns the real upstream base URL of e: its own host or the service's.
func (s *Service) BaseURLFor(e *Endpoint) string {
	if e.BaseURL != "" {
		return e.BaseURL
	}
	return s.BaseURL
}

// Catalog is the set of services, immutable once loaded.
type Catalog struct {
	services map[string]*Service
}

// Service returns the service with that slug, or nil.
func (c *Catalog) Service(slug string) *Service { return c.services[slug] }

// Services returns every service, sorted by slug.
func (c *Catalog) Services() []*Service {
	out := make([]*Service, 0, len(c.services))
	for _, s := range c.services {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slug < out[j].Slug })
	return out
}
