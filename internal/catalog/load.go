package catalog

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/aiproxy/aiproxy"
)

//go:embed services/*.yaml
var builtinFiles embed.FS

// defaultServiceTimeout applies when a service file gives no timeout_seconds.
const defaultServiceTimeout = 60 * time.Second

var builtin = sync.OnceValues(func() (*Catalog, error) {
	sub, err := fs.Sub(builtinFiles, "services")
	if err != nil {
		return nil, err
	}
	return (&Catalog{}).override(sub, "", builtinRules)
})

// loadRules are what a set of files must give beyond what every file must.
type loadRules struct {
	requireAccountScope bool // every endpoint classifies itself (the built-in files)
}

// builtinRules hold the embedded files to a stricter standard than a deployment's: they
// classify every action, while a deployment's action without account_scope is account.
var builtinRules = loadRules{requireAccountScope: true}

// Builtin returns the catalog embedded in the binary (services/*.yaml).
func Builtin() (*Catalog, error) { return builtin() }

// Open returns the built-in catalog with the service files of dir applied over it
// (see Override); dir "" means the built-in catalog alone. This is --catalog-dir.
func Open(dir string) (*Catalog, error) {
	c, err := Builtin()
	if err != nil || dir == "" {
		return c, err
	}
	return c.override(os.DirFS(dir), dir, loadRules{})
}

// Load reads every *.yaml and *.yml file at the root of fsys, one or more services per file
// (YAML documents separated by "---"), and validates them. Every service must be complete,
// and no two files may define the same service slug. All problems are reported together,
// each naming its file and entry.
func Load(fsys fs.FS) (*Catalog, error) {
	return (&Catalog{}).override(fsys, "", loadRules{})
}

// Override returns a new catalog: c with the service files of fsys applied over it.
// A service whose slug is not in c is added and must be complete. A service whose slug is
// in c is merged into it: the service-level fields the file gives replace c's (each
// credential_policy key separately), an endpoint with a slug c already has replaces that
// endpoint whole (it must be complete) keeping its position, and an endpoint with a new
// slug is appended. c is not modified. Endpoints cannot be removed, only disabled.
func (c *Catalog) Override(fsys fs.FS) (*Catalog, error) { return c.override(fsys, "", loadRules{}) }

// override applies the files of fsys under rules; dir, when set, prefixes file names in
// messages.
func (c *Catalog) override(fsys fs.FS, dir string, rules loadRules) (*Catalog, error) {
	docs, errs := readServiceFiles(fsys, dir)
	out := &Catalog{services: make(map[string]*Service, len(c.services)+len(docs))}
	for slug, s := range c.services {
		out.services[slug] = s
	}
	definedIn := map[string]string{} // service slug → the file of this set that defines it
	for _, d := range docs {
		slug := ""
		if d.service.Slug != nil {
			slug = *d.service.Slug
		}
		if prev, ok := definedIn[slug]; ok && slug != "" {
			errs = append(errs, fmt.Errorf("catalog: %s: service %q: already defined in %s", d.file, slug, prev))
			continue
		}
		definedIn[slug] = d.file
		s, serrs := build(c.services[slug], d.file, &d.service, rules)
		errs = append(errs, serrs...)
		if s != nil && len(serrs) == 0 {
			out.services[s.Slug] = s
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

type serviceDoc struct {
	file    string
	service serviceFile
}

// readServiceFiles decodes every *.yaml/*.yml at the root of fsys, in name order, strictly.
func readServiceFiles(fsys fs.FS, dir string) ([]serviceDoc, []error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, []error{fmt.Errorf("catalog: %w", err)}
	}
	var docs []serviceDoc
	var errs []error
	for _, e := range entries {
		ext := path.Ext(e.Name())
		if e.IsDir() || ext != ".yaml" && ext != ".yml" {
			continue
		}
		name := e.Name()
		if dir != "" {
			name = filepath.Join(dir, name)
		}
		data, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			errs = append(errs, fmt.Errorf("catalog: %s: %w", name, err))
			continue
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		n := 0
		for {
			var sf serviceFile
			err := dec.Decode(&sf)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("catalog: %s: %w", name, err))
				break
			}
			n++
			docs = append(docs, serviceDoc{file: name, service: sf})
		}
		if n == 0 && len(errs) == 0 {
			errs = append(errs, fmt.Errorf("catalog: %s: no service defined", name))
		}
	}
	return docs, errs
}

