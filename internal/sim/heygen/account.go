package heygen

import (
	"crypto/sha256"
	"encoding/hex"
)

// account holds what one key created; no key can see another's objects.
type account struct {
	key      string
	username string

	videos       map[string]*video
	videoOrder   []string
	translations map[string]*translation
	transOrder   []string
	assets       map[string]*asset
	assetOrder   []string
	avatars      map[string]*privateAvatar // photo avatars (v2) and v3 looks
	avatarOrder  []string
	groups       map[string]*privateGroup
	groupOrder   []string
	hooks        map[string]*endpoint
	hookOrder    []string
	batches      map[string]*batch // POST /v3/videos/batches (batches.go)
	batchOrder   []string
	events       []sentEvent              // webhook events sent, oldest first (GET /v3/webhooks/events)
	sessions     map[string]*agentSession // POST /v3/video-agents (agents.go)
	lipsyncs     map[string]*lipsync      // POST /v3/lipsyncs (lipsync.go)
	uploads      map[string]*directUpload // POST /v3/assets/direct-uploads (uploads.go)
	clones       map[string]*voiceClone   // POST /v3/voices/clone (voiceclones.go)

	creditsUsed float64
}

// startingCredits is every key's balance, a Pro-like monthly pool (docs/simulators.md §15).
const startingCredits = 600

func (s *Server) account(key string) *account {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[key]
	if a == nil {
		sum := sha256.Sum256([]byte(key))
		a = &account{
			key: key, username: hex.EncodeToString(sum[:8]),
			videos: map[string]*video{}, translations: map[string]*translation{},
			assets: map[string]*asset{}, avatars: map[string]*privateAvatar{},
			groups: map[string]*privateGroup{}, hooks: map[string]*endpoint{},
			batches:  map[string]*batch{},
			sessions: map[string]*agentSession{}, lipsyncs: map[string]*lipsync{},
			uploads: map[string]*directUpload{}, clones: map[string]*voiceClone{},
		}
		s.accounts[key] = a
	}
	return a
}

func (a *account) remainingCredits(exhausted bool) float64 {
	if exhausted {
		return 0
	}
	return max(0, startingCredits-a.creditsUsed)
}

// lookup returns byID[id] under the server lock.
func lookup[T any](s *Server, byID map[string]*T, id string) *T {
	s.mu.Lock()
	defer s.mu.Unlock()
	return byID[id]
}

// newestFirst returns the objects named in order (oldest first) that still exist, newest
// first. Caller holds s.mu.
func newestFirst[T any](order []string, byID map[string]*T) []*T {
	var out []*T
	for i := len(order) - 1; i >= 0; i-- {
		if x := byID[order[i]]; x != nil {
			out = append(out, x)
		}
	}
	return out
}

// removeOwned deletes id from the key's objects (own) and the server-wide index the media
// routes read (all), and reports whether the key had it.
func removeOwned[T any](s *Server, own, all map[string]*T, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if own[id] == nil {
		return false
	}
	delete(own, id)
	delete(all, id)
	return true
}
