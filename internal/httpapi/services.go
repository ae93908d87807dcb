package httpapi

import (
	"net/http"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// serviceSummary is one item of GET …/services/ (contract §3).
type serviceSummary struct {
	Slug              string `json:"slug"`
	DisplayName       string `json:"display_name"`
	ServiceType       string `json:"service_type"`
	IsEnabled         bool   `json:"is_enabled"`
	SupportsAsyncJobs bool   `json:"supports_async_jobs"`
	SupportsStreaming bool   `json:"supports_streaming"`
	CredentialName    string `json:"credential_name"`
	EndpointCount     int    `json:"endpoint_count"`
}

// serviceDetail is GET …/services/{service}/ (contract §3).
type serviceDetail struct {
	Slug                  string            `json:"slug"`
	DisplayName           string            `json:"display_name"`
	BaseURL               string            `json:"base_url"`
	ServiceType           string            `json:"service_type"`
	AuthMode              string            `json:"auth_mode"`
	IsEnabled             bool              `json:"is_enabled"`
	SupportsAsyncJobs     bool              `json:"supports_async_jobs"`
	SupportsStreaming     bool              `json:"supports_streaming"`
	DefaultTimeoutSeconds int               `json:"default_timeout_seconds"`
	CredentialName        string            `json:"credential_name"`
	CredentialPolicy      aiproxy.Policy    `json:"credential_policy"`
	CredentialSchema      map[string]string `json:"credential_schema"`
	Endpoints             []endpointDetail  `json:"endpoints"`
}

// endpointDetail is one endpoint in discovery: the documented fields, then extras that
// help clients (required parameters, billing, what polls it).
type endpointDetail struct {
	Slug              string   `json:"slug"`
	PathTemplate      string   `json:"path_template"`
	HTTPMethod        string   `json:"http_method"`
	RequestMode       string   `json:"request_mode"`
	ResponseMode      string   `json:"response_mode"`
	SupportsStreaming bool     `json:"supports_streaming"`
	CallbackMode      string   `json:"callback_mode"`
	IsEnabled         bool     `json:"is_enabled"`
	Description       string   `json:"description,omitempty"`
	PathParams        []string `json:"path_params"`
	RequiredQuery     []string `json:"required_query,omitempty"`
	FileFields        []string `json:"file_fields,omitempty"`
	Billable          bool     `json:"billable"`
	Destructive       bool     `json:"destructive"`
	PollAction        string   `json:"poll_action,omitempty"`
	TimeoutSeconds    int      `json:"timeout_seconds"`
	// Realtime (docs/realtime.md): http, or websocket for an action reached through
	// GET …/realtime/{action}/ with the query parameters it allows.
	Transport        string   `json:"transport"`
	Query            []string `json:"query,omitempty"`
	CredentialFields []string `json:"credential_fields,omitempty"`
	// What the action reaches of the provider account (public, job, account), and how this
	// org may use it now on a shared account (docs/cost-control.md).
	AccountScope  string `json:"account_scope"`
	SharedAccount string `json:"shared_account"`
	// Lifecycle and guidance from the catalog (issue 13): null when not given.
	Deprecated bool     `json:"deprecated"`
	Sunset     *string  `json:"sunset"`      // YYYY-MM-DD
	Successor  *string  `json:"successor"`   // an action slug of this service
	Note       *string  `json:"note"`        // one sentence for clients
	NextAction *string  `json:"next_action"` // an action slug of this service
	Aliases    []string `json:"aliases"`     // other slugs that invoke it; [] when none
}

// lifecycleView fills the lifecycle fields of d from e.
func lifecycleView(d *endpointDetail, e *catalog.Endpoint) {
	opt := func(v string) *string {
		if v == "" {
			return nil
		}
		return &v
	}
	d.Deprecated = e.Deprecated
	if !e.Sunset.IsZero() {
		d.Sunset = opt(e.Sunset.Format("2006-01-02"))
	}
	d.Successor, d.Note, d.NextAction = opt(e.Successor), opt(e.Note), opt(e.NextAction)
	d.Aliases = nonNil(e.Aliases)
}

func (s *Server) listServices(w http.ResponseWriter, r *http.Request) error {
	org, err := s.org(r, tenancy.AnyKey)
	if err != nil {
		return err
	}
	found, err := s.tenancy.Discover(r.Context(), actorFrom(r), org)
	if err != nil {
		return err
	}
	out := make([]serviceSummary, 0, len(found))
	for _, d := range found {
		svc := d.Service
		out = append(out, serviceSummary{
			Slug: svc.Slug, DisplayName: svc.DisplayName, ServiceType: svc.ServiceType, IsEnabled: true,
			SupportsAsyncJobs: svc.SupportsAsyncJobs, SupportsStreaming: svc.SupportsStreaming,
			CredentialName: svc.CredentialName, EndpointCount: len(d.Endpoints),
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getService(w http.ResponseWriter, r *http.Request) error {
	org, err := s.org(r, tenancy.AnyKey)
	if err != nil {
		return err
	}
	d, err := s.tenancy.DiscoverService(r.Context(), actorFrom(r), org, r.PathValue("service"))
	if err != nil {
		return err
	}
	svc := d.Service
	out := serviceDetail{
		Slug: svc.Slug, DisplayName: svc.DisplayName, BaseURL: svc.BaseURL, ServiceType: svc.ServiceType,
		AuthMode: svc.AuthMode, IsEnabled: true, SupportsAsyncJobs: svc.SupportsAsyncJobs,
		SupportsStreaming: svc.SupportsStreaming, DefaultTimeoutSeconds: int(svc.DefaultTimeout.Seconds()),
		CredentialName: svc.CredentialName, CredentialPolicy: d.Policy,
		CredentialSchema: map[string]string{"key": "string"},
		Endpoints:        make([]endpointDetail, 0, len(d.Endpoints)),
	}
	for _, e := range d.Endpoints {
		ed := endpointDetail{
			Slug: e.Slug, PathTemplate: e.Path.String(), HTTPMethod: e.HTTPMethod,
			RequestMode: string(e.RequestMode), ResponseMode: string(e.ResponseMode),
			SupportsStreaming: e.SupportsStreaming || e.ResponseMode == catalog.ResponseStream,
			CallbackMode:      string(e.CallbackMode), IsEnabled: true, Description: e.Description,
			PathParams: nonNil(e.Path.Params()), RequiredQuery: e.RequiredQuery, FileFields: e.FileFields,
			Billable: e.Billable, Destructive: e.Destructive, PollAction: e.PollAction,
			TimeoutSeconds: int(svc.TimeoutFor(e).Seconds()),
			Transport:      string(e.Transport), Query: e.Query, CredentialFields: e.CredentialFields,
			AccountScope: string(e.AccountScope), SharedAccount: tenancy.SharedAccess(e, d.ServiceState, d.Source),
		}
		lifecycleView(&ed, e)
		out.Endpoints = append(out.Endpoints, ed)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
