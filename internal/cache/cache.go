// Package cache keeps what the hot path reads — API keys, orgs, service settings, sealed
// credentials and budgets — in memory in front of a store, so that a request in steady state makes no
// database round trip. Writes go through to the store and drop the cache; changes made by
// other replicas are noticed by watching the store's version (polled, or pushed by
// PostgreSQL's LISTEN/NOTIFY) and drop it too. What changes with every invoke — jobs,
// idempotency records, usage, budget counters and reservations — is never cached: those
// calls go straight to the store.
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
	keys     map[string]entry[*aiproxy.APIKey] // by hash; only found keys
	keyIDs   map[int64]entry[*aiproxy.APIKey]  // by id (a browser token's parent); only found keys
	orgs     map[string]entry[*aiproxy.Org]    // by slug
	settings map[settingsKey]entry[*aiproxy.ServiceSettings]
	creds    map[credKey]entry[*aiproxy.Credential]
	budgets  map[budgetKey]entry[*aiproxy.Budget]

	logger *slog.Logger
	stop   chan struct{}
	done   chan struct{}
}

type settingsKey struct {
	service string
	orgID   int64
}

type budgetKey struct {
	orgID   int64
	service string
}

type credKey struct {
	service string
	source  aiproxy.Source
	orgID   int64
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
	s.keys = map[string]entry[*aiproxy.APIKey]{}
	s.keyIDs = map[int64]entry[*aiproxy.APIKey]{}
	s.orgs = map[string]entry[*aiproxy.Org]{}
	s.settings = map[settingsKey]entry[*aiproxy.ServiceSettings]{}
	s.creds = map[credKey]entry[*aiproxy.Credential]{}
	s.budgets = map[budgetKey]entry[*aiproxy.Budget]{}
}

// Invalidate drops everything cached.
func (s *Store) Invalidate() {
	s.mu.Lock()
	s.reset()
	s.mu.Unlock()
}

// watch polls the store's version and drops the cache when it moved. While the store does
// not answer, the cache goes on serving what it holds (nothing is dropped for a failed
// poll; lookups of what it does not hold fail, and failures are never cached): the log
// says so once when the store stops answering and once when it answers again.
func (s *Store) watch(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	var failingSince time.Time
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
			if failingSince.IsZero() {
				failingSince = time.Now()
				s.logger.Warn("cache: the store does not answer; serving what is cached until it does",
					slog.String("error", err.Error()))
			}
			continue
		}
		if !failingSince.IsZero() {
			s.logger.Info("cache: the store answers again", slog.Duration("after", time.Since(failingSince).Round(time.Millisecond)))
			failingSince = time.Time{}
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

// entry is a cached answer: the value, or the not-found error.
type entry[V any] struct {
	v   V
	err error
}

// lookup answers from m, or asks the store with load and remembers the answer — a value,
// or (when negative) its absence, up to maxNegative of them — unless the cache was dropped
// while load ran. Other errors are never cached.
func lookup[K comparable, V any](s *Store, m *map[K]entry[V], k K, negative bool, load func() (V, error)) (V, error) {
	s.mu.RLock()
	e, ok := (*m)[k]
	gen := s.gen
	s.mu.RUnlock()
	if ok {
		return e.v, e.err
	}
	v, err := load()
	notFound := aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND
	if err != nil && !(negative && notFound) {
		return v, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen == gen && (err == nil || len(*m) < maxNegative) {
		(*m)[k] = entry[V]{v, err}
	}
	return v, err
}

// APIKeyByHash serves found keys from memory (unknown hashes are not remembered: anyone
// can make up as many as they like).
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (*aiproxy.APIKey, error) {
	return lookup(s, &s.keys, hash, false, func() (*aiproxy.APIKey, error) { return s.Store.APIKeyByHash(ctx, hash) })
}

// APIKeyByID serves found keys from memory, like APIKeyByHash: every request made with a
// browser token looks up the key that minted it by id.
func (s *Store) APIKeyByID(ctx context.Context, id int64) (*aiproxy.APIKey, error) {
	return lookup(s, &s.keyIDs, id, false, func() (*aiproxy.APIKey, error) { return s.Store.APIKeyByID(ctx, id) })
}

// OrgBySlug serves orgs, and their absence, from memory.
func (s *Store) OrgBySlug(ctx context.Context, slug string) (*aiproxy.Org, error) {
	return lookup(s, &s.orgs, slug, true, func() (*aiproxy.Org, error) { return s.Store.OrgBySlug(ctx, slug) })
}

// ServiceSettings serves settings, and their absence, from memory.
func (s *Store) ServiceSettings(ctx context.Context, service string, orgID int64) (*aiproxy.ServiceSettings, error) {
	return lookup(s, &s.settings, settingsKey{service, orgID}, true, func() (*aiproxy.ServiceSettings, error) {
		return s.Store.ServiceSettings(ctx, service, orgID)
	})
}

// GetCredential serves sealed credentials, and their absence, from memory.
func (s *Store) GetCredential(ctx context.Context, service string, source aiproxy.Source, orgID int64) (*aiproxy.Credential, error) {
	return lookup(s, &s.creds, credKey{service, source, orgID}, true, func() (*aiproxy.Credential, error) {
		return s.Store.GetCredential(ctx, service, source, orgID)
	})
}

// GetBudget serves budgets, and their absence, from memory.
func (s *Store) GetBudget(ctx context.Context, orgID int64, service string) (*aiproxy.Budget, error) {
	return lookup(s, &s.budgets, budgetKey{orgID, service}, true, func() (*aiproxy.Budget, error) {
		return s.Store.GetBudget(ctx, orgID, service)
	})
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

// RevokeAPIKey drops the whole cache, not only the key: the store also revoked the tokens
// it minted, which are cached by their own hashes.
func (s *Store) RevokeAPIKey(ctx context.Context, prefix string, at time.Time) (aiproxy.Revocation, error) {
	rv, err := s.Store.RevokeAPIKey(ctx, prefix, at)
	return rv, s.after(err)
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
func (s *Store) PutBudget(ctx context.Context, b *aiproxy.Budget) error {
	return s.after(s.Store.PutBudget(ctx, b))
}
func (s *Store) DeleteBudget(ctx context.Context, orgID int64, service string) error {
	return s.after(s.Store.DeleteBudget(ctx, orgID, service))
}
