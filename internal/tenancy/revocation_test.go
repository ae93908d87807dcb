package tenancy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/apikeys"
	"github.com/aiproxy/aiproxy/internal/tenancy"
)

// probeStore lets a test run Authenticate on a stored key whose secret it never saw (a
// token minted by a call that then failed): a probe header hashes to a value mapped to the
// key's id, and everything after the lookup — the active check and the walk up the minting
// keys — is the real code on the real rows.
type probeStore struct {
	aiproxy.Store
	mu  sync.Mutex
	ids map[string]int64
}

func (p *probeStore) APIKeyByHash(ctx context.Context, hash string) (*aiproxy.APIKey, error) {
	p.mu.Lock()
	id, ok := p.ids[hash]
	p.mu.Unlock()
	if ok {
		return p.Store.APIKeyByID(ctx, id)
	}
	return p.Store.APIKeyByHash(ctx, hash)
}

// header returns an Authorization header that presents the stored key with that id.
func (p *probeStore) header(id int64) string {
	raw := fmt.Sprintf("probe-%d", id)
	p.mu.Lock()
	if p.ids == nil {
		p.ids = map[string]int64{}
	}
	p.ids[apikeys.Hash(raw)] = id
	p.mu.Unlock()
	return "Bearer " + raw
}

func TestRevokingAKeyKillsTheTokensItMinted(t *testing.T) {
	e, acme, admin := newAcme(t)
	parent, parentSecret := e.key(acme, aiproxy.RoleMember)
	other, otherSecret := e.key(acme, aiproxy.RoleMember)

	var tokens []string
	for range 3 {
		_, s := e.mint(parent, acme, tenancy.TokenRequest{})
		tokens = append(tokens, s)
	}
	_, otherToken := e.mint(other, acme, tenancy.TokenRequest{})

	mustNot(t, e.m.RevokeKey(e.ctx, admin, acme, parent.Key.Prefix))

	_, err := e.auth(parentSecret)
	wantInvalidToken(t, err)
	for i, s := range tokens {
		_, err := e.auth(s)
		wantInvalidToken(t, err)
		if k, _ := e.store.APIKeyByHash(e.ctx, apikeys.Hash(s)); k.RevokedAt == nil {
			t.Errorf("token %d is not marked revoked in the store", i)
		}
	}
	// The other key and its token are untouched.
	for _, s := range []string{otherSecret, otherToken} {
		if _, err := e.auth(s); err != nil {
			t.Fatalf("a key not revoked: %v", err)
		}
	}
	// The audit entry says how many tokens went with the key.
	entries := e.audit(acme.ID)
	if entries[0].Action != "key.revoke" || entries[0].Target != parent.Key.Prefix || entries[0].Actor != admin.Key.Prefix {
		t.Fatalf("newest audit entry %+v", entries[0])
	}
	var after map[string]any
	mustNot(t, json.Unmarshal([]byte(entries[0].After), &after))
	if after["tokens_revoked"] != float64(3) || after["revoked_at"] == nil {
		t.Fatalf("audit after %s", entries[0].After)
	}
}

// A request authenticated just before its key was revoked still carries the key as it was
// then. A token it mints must be refused and must not stay in force.
func TestMintingFromAKeyRevokedMeanwhileIsRefused(t *testing.T) {
	e := newEnv(t)
	acme := e.org("acme")
	stale, _ := e.key(acme, aiproxy.RoleAdmin) // authenticated before the revocation
	mustNot(t, e.m.RevokeKey(e.ctx, tenancy.CLI, acme, stale.Key.Prefix))

	k, secret, err := e.m.MintToken(e.ctx, stale, acme, tenancy.TokenRequest{})
	if k != nil || secret != "" {
		t.Fatalf("got a token %v", k)
	}
	wantInvalidToken(t, err)

	keys, err := e.store.ListAPIKeys(e.ctx, acme.ID)
	mustNot(t, err)
	var tokens int
	for _, k := range keys {
		if k.ParentID == stale.Key.ID {
			tokens++
			if k.RevokedAt == nil {
				t.Errorf("token %s minted from a revoked key is not revoked", k.Prefix)
			}
		}
	}
	if tokens != 1 {
		t.Fatalf("%d tokens stored, want the one refused", tokens)
	}
}

