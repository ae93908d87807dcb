package elevenlabs

import (
	"fmt"
	"strings"

	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

// VoiceSettings is the OpenAPI VoiceSettingsResponseModel.
type VoiceSettings struct {
	Stability       *float64 `json:"stability"`
	UseSpeakerBoost *bool    `json:"use_speaker_boost"`
	SimilarityBoost *float64 `json:"similarity_boost"`
	Style           *float64 `json:"style"`
	Speed           *float64 `json:"speed"`
}

func defaultSettings() VoiceSettings {
	f := func(v float64) *float64 { return &v }
	t := true
	return VoiceSettings{Stability: f(0.5), UseSpeakerBoost: &t, SimilarityBoost: f(0.75), Style: f(0), Speed: f(1)}
}

// Sample is one uploaded recording of a cloned voice (OpenAPI SampleResponseModel).
type Sample struct {
	SampleID                string  `json:"sample_id"`
	FileName                string  `json:"file_name"`
	MimeType                string  `json:"mime_type"`
	SizeBytes               int64   `json:"size_bytes"`
	Hash                    string  `json:"hash"`
	DurationSecs            float64 `json:"duration_secs"`
	RemoveBackgroundNoise   bool    `json:"remove_background_noise"`
	HasIsolatedAudio        bool    `json:"has_isolated_audio"`
	HasIsolatedAudioPreview bool    `json:"has_isolated_audio_preview"`
}

// Voice is the OpenAPI VoiceResponseModel, with the fields the sources list.
type Voice struct {
	VoiceID                 string            `json:"voice_id"`
	Name                    string            `json:"name"`
	Samples                 []Sample          `json:"samples"`
	Category                string            `json:"category"`
	FineTuning              *FineTuning       `json:"fine_tuning"`
	Labels                  map[string]string `json:"labels"`
	Description             *string           `json:"description"`
	PreviewURL              *string           `json:"preview_url"`
	AvailableForTiers       []string          `json:"available_for_tiers"`
	Settings                *VoiceSettings    `json:"settings"`
	Sharing                 any               `json:"sharing"`
	HighQualityBaseModelIDs []string          `json:"high_quality_base_model_ids"`
	VerifiedLanguages       []VerifiedLang    `json:"verified_languages"`
	SafetyControl           *string           `json:"safety_control"`
	VoiceVerification       VoiceVerification `json:"voice_verification"`
	PermissionOnResource    *string           `json:"permission_on_resource"`
	IsOwner                 bool              `json:"is_owner"`
	IsLegacy                bool              `json:"is_legacy"`
	IsMixed                 bool              `json:"is_mixed"`
	CreatedAtUnix           *int64            `json:"created_at_unix"`
	IsBookmarked            *bool             `json:"is_bookmarked,omitempty"`
	FavoritedAtUnix         *int64            `json:"favorited_at_unix"`
}

// FineTuning is a reduced OpenAPI FineTuningResponseModel.
type FineTuning struct {
	IsAllowedToFineTune         bool              `json:"is_allowed_to_fine_tune"`
	State                       map[string]string `json:"state"`
	VerificationFailures        []string          `json:"verification_failures"`
	VerificationAttemptsCount   int               `json:"verification_attempts_count"`
	ManualVerificationRequested bool              `json:"manual_verification_requested"`
	Language                    *string           `json:"language"`
	Progress                    map[string]any    `json:"progress"`
	Message                     map[string]any    `json:"message"`
}

// VerifiedLang is one entry of verified_languages.
type VerifiedLang struct {
	Language   string  `json:"language"`
	ModelID    string  `json:"model_id"`
	Accent     *string `json:"accent"`
	Locale     *string `json:"locale"`
	PreviewURL *string `json:"preview_url"`
}

// VoiceVerification is the OpenAPI VoiceVerificationResponseModel.
type VoiceVerification struct {
	RequiresVerification      bool     `json:"requires_verification"`
	IsVerified                bool     `json:"is_verified"`
	VerificationFailures      []string `json:"verification_failures"`
	VerificationAttemptsCount int      `json:"verification_attempts_count"`
	Language                  *string  `json:"language"`
}

// premade lists ElevenLabs' public default voices (their real ids, names and labels).
var premade = []struct{ id, name, accent, age, gender, desc, useCase string }{
	{"21m00Tcm4TlvDq8ikWAM", "Rachel", "american", "young", "female", "calm", "narration"},
	{"29vD33N1CtxCmqQRPOHJ", "Drew", "american", "middle_aged", "male", "well-rounded", "news"},
	{"2EiwWnXFnvU5JabPnv8n", "Clyde", "american", "middle_aged", "male", "war veteran", "characters"},
	{"5Q0t7uMcjvnagumLfvZi", "Paul", "american", "middle_aged", "male", "authoritative", "news"},
	{"9BWtsMINqrJLrRacOk9x", "Aria", "american", "middle_aged", "female", "husky", "narration"},
	{"AZnzlk1XvdvUeBnXmlld", "Domi", "american", "young", "female", "strong", "narration"},
	{"CYw3kZ02Hs0563khs1Fj", "Dave", "british", "young", "male", "conversational", "characters"},
	{"CwhRBWXzGAHq8TQ4Fs17", "Roger", "american", "middle_aged", "male", "confident", "social_media"},
	{"D38z5RcWu1voky8WS1ja", "Fin", "irish", "old", "male", "sailor", "characters"},
	{"EXAVITQu4vr4xnSDxMaL", "Sarah", "american", "young", "female", "soft", "news"},
	{"ErXwobaYiN019PkySvjV", "Antoni", "american", "young", "male", "well-rounded", "narration"},
	{"FGY2WhTYpPnrIDTdsKH5", "Laura", "american", "young", "female", "upbeat", "social_media"},
	{"GBv7mTt0atIp3Br8iCZE", "Thomas", "american", "young", "male", "calm", "meditation"},
	{"IKne3meq5aSn9XLyUdCD", "Charlie", "australian", "middle_aged", "male", "natural", "conversational"},
	{"JBFqnCBsd6RMkjVDRZzb", "George", "british", "middle_aged", "male", "warm", "narration"},
	{"LcfcDJNUP1GQjkzn1xUU", "Emily", "american", "young", "female", "calm", "meditation"},
	{"MF3mGyEYCl7XYWbV9V6O", "Elli", "american", "young", "female", "emotional", "narration"},
	{"N2lVS1w4EtoT3dr4eOWO", "Callum", "transatlantic", "middle_aged", "male", "intense", "characters"},
	{"ODq5zmih8GrVes37Dizd", "Patrick", "american", "middle_aged", "male", "shouty", "characters"},
	{"SAz9YHcvj6GT2YYXdXww", "River", "american", "middle_aged", "neutral", "confident", "social_media"},
	{"SOYHLrjzK2X1ezoPC6cr", "Harry", "american", "young", "male", "anxious", "characters"},
	{"TX3LPaxmHKxFdv7VOQHJ", "Liam", "american", "young", "male", "articulate", "narration"},
	{"ThT5KcBeYPX3keUQqHPh", "Dorothy", "british", "young", "female", "pleasant", "children's_stories"},
	{"TxGEqnHWrfWFTfGW9XjX", "Josh", "american", "young", "male", "deep", "narration"},
	{"VR6AewLTigWG4xSOukaG", "Arnold", "american", "middle_aged", "male", "crisp", "narration"},
	{"XB0fDUnXU5powFXDhCwa", "Charlotte", "swedish", "young", "female", "seductive", "characters"},
	{"Xb7hH8MSUJpSbSDYk0k2", "Alice", "british", "middle_aged", "female", "confident", "news"},
	{"XrExE9yKIg1WjnnlVkGX", "Matilda", "american", "middle_aged", "female", "friendly", "narration"},
	{"ZQe5CZNOzWyzPSCn5a3c", "James", "australian", "old", "male", "calm", "news"},
	{"Zlb1dXrM653N07WRdFW3", "Joseph", "british", "middle_aged", "male", "articulate", "news"},
	{"bIHbv24MWmeRgasZH58o", "Will", "american", "young", "male", "friendly", "social_media"},
	{"bVMeCyTHy58xNoL34h3p", "Jeremy", "irish", "young", "male", "excited", "narration"},
	{"cgSgspJ2msm6clMCkdW9", "Jessica", "american", "young", "female", "expressive", "conversational"},
	{"cjVigY5qzO86Huf0OWal", "Eric", "american", "middle_aged", "male", "friendly", "conversational"},
	{"flq6f7yk4E4fJM5XTYuZ", "Michael", "american", "old", "male", "orotund", "audiobook"},
	{"g5CIjZEefAph4nQFvHAz", "Ethan", "american", "young", "male", "soft", "asmr"},
	{"iP95p4xoKVk53GoZ742B", "Chris", "american", "middle_aged", "male", "casual", "conversational"},
	{"jBpfuIE2acCO8z3wKNLl", "Gigi", "american", "young", "female", "childlish", "animation"},
	{"jsCqWAovK2LkecY7zXl4", "Freya", "american", "young", "female", "overhyped", "characters"},
	{"nPczCjzI2devNBz1zQrb", "Brian", "american", "middle_aged", "male", "deep", "narration"},
	{"oWAxZDx7w5VEj9dCyTzz", "Grace", "american-southern", "young", "female", "gentle", "audiobook"},
	{"onwK4e9ZLuTAKqWW03F9", "Daniel", "british", "middle_aged", "male", "authoritative", "news"},
	{"pFZP5JQG7iQjIQuC4Bku", "Lily", "british", "middle_aged", "female", "warm", "narration"},
	{"pMsXgVXv3BLzUgSXRplE", "Serena", "american", "middle_aged", "female", "pleasant", "interactive"},
	{"pNInz6obpgDQGcFmaJgB", "Adam", "american", "middle_aged", "male", "deep", "narration"},
	{"piTKgcLEGmPE4e6mEKli", "Nicole", "american", "young", "female", "whisper", "audiobook"},
	{"pqHfZKP75CvOlQylNhV4", "Bill", "american", "old", "male", "trustworthy", "narration"},
	{"t0jbNlBVZ17f02VDIeMI", "Jessie", "american", "old", "male", "raspy", "video_games"},
	{"yoZ06aMxZJJ28mfd3POQ", "Sam", "american", "young", "male", "raspy", "narration"},
	{"z9fAnlkpzviPz146aGWa", "Glinda", "american", "middle_aged", "female", "witch", "video_games"},
	{"zcAOhNBS3c14rBihAFp1", "Giovanni", "english-italian", "young", "male", "foreigner", "audiobook"},
	{"zrHiDhphv9ZnVXBqCLjz", "Mimi", "english-swedish", "young", "female", "childish", "animation"},
}

// premadeVoices builds the shared, read-only premade voice objects. Preview URLs are
// generated from seed so the data is deterministic.
func premadeVoices(seed uint64) ([]*Voice, map[string]*Voice) {
	rnd := simcore.NewRand(seed ^ 0x5eed)
	list := make([]*Voice, 0, len(premade))
	byID := map[string]*Voice{}
	for _, p := range premade {
		desc := fmt.Sprintf("%s %s voice, %s accent, for %s.", strings.ToUpper(p.desc[:1])+p.desc[1:], p.gender, p.accent, strings.ReplaceAll(p.useCase, "_", " "))
		preview := fmt.Sprintf("https://storage.googleapis.com/eleven-public-prod/premade/voices/%s/%s-%s-%s-%s-%s.mp3",
			p.id, rnd.Hex(8), rnd.Hex(4), rnd.Hex(4), rnd.Hex(4), rnd.Hex(12))
		lang := "en"
		perm := "viewer"
		v := &Voice{
			VoiceID:  p.id,
			Name:     p.name,
			Category: "premade",
			FineTuning: &FineTuning{
				IsAllowedToFineTune:  true,
				State:                map[string]string{"eleven_multilingual_v2": "fine_tuned", "eleven_turbo_v2_5": "fine_tuned", "eleven_flash_v2_5": "fine_tuned", "eleven_v3": "fine_tuned"},
				VerificationFailures: []string{},
				Language:             &lang,
				Progress:             map[string]any{},
				Message:              map[string]any{},
			},
			Labels:                  map[string]string{"accent": p.accent, "age": p.age, "gender": p.gender, "description": p.desc, "use_case": p.useCase, "language": "en"},
			Description:             &desc,
			PreviewURL:              &preview,
			AvailableForTiers:       []string{},
			HighQualityBaseModelIDs: []string{"eleven_v2_flash", "eleven_flash_v2", "eleven_turbo_v2_5", "eleven_multilingual_v2", "eleven_v2_5_flash", "eleven_flash_v2_5", "eleven_turbo_v2"},
			VerifiedLanguages:       []VerifiedLang{{Language: "en", ModelID: "eleven_multilingual_v2", PreviewURL: &preview}},
			VoiceVerification:       VoiceVerification{VerificationFailures: []string{}},
			PermissionOnResource:    &perm,
		}
		list = append(list, v)
		byID[v.VoiceID] = v
	}
	return list, byID
}

// Model is the OpenAPI ModelResponseModel.
type Model struct {
	ModelID                           string     `json:"model_id"`
	Name                              string     `json:"name"`
	CanBeFinetuned                    bool       `json:"can_be_finetuned"`
	CanDoTextToSpeech                 bool       `json:"can_do_text_to_speech"`
	CanDoVoiceConversion              bool       `json:"can_do_voice_conversion"`
	CanUseStyle                       bool       `json:"can_use_style"`
	CanUseSpeakerBoost                bool       `json:"can_use_speaker_boost"`
	ServesProVoices                   bool       `json:"serves_pro_voices"`
	TokenCostFactor                   float64    `json:"token_cost_factor"`
	Description                       string     `json:"description"`
	RequiresAlphaAccess               bool       `json:"requires_alpha_access"`
	MaxCharactersRequestFreeUser      int        `json:"max_characters_request_free_user"`
	MaxCharactersRequestSubscribedUse int        `json:"max_characters_request_subscribed_user"`
	MaximumTextLengthPerRequest       int        `json:"maximum_text_length_per_request"`
	Languages                         []Language `json:"languages"`
	ModelRates                        ModelRates `json:"model_rates"`
	ConcurrencyGroup                  string     `json:"concurrency_group"`
}

// Language is one supported language of a model.
type Language struct {
	LanguageID string `json:"language_id"`
	Name       string `json:"name"`
}

// ModelRates carries the credit multiplier of a model.
type ModelRates struct {
	CharacterCostMultiplier float64 `json:"character_cost_multiplier"`
}

var (
	english      = []Language{{"en", "English"}}
	multilingual = []Language{
		{"en", "English"}, {"ja", "Japanese"}, {"zh", "Chinese"}, {"de", "German"}, {"hi", "Hindi"},
		{"fr", "French"}, {"ko", "Korean"}, {"pt", "Portuguese"}, {"it", "Italian"}, {"es", "Spanish"},
		{"id", "Indonesian"}, {"nl", "Dutch"}, {"tr", "Turkish"}, {"fil", "Filipino"}, {"pl", "Polish"},
		{"sv", "Swedish"}, {"bg", "Bulgarian"}, {"ro", "Romanian"}, {"ar", "Arabic"}, {"cs", "Czech"},
		{"el", "Greek"}, {"fi", "Finnish"}, {"hr", "Croatian"}, {"ms", "Malay"}, {"sk", "Slovak"},
		{"da", "Danish"}, {"ta", "Tamil"}, {"uk", "Ukrainian"}, {"ru", "Russian"},
	}
)

// models follows the published character limits per request [EL-models].
var models = []Model{
	model("eleven_multilingual_v2", "Eleven Multilingual v2", "Our most lifelike model with rich emotional expression.", 10000, 1, "standard", multilingual, true),
	model("eleven_v3", "Eleven v3 (alpha)", "Our most expressive model, with audio tags and dialogue.", 3000, 1, "standard", multilingual, true),
	model("eleven_flash_v2_5", "Eleven Flash v2.5", "Ultra low latency multilingual model, 50% cheaper.", 40000, 0.5, "turbo", multilingual, true),
	model("eleven_turbo_v2_5", "Eleven Turbo v2.5", "High quality, low latency multilingual model, 50% cheaper.", 40000, 0.5, "turbo", multilingual, true),
	model("eleven_flash_v2", "Eleven Flash v2", "Ultra low latency English model, 50% cheaper.", 30000, 0.5, "turbo", english, true),
	model("eleven_turbo_v2", "Eleven Turbo v2", "English-only low latency model, 50% cheaper.", 30000, 0.5, "turbo", english, true),
	model("eleven_multilingual_v1", "Eleven Multilingual v1", "Our first multilingual model (deprecated).", 10000, 1, "standard", multilingual[:8], true),
	model("eleven_monolingual_v1", "Eleven English v1", "Our first English model (deprecated).", 10000, 1, "standard", english, true),
	model("eleven_english_sts_v2", "Eleven English v2 (speech-to-speech)", "English speech-to-speech model.", 10000, 1, "standard", english, false),
	model("eleven_multilingual_sts_v2", "Eleven Multilingual v2 (speech-to-speech)", "Multilingual speech-to-speech model.", 10000, 1, "standard", multilingual, false),
}

func model(id, name, desc string, limit int, cost float64, group string, langs []Language, tts bool) Model {
	return Model{
		ModelID: id, Name: name, Description: desc,
		CanBeFinetuned: true, CanDoTextToSpeech: tts, CanDoVoiceConversion: !tts,
		CanUseStyle: true, CanUseSpeakerBoost: true, ServesProVoices: false, TokenCostFactor: cost,
		MaxCharactersRequestFreeUser: min(limit, 2500), MaxCharactersRequestSubscribedUse: limit,
		MaximumTextLengthPerRequest: limit, Languages: langs,
		ModelRates: ModelRates{CharacterCostMultiplier: cost}, ConcurrencyGroup: group,
	}
}

func findModel(id string) (Model, bool) {
	for _, m := range models {
		if m.ModelID == id {
			return m, true
		}
	}
	return Model{}, false
}
