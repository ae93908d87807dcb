package catalog

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/aiproxy/aiproxy"
)

// header is a complete service header for "acme"; the tests append endpoints to it.
const header = `slug: acme
display_name: Acme
service_type: video
base_url: https://api.acme.test
auth:
  mode: header
  header: X-Api-Key
timeout_seconds: 30
credential_name: acme
endpoints:
`

const okEndpoint = `  - slug: get-thing
    description: Get a thing.
    method: GET
    path: /v1/things/{thing_id}
    request_mode: raw
    response_mode: json
`

func files(kv ...string) fstest.MapFS {
	m := fstest.MapFS{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = &fstest.MapFile{Data: []byte(kv[i+1])}
	}
	return m
}

func TestLoadMinimalServiceGetsDefaults(t *testing.T) {
	c, err := Load(files("acme.yml", header+okEndpoint, "README.md", "not a service", "sub/x.yaml", "slug: [broken"))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Service("acme")
	if s == nil || s.File != "acme.yml" || s.DefaultTimeout != 30*time.Second {
		t.Fatalf("service = %+v", s)
	}
	if s.CredentialPolicy != aiproxy.TenantOnly {
		t.Errorf("credential_policy = %+v, want tenant-only default", s.CredentialPolicy)
	}
	e := s.Endpoint("get-thing")
	if e == nil || !e.Enabled || e.CallbackMode != CallbackNone || e.SupportsStreaming || e.Timeout != 0 {
		t.Errorf("endpoint = %+v", e)
	}
}

