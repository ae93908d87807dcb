// Package cache keeps what the hot path reads — API keys, orgs, service settings and sealed
// credentials — in memory in front of a store, so that a request in steady state makes no
// database round trip. Writes go through to the store and drop the cache; changes made by
// other replicas are noticed by watching the store's version (polled, or pushed by
// PostgreSQL's LISTEN/NOTIFY) and drop it too.
package cache

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/aiproxy/aiproxy"
)

// Store is a caching aiproxy.Store.
type Store struct {
	aiproxy.Store

	mu       sync.RWMutex
	gen      uint64 // bumped on every invalidation; a fill from an older generation is dropped
	version  int64
	keys     map[string]*aiproxy.APIKey // by hash; only found keys (unknown hashes are not cached)
	orgs     map[string]orgEntry        // by slug
	settings map[settingsKey]settingsEntry
	creds    map[credKey]credEntry

	logger *slog.Logger
	stop   chan struct{}
	done   chan struct{}
}

type orgEntry struct {
	org *aiproxy.Org
	err error
}

type settingsKey struct {
	service string
	orgID   int64
}

type settingsEntry struct {
	s   *aiproxy.ServiceSettings
	err error
}

type credKey struct {
	service string
	source  aiproxy.Source
	orgID   int64
}

type credEntry struct {
	c   *aiproxy.Credential
	err error
}

// maxNegative bounds how many "not found" answers are remembered per kind, so that lookups
// of made-up names cannot grow memory without limit.
const maxNegative = 10000

// New returns a cache in front of store that checks the store's version every poll
// interval (0: never; use Invalidate from a change listener instead). Close stops it.
func New(store aiproxy.Store, poll time.Duration, logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Store{Store: store, logger: logger, stop: make(chan struct{}), done: make(chan struct{})}
	s.reset()
	if v, err := store.Version(context.Background()); err == nil {
		s.version = v
	}
	if poll > 0 {
		go s.watch(poll)
	} else {
		close(s.done)
	}
	return s
}

func (s *Store) reset() {
	s.gen++
	s.keys = map[string]*aiproxy.APIKey{}
	s.orgs = map[string]orgEntry{}
	s.settings = map[settingsKey]settingsEntry{}
	s.creds = map[credKey]credEntry{}
}

// Invalidate drops everything cached.
func (s *Store) Invalidate() {
	s.mu.Lock()
	s.reset()
	s.mu.Unlock()
}

// watch polls the store's version and drops the cache when it moved.
func (s *Store) watch(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every*4+time.Second)
		v, err := s.Store.Version(ctx)
		cancel()
		if err != nil {
			s.logger.Warn("cache: reading the store version failed", slog.String("error", err.Error()))
			continue
		}
		s.mu.Lock()
		if v != s.version {
			s.version = v
			s.reset()
		}
		s.mu.Unlock()
	}
}

// Close stops the watcher and closes the store.
func (s *Store) Close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	return s.Store.Close()
}

// fill stores v in m under k if no invalidation happened since gen was read.
func fill[K comparable, V any](s *Store, gen uint64, m func() map[K]V, k K, v V, negative bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return
	}
	mm := m()
	if negative && len(mm) >= maxNegative {
		return
	}
	mm[k] = v
}

// APIKeyByHash serves found keys from memory.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (*aiproxy.APIKey, error) {
	s.mu.RLock()
	k, ok := s.keys[hash]
	gen := s.gen
	s.mu.RUnlock()
	if ok {
		return k, nil
	}
	k, err := s.Store.APIKeyByHash(ctx, hash)
	if err == nil {
		fill(s, gen, func() map[string]*aiproxy.APIKey { return s.keys }, hash, k, false)
	}
	return k, err
}

// OrgBySlug serves orgs, and their absence, from memory.
func (s *Store) OrgBySlug(ctx context.Context, slug string) (*aiproxy.Org, error) {
	s.mu.RLock()
	e, ok := s.orgs[slug]
	gen := s.gen
	s.mu.RUnlock()
	if ok {
		return e.org, e.err
	}
	o, err := s.Store.OrgBySlug(ctx, slug)
	if err == nil || aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		fill(s, gen, func() map[string]orgEntry { return s.orgs }, slug, orgEntry{o, err}, err != nil)
	}
	return o, err
}

// ServiceSettings serves settings, and their absence, from memory.
func (s *Store) ServiceSettings(ctx context.Context, service string, orgID int64) (*aiproxy.ServiceSettings, error) {
	k := settingsKey{service, orgID}
	s.mu.RLock()
	e, ok := s.settings[k]
	gen := s.gen
	s.mu.RUnlock()
	if ok {
		return e.s, e.err
	}
	v, err := s.Store.ServiceSettings(ctx, service, orgID)
	if err == nil || aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		fill(s, gen, func() map[settingsKey]settingsEntry { return s.settings }, k, settingsEntry{v, err}, err != nil)
	}
	return v, err
}

// GetCredential serves sealed credentials, and their absence, from memory.
func (s *Store) GetCredential(ctx context.Context, service string, source aiproxy.Source, orgID int64) (*aiproxy.Credential, error) {
	k := credKey{service, source, orgID}
	s.mu.RLock()
	e, ok := s.creds[k]
	gen := s.gen
	s.mu.RUnlock()
	if ok {
		return e.c, e.err
	}
	c, err := s.Store.GetCredential(ctx, service, source, orgID)
	if err == nil || aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		fill(s, gen, func() map[credKey]credEntry { return s.creds }, k, credEntry{c, err}, err != nil)
	}
	return c, err
}

// after runs a write and drops the cache, whether or not the write succeeded (a failed
// write may still have changed something, and dropping is always safe).
func (s *Store) after(err error) error {
	s.Invalidate()
	return err
}

func (s *Store) CreateOrg(ctx context.Context, o *aiproxy.Org) error {
	return s.after(s.Store.CreateOrg(ctx, o))
}
func (s *Store) UpdateOrg(ctx context.Context, o *aiproxy.Org) error {
	return s.after(s.Store.UpdateOrg(ctx, o))
}
func (s *Store) DeleteOrg(ctx context.Context, id int64) error {
	return s.after(s.Store.DeleteOrg(ctx, id))
}
func (s *Store) CreateAPIKey(ctx context.Context, k *aiproxy.APIKey) error {
	return s.after(s.Store.CreateAPIKey(ctx, k))
}
func (s *Store) RevokeAPIKey(ctx context.Context, prefix string, at time.Time) error {
	return s.after(s.Store.RevokeAPIKey(ctx, prefix, at))
}
func (s *Store) PutCredential(ctx context.Context, c *aiproxy.Credential) error {
	return s.after(s.Store.PutCredential(ctx, c))
}
func (s *Store) DeleteCredential(ctx context.Context, service string, source aiproxy.Source, orgID int64) error {
	return s.after(s.Store.DeleteCredential(ctx, service, source, orgID))
}
func (s *Store) RewrapCredential(ctx context.Context, c *aiproxy.Credential, oldKEKID string) (bool, error) {
	ok, err := s.Store.RewrapCredential(ctx, c, oldKEKID)
	return ok, s.after(err)
}
func (s *Store) PutServiceSettings(ctx context.Context, set *aiproxy.ServiceSettings) error {
	return s.after(s.Store.PutServiceSettings(ctx, set))
}