// serviceFile is one service as written. Pointers tell a field given from a field left
// out, which is what an override needs.
type serviceFile struct {
	Slug              *string         `yaml:"slug"`
	DisplayName       *string         `yaml:"display_name"`
	ServiceType       *string         `yaml:"service_type"`
	BaseURL           *string         `yaml:"base_url"`
	Auth              *authFile       `yaml:"auth"`
	TimeoutSeconds    *int            `yaml:"timeout_seconds"`
	SupportsAsyncJobs *bool           `yaml:"supports_async_jobs"`
	SupportsStreaming *bool           `yaml:"supports_streaming"`
	CredentialName    *string         `yaml:"credential_name"`
	CredentialPolicy  *policyFile     `yaml:"credential_policy"`
	Webhooks          *webhooksFile   `yaml:"webhooks"` // replaced whole by an override that gives it
	Endpoints         []*endpointFile `yaml:"endpoints"`
}

type authFile struct {
	Mode   *string `yaml:"mode"`   // only "header"
	Header *string `yaml:"header"` // e.g. X-Api-Key
	Prefix *string `yaml:"prefix"` // e.g. "Bearer "
}

type policyFile struct {
	AllowTenantKey        *bool   `yaml:"allow_tenant_key"`
	AllowPlatformKey      *bool   `yaml:"allow_platform_key"`
	DefaultSource         *string `yaml:"default_source"`
	FallbackToPlatformKey *bool   `yaml:"fallback_to_platform_key"`
}

// endpointFile is one action as written; it is always given whole.
type endpointFile struct {
	Slug              string   `yaml:"slug"`
	Description       string   `yaml:"description"`
	Method            string   `yaml:"method"`
	Path              string   `yaml:"path"`
	BaseURL           string   `yaml:"base_url"`
	RequestMode       string   `yaml:"request_mode"`
	ResponseMode      string   `yaml:"response_mode"`
	CallbackMode      string   `yaml:"callback_mode"` // default none
	PollAction        string   `yaml:"poll_action"`
	SupportsStreaming *bool    `yaml:"supports_streaming"` // default: response_mode is stream
	TimeoutSeconds    int      `yaml:"timeout_seconds"`
	Enabled           *bool    `yaml:"enabled"` // default true
	DisabledReason    string   `yaml:"disabled_reason"`
	Billable          bool     `yaml:"billable"`
	Destructive       bool     `yaml:"destructive"`
	RequiredQuery     []string `yaml:"required_query"`
	FileFields        []string `yaml:"file_fields"`
	ContentTypes      []string `yaml:"content_types"`

	// Realtime (realtime.go).
	Transport        string   `yaml:"transport"`         // http (default) or websocket
	Query            []string `yaml:"query"`             // websocket: allowed query parameters
	CredentialFields []string `yaml:"credential_fields"` // websocket: client message members removed

	// What it does to jobs and to the account (account.go).
	AccountScope string          `yaml:"account_scope"` // public, job or account; default account (required in the built-in files)
	CreatesJob   []string        `yaml:"creates_job"`   // JSON pointers into a 2xx json answer
	JobRef       *jobRefFile     `yaml:"job_ref"`       // {in: query|path, name}
	JobRefs      []refFile       `yaml:"job_refs"`      // [{in: query|path|body, name | pointer, may_be_public, pattern}]
	ListFilter   *listFilterFile `yaml:"list_filter"`   // {items, id, drop}
	Meter        *meterFile      `yaml:"meter"`         // {characters, seconds, output_seconds, completed_when}

	// Jobs (jobstatus.go).
	JobStatus           *jobStatusFile `yaml:"job_status"`            // status actions: {pointer, states, result, error}
	PollIntervalSeconds *int           `yaml:"poll_interval_seconds"` // creating actions: default 5

	// Lifecycle and guidance (deprecation.go): deprecated, deprecated_since, sunset,
	// successor, note, next_action, aliases.
	lifecycleFile `yaml:",inline"`
}

var slugPattern = regexp.MustCompile(`^[a-z0-9-]+$`)

var httpMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true,
}

