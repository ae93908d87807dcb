package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/aiproxy/aiproxy"
)

// adminRoutes registers the admin API (docs/admin-api.md). Every route authenticates; the
// handlers parse the request, call tenancy.Manager — which checks who may do what, validates,
// and records every change in the audit trail — and render its answer.
func (s *Server) adminRoutes() {
	// Operators: orgs, platform credentials, global service settings, platform audit.
	s.route("orgs", methods{"GET": s.listOrgs, "POST": s.createOrg}, true)
	s.route("platform-credentials/{credential_name}", methods{
		"GET":    s.credentialHandler(true, s.getCredential),
		"PUT":    s.credentialHandler(true, s.putCredential),
		"DELETE": s.credentialHandler(true, s.deleteCredential),
	}, true)
	s.route("services/{service}/settings", methods{
		"GET": s.settingsHandler(true, s.getSettings), "PUT": s.settingsHandler(true, s.putSettings),
	}, true)
	s.route("audit", methods{"GET": s.platformAudit}, true)
	s.route("usage", methods{"GET": s.platformUsage}, true)

	// Org admins (and operators) on one org.
	s.route("orgs/{org}", methods{"GET": s.getOrg, "PATCH": s.patchOrg, "DELETE": s.deleteOrg}, true)
	s.route("orgs/{org}/credentials/{credential_name}", methods{
		"GET":    s.credentialHandler(false, s.getCredential),
		"PUT":    s.credentialHandler(false, s.putCredential),
		"DELETE": s.credentialHandler(false, s.deleteCredential),
	}, true)
	s.route("orgs/{org}/keys", methods{"GET": s.listKeys, "POST": s.createKey}, true)
	s.route("orgs/{org}/keys/{prefix}", methods{"DELETE": s.revokeKey}, true)
	// More specific than …/services/{service}/{action}, so it takes precedence: no catalog
	// action may be called "settings".
	s.route("orgs/{org}/services/{service}/settings", methods{
		"GET": s.settingsHandler(false, s.getSettings), "PUT": s.settingsHandler(false, s.putSettings),
	}, true)
	s.route("orgs/{org}/audit", methods{"GET": s.orgAudit}, true)
	s.route("orgs/{org}/usage", methods{"GET": s.orgUsage}, true)
	s.route("orgs/{org}/jobs", methods{"GET": s.listJobs}, true)
	s.route("orgs/{org}/jobs/{id}", methods{"GET": s.getJob}, true)
	s.route("orgs/{org}/jobs/{id}/events", methods{"GET": s.jobEvents}, true)
	s.route("orgs/{org}/budgets/{service}", methods{"GET": s.getBudget, "PUT": s.putBudget, "DELETE": s.deleteBudget}, true)

	// Any org key that is not itself a token (admin or member), and operators.
	s.route("orgs/{org}/tokens", methods{"POST": s.mintToken}, true)
}

// list is the one shape of every list answer of the admin API.
type list struct {
	Results any     `json:"results"`
	Next    *string `json:"next"`
}

var errBodyNotObject = invalid("Request body must be a JSON object.")

// maxAdminBody bounds admin request bodies: they are small JSON objects.
const maxAdminBody = 64 << 10

// decodeBody reads the request body strictly into the struct v: an empty body is {}; a
// body that is not one JSON object is refused; a field v does not have (matched exactly,
// not case-insensitively) is refused by name; a value of the wrong type gets typeMsgs[field]
// or a generic sentence naming the field.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, typeMsgs map[string]string) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return aiproxy.Errorf(aiproxy.ETOOLARGE, "Request body is larger than the limit of %d bytes.", maxAdminBody)
	} else if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	if err := decodeStrict(data, v, "", typeMsgs); err != nil {
		if err == errNotObject {
			return errBodyNotObject
		}
		return err
	}
	return nil
}

// errNotObject marks JSON text that is not exactly one object.
var errNotObject = errors.New("not a JSON object")

// decodeStrict decodes one JSON object into the struct v. prefix names the enclosing field
// in messages ("credential_policy.").
func decodeStrict(data []byte, v any, prefix string, typeMsgs map[string]string) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return errNotObject
	}
	// First pass: exactly one object, with only the struct's own field names (encoding/json
	// would otherwise accept "KEY" for "key").
	var fields map[string]json.RawMessage
	if err := unmarshalOne(data, &fields, false); err != nil {
		return errNotObject
	}
	known := jsonFieldNames(v)
	var unknown []string
	for name := range fields {
		if !known[name] {
			unknown = append(unknown, "'"+prefix+name+"'")
		}
	}
	switch sort.Strings(unknown); len(unknown) {
	case 0:
	case 1:
		return invalid("Unknown field %s.", unknown[0])
	default:
		return invalid("Unknown fields %s.", strings.Join(unknown, ", "))
	}
	err := unmarshalOne(data, v, true)
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te) && te.Field != "":
		name, _, _ := strings.Cut(te.Field, ".")
		if msg, ok := typeMsgs[name]; ok {
			return invalid("%s", msg)
		}
		return invalid("Field '%s%s' has the wrong type.", prefix, name)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return invalid("Unknown field '%s%s'.", prefix, name)
	}
	return errNotObject
}

func unmarshalOne(data []byte, v any, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errNotObject
	}
	return nil
}

// jsonFieldNames returns the JSON names of the fields of the struct *v.
func jsonFieldNames(v any) map[string]bool {
	t := reflect.TypeOf(v).Elem()
	names := make(map[string]bool, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = t.Field(i).Name
		}
		names[name] = true
	}
	return names
}
