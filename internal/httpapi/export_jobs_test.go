package httpapi

import "time"

// SetJobPollInterval makes every job's poll interval d (d <= 0: the catalog's again): tests
// cannot wait seconds between reads.
func (s *Server) SetJobPollInterval(d time.Duration) {
	s.jobs.mu.Lock()
	s.jobs.interval = d
	s.jobs.mu.Unlock()
}

// JobPollers is the number of job pollers running.
func (s *Server) JobPollers() int {
	s.jobs.mu.Lock()
	defer s.jobs.mu.Unlock()
	return len(s.jobs.pollers)
}

// SetJobEventsTimers replaces the job event streams' heartbeat interval and lifetime (d <= 0:
// the defaults, 15 s and an hour).
func (s *Server) SetJobEventsTimers(heartbeat, lifetime time.Duration) {
	s.jobs.mu.Lock()
	s.jobs.heartbeat, s.jobs.lifetime = heartbeat, lifetime
	s.jobs.mu.Unlock()
}

// StopWatching stops this replica's watch of jobs: tests that count upstream requests
// cannot have the watcher read jobs in the background.
func (s *Server) StopWatching() {
	if s.watcher != nil {
		s.watcher.stop()
	}
}

// LinkExpiry is linkExpiry, for tests outside the package.
var LinkExpiry = linkExpiry

// OpenStreams is the number of taken-over event streams open.
func (s *Server) OpenStreams() int { return s.jobs.openStreams() }

// SetMaxStreamsPerKey replaces MaxStreamsPerKey (n <= 0: the default again).
func (s *Server) SetMaxStreamsPerKey(n int) {
	s.jobs.mu.Lock()
	s.jobs.maxStreams = n
	s.jobs.mu.Unlock()
}

// StopDelivering stops this replica's sender of the webhook outbox (a replica going away).
func (s *Server) StopDelivering() {
	if s.stopDeliverer != nil {
		s.stopDeliverer()
		s.stopDeliverer = nil
	}
}