func TestLoadBinaryResponseModeIsPassthrough(t *testing.T) {
	c, err := Load(files("acme.yaml", header+`  - slug: get-audio
    method: GET
    path: /v1/audio
    request_mode: raw
    response_mode: binary
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Service("acme").Endpoint("get-audio").ResponseMode; got != ResponsePassthrough {
		t.Errorf("response_mode = %q, want passthrough", got)
	}
}

// endpoint returns an endpoint block with the given extra or replaced lines; a key set to
// "-" is left out.
func endpoint(fields ...string) string {
	vals := map[string]string{
		"slug": "get-thing", "method": "GET", "path": "/v1/things/{thing_id}",
		"request_mode": "raw", "response_mode": "json",
	}
	order := []string{"slug", "method", "path", "request_mode", "response_mode"}
	for i := 0; i < len(fields); i += 2 {
		if _, ok := vals[fields[i]]; !ok {
			order = append(order, fields[i])
		}
		vals[fields[i]] = fields[i+1]
	}
	var b strings.Builder
	first := true
	for _, k := range order {
		if vals[k] == "-" {
			continue
		}
		if first {
			b.WriteString("  - ")
			first = false
		} else {
			b.WriteString("    ")
		}
		b.WriteString(k + ": " + vals[k] + "\n")
	}
	return b.String()
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name  string
		fs    fstest.MapFS
		wants []string // substrings of the error, beyond "catalog: "
	}{
		{"unknown key in service", files("acme.yaml", "colour: red\n"+header+okEndpoint),
			[]string{"acme.yaml", "colour"}},
		{"unknown key in endpoint", files("acme.yaml", header+endpoint("verb", "GET")),
			[]string{"acme.yaml", "verb"}},
		{"malformed yaml", files("acme.yaml", "slug: [acme\n"), []string{"acme.yaml"}},
		{"empty file", files("acme.yaml", "# nothing\n"), []string{"acme.yaml: no service defined"}},
		{"unknown request_mode", files("acme.yaml", header+endpoint("request_mode", "form")),
			[]string{`acme.yaml: service "acme": endpoint "get-thing": unknown request_mode "form"`}},
		{"unknown response_mode", files("acme.yaml", header+endpoint("response_mode", "jsn")),
			[]string{`acme.yaml: service "acme": endpoint "get-thing": unknown response_mode "jsn"`}},
		{"unknown callback_mode", files("acme.yaml", header+endpoint("callback_mode", "webhook")),
			[]string{`endpoint "get-thing": unknown callback_mode "webhook"`}},
		{"poll without poll_action", files("acme.yaml", header+endpoint("callback_mode", "poll")),
			[]string{`endpoint "get-thing": callback_mode poll needs a poll_action`}},
		{"poll_action without poll", files("acme.yaml", header+endpoint("poll_action", "get-thing")),
			[]string{`endpoint "get-thing": poll_action "get-thing" needs callback_mode poll`}},
		{"poll_action naming no action", files("acme.yaml", header+endpoint("callback_mode", "poll", "poll_action", "thing-status")),
			[]string{`acme.yaml: service "acme": endpoint "get-thing": poll_action "thing-status": no such action`}},
		{"path without leading slash", files("acme.yaml", header+endpoint("path", "v1/things")),
			[]string{`endpoint "get-thing": path template "v1/things" must start with /`}},
		{"placeholder not a whole segment", files("acme.yaml", header+endpoint("path", "/v1/thing_{id}")),
			[]string{`endpoint "get-thing"`, "whole segment"}},
		{"missing slug", files("acme.yaml", header+endpoint("slug", "-")),
			[]string{`service "acme": endpoint #1: missing slug`}},
		{"uppercase slug", files("acme.yaml", header+endpoint("slug", "Get-Thing")),
			[]string{`endpoint "Get-Thing": slug must be lowercase`}},
		{"missing method", files("acme.yaml", header+endpoint("method", "-")),
			[]string{`endpoint "get-thing": missing method`}},
		{"invalid method", files("acme.yaml", header+endpoint("method", "get")),
			[]string{`endpoint "get-thing": invalid method "get"`}},
		{"missing path", files("acme.yaml", header+endpoint("path", "-")),
			[]string{`endpoint "get-thing": missing path`}},
		{"missing request_mode", files("acme.yaml", header+endpoint("request_mode", "-")),
			[]string{`endpoint "get-thing": missing request_mode`}},
		{"missing response_mode", files("acme.yaml", header+endpoint("response_mode", "-")),
			[]string{`endpoint "get-thing": missing response_mode`}},
		{"endpoint base_url not absolute", files("acme.yaml", header+endpoint("base_url", "/upload")),
			[]string{`endpoint "get-thing": base_url`, "absolute http(s)"}},
		{"binary with two file fields", files("acme.yaml", header+endpoint("method", "POST", "request_mode", "binary", "file_fields", "[a, b]")),
			[]string{`endpoint "get-thing": request_mode binary takes one file`}},
		{"file fields on a json action", files("acme.yaml", header+endpoint("request_mode", "json", "file_fields", "[a]")),
			[]string{`endpoint "get-thing": file_fields need request_mode multipart or binary`}},
		{"streaming without stream response", files("acme.yaml", header+endpoint("supports_streaming", "true")),
			[]string{`endpoint "get-thing": supports_streaming needs response_mode stream`}},
		{"duplicate endpoint slug", files("acme.yaml", header+okEndpoint+okEndpoint),
			[]string{`acme.yaml: service "acme": endpoint "get-thing": duplicate endpoint slug`}},
		{"duplicate service slug across files", files("a.yaml", header+okEndpoint, "b.yaml", header+okEndpoint),
			[]string{`b.yaml: service "acme": already defined in a.yaml`}},
		{"missing service slug", files("acme.yaml", strings.Replace(header, "slug: acme\n", "", 1)+okEndpoint),
			[]string{`acme.yaml: service "": missing slug`}},
		{"uppercase service slug", files("acme.yaml", strings.Replace(header, "slug: acme", "slug: Acme", 1)+okEndpoint),
			[]string{`service "Acme": slug must be lowercase`}},
		{"missing display_name", files("acme.yaml", strings.Replace(header, "display_name: Acme\n", "", 1)+okEndpoint),
			[]string{`acme.yaml: service "acme": missing display_name`}},
		{"missing base_url", files("acme.yaml", strings.Replace(header, "base_url: https://api.acme.test\n", "", 1)+okEndpoint),
			[]string{`service "acme": missing base_url`}},
		{"base_url not http", files("acme.yaml", strings.Replace(header, "https://api.acme.test", "ftp://api.acme.test", 1)+okEndpoint),
			[]string{`service "acme": base_url`, "absolute http(s)"}},
		{"base_url relative", files("acme.yaml", strings.Replace(header, "https://api.acme.test", "api.acme.test", 1)+okEndpoint),
			[]string{`service "acme": base_url`, "absolute http(s)"}},
		{"missing auth header", files("acme.yaml", strings.Replace(header, "  header: X-Api-Key\n", "", 1)+okEndpoint),
			[]string{`service "acme": missing auth header`}},
		{"unknown auth mode", files("acme.yaml", strings.Replace(header, "mode: header", "mode: query", 1)+okEndpoint),
			[]string{`service "acme": unknown auth mode "query"`}},
		{"missing credential_name", files("acme.yaml", strings.Replace(header, "credential_name: acme\n", "", 1)+okEndpoint),
			[]string{`service "acme": missing credential_name`}},
		{"invalid default_source", files("acme.yaml", strings.Replace(header, "endpoints:", "credential_policy:\n  default_source: org\nendpoints:", 1)+okEndpoint),
			[]string{`service "acme": credential_policy: default_source "org" must be tenant or platform`}},
		{"non-positive timeout", files("acme.yaml", strings.Replace(header, "timeout_seconds: 30", "timeout_seconds: 0", 1)+okEndpoint),
			[]string{`service "acme": timeout_seconds must be positive`}},
		{"no endpoints", files("acme.yaml", header), []string{`service "acme": no endpoints`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.fs)
			if err == nil {
				t.Fatalf("loaded %v, want an error", c.Services())
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "catalog: ") {
				t.Errorf("error %q does not start with catalog:", err)
			}
		})
	}
}