// TestRevocationRacingMintsLeavesNoLiveToken races one RevokeKey against several
// MintToken calls on the same key, 100 times. Whatever the interleaving, no token may
// authenticate afterwards: neither one a mint returned nor any stored with that parent.
func TestRevocationRacingMintsLeavesNoLiveToken(t *testing.T) {
	const (
		trials    = 100
		minters   = 4
		maxMints  = 10 // per minter and trial; a minter stops at its first refusal
		waitMints = 4  // the revoker waits for trial%waitMints successful mints first
	)
	e := newEnv(t)
	probe := &probeStore{Store: e.store}
	m := &tenancy.Manager{Store: probe, Vault: e.vault, Catalog: e.cat} // the real clock
	ctx := e.ctx
	acme := e.org("acme")

	var (
		mintedBefore, mintedDuring, refused, stored, survivors, unmarked, probedDuringRace int
	)
	for trial := range trials {
		_, secret, err := m.CreateKey(ctx, tenancy.CLI, tenancy.NewKey{Org: acme, Name: fmt.Sprintf("trial %d", trial), Role: aiproxy.RoleAdmin})
		mustNot(t, err)
		parent, err := m.Authenticate(ctx, "Bearer "+secret)
		mustNot(t, err)
		if k, err := m.Authenticate(ctx, probe.header(parent.ID)); err != nil || k.ID != parent.ID {
			t.Fatalf("the probe does not authenticate a live key: %v", err)
		}
		a := tenancy.Actor{Key: parent}

		type result struct {
			secret      string
			err         error
			afterRevoke bool // the revocation had begun when the mint returned
		}
		var (
			start      = make(chan struct{})
			mintersWG  sync.WaitGroup
			revokerWG  sync.WaitGroup
			mintsOver  = make(chan struct{})
			succeeded  atomic.Int32
			finished   atomic.Int32 // minters done
			revoking   atomic.Bool
			mu         sync.Mutex
			results    []result
			revokeErr  error
			raceProbes int      // stored tokens probed after RevokeKey returned, minting still going on
			live       []string // tokens that authenticated then
		)
		for range minters {
			mintersWG.Go(func() {
				defer finished.Add(1)
				<-start
				for range maxMints {
					_, s, err := m.MintToken(ctx, a, acme, tenancy.TokenRequest{})
					r := result{secret: s, err: err, afterRevoke: revoking.Load()}
					mu.Lock()
					results = append(results, r)
					mu.Unlock()
					if err != nil {
						return
					}
					succeeded.Add(1)
				}
			})
		}
		revokerWG.Go(func() {
			<-start
			for succeeded.Load() < int32(trial%waitMints) && finished.Load() < minters {
				runtime.Gosched()
			}
			revoking.Store(true)
			if revokeErr = m.RevokeKey(ctx, tenancy.CLI, acme, parent.Prefix); revokeErr != nil {
				return
			}
			// From the moment RevokeKey returns, no token of the key may authenticate, even
			// one a mint still in flight has just stored: probe them all while minting goes on.
			for {
				select {
				case <-mintsOver:
					return
				default:
				}
				keys, err := e.store.ListAPIKeys(ctx, acme.ID)
				if err != nil {
					revokeErr = err
					return
				}
				for _, k := range keys {
					if k.ParentID != parent.ID {
						continue
					}
					raceProbes++
					if _, err := m.Authenticate(ctx, probe.header(k.ID)); err != tenancy.ErrInvalidToken {
						live = append(live, fmt.Sprintf("%s (%v)", k.Prefix, err))
					}
				}
			}
		})
		close(start)
		mintersWG.Wait()
		close(mintsOver)
		revokerWG.Wait()
		probedDuringRace += raceProbes
		if len(live) > 0 {
			survivors += len(live)
			t.Errorf("trial %d: after RevokeKey returned, tokens authenticated while minting went on: %v", trial, live)
		}
		if revokeErr != nil {
			t.Fatalf("trial %d: RevokeKey: %v", trial, revokeErr)
		}

		// Every token a mint returned is dead.
		returned := 0
		for _, r := range results {
			if r.err != nil {
				if r.err != tenancy.ErrInvalidToken {
					t.Errorf("trial %d: a mint failed with %v, want ErrInvalidToken", trial, r.err)
				}
				refused++
				continue
			}
			returned++
			if r.afterRevoke {
				mintedDuring++
			} else {
				mintedBefore++
			}
			if k, err := m.Authenticate(ctx, "Bearer "+r.secret); err != tenancy.ErrInvalidToken {
				survivors++
				t.Errorf("trial %d: a returned token still authenticates (key %v, err %v)", trial, k, err)
			}
		}
		// And so is every token stored with that parent, returned or not.
		keys, err := e.store.ListAPIKeys(ctx, acme.ID)
		mustNot(t, err)
		n := 0
		for _, k := range keys {
			if k.ParentID != parent.ID {
				continue
			}
			n++
			if got, err := m.Authenticate(ctx, probe.header(k.ID)); err != tenancy.ErrInvalidToken {
				survivors++
				t.Errorf("trial %d: stored token %s still authenticates (key %v, err %v)", trial, k.Prefix, got, err)
			}
			if k.RevokedAt == nil {
				unmarked++
				t.Errorf("trial %d: stored token %s is not marked revoked", trial, k.Prefix)
			}
		}
		stored += n
		if refusedHere := len(results) - returned; n != returned+refusedHere {
			t.Errorf("trial %d: %d tokens stored, want %d returned + %d refused", trial, n, returned, refusedHere)
		}
		if _, err := m.Authenticate(ctx, "Bearer "+secret); err != tenancy.ErrInvalidToken {
			t.Fatalf("trial %d: the revoked key authenticates: %v", trial, err)
		}
	}
	if got := e.auditActions(acme.ID)["key.revoke"]; got != trials {
		t.Errorf("%d key.revoke audit entries, want one per trial (%d)", got, trials)
	}
	t.Logf("%d trials, %d minters each: %d tokens returned before RevokeKey was called, %d returned after it was called, %d mints refused (ErrInvalidToken); %d tokens stored with the revoked parent, %d not marked revoked; %d probes of stored tokens between RevokeKey's return and the last mint; %d surviving",
		trials, minters, mintedBefore, mintedDuring, refused, stored, unmarked, probedDuringRace, survivors)
	if survivors != 0 {
		t.Fatalf("%d tokens survived the revocation of their minting key", survivors)
	}
}
