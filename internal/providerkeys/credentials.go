// Package credentials stores provider keys sealed and resolves which one an invoke uses,
// following the service's credential policy (contract §7).
package providerkeys

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/masterkeys"
)

// Errors of contract §7, with their exact texts.
var errNoSourceAllowed = aiproxy.Errorf(aiproxy.EINVALID, "Credential policy does not allow any credential source.")

func errNoneFound(service string) error {
	return aiproxy.Errorf(aiproxy.ENOTFOUND, "No allowed credentials found for external proxy service '%s'.", service)
}

// Store is the part of aiproxy.Store this package needs.
type Store interface {
	PutCredential(ctx context.Context, c *aiproxy.Credential) error
	GetCredential(ctx context.Context, service string, source aiproxy.Source, orgID int64) (*aiproxy.Credential, error)
}

// Vault seals credentials on the way in and opens them on the way out.
type Vault struct {
	Store   Store
	Keyring *masterkeys.Keyring
	Now     func() time.Time
	// Reload, when set, re-reads the master keys. It is called when a credential is
	// wrapped by a key the keyring lacks — as happens while the master key rotates and the
	// new key has just been added to the key file — so servers pick it up without a restart.
	Reload func() (*masterkeys.Keyring, error)

	mu         sync.RWMutex
	lastReload time.Time

	// opened remembers decrypted keys by the sealed value they came from, so the hot path
	// does not unwrap and decrypt on every request. A new value (set, rotation) is a new
	// entry; the map is dropped whole when it grows past maxOpened.
	openMu sync.RWMutex
	opened map[openedKey]string
}

type openedKey struct {
	service string
	source  aiproxy.Source
	orgID   int64
	kekID   string
	fp      string // the plaintext's fingerprint: a replaced value is a new entry
}

const maxOpened = 10000

// keyring returns the current keyring.
func (v *Vault) keyring() *masterkeys.Keyring {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.Keyring
}

// reloadFor reloads the keyring if it still lacks kekID, at most once a second.
func (v *Vault) reloadFor(kekID string) bool {
	if v.Reload == nil {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.Keyring.Has(kekID) {
		return true // another request reloaded meanwhile
	}
	if time.Since(v.lastReload) < time.Second {
		return false
	}
	v.lastReload = time.Now()
	kr, err := v.Reload()
	if err != nil || !kr.Has(kekID) {
		return false
	}
	v.Keyring = kr
	return true
}

// Set seals key and stores it as the (service, source, org) credential. orgID is ignored
// (0) for platform credentials.
func (v *Vault) Set(ctx context.Context, service string, source aiproxy.Source, orgID int64, key string) (*aiproxy.Credential, error) {
	if !source.Valid() {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "Unknown credential source %q.", source)
	}
	if key == "" {
		return nil, aiproxy.Errorf(aiproxy.EINVALID, "Field 'key' must be a non-empty string.")
	}
	if source == aiproxy.SourcePlatform {
		orgID = 0
	}
	sealed, err := v.keyring().Seal([]byte(key), masterkeys.AAD(orgID, service, source))
	if err != nil {
		return nil, fmt.Errorf("seal credential: %w", err)
	}
	now := v.now()
	c := &aiproxy.Credential{
		Service: service, Source: source, OrgID: orgID, Sealed: sealed,
		Fingerprint: masterkeys.Fingerprint(key), Last4: last4(key),
		CreatedAt: now, UpdatedAt: now,
	}
	if err := v.Store.PutCredential(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// Open decrypts a stored credential.
func (v *Vault) Open(c *aiproxy.Credential) (string, error) {
	k := openedKey{c.Service, c.Source, c.OrgID, c.Sealed.KEKID, c.Fingerprint}
	v.openMu.RLock()
	key, ok := v.opened[k]
	v.openMu.RUnlock()
	if ok {
		return key, nil
	}
	key, err := v.open(c)
	if err != nil {
		return "", err
	}
	v.openMu.Lock()
	if v.opened == nil || len(v.opened) >= maxOpened {
		v.opened = map[openedKey]string{}
	}
	v.opened[k] = key
	v.openMu.Unlock()
	return key, nil
}

func (v *Vault) open(c *aiproxy.Credential) (string, error) {
	aad := masterkeys.AAD(c.OrgID, c.Service, c.Source)
	pt, err := v.keyring().Open(c.Sealed, aad)
	if errors.Is(err, masterkeys.ErrUnknownKey) && v.reloadFor(c.Sealed.KEKID) {
		pt, err = v.keyring().Open(c.Sealed, aad)
	}
	if err != nil {
		return "", fmt.Errorf("credential %s/%s: %w", c.Service, c.Source, err)
	}
	return string(pt), nil
}

// Resolve returns the provider key an invoke of service by org uses, and its source.
// Returns EINVALID when the policy allows no source and ENOTFOUND when no allowed
// credential exists, with the contract's texts.
func (v *Vault) Resolve(ctx context.Context, service string, orgID int64, p aiproxy.Policy) (string, aiproxy.Source, error) {
	order, err := Order(p)
	if err != nil {
		return "", "", err
	}
	for _, src := range order {
		id := orgID
		if src == aiproxy.SourcePlatform {
			id = 0
		}
		c, err := v.Store.GetCredential(ctx, service, src, id)
		if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
			continue
		} else if err != nil {
			return "", "", err
		}
		key, err := v.Open(c)
		if err != nil {
			return "", "", err
		}
		return key, src, nil
	}
	return "", "", errNoneFound(service)
}

// Source returns which source an invoke of service by org would use now (the first
// source in policy order that has a credential), without opening it. Errors as Resolve.
func (v *Vault) Source(ctx context.Context, service string, orgID int64, p aiproxy.Policy) (aiproxy.Source, error) {
	order, err := Order(p)
	if err != nil {
		return "", err
	}
	for _, src := range order {
		id := orgID
		if src == aiproxy.SourcePlatform {
			id = 0
		}
		_, err := v.Store.GetCredential(ctx, service, src, id)
		if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
			continue
		} else if err != nil {
			return "", err
		}
		return src, nil
	}
	return "", errNoneFound(service)
}