// TestLoadRejectsInvalidWebhooks: a webhooks block is checked whole at load, each problem
// naming the file, the service and the field (webhooksBlock and withWebhooks are in
// webhooks_test.go).
func TestLoadRejectsInvalidWebhooks(t *testing.T) {
	const where = `acme.yaml: service "acme": webhooks: `
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"unknown signature", withWebhooks(webhooksBlock("signature: stripe")),
			where + `unknown signature "stripe" (want heygen or elevenlabs)`},
		{"missing signature", withWebhooks(webhooksBlock("signature: -")),
			where + "missing signature"},
		{"missing event_type", withWebhooks(webhooksBlock("event_type: -")),
			where + "missing event_type"},
		{"event_type not a pointer", withWebhooks(webhooksBlock("event_type: event")),
			where + `event_type: JSON pointer "event" must be empty or start with /`},
		{"event_type the whole document", withWebhooks(webhooksBlock(`event_type: ""`)),
			where + `event_type: the pointer "" names the whole document`},
		{"bad escape in a job id pointer", withWebhooks(webhooksBlock("job_ids: [/data/id, /data/a~2b]")),
			where + `job_ids: JSON pointer "/data/a~2b": ~ must be followed by 0 or 1`},
		{"wildcard job id pointer", withWebhooks(webhooksBlock("job_ids: [/data/*/id]")),
			where + `job_ids: "/data/*/id": "*" (every element) is only for job_refs pointers`},
		{"no job_ids", withWebhooks(webhooksBlock("job_ids: []")),
			where + "missing job_ids"},
		{"unknown register action", withWebhooks(webhooksBlock("action: add-webhook")),
			where + `register: action "add-webhook": no such action`},
		{"register action without a json body", withWebhooks(webhooksBlock(), "request_mode", "multipart"),
			where + `register: action "add-hook": request_mode is multipart, not json`},
		{"register action answering bytes", withWebhooks(webhooksBlock(), "response_mode", "passthrough"),
			where + `register: action "add-hook": response_mode is passthrough, not json`},
		{"missing register action", withWebhooks(webhooksBlock("action: -")),
			where + "register: missing action"},
		{"missing register body", withWebhooks(webhooksBlock("body: -")),
			where + "register: missing body"},
		{"register body without the URL", withWebhooks(webhooksBlock(`body: {url: "https://fixed.example.test/"}`)),
			where + `register: body: no string value "{url}"`},
		{"missing register secret", withWebhooks(webhooksBlock("secret: -")),
			where + "register: missing secret"},
		{"register secret not a pointer", withWebhooks(webhooksBlock("secret: data.secret")),
			where + `register: secret: JSON pointer "data.secret" must be empty or start with /`},
		{"register endpoint_id the whole document", withWebhooks(webhooksBlock(`endpoint_id: ""`)),
			where + `register: endpoint_id: the pointer "" names the whole document`},
		{"unknown key in webhooks", withWebhooks(webhooksBlock() + "  events: [all]\n"),
			"field events not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(files("acme.yaml", tt.yaml))
			if err == nil {
				t.Fatalf("loaded %+v, want an error", c.Service("acme").Webhooks)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "catalog: ") {
				t.Errorf("error %q does not start with catalog:", err)
			}
		})
	}
	// The block as the tests change it is valid to begin with.
	if _, err := Load(files("acme.yaml", withWebhooks(webhooksBlock()))); err != nil {
		t.Fatalf("the unchanged block: %v", err)
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := Load(files(
		"a.yaml", header+endpoint("response_mode", "jsn")+endpoint("slug", "other", "method", "FETCH"),
		"b.yaml", strings.Replace(header, "slug: acme", "slug: beta", 1)+endpoint("path", "/x/{a}/{a}"),
	))
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{
		`a.yaml: service "acme": endpoint "get-thing": unknown response_mode "jsn"`,
		`a.yaml: service "acme": endpoint "other": invalid method "FETCH"`,
		`b.yaml: service "beta": endpoint "get-thing": path template "/x/{a}/{a}"`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\ndoes not contain %q", err, w)
		}
	}
}

func TestOverride(t *testing.T) {
	base, err := Load(files("acme.yaml", header+okEndpoint+endpoint("slug", "list-things", "path", "/v1/things")))
	if err != nil {
		t.Fatal(err)
	}
	over := files(
		"acme.yaml", `slug: acme
base_url: http://mirror.internal:8080
timeout_seconds: 5
credential_policy:
  allow_platform_key: true
endpoints:
`+endpoint("path", "/v2/things/{thing_id}", "response_mode", "passthrough")+
			endpoint("slug", "thing-status", "path", "/v1/status", "callback_mode", "poll", "poll_action", "get-thing"),
		"new.yaml", strings.NewReplacer("slug: acme", "slug: newco", "credential_name: acme", "credential_name: newco").Replace(header)+okEndpoint,
	)
	c, err := base.Override(over)
	if err != nil {
		t.Fatal(err)
	}

	s := c.Service("acme")
	if s.BaseURL != "http://mirror.internal:8080" || s.DefaultTimeout != 5*time.Second {
		t.Errorf("service fields given were not overridden: %q %v", s.BaseURL, s.DefaultTimeout)
	}
	if s.DisplayName != "Acme" || s.AuthHeader != "X-Api-Key" || s.CredentialName != "acme" {
		t.Errorf("service fields not given were lost: %+v", s)
	}
	wantPolicy := aiproxy.Policy{AllowTenantKey: true, AllowPlatformKey: true, DefaultSource: aiproxy.SourceTenant}
	if s.CredentialPolicy != wantPolicy {
		t.Errorf("policy = %+v, want %+v", s.CredentialPolicy, wantPolicy)
	}
	var slugs []string
	for _, e := range s.Endpoints {
		slugs = append(slugs, e.Slug)
	}
	if got := strings.Join(slugs, ","); got != "get-thing,list-things,thing-status" {
		t.Errorf("endpoints = %s, want the replaced one in place and the new one appended", got)
	}
	if e := s.Endpoint("get-thing"); e.Path.String() != "/v2/things/{thing_id}" || e.ResponseMode != ResponsePassthrough {
		t.Errorf("get-thing not replaced: %s %s", e.Path, e.ResponseMode)
	}
	if s.File != "acme.yaml" || c.Service("newco") == nil {
		t.Errorf("file = %q, newco = %v", s.File, c.Service("newco"))
	}

	// The base catalog is unchanged.
	b := base.Service("acme")
	if b.BaseURL != "https://api.acme.test" || len(b.Endpoints) != 2 || b.Endpoint("get-thing").Path.String() != "/v1/things/{thing_id}" {
		t.Errorf("base catalog modified: %+v", b)
	}
	if base.Service("newco") != nil {
		t.Error("base catalog gained a service")
	}
}