// build applies sf over base (nil: a new service) and validates the result.
func build(base *Service, file string, sf *serviceFile, rules loadRules) (*Service, []error) {
	s := &Service{
		AuthMode:         "header",
		DefaultTimeout:   defaultServiceTimeout,
		CredentialPolicy: aiproxy.TenantOnly,
	}
	if base != nil {
		*s = *base
		s.Endpoints = append([]*Endpoint(nil), base.Endpoints...)
	}
	s.File = file
	set(&s.Slug, sf.Slug)
	set(&s.DisplayName, sf.DisplayName)
	set(&s.ServiceType, sf.ServiceType)
	set(&s.BaseURL, sf.BaseURL)
	set(&s.SupportsAsyncJobs, sf.SupportsAsyncJobs)
	set(&s.SupportsStreaming, sf.SupportsStreaming)
	set(&s.CredentialName, sf.CredentialName)

	where := fmt.Sprintf("catalog: %s: service %q", file, s.Slug)
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...)))
	}
	if a := sf.Auth; a != nil {
		set(&s.AuthMode, a.Mode)
		set(&s.AuthHeader, a.Header)
		set(&s.AuthPrefix, a.Prefix)
	}
	if sf.TimeoutSeconds != nil {
		if *sf.TimeoutSeconds <= 0 {
			fail("timeout_seconds must be positive, got %d", *sf.TimeoutSeconds)
		}
		s.DefaultTimeout = time.Duration(*sf.TimeoutSeconds) * time.Second
	}
	if p := sf.CredentialPolicy; p != nil {
		set(&s.CredentialPolicy.AllowTenantKey, p.AllowTenantKey)
		set(&s.CredentialPolicy.AllowPlatformKey, p.AllowPlatformKey)
		set(&s.CredentialPolicy.FallbackToPlatformKey, p.FallbackToPlatformKey)
		if p.DefaultSource != nil {
			s.CredentialPolicy.DefaultSource = aiproxy.Source(*p.DefaultSource)
		}
	}

	switch {
	case s.Slug == "":
		fail("missing slug")
	case !slugPattern.MatchString(s.Slug):
		fail("slug must be lowercase [a-z0-9-]+")
	}
	if s.DisplayName == "" {
		fail("missing display_name")
	}
	if s.BaseURL == "" {
		fail("missing base_url")
	} else if err := checkBaseURL(s.BaseURL); err != nil {
		fail("base_url: %v", err)
	}
	if s.AuthMode != "header" {
		fail("unknown auth mode %q (want header)", s.AuthMode)
	}
	if s.AuthHeader == "" {
		fail("missing auth header")
	}
	if s.CredentialName == "" {
		fail("missing credential_name")
	}
	if !s.CredentialPolicy.DefaultSource.Valid() {
		fail("credential_policy: default_source %q must be tenant or platform", s.CredentialPolicy.DefaultSource)
	}
	if sf.Webhooks != nil {
		s.Webhooks = buildWebhooks(sf.Webhooks, fail)
	}

	// Endpoints: a slug given twice in one file is a mistake; a slug the base has is replaced.
	index := make(map[string]int, len(s.Endpoints))
	for i, e := range s.Endpoints {
		index[e.Slug] = i
	}
	seen := map[string]bool{}
	for i, ef := range sf.Endpoints {
		e, eerrs := buildEndpoint(where, i, file, ef, rules)
		errs = append(errs, eerrs...)
		if ef.Slug == "" {
			continue
		}
		if seen[ef.Slug] {
			errs = append(errs, fmt.Errorf("%s: endpoint %q: duplicate endpoint slug", where, ef.Slug))
			continue
		}
		seen[ef.Slug] = true
		if j, ok := index[ef.Slug]; ok {
			s.Endpoints[j] = e
		} else {
			index[ef.Slug] = len(s.Endpoints)
			s.Endpoints = append(s.Endpoints, e)
		}
	}
	if len(s.Endpoints) == 0 {
		fail("no endpoints")
	}
	s.bySlug = make(map[string]*Endpoint, len(s.Endpoints))
	for _, e := range s.Endpoints {
		if e != nil {
			s.bySlug[e.Slug] = e
		}
	}
	for _, e := range s.Endpoints {
		if e != nil && e.PollAction != "" && s.bySlug[e.PollAction] == nil {
			errs = append(errs, fmt.Errorf("catalog: %s: service %q: endpoint %q: poll_action %q: no such action",
				e.file, s.Slug, e.Slug, e.PollAction))
		}
	}
	errs = append(errs, checkLifecycle(s)...)
	errs = append(errs, checkJobStatuses(s, rules.requireAccountScope)...)
	errs = append(errs, checkWebhookRegister(s)...)
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// buildEndpoint converts and checks one endpoint on its own; poll_action is checked by build.
func buildEndpoint(where string, i int, file string, ef *endpointFile, rules loadRules) (*Endpoint, []error) {
	if ef == nil {
		return nil, []error{fmt.Errorf("%s: endpoint #%d: empty entry", where, i+1)}
	}
	name := fmt.Sprintf("endpoint #%d", i+1)
	if ef.Slug != "" {
		name = fmt.Sprintf("endpoint %q", ef.Slug)
	}
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %s", where, name, fmt.Sprintf(format, args...)))
	}
	e := &Endpoint{
		Slug:           ef.Slug,
		Description:    ef.Description,
		HTTPMethod:     ef.Method,
		BaseURL:        ef.BaseURL,
		RequestMode:    RequestMode(ef.RequestMode),
		ResponseMode:   ResponseMode(ef.ResponseMode),
		CallbackMode:   CallbackMode(ef.CallbackMode),
		PollAction:     ef.PollAction,
		Timeout:        time.Duration(ef.TimeoutSeconds) * time.Second,
		Enabled:        ef.Enabled == nil || *ef.Enabled,
		DisabledReason: ef.DisabledReason,
		Billable:       ef.Billable,
		Destructive:    ef.Destructive,
		RequiredQuery:  ef.RequiredQuery,
		FileFields:     ef.FileFields,
		ContentTypes:   ef.ContentTypes,
		file:           file,
	}
	if e.ResponseMode == "binary" { // contract §3: a synonym accepted in catalog files
		e.ResponseMode = ResponsePassthrough
	}
	if e.CallbackMode == "" {
		e.CallbackMode = CallbackNone
	}
	e.SupportsStreaming = e.ResponseMode == ResponseStream
	if ef.SupportsStreaming != nil {
		e.SupportsStreaming = *ef.SupportsStreaming
	}

	switch {
	case e.Slug == "":
		fail("missing slug")
	case !slugPattern.MatchString(e.Slug):
		fail("slug must be lowercase [a-z0-9-]+")
	}
	switch {
	case e.HTTPMethod == "":
		fail("missing method")
	case !httpMethods[e.HTTPMethod]:
		fail("invalid method %q", e.HTTPMethod)
	}
	if ef.Path == "" {
		fail("missing path")
	} else if t, err := ParsePathTemplate(ef.Path); err != nil {
		fail("%v", err)
	} else {
		e.Path = t
	}
	if e.BaseURL != "" {
		if err := checkBaseURL(e.BaseURL); err != nil {
			fail("base_url: %v", err)
		}
	}
	switch e.RequestMode {
	case "":
		fail("missing request_mode")
	case RequestRaw, RequestJSON, RequestMultipart, RequestBinary:
	default:
		fail("unknown request_mode %q", e.RequestMode)
	}
	switch e.ResponseMode {
	case "":
		fail("missing response_mode")
	case ResponseJSON, ResponsePassthrough, ResponseStream:
	default:
		fail("unknown response_mode %q", e.ResponseMode)
	}
	switch e.CallbackMode {
	case CallbackNone:
		if e.PollAction != "" {
			fail("poll_action %q needs callback_mode poll", e.PollAction)
		}
	case CallbackPoll:
		if e.PollAction == "" {
			fail("callback_mode poll needs a poll_action")
		}
	default:
		fail("unknown callback_mode %q", e.CallbackMode)
	}
	if e.SupportsStreaming && e.ResponseMode != ResponseStream {
		fail("supports_streaming needs response_mode stream")
	}
	if ef.TimeoutSeconds < 0 {
		fail("timeout_seconds must not be negative, got %d", ef.TimeoutSeconds)
	}
	if len(e.FileFields) > 0 && e.RequestMode != RequestMultipart && e.RequestMode != RequestBinary {
		fail("file_fields need request_mode multipart or binary")
	}
	if e.RequestMode == RequestBinary && len(e.FileFields) > 1 {
		fail("request_mode binary takes one file, but file_fields has %d", len(e.FileFields))
	}
	if len(e.ContentTypes) > 0 && e.RequestMode != RequestBinary {
		fail("content_types need request_mode binary")
	}
	for _, list := range [][]string{e.RequiredQuery, e.FileFields, e.ContentTypes} {
		for _, v := range list {
			if strings.TrimSpace(v) == "" {
				fail("empty name in required_query, file_fields or content_types")
			}
		}
	}
	buildAccount(e, ef, rules.requireAccountScope, fail)
	buildRealtime(e, ef, fail)
	buildJobStatus(e, ef, fail)
	buildLifecycle(e, ef, fail)
	return e, errs
}

func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must not carry credentials, a query or a fragment", s)
	}
	return nil
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}
