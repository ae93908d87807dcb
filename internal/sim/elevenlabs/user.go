package elevenlabs

import (
	"net/http"
	"time"
)

// subscription is the OpenAPI SubscriptionResponseModel (Creator tier).
func (s *Server) subscription(a *account, extended bool) map[string]any {
	a.mu.Lock()
	used, voices := a.charCount, len(a.voices)
	edits := a.voiceAddCnt
	a.mu.Unlock()
	reset := a.created.AddDate(0, 1, 0).Unix()
	sub := map[string]any{
		"tier":                                       "creator",
		"character_count":                            used,
		"character_limit":                            characterLimit,
		"max_character_limit_extension":              nil,
		"max_credit_limit_extension":                 0, // a number or "unlimited"
		"can_extend_character_limit":                 true,
		"allowed_to_extend_character_limit":          true,
		"next_character_count_reset_unix":            reset,
		"voice_slots_used":                           voices,
		"professional_voice_slots_used":              0,
		"professional_voice_slots_used_in_workspace": 0,
		"voice_limit":                                30,
		"max_voice_add_edits":                        95,
		"voice_add_edit_counter":                     edits,
		"professional_voice_limit":                   1,
		"can_extend_voice_limit":                     false,
		"can_use_instant_voice_cloning":              true,
		"can_use_professional_voice_cloning":         true,
		"currency":                                   "usd",
		"status":                                     "active",
		"billing_period":                             "monthly_period",
		"character_refresh_period":                   "monthly_period",
		"current_overage":                            map[string]any{"amount": "0.00", "currency": "usd"},
	}
	if extended {
		sub["next_invoice"] = map[string]any{
			"amount_due_cents": 2200, "discount_percent_off": nil, "discount_amount_off": nil,
			"next_payment_attempt_unix": reset,
		}
		sub["open_invoices"] = []any{}
		sub["has_open_invoices"] = false
		sub["pending_change"] = nil
	}
	return sub
}

// getUser serves GET /v1/user. It echoes the caller's key in xi_api_key, which the real
// schema allows [EL-oas]: a proxy in front must scrub it.
func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	a := s.accountOf(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"user_id":      a.userID(),
		"workspace_id": "ws_" + a.userID()[:20],
		"seat_type":    "workspace_admin",
		"subscription": s.subscription(a, false),
		"subscription_extras": map[string]any{
			"concurrency": advertisedConcurrency, "convai_concurrency": 5,
			"force_logging_disabled": false, "can_request_manual_pro_voice_verification": true,
			"can_bypass_voice_captcha": false, "moderation": nil, "unused_characters_rolled_over_from_previous_period": 0,
		},
		"is_new_user":                       false,
		"xi_api_key":                        a.key,
		"xi_api_key_preview":                keyPreview(a.key),
		"is_api_key_hashed":                 false,
		"can_use_delayed_payment_methods":   false,
		"is_onboarding_completed":           true,
		"is_onboarding_checklist_completed": true,
		"first_name":                        "Sim",
		"referral_link_code":                nil,
		"partnerstack_partner_default_link": nil,
		"created_at":                        a.created.Add(-90 * 24 * time.Hour).Unix(),
	})
}

func (s *Server) getSubscription(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.subscription(s.accountOf(r), true))
}

// userID is derived from the key so it is stable for a key.
func (a *account) userID() string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	h := keyHash(a.key)
	b := make([]byte, 28)
	for i := range b {
		b[i] = chars[(h>>33)%uint64(len(chars))]
		h = h*6364136223846793005 + 1442695040888963407
	}
	return string(b)
}

// keyPreview shows the first and last characters of a key, as the dashboard does.
func keyPreview(key string) string {
	if len(key) <= 8 {
		return "****"
	}
	return key[:3] + "****" + key[len(key)-4:]
}