func TestOverrideRejects(t *testing.T) {
	base, err := Load(files("acme.yaml", header+okEndpoint))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		fs   fstest.MapFS
		want string
	}{
		{"incomplete replacement endpoint", files("over.yaml", "slug: acme\nendpoints:\n"+endpoint("method", "-")),
			`over.yaml: service "acme": endpoint "get-thing": missing method`},
		{"bad field override", files("over.yaml", "slug: acme\nbase_url: nope\n"),
			`over.yaml: service "acme": base_url`},
		{"incomplete new service", files("over.yaml", "slug: other\nendpoints:\n"+okEndpoint),
			`over.yaml: service "other": missing display_name`},
		{"same service twice in the dir", files("a.yaml", "slug: acme\ntimeout_seconds: 3\n", "b.yaml", "slug: acme\ntimeout_seconds: 4\n"),
			`b.yaml: service "acme": already defined in a.yaml`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := base.Override(tt.fs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestOpenDirOverridesBuiltin(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("heygen.yaml", `slug: heygen
endpoints:
  - slug: get-asset # HeyGen fixed it upstream
    method: GET
    path: /v1/asset/{asset_id}
    request_mode: raw
    response_mode: json
`)
	write("acme.yaml", header+okEndpoint)

	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	hg := c.Service("heygen")
	if e := hg.Endpoint("get-asset"); e == nil || !e.Enabled {
		t.Errorf("get-asset not replaced by an enabled one: %+v", e)
	}
	if hg.Endpoint("v3-get-video") == nil || hg.AuthHeader != "X-Api-Key" {
		t.Error("the rest of heygen was lost")
	}
	if c.Service("acme") == nil || c.Service("elevenlabs") == nil {
		t.Error("acme not added or elevenlabs lost")
	}
	if b := mustBuiltin(t).Service("heygen").Endpoint("get-asset"); b.Enabled {
		t.Error("Open modified the built-in catalog")
	}

	write("broken.yaml", "slug: elevenlabs\ntimeout_seconds: -1\n")
	_, err = Open(dir)
	want := filepath.Join(dir, "broken.yaml") + `: service "elevenlabs": timeout_seconds must be positive`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v, want it to contain %q", err, want)
	}
}

func TestLoadAccountFields(t *testing.T) {
	c, err := Load(files("acme.yaml", header+
		endpoint("slug", "make-thing", "method", "POST", "path", "/v1/things", "request_mode", "json",
			"callback_mode", "poll", "poll_action", "get-thing", "account_scope", "job",
			"creates_job", "[/data/thing_id, /data/extra~1ids]",
			"meter", "{characters: /text, seconds: /duration_seconds, output_seconds: /data/duration}")+
		endpoint("account_scope", "job", "job_ref", "{in: path, name: thing_id}")+
		endpoint("slug", "thing-status", "path", "/v1/thing_status.get", "account_scope", "job",
			"job_ref", "{in: query, name: thing_id}", "required_query", "[thing_id]")+
		endpoint("slug", "list-things", "path", "/v1/things", "account_scope", "account",
			"list_filter", `{items: /data/things, id: thing_id, drop: [/data/token, /data/total]}`)+
		endpoint("slug", "list-models", "path", "/v1/models", "account_scope", "account",
			"list_filter", `{items: "", id: model_id}`)+
		endpoint("slug", "get-voices", "path", "/v1/voices", "account_scope", "public")+
		endpoint("slug", "get-user", "path", "/v1/user"),
	))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Service("acme")
	strs := func(ps []*Pointer) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.String())
		}
		return out
	}
	str := func(p *Pointer) string {
		if p == nil {
			return "<nil>"
		}
		return p.String()
	}

	mk := s.Endpoint("make-thing")
	if mk.AccountScope != AccountScopeJob || !slices.Equal(strs(mk.CreatesJob), []string{"/data/thing_id", "/data/extra~1ids"}) || mk.JobRef != nil {
		t.Errorf("make-thing: scope %q, creates_job %v, job_ref %+v", mk.AccountScope, strs(mk.CreatesJob), mk.JobRef)
	}
	if m := mk.Meter; str(m.Characters) != "/text" || str(m.Seconds) != "/duration_seconds" || str(m.OutputSeconds) != "/data/duration" {
		t.Errorf("make-thing: meter %s %s %s", str(m.Characters), str(m.Seconds), str(m.OutputSeconds))
	}
	if ids, err := mk.CreatedJobIDs(decode(t, `{"data": {"thing_id": "t1", "extra/ids": ["t2", "t3"]}}`)); err != nil || !slices.Equal(ids, []string{"t1", "t2", "t3"}) {
		t.Errorf("make-thing: CreatedJobIDs = %q, %v", ids, err)
	}
	if e := s.Endpoint("get-thing"); e.AccountScope != AccountScopeJob || *e.JobRef != (JobRef{In: JobRefPath, Name: "thing_id"}) || e.CreatesJob != nil {
		t.Errorf("get-thing: scope %q, job_ref %+v", e.AccountScope, e.JobRef)
	}
	if e := s.Endpoint("thing-status"); *e.JobRef != (JobRef{In: JobRefQuery, Name: "thing_id"}) {
		t.Errorf("thing-status: job_ref %+v", e.JobRef)
	}
	lt := s.Endpoint("list-things")
	if f := lt.ListFilter; lt.AccountScope != AccountScopeAccount || f == nil || f.Items.String() != "/data/things" || f.ID != "thing_id" ||
		!slices.Equal(strs(f.Drop), []string{"/data/token", "/data/total"}) {
		t.Errorf("list-things: scope %q, list_filter %+v", lt.AccountScope, lt.ListFilter)
	}
	if f := s.Endpoint("list-models").ListFilter; f == nil || !f.Items.IsRoot() || f.ID != "model_id" || f.Drop != nil {
		t.Errorf("list-models: a bare array answer: list_filter %+v", f)
	}
	if e := s.Endpoint("get-voices"); e.AccountScope != AccountScopePublic || e.Meter != (Meter{}) || e.ListFilter != nil {
		t.Errorf("get-voices: %+v", e)
	}
	// A deployment's file may leave an action unclassified: it is account, refused on a shared key.
	if e := s.Endpoint("get-user"); e.AccountScope != AccountScopeAccount || e.ListFilter != nil || e.JobRef != nil {
		t.Errorf("get-user: scope %q, want the account default", e.AccountScope)
	}
}

