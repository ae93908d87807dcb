package catalog

import (
	"fmt"
	"strings"
	"time"
)

// Lifecycle and guidance fields of an action (issue 13): whether it is deprecated, when it
// goes away and what replaces it, a sentence for clients, the action to call next, and other
// slugs that invoke it. Discovery shows them; an answer to a deprecated action carries the
// Deprecation, Sunset and Link headers (DeprecationHeaders).

// dateLayout is how the catalog writes dates (sunset, deprecated_since): YYYY-MM-DD, UTC.
const dateLayout = "2006-01-02"

// lifecycleFile is the part of endpointFile these fields are read from.
type lifecycleFile struct {
	Deprecated      bool     `yaml:"deprecated"`
	DeprecatedSince string   `yaml:"deprecated_since"` // YYYY-MM-DD; default: the sunset date
	Sunset          string   `yaml:"sunset"`           // YYYY-MM-DD
	Successor       string   `yaml:"successor"`        // slug of an action of the same service
	Note            string   `yaml:"note"`
	NextAction      string   `yaml:"next_action"` // slug of an action of the same service
	Aliases         []string `yaml:"aliases"`     // other slugs that invoke this action
}

// Names returns the slugs that invoke e: its own, then its aliases.
func (e *Endpoint) Names() []string {
	return append([]string{e.Slug}, e.Aliases...)
}

// DeprecationDate is the date an answer's Deprecation header gives: deprecated_since, else
// the sunset date (the action is deprecated at the latest when it goes away). Zero when e is
// not deprecated or neither date is known.
func (e *Endpoint) DeprecationDate() time.Time {
	if !e.Deprecated {
		return time.Time{}
	}
	if !e.DeprecatedSince.IsZero() {
		return e.DeprecatedSince
	}
	return e.Sunset
}

// buildLifecycle converts and checks the lifecycle fields of ef on their own; successor,
// next_action and aliases against the service are checked by checkLifecycle.
func buildLifecycle(e *Endpoint, ef *endpointFile, fail func(string, ...any)) {
	e.Deprecated = ef.Deprecated
	e.Successor = ef.Successor
	e.Note = strings.TrimSpace(ef.Note)
	e.NextAction = ef.NextAction
	e.Aliases = ef.Aliases
	date := func(field, v string) time.Time {
		if v == "" {
			return time.Time{}
		}
		t, err := time.Parse(dateLayout, v)
		if err != nil {
			fail("%s %q: want a date YYYY-MM-DD", field, v)
		}
		return t
	}
	e.Sunset = date("sunset", ef.Sunset)
	e.DeprecatedSince = date("deprecated_since", ef.DeprecatedSince)
	if !e.Deprecated && (ef.Sunset != "" || ef.DeprecatedSince != "" || ef.Successor != "") {
		fail("sunset, deprecated_since and successor need deprecated: true")
	}
	if !e.Sunset.IsZero() && !e.DeprecatedSince.IsZero() && e.DeprecatedSince.After(e.Sunset) {
		fail("deprecated_since %s is after sunset %s", ef.DeprecatedSince, ef.Sunset)
	}
	if ef.Note != "" && e.Note == "" {
		fail("note is blank")
	}
	if strings.ContainsAny(e.Note, "\r\n") {
		fail("note must be one line")
	}
	if e.Successor != "" && e.Successor == e.Slug {
		fail("successor is the action itself")
	}
	if e.NextAction != "" && e.NextAction == e.Slug {
		fail("next_action is the action itself")
	}
	for _, a := range e.Aliases {
		if !slugPattern.MatchString(a) {
			fail("alias %q must be lowercase [a-z0-9-]+", a)
		}
	}
}

// checkLifecycle checks, once the service's endpoints are known, that successor and
// next_action name actions of s and that no alias collides with a slug or another alias.
// It adds the aliases to s.bySlug, so that Service.Endpoint resolves them.
func checkLifecycle(s *Service) []error {
	var errs []error
	fail := func(e *Endpoint, format string, args ...any) {
		errs = append(errs, fmt.Errorf("catalog: %s: service %q: endpoint %q: %s", e.file, s.Slug, e.Slug, fmt.Sprintf(format, args...)))
	}
	owner := map[string]*Endpoint{}
	for _, e := range s.Endpoints {
		if e != nil {
			owner[e.Slug] = e
		}
	}
	for _, e := range s.Endpoints {
		if e == nil {
			continue
		}
		for _, a := range e.Aliases {
			if prev, ok := owner[a]; ok {
				if prev == e {
					fail(e, "alias %q is given twice or is its own slug", a)
				} else {
					fail(e, "alias %q collides with endpoint %q", a, prev.Slug)
				}
				continue
			}
			owner[a] = e
		}
	}
	for _, e := range s.Endpoints {
		if e == nil {
			continue
		}
		if e.Successor != "" {
			if s.bySlug[e.Successor] == nil {
				fail(e, "successor %q: no such action", e.Successor)
			}
		}
		if e.NextAction != "" && s.bySlug[e.NextAction] == nil {
			fail(e, "next_action %q: no such action", e.NextAction)
		}
	}
	if len(errs) == 0 {
		for name, e := range owner {
			s.bySlug[name] = e
		}
	}
	return errs
}
