package tenancy

import (
	"context"

	"github.com/aiproxy/aiproxy"
)

// ListOrgs returns every org (operators).
func (m *Manager) ListOrgs(ctx context.Context, a Actor) ([]*aiproxy.Org, error) {
	if err := RequireOperator(a); err != nil {
		return nil, err
	}
	return m.Store.ListOrgs(ctx)
}

// CreateOrg creates an org (operators). EINVALID for a bad slug or name, ECONFLICT if the
// slug is taken. An empty name becomes the slug.
func (m *Manager) CreateOrg(ctx context.Context, a Actor, slug, name string) (*aiproxy.Org, error) {
	if err := RequireOperator(a); err != nil {
		return nil, err
	}
	if slug == "" {
		return nil, invalid("Field 'slug' is required.")
	}
	if !ValidSlug(slug) {
		return nil, invalid("Field 'slug' must be 1-64 lowercase letters, digits or inner hyphens: %q.", slug)
	}
	if err := validName(name); err != nil {
		return nil, err
	}
	if name == "" {
		name = slug
	}
	o := &aiproxy.Org{Slug: slug, Name: name, CreatedAt: m.now()}
	if err := m.Store.CreateOrg(ctx, o); err != nil {
		if aiproxy.ErrorCode(err) == aiproxy.ECONFLICT {
			return nil, aiproxy.Errorf(aiproxy.ECONFLICT, "Organization '%s' already exists.", slug)
		}
		return nil, err
	}
	return o, m.audit(ctx, a, o.ID, "org.create", slug, nil, OrgView(o))
}

// DeleteOrg deletes an org with its keys, credentials and settings (operators); its audit
// trail stays.
func (m *Manager) DeleteOrg(ctx context.Context, a Actor, o *aiproxy.Org) error {
	if err := RequireOperator(a); err != nil {
		return err
	}
	if err := m.Store.DeleteOrg(ctx, o.ID); err != nil {
		return err
	}
	return m.audit(ctx, a, o.ID, "org.delete", o.Slug, OrgView(o), nil)
}

// OrgChange is a partial update of an org; a nil field is left alone.
type OrgChange struct {
	CORSOrigins        *[]string
	RateLimitPerMinute *int // operators only
}

// UpdateOrg applies ch to the org (its admins; the rate limit only operators, since it
// guards the platform's provider credits against the org). Everything is checked before
// anything is written; o itself is not changed (it may be a cache's): the updated org is
// returned.
func (m *Manager) UpdateOrg(ctx context.Context, a Actor, o *aiproxy.Org, ch OrgChange) (*aiproxy.Org, error) {
	if err := authorize(a, o.ID, Admin); err != nil {
		return nil, err
	}
	if ch.CORSOrigins == nil && ch.RateLimitPerMinute == nil {
		return nil, invalid("%s", OriginsMessage)
	}
	next := *o
	if n := ch.RateLimitPerMinute; n != nil {
		if err := RequireOperator(a); err != nil {
			return nil, err
		}
		if *n < 0 || *n > MaxRateLimitPerMinute {
			return nil, invalid("%s", RateLimitMessage)
		}
		next.RateLimitPerMinute = *n
	}
	if ch.CORSOrigins != nil {
		origins, err := validOrigins(*ch.CORSOrigins)
		if err != nil {
			return nil, err
		}
		next.CORSOrigins = origins
	}
	if err := m.Store.UpdateOrg(ctx, &next); err != nil {
		return nil, err
	}
	before, after := OrgView(o), OrgView(&next)
	if ch.CORSOrigins != nil {
		if err := m.audit(ctx, a, o.ID, "org.update", o.Slug, before, after); err != nil {
			return nil, err
		}
	}
	if ch.RateLimitPerMinute != nil {
		if err := m.audit(ctx, a, o.ID, "org.rate_limit", o.Slug, before, after); err != nil {
			return nil, err
		}
	}
	return &next, nil
}