func TestLoadJobRefsAndCompletedWhen(t *testing.T) {
	c, err := Load(files("acme.yaml", header+
		endpoint("slug", "make-thing", "method", "POST", "path", "/v1/things/{template_id}", "request_mode", "json",
			"callback_mode", "poll", "poll_action", "get-thing", "account_scope", "job", "creates_job", "[/data/thing_id]",
			"job_refs", `
      - {in: body, pointer: /source_id}
      - {in: body, pointer: /scenes/*/asset_id}
      - {in: body, pointer: /image_key, pattern: "image/{id}/original"}
      - {in: body, pointer: /avatar_id, may_be_public: true}
      - {in: path, name: template_id, may_be_public: true}
      - {in: query, name: folder_id}`,
			"meter", "{output_seconds: /data/duration, completed_when: {pointer: /data/status, equals: [completed, success]}}")+
		endpoint("account_scope", "job", "job_ref", "{in: path, name: thing_id}")+
		endpoint("slug", "speak", "method", "POST", "path", "/v1/speak/{voice_id}", "request_mode", "json", "account_scope", "public",
			"job_refs", "[{in: path, name: voice_id, may_be_public: true}]"),
	))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Service("acme")
	mk := s.Endpoint("make-thing")
	want := []JobRef{
		{In: JobRefBody, Pointer: mk.JobRefs[0].Pointer},
		{In: JobRefBody, Pointer: mk.JobRefs[1].Pointer},
		{In: JobRefBody, Pointer: mk.JobRefs[2].Pointer, Prefix: "image/", Suffix: "/original"},
		{In: JobRefBody, Pointer: mk.JobRefs[3].Pointer, MayBePublic: true},
		{In: JobRefPath, Name: "template_id", MayBePublic: true},
		{In: JobRefQuery, Name: "folder_id"},
	}
	if len(mk.JobRefs) != len(want) {
		t.Fatalf("make-thing: %d job_refs, want %d", len(mk.JobRefs), len(want))
	}
	for i, r := range mk.JobRefs {
		if *r != want[i] {
			t.Errorf("make-thing: job_refs[%d] = %+v, want %+v", i, *r, want[i])
		}
	}
	var ptrs []string
	for _, r := range mk.JobRefs[:4] {
		ptrs = append(ptrs, r.Pointer.String())
	}
	if !slices.Equal(ptrs, []string{"/source_id", "/scenes/*/asset_id", "/image_key", "/avatar_id"}) {
		t.Errorf("make-thing: pointers %q", ptrs)
	}
	if mk.JobRef != nil {
		t.Errorf("make-thing: job_refs set job_ref %+v", mk.JobRef)
	}
	if cw := mk.Meter.CompletedWhen; cw == nil || cw.Pointer.String() != "/data/status" || !slices.Equal(cw.Equals, []string{"completed", "success"}) {
		t.Errorf("make-thing: completed_when %+v", cw)
	}
	if e := s.Endpoint("get-thing"); e.JobRefs != nil || e.Meter.CompletedWhen != nil {
		t.Errorf("get-thing: job_refs %v, completed_when %v", e.JobRefs, e.Meter.CompletedWhen)
	}
	if e := s.Endpoint("speak"); len(e.JobRefs) != 1 || *e.JobRefs[0] != (JobRef{In: JobRefPath, Name: "voice_id", MayBePublic: true}) {
		t.Errorf("speak: job_refs %v", e.JobRefs)
	}
}

