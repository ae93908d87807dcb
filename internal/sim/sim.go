// Package sim serves both provider simulators from one HTTP server, told apart by the
// provider's auth header (HeyGen X-Api-Key, ElevenLabs xi-api-key) and, for calls without
// one, by path. /_sim/faults plans failures for tests (see simcore.Faults). docs/simulators.md
// describes both simulators (§1) and the fault controls (§24).
package sim

import (
	"net/http"

	"github.com/aiproxy/aiproxy/internal/sim/elevenlabs"
	"github.com/aiproxy/aiproxy/internal/sim/heygen"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

// Server is the combined simulator.
type Server struct {
	HeyGen     *heygen.Server
	ElevenLabs *elevenlabs.Server
	Faults     *simcore.Faults
}

// New returns a simulator for both providers sharing one fault registry.
func New(opts simcore.Options) *Server {
	opts = opts.WithFaults()
	return &Server{HeyGen: heygen.New(opts), ElevenLabs: elevenlabs.New(opts), Faults: opts.Faults}
}

// ServeHTTP routes a request to its provider.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/_sim/faults":
		s.Faults.AdminHandler().ServeHTTP(w, r)
	case r.Header.Get("xi-api-key") != "":
		s.ElevenLabs.ServeHTTP(w, r)
	case r.Header.Get("X-Api-Key") != "":
		s.HeyGen.ServeHTTP(w, r)
	case s.ElevenLabs.Handles(r.URL.Path):
		s.ElevenLabs.ServeHTTP(w, r)
	default:
		s.HeyGen.ServeHTTP(w, r)
	}
}

// Close stops both simulators' background work.
func (s *Server) Close() {
	s.HeyGen.Close()
	s.ElevenLabs.Close()
}
