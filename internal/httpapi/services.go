package httpapi

import (
	"context"
	"net/http"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
)

// serviceState is a service as one org sees it: catalog defaults overridden by the global
// settings, then by the org's.
type serviceState struct {
	svc           *catalog.Service
	globalEnabled bool
	orgEnabled    bool
	policy        aiproxy.Policy
}

func (s *Server) serviceState(ctx context.Context, svc *catalog.Service, orgID int64) (serviceState, error) {
	st := serviceState{svc: svc, globalEnabled: true, orgEnabled: true, policy: svc.CredentialPolicy}
	global, err := s.settings(ctx, svc.Slug, 0)
	if err != nil {
		return st, err
	}
	if global.Enabled != nil {
		st.globalEnabled = *global.Enabled
	}
	if global.Policy != nil {
		st.policy = *global.Policy
	}
	if orgID == 0 {
		return st, nil
	}
	own, err := s.settings(ctx, svc.Slug, orgID)
	if err != nil {
		return st, err
	}
	if own.Enabled != nil {
		st.orgEnabled = *own.Enabled
	}
	if own.Policy != nil {
		st.policy = *own.Policy
	}
	return st, nil
}

// settings returns the stored settings of (service, org), empty when there are none.
func (s *Server) settings(ctx context.Context, service string, orgID int64) (*aiproxy.ServiceSettings, error) {
	set, err := s.store.ServiceSettings(ctx, service, orgID)
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		return noSettings, nil
	}
	return set, err
}

// noSettings stands for "nothing overridden"; shared, so read it only.
var noSettings = &aiproxy.ServiceSettings{}

// lookupService returns the service if it exists and is enabled globally (404 otherwise,
// contract §9) and for the org (403 otherwise).
func (s *Server) lookupService(ctx context.Context, slug string, org *aiproxy.Org) (serviceState, error) {
	svc := s.catalog.Service(slug)
	if svc == nil {
		return serviceState{}, errServiceNotFound(slug)
	}
	st, err := s.serviceState(ctx, svc, org.ID)
	switch {
	case err != nil:
		return st, err
	case !st.globalEnabled:
		return st, errServiceNotFound(slug)
	case !st.orgEnabled:
		return st, errForbidden
	}
	return st, nil
}

func errServiceNotFound(slug string) error {
	return detail(http.StatusNotFound, "External proxy service '%s' not found or disabled.", slug)
}

func errEndpointNotFound(action, service string) error {
	return detail(http.StatusNotFound, "Endpoint '%s' not found for external proxy service '%s'.", action, service)
}

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
}

// visibleEndpoints are the enabled endpoints the caller's scopes allow.
func visibleEndpoints(svc *catalog.Service, p *principal) []*catalog.Endpoint {
	var out []*catalog.Endpoint
	for _, e := range svc.EnabledEndpoints() {
		if scopeAllows(p, svc.Slug, e.Slug) {
			out = append(out, e)
		}
	}
	return out
}

func (s *Server) listServices(w http.ResponseWriter, r *http.Request) error {
	org, err := s.orgFor(r, false)
	if err != nil {
		return err
	}
	p := principalFrom(r.Context())
	out := []serviceSummary{}
	for _, svc := range s.catalog.Services() {
		st, err := s.serviceState(r.Context(), svc, org.ID)
		if err != nil {
			return err
		}
		eps := visibleEndpoints(svc, p)
		if !st.globalEnabled || !st.orgEnabled || len(eps) == 0 {
			continue
		}
		out = append(out, serviceSummary{
			Slug: svc.Slug, DisplayName: svc.DisplayName, ServiceType: svc.ServiceType, IsEnabled: true,
			SupportsAsyncJobs: svc.SupportsAsyncJobs, SupportsStreaming: svc.SupportsStreaming,
			CredentialName: svc.CredentialName, EndpointCount: len(eps),
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getService(w http.ResponseWriter, r *http.Request) error {
	org, err := s.orgFor(r, false)
	if err != nil {
		return err
	}
	st, err := s.lookupService(r.Context(), r.PathValue("service"), org)
	if err != nil {
		return err
	}
	svc := st.svc
	d := serviceDetail{
		Slug: svc.Slug, DisplayName: svc.DisplayName, BaseURL: svc.BaseURL, ServiceType: svc.ServiceType,
		AuthMode: svc.AuthMode, IsEnabled: true, SupportsAsyncJobs: svc.SupportsAsyncJobs,
		SupportsStreaming: svc.SupportsStreaming, DefaultTimeoutSeconds: int(svc.DefaultTimeout.Seconds()),
		CredentialName: svc.CredentialName, CredentialPolicy: st.policy,
		CredentialSchema: map[string]string{"key": "string"},
		Endpoints:        []endpointDetail{},
	}
	for _, e := range visibleEndpoints(svc, principalFrom(r.Context())) {
		d.Endpoints = append(d.Endpoints, endpointDetail{
			Slug: e.Slug, PathTemplate: e.Path.String(), HTTPMethod: e.HTTPMethod,
			RequestMode: string(e.RequestMode), ResponseMode: string(e.ResponseMode),
			SupportsStreaming: e.SupportsStreaming || e.ResponseMode == catalog.ResponseStream,
			CallbackMode:      string(e.CallbackMode), IsEnabled: true, Description: e.Description,
			PathParams: nonNil(e.Path.Params()), RequiredQuery: e.RequiredQuery, FileFields: e.FileFields,
			Billable: e.Billable, Destructive: e.Destructive, PollAction: e.PollAction,
			TimeoutSeconds: int(svc.TimeoutFor(e).Seconds()),
		})
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