func TestLoadRejectsAccountFields(t *testing.T) {
	post := []string{"method", "POST", "path", "/v1/things", "request_mode", "json"}
	with := func(base []string, fields ...string) string {
		return endpoint(append(slices.Clone(base), fields...)...)
	}
	tests := []struct {
		name     string
		endpoint string
		want     string
	}{
		{"unknown account_scope", endpoint("account_scope", "org"),
			`acme.yaml: service "acme": endpoint "get-thing": unknown account_scope "org" (want public, job or account)`},
		{"creates_job on a public action", with(post, "account_scope", "public", "creates_job", "[/id]"),
			`endpoint "get-thing": creates_job needs account_scope job, not public`},
		{"creates_job on an unclassified action", with(post, "creates_job", "[/id]"),
			`endpoint "get-thing": creates_job needs account_scope job, not account`},
		{"creates_job on a passthrough answer", with(post, "response_mode", "passthrough", "account_scope", "job", "creates_job", "[/id]"),
			`acme.yaml: service "acme": endpoint "get-thing": creates_job on an endpoint whose response_mode is not json`},
		{"creates_job on a stream answer", with(post, "response_mode", "stream", "account_scope", "job", "creates_job", "[/id]"),
			`endpoint "get-thing": creates_job on an endpoint whose response_mode is not json`},
		{"creates_job pointer without a slash", with(post, "account_scope", "job", "creates_job", "[data/id]"),
			`endpoint "get-thing": creates_job: JSON pointer "data/id" must be empty or start with /`},
		{"creates_job pointer with a bad escape", with(post, "account_scope", "job", "creates_job", "[/data/a~2b]"),
			`endpoint "get-thing": creates_job: JSON pointer "/data/a~2b": ~ must be followed by 0 or 1`},
		{"creates_job pointing at the whole answer", with(post, "account_scope", "job", "creates_job", `[""]`),
			`endpoint "get-thing": creates_job: the pointer "" names the whole document`},
		{"job action naming no job", endpoint("account_scope", "job"),
			`endpoint "get-thing": account_scope job needs creates_job or job_ref`},
		{"job_ref on an account action", endpoint("account_scope", "account", "job_ref", "{in: path, name: thing_id}"),
			`endpoint "get-thing": job_ref needs account_scope job, not account`},
		{"job_ref in a header", endpoint("account_scope", "job", "job_ref", "{in: header, name: thing_id}"),
			`endpoint "get-thing": job_ref: in must be query or path, got "header"`},
		{"job_ref without in", endpoint("account_scope", "job", "job_ref", "{name: thing_id}"),
			`endpoint "get-thing": job_ref: in must be query or path, got ""`},
		{"job_ref without name", endpoint("account_scope", "job", "job_ref", "{in: query}"),
			`endpoint "get-thing": job_ref: missing name`},
		{"job_ref naming no placeholder", endpoint("account_scope", "job", "job_ref", "{in: path, name: video_id}"),
			`endpoint "get-thing": job_ref: path template "/v1/things/{thing_id}" has no placeholder {video_id}`},
		{"job_ref with a query name that is no parameter", endpoint("account_scope", "job", "job_ref", `{in: query, name: "video id"}`),
			`endpoint "get-thing": job_ref: invalid query parameter name "video id"`},
		{"job_ref unknown key", endpoint("account_scope", "job", "job_ref", "{in: path, name: thing_id, at: 1}"),
			"field at not found in type catalog.jobRefFile"},
		{"list_filter on a public action", endpoint("account_scope", "public", "list_filter", "{items: /data, id: id}"),
			`endpoint "get-thing": list_filter needs account_scope account, not public`},
		{"list_filter on a job action", endpoint("account_scope", "job", "job_ref", "{in: path, name: thing_id}", "list_filter", "{items: /data, id: id}"),
			`endpoint "get-thing": list_filter needs account_scope account, not job`},
		{"list_filter on a passthrough answer", endpoint("response_mode", "passthrough", "account_scope", "account", "list_filter", "{items: /data, id: id}"),
			`acme.yaml: service "acme": endpoint "get-thing": list_filter on an endpoint whose response_mode is not json`},
		{"list_filter without items", endpoint("account_scope", "account", "list_filter", "{id: id}"),
			`endpoint "get-thing": list_filter: missing items`},
		{"list_filter without id", endpoint("account_scope", "account", "list_filter", "{items: /data/videos}"),
			`endpoint "get-thing": list_filter: missing id`},
		{"list_filter with a bad items pointer", endpoint("account_scope", "account", "list_filter", "{items: data, id: id}"),
			`endpoint "get-thing": list_filter: items: JSON pointer "data" must be empty or start with /`},
		{"list_filter with a bad drop pointer", endpoint("account_scope", "account", "list_filter", "{items: /data, id: id, drop: [/token, next~]}"),
			`endpoint "get-thing": list_filter: drop: JSON pointer "next~" must be empty or start with /`},
		{"list_filter dropping the whole answer", endpoint("account_scope", "account", "list_filter", `{items: /data, id: id, drop: [""]}`),
			`endpoint "get-thing": list_filter: drop: the pointer "" names the whole document`},
		{"characters on an action without a body", endpoint("account_scope", "public", "meter", "{characters: /text}"),
			`endpoint "get-thing": meter: characters and seconds read the request body, which request_mode raw does not have`},
		{"seconds on a binary upload", with(post, "request_mode", "binary", "account_scope", "public", "meter", "{seconds: /duration}"),
			`endpoint "get-thing": meter: characters and seconds read the request body, which request_mode binary does not have`},
		{"characters with a bad pointer", with(post, "account_scope", "public", "meter", "{characters: text}"),
			`endpoint "get-thing": meter: characters: JSON pointer "text" must be empty or start with /`},
		{"seconds at the whole body", with(post, "account_scope", "public", "meter", `{seconds: ""}`),
			`endpoint "get-thing": meter: seconds: the pointer "" names the whole document`},
		{"output_seconds without a poll", with(post, "account_scope", "job", "creates_job", "[/id]", "meter", "{output_seconds: /data/duration}"),
			`endpoint "get-thing": meter: output_seconds needs callback_mode poll: it reads the poll_action's completed answer`},
		{"output_seconds with a bad pointer", with(post, "callback_mode", "poll", "poll_action", "get-thing", "account_scope", "job",
			"creates_job", "[/id]", "meter", "{output_seconds: /data/~}"),
			`endpoint "get-thing": meter: output_seconds: JSON pointer "/data/~": ~ must be followed by 0 or 1`},
		{"meter unknown unit", with(post, "account_scope", "public", "meter", "{tokens: /text}"),
			"field tokens not found in type catalog.meterFile"},

		// job_refs
		{"job_refs in a header", with(post, "account_scope", "public", "job_refs", "[{in: header, name: x, may_be_public: true}]"),
			`acme.yaml: service "acme": endpoint "get-thing": job_refs[0]: in must be query, path or body, got "header"`},
		{"job_refs without in", with(post, "account_scope", "public", "job_refs", "[{pointer: /id, may_be_public: true}]"),
			`endpoint "get-thing": job_refs[0]: in must be query, path or body, got ""`},
		{"job_refs body without a pointer", with(post, "account_scope", "job", "creates_job", "[/id]", "job_refs", "[{in: body}]"),
			`endpoint "get-thing": job_refs[0]: missing pointer`},
		{"job_refs body with a name", with(post, "account_scope", "job", "creates_job", "[/id]", "job_refs", "[{in: body, name: video_id}]"),
			`endpoint "get-thing": job_refs[0]: name is for in query or path; in body takes a pointer`},
		{"job_refs body pointer without a slash", with(post, "account_scope", "job", "creates_job", "[/id]", "job_refs", "[{in: body, pointer: /a}, {in: body, pointer: video_id}]"),
			`endpoint "get-thing": job_refs[1]: pointer: JSON pointer "video_id" must be empty or start with /`},
		{"job_refs body pointer with a bad escape", with(post, "account_scope", "job", "creates_job", "[/id]", "job_refs", "[{in: body, pointer: /a~2}]"),
			`endpoint "get-thing": job_refs[0]: pointer: JSON pointer "/a~2": ~ must be followed by 0 or 1`},
		{"job_refs body pointer at the whole body", with(post, "account_scope", "job", "creates_job", "[/id]", "job_refs", `[{in: body, pointer: ""}]`),
			`endpoint "get-thing": job_refs[0]: missing pointer`},
		{"job_refs body on a multipart action", with(post, "request_mode", "multipart", "account_scope", "job", "creates_job", "[/id]",
			"job_refs", "[{in: body, pointer: /voice_id}]"),
			`endpoint "get-thing": job_refs[0]: in body needs request_mode json, not multipart`},
		{"job_refs body on an action without a body", endpoint("account_scope", "public", "job_refs", "[{in: body, pointer: /id, may_be_public: true}]"),
			`endpoint "get-thing": job_refs[0]: in body needs request_mode json, not raw`},
		{"job_refs path with a pointer", endpoint("account_scope", "job", "job_ref", "{in: path, name: thing_id}", "job_refs", "[{in: path, pointer: /x}]"),
			`endpoint "get-thing": job_refs[0]: pointer is for in body; in path takes a name`},
		{"job_refs path naming no placeholder", endpoint("account_scope", "public", "job_refs", "[{in: path, name: voice_id, may_be_public: true}]"),
			`endpoint "get-thing": job_refs[0]: path template "/v1/things/{thing_id}" has no placeholder {voice_id}`},
		{"job_refs query without a name", endpoint("account_scope", "public", "job_refs", "[{in: query, may_be_public: true}]"),
			`endpoint "get-thing": job_refs[0]: missing name`},
		{"job_refs query name that is no parameter", endpoint("account_scope", "public", "job_refs", `[{in: query, name: "a b", may_be_public: true}]`),
			`endpoint "get-thing": job_refs[0]: invalid query parameter name "a b"`},
		{"job_refs strict on a public action", endpoint("account_scope", "public", "job_refs", "[{in: path, name: thing_id}]"),
			`endpoint "get-thing": job_refs[0]: a strict ref needs account_scope job, not public (ids that may name the provider's public objects take may_be_public: true)`},
		{"job_refs strict on an account action", endpoint("job_refs", "[{in: path, name: thing_id}]"),
			`endpoint "get-thing": job_refs[0]: a strict ref needs account_scope job, not account`},
		{"job_refs pattern without {id}", endpoint("account_scope", "public", "job_refs", `[{in: path, name: thing_id, may_be_public: true, pattern: "image/x"}]`),
			`endpoint "get-thing": job_refs[0]: pattern "image/x" must hold {id} once, with text around it`},
		{"job_refs pattern with {id} twice", endpoint("account_scope", "public", "job_refs", `[{in: path, name: thing_id, may_be_public: true, pattern: "{id}/{id}"}]`),
			`job_refs[0]: pattern "{id}/{id}" must hold {id} once`},
		{"job_refs pattern that is only {id}", endpoint("account_scope", "public", "job_refs", `[{in: path, name: thing_id, may_be_public: true, pattern: "{id}"}]`),
			`job_refs[0]: pattern "{id}" must hold {id} once, with text around it`},
		{"job_refs unknown key", endpoint("account_scope", "public", "job_refs", "[{in: path, name: thing_id, public: true}]"),
			"field public not found in type catalog.refFile"},
		{"job_refs that is not a list", endpoint("account_scope", "public", "job_refs", "{in: path, name: thing_id}"),
			"cannot unmarshal"},
		{"job_ref with a pointer", endpoint("account_scope", "job", "job_ref", "{in: path, name: thing_id, pointer: /x}"),
			"field pointer not found in type catalog.jobRefFile"},
		{"job_ref in the body", with(post, "account_scope", "job", "job_ref", "{in: body, name: thing_id}"),
			`endpoint "get-thing": job_ref: in must be query or path, got "body"`},
		{"a wildcard outside job_refs", with(post, "account_scope", "job", "creates_job", "[/data/*/id]"),
			`endpoint "get-thing": creates_job: "/data/*/id": "*" (every element) is only for job_refs pointers`},
		{"a wildcard in a list_filter", endpoint("account_scope", "account", "list_filter", "{items: /data, id: id, drop: [/data/*/token]}"),
			`list_filter: drop: "/data/*/token": "*" (every element) is only for job_refs pointers`},
		{"a wildcard in a meter", with(post, "account_scope", "public", "meter", "{characters: /texts/*}"),
			`meter: characters: "/texts/*": "*" (every element) is only for job_refs pointers`},

		// completed_when
		{"completed_when without output_seconds", with(post, "account_scope", "public", "meter", "{characters: /text, completed_when: {pointer: /status, equals: [done]}}"),
			`endpoint "get-thing": meter: completed_when needs output_seconds: it says when output_seconds is counted`},
		{"completed_when without a pointer", with(post, "callback_mode", "poll", "poll_action", "get-thing", "account_scope", "job", "creates_job", "[/id]",
			"meter", "{output_seconds: /duration, completed_when: {equals: [done]}}"),
			`endpoint "get-thing": meter: completed_when: missing pointer`},
		{"completed_when without equals", with(post, "callback_mode", "poll", "poll_action", "get-thing", "account_scope", "job", "creates_job", "[/id]",
			"meter", "{output_seconds: /duration, completed_when: {pointer: /status}}"),
			`endpoint "get-thing": meter: completed_when: missing equals (the poll_action's words for completed)`},
		{"completed_when with a bad pointer", with(post, "callback_mode", "poll", "poll_action", "get-thing", "account_scope", "job", "creates_job", "[/id]",
			"meter", "{output_seconds: /duration, completed_when: {pointer: status, equals: [done]}}"),
			`endpoint "get-thing": meter: completed_when: pointer: JSON pointer "status" must be empty or start with /`},
		{"completed_when at the whole answer", with(post, "callback_mode", "poll", "poll_action", "get-thing", "account_scope", "job", "creates_job", "[/id]",
			"meter", `{output_seconds: /duration, completed_when: {pointer: "", equals: [done]}}`),
			`endpoint "get-thing": meter: completed_when: pointer: the pointer "" names the whole document`},
		{"completed_when unknown key", with(post, "callback_mode", "poll", "poll_action", "get-thing", "account_scope", "job", "creates_job", "[/id]",
			"meter", "{output_seconds: /duration, completed_when: {pointer: /status, is: done}}"),
			"field is not found in type catalog.conditionFile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(files("acme.yaml", header+tt.endpoint))
			if err == nil {
				t.Fatalf("loaded %v, want an error", c.Services())
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "catalog: ") {
				t.Errorf("error %q\ndoes not contain %q", err, tt.want)
			}
		})
	}
}

// TestBuiltinFilesMustClassifyEveryAction: the embedded files are loaded under stricter
// rules than a deployment's, so an action added to them without account_scope fails at
// start-up instead of becoming account silently.
func TestBuiltinFilesMustClassifyEveryAction(t *testing.T) {
	fsys := files("acme.yaml", header+endpoint("slug", "list-voices", "path", "/v1/voices", "account_scope", "public")+okEndpoint)
	if _, err := Load(fsys); err != nil {
		t.Fatalf("a deployment's file may leave account_scope out: %v", err)
	}
	_, err := (&Catalog{}).override(fsys, "", builtinRules)
	want := `catalog: acme.yaml: service "acme": endpoint "get-thing": missing account_scope`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}
