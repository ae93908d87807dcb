package postgres

import (
	"encoding/json"
	"fmt"

	"github.com/aiproxy/aiproxy"
)

// encodeStrings stores a list as a JSON array; nil and empty both become "[]".
func encodeStrings(a []string) string {
	if len(a) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(a) // a []string always marshals
	return string(b)
}

// decodeStrings reads a JSON array; an empty one becomes nil.
func decodeStrings(s string) ([]string, error) {
	var a []string
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return nil, fmt.Errorf("decode list %q: %w", s, err)
	}
	if len(a) == 0 {
		return nil, nil
	}
	return a, nil
}

func encodePolicy(p *aiproxy.Policy) (*string, error) {
	if p == nil {
		return nil, nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode policy: %w", err)
	}
	s := string(b)
	return &s, nil
}

func decodePolicy(s *string) (*aiproxy.Policy, error) {
	if s == nil {
		return nil, nil
	}
	var p aiproxy.Policy
	if err := json.Unmarshal([]byte(*s), &p); err != nil {
		return nil, fmt.Errorf("decode policy: %w", err)
	}
	return &p, nil
}