// Order lists the sources to try under p, in order (contract §7):
//  1. neither source allowed: EINVALID;
//  2. the default source if allowed, else the allowed one;
//  3. then, with fallback_to_platform_key, the other source if allowed.
func Order(p aiproxy.Policy) ([]aiproxy.Source, error) {
	allowed := func(s aiproxy.Source) bool {
		return s == aiproxy.SourceTenant && p.AllowTenantKey || s == aiproxy.SourcePlatform && p.AllowPlatformKey
	}
	if !p.AllowTenantKey && !p.AllowPlatformKey {
		return nil, errNoSourceAllowed
	}
	first := p.DefaultSource
	if !allowed(first) {
		first = aiproxy.SourceTenant
		if !allowed(first) {
			first = aiproxy.SourcePlatform
		}
	}
	other := aiproxy.SourcePlatform
	if first == aiproxy.SourcePlatform {
		other = aiproxy.SourceTenant
	}
	both := p.FallbackToPlatformKey && allowed(other)
	switch {
	case first == aiproxy.SourceTenant && both:
		return tenantThenPlatform, nil
	case first == aiproxy.SourceTenant:
		return tenantOnly, nil
	case both:
		return platformThenTenant, nil
	}
	return platformOnly, nil
}

// The four possible orders, shared (callers only read them).
var (
	tenantOnly         = []aiproxy.Source{aiproxy.SourceTenant}
	platformOnly       = []aiproxy.Source{aiproxy.SourcePlatform}
	tenantThenPlatform = []aiproxy.Source{aiproxy.SourceTenant, aiproxy.SourcePlatform}
	platformThenTenant = []aiproxy.Source{aiproxy.SourcePlatform, aiproxy.SourceTenant}
)

func (v *Vault) now() time.Time {
	if v.Now != nil {
		return v.Now().UTC()
	}
	return time.Now().UTC()
}

// last4 returns the last four characters of a secret for masked display; shorter secrets
// show nothing.
func last4(s string) string {
	r := []rune(s)
	if len(r) < 8 {
		return ""
	}
	return string(r[len(r)-4:])
}
