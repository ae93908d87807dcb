package catalog

import (
	"slices"
	"strings"
	"testing"
)

func TestLoadRealtimeEndpoint(t *testing.T) {
	c, err := Load(files("acme.yaml", header+okEndpoint+`  - slug: live
    method: GET
    path: /v1/live/{room_id}
    transport: websocket
    request_mode: raw
    response_mode: passthrough
    query: [model_id, format]
    credential_fields: [api_key]
    meter: {characters: /text}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Service("acme").Endpoint("live")
	if !e.WebSocket() || !slices.Equal(e.Query, []string{"model_id", "format"}) || !slices.Equal(e.CredentialFields, []string{"api_key"}) {
		t.Errorf("endpoint = %+v", e)
	}
	if got := c.Service("acme").Endpoint("get-thing").Transport; got != TransportHTTP {
		t.Errorf("default transport = %q", got)
	}
}

func TestLoadRealtimeRefusals(t *testing.T) {
	for _, tc := range []struct{ name, ep, want string }{
		{"unknown transport", "transport: pigeon\n    query: [a]", `unknown transport "pigeon"`},
		{"query on http", "query: [a]", "query and credential_fields need transport websocket"},
		{"credential_fields on http", "credential_fields: [a]", "query and credential_fields need transport websocket"},
		{"not GET", "transport: websocket\n    method: POST", "transport websocket needs method GET"},
		{"a body", "transport: websocket\n    request_mode: json", "transport websocket needs request_mode raw"},
		{"query names a path parameter", "transport: websocket\n    query: [room_id]", `query names "room_id", a path parameter`},
		{"query names token", "transport: websocket\n    query: [token]", `query must not name "token"`},
		{"query twice", "transport: websocket\n    query: [a, a]", `query names "a" twice`},
		{"empty name", "transport: websocket\n    credential_fields: [\" \"]", "empty name in query or credential_fields"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Later keys of a YAML mapping may not repeat: the case's lines replace the defaults.
			fields := map[string]string{"method": "GET", "request_mode": "raw"}
			var extra []string
			for _, line := range strings.Split(tc.ep, "\n") {
				line = strings.TrimSpace(line)
				k, v, _ := strings.Cut(line, ": ")
				if _, ok := fields[k]; ok {
					fields[k] = v
				} else {
					extra = append(extra, "    "+line)
				}
			}
			ep := "  - slug: live\n    method: " + fields["method"] + "\n    path: /v1/live/{room_id}\n    request_mode: " +
				fields["request_mode"] + "\n    response_mode: passthrough\n" + strings.Join(extra, "\n") + "\n"
			_, err := Load(files("acme.yaml", header+ep))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
		})
	}
}
