package heygen

import (
	"math"
	"net/http"
)

// User and quota: GET /v2/user/remaining_quota and GET /v3/users/me report the same
// balance, the key's remaining credits (docs/simulators.md §15).

// credits is the caller's remaining balance; an exhausted key has none.
func (s *Server) credits(c *call) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return c.acct.remainingCredits(c.exhausted)
}

// v2RemainingQuota: remaining_quota ÷ 60 = credits [HG-quota].
func (s *Server) v2RemainingQuota(w http.ResponseWriter, r *http.Request, c *call) error {
	quota := int(s.credits(c) * 60)
	okV2(w, map[string]any{"remaining_quota": quota, "details": map[string]any{"api": quota}})
	return nil
}

// v3Me reports an API-key (wallet) account. GAP: the balance is the remaining credits at an
// assumed $0.50 per credit (docs/simulators.md §15).
func (s *Server) v3Me(w http.ResponseWriter, r *http.Request, c *call) error {
	credits := s.credits(c)
	okV3(w, map[string]any{
		"username": c.acct.username, "email": c.acct.username + "@example.com",
		"first_name": "Sim", "last_name": "User", "billing_type": "wallet",
		"wallet": map[string]any{
			"currency": "usd", "remaining_balance": math.Round(credits*50) / 100,
			"auto_reload": map[string]any{"enabled": false, "threshold_usd": nil, "amount_usd": nil},
		},
		"subscription": nil, "usage_based": nil,
	})
	return nil
}
