package elevenlabs

import (
	"slices"
	"sync"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

// account is everything one provider key owns. Its ids come from a random source seeded
// with the server seed and the key, so they do not depend on other keys' traffic.
type account struct {
	key       string
	exhausted bool
	rand      *simcore.Rand
	created   time.Time

	mu          sync.Mutex
	inFlight    int
	charCount   int
	voices      []*Voice                  // created by this key, oldest first
	settings    map[string]*VoiceSettings // per-voice overrides (premade voices included)
	history     []*historyItem            // newest first
	dubbings    []*dubbing                // oldest first
	webhooks    []*webhook                // workspace webhooks, oldest first
	usage       []usageEvent              // every charge, oldest first (usage.go)
	speech      speechState               // transcripts and voice previews (speech.go)
	voiceAddCnt int
}

// characterLimit is the Creator plan's monthly credit allowance. GAP: quota is enforced only
// for keys simcore classifies as exhausted, so long benchmarks with one key never run dry
// (docs/simulators.md §19).
const characterLimit = 100000

func newAccount(key string, seed uint64, exhausted bool) *account {
	a := &account{key: key, exhausted: exhausted, rand: simcore.NewRand(seed), created: time.Now(),
		settings: map[string]*VoiceSettings{}}
	if exhausted {
		a.charCount = characterLimit
	}
	return a
}

// enter counts a request in flight; with limit > 0 it refuses requests beyond the limit.
func (a *account) enter(limit int) (current int, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inFlight++
	return a.inFlight, limit <= 0 || a.inFlight <= limit
}

func (a *account) leave() {
	a.mu.Lock()
	a.inFlight--
	a.mu.Unlock()
}

func (a *account) remaining() int { return max(characterLimit-a.charCount, 0) }

// removeFrom deletes, under a's lock, the items of *list that match, and reports whether
// there were any.
func removeFrom[T any](a *account, list *[]T, match func(T) bool) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := len(*list)
	*list = slices.DeleteFunc(*list, match)
	return len(*list) < n
}
