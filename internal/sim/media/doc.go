// Package media generates small, valid media files for the provider simulators: MPEG audio
// streams of silence whose duration is chosen by the caller, so that tests can assert "a
// valid file whose duration grows with the input" without shipping fixtures
// (docs/simulators.md §23).
package media
