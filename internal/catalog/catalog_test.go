package catalog

import (
	"slices"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

// builtinAction is one row of spec/catalog.md. Real clients find actions by path and
// method, so this table pins the contract: change it only with the spec.
type builtinAction struct {
	service, slug, method, path, request, response string
	billable, destructive                          bool
	pollAction                                     string
}

var catalogMD = []builtinAction{
	// heygen
	{"heygen", "list-templates", "GET", "/v2/templates", "raw", "json", false, false, ""},
	{"heygen", "get-template", "GET", "/v2/template/{template_id}", "raw", "json", false, false, ""},
	{"heygen", "generate-template-video", "POST", "/v2/template/{template_id}/generate", "json", "json", true, false, "video-status"},
	{"heygen", "list-avatars", "GET", "/v2/avatars", "raw", "json", false, false, ""},
	{"heygen", "list-voices", "GET", "/v2/voices", "raw", "json", false, false, ""},
	{"heygen", "generate-video", "POST", "/v2/video/generate", "json", "json", true, false, "video-status"},
	{"heygen", "video-status", "GET", "/v1/video_status.get", "raw", "json", false, false, ""},
	{"heygen", "list-videos", "GET", "/v1/video.list", "raw", "json", false, false, ""},
	{"heygen", "delete-video", "DELETE", "/v1/video.delete", "raw", "json", false, true, ""},
	{"heygen", "translate-video", "POST", "/v2/video_translate", "json", "json", true, false, "translation-status"},
	{"heygen", "translation-status", "GET", "/v2/video_translate/{video_translate_id}", "raw", "json", false, false, ""},
	{"heygen", "upload-asset", "POST", "/v1/asset", "binary", "json", false, false, ""},
	{"heygen", "list-assets", "GET", "/v1/asset/list", "raw", "json", false, false, ""},
	{"heygen", "create-photo-avatar", "POST", "/v2/photo_avatar/avatar_group/create", "json", "json", true, false, "get-photo-avatar"},
	{"heygen", "train-photo-avatar", "POST", "/v2/photo_avatar/train", "json", "json", true, false, ""},
	{"heygen", "photo-avatar-training-status", "GET", "/v2/photo_avatar/train/status/{group_id}", "raw", "json", false, false, ""},
	{"heygen", "get-photo-avatar", "GET", "/v2/photo_avatar/{photo_avatar_id}", "raw", "json", false, false, ""}, // alias photo-avatar-train-status
	{"heygen", "list-talking-photos", "GET", "/v1/talking_photo.list", "raw", "json", false, false, ""},
	{"heygen", "get-remaining-quota", "GET", "/v2/user/remaining_quota", "raw", "json", false, false, ""},
	{"heygen", "add-webhook", "POST", "/v1/webhook/endpoint.add", "json", "json", false, false, ""},
	{"heygen", "list-webhooks", "GET", "/v1/webhook/endpoint.list", "raw", "json", false, false, ""},
	{"heygen", "delete-webhook", "DELETE", "/v1/webhook/endpoint.delete", "raw", "json", false, true, ""},
	{"heygen", "v3-list-avatar-groups", "GET", "/v3/avatars", "raw", "json", false, false, ""},
	{"heygen", "v3-get-avatar-group", "GET", "/v3/avatars/{group_id}", "raw", "json", false, false, ""},
	{"heygen", "v3-create-avatar", "POST", "/v3/avatars", "json", "json", true, false, "v3-get-avatar-look"},
	{"heygen", "v3-list-avatar-looks", "GET", "/v3/avatars/looks", "raw", "json", false, false, ""},
	{"heygen", "v3-get-avatar-look", "GET", "/v3/avatars/looks/{look_id}", "raw", "json", false, false, ""},
	{"heygen", "v3-update-avatar-look", "PATCH", "/v3/avatars/looks/{look_id}", "json", "json", false, false, ""},
	{"heygen", "v3-delete-avatar-look", "DELETE", "/v3/avatars/looks/{look_id}", "raw", "json", false, true, ""},
	{"heygen", "v3-delete-avatar-group", "DELETE", "/v3/avatars/{group_id}", "raw", "json", false, true, ""},
	{"heygen", "v3-avatar-consent", "POST", "/v3/avatars/{group_id}/consent", "json", "json", false, false, ""},
	{"heygen", "v3-list-voices", "GET", "/v3/voices", "raw", "json", false, false, ""},
	{"heygen", "v3-get-voice", "GET", "/v3/voices/{voice_id}", "raw", "json", false, false, ""},
	{"heygen", "v3-speech", "POST", "/v3/voices/speech", "json", "json", true, false, ""},
	{"heygen", "v3-design-voice", "POST", "/v3/voices", "json", "json", false, false, ""},
	{"heygen", "v3-clone-voice", "POST", "/v3/voices/clone", "json", "json", false, false, ""},
	{"heygen", "v3-delete-voice", "DELETE", "/v3/voices/{voice_id}", "raw", "json", false, true, ""},
	{"heygen", "v3-search-sounds", "GET", "/v3/audio/sounds", "raw", "json", false, false, ""},
	{"heygen", "v3-create-video", "POST", "/v3/videos", "json", "json", true, false, "v3-get-video"},
	{"heygen", "v3-list-videos", "GET", "/v3/videos", "raw", "json", false, false, ""},
	{"heygen", "v3-get-video", "GET", "/v3/videos/{video_id}", "raw", "json", false, false, ""},
	{"heygen", "v3-delete-video", "DELETE", "/v3/videos/{video_id}", "raw", "json", false, true, ""},
	{"heygen", "v3-create-video-batch", "POST", "/v3/videos/batches", "json", "json", true, false, ""},
	{"heygen", "v3-get-video-statuses", "GET", "/v3/videos/statuses", "raw", "json", false, false, ""},
	{"heygen", "v3-upload-asset", "POST", "/v3/assets", "multipart", "json", false, false, ""},
	{"heygen", "v3-get-asset", "GET", "/v3/assets/{asset_id}", "raw", "json", false, false, ""},
	{"heygen", "v3-delete-asset", "DELETE", "/v3/assets/{asset_id}", "raw", "json", false, true, ""},
	{"heygen", "v3-create-direct-upload", "POST", "/v3/assets/direct-uploads", "json", "json", false, false, ""},
	{"heygen", "v3-complete-direct-upload", "POST", "/v3/assets/{asset_id}/complete", "json", "json", false, false, ""},
	{"heygen", "v3-list-templates", "GET", "/v3/templates", "raw", "json", false, false, ""},
	{"heygen", "v3-get-template", "GET", "/v3/templates/{template_id}", "raw", "json", false, false, ""},
	{"heygen", "v3-generate-template-video", "POST", "/v3/templates/{template_id}", "json", "json", true, false, "v3-get-video"},
	{"heygen", "v3-create-video-translation", "POST", "/v3/video-translations", "json", "json", true, false, "v3-get-video-translation"},
	{"heygen", "v3-get-video-translation", "GET", "/v3/video-translations/{video_translation_id}", "raw", "json", false, false, ""},
	{"heygen", "v3-list-video-translations", "GET", "/v3/video-translations", "raw", "json", false, false, ""},
	{"heygen", "v3-delete-video-translation", "DELETE", "/v3/video-translations/{video_translation_id}", "raw", "json", false, true, ""},
	{"heygen", "v3-list-translation-languages", "GET", "/v3/video-translations/languages", "raw", "json", false, false, ""},
	{"heygen", "v3-create-video-agent", "POST", "/v3/video-agents", "json", "json", true, false, "v3-get-video-agent"},
	{"heygen", "v3-get-video-agent", "GET", "/v3/video-agents/{session_id}", "raw", "json", false, false, ""},
	{"heygen", "v3-stop-video-agent", "POST", "/v3/video-agents/{session_id}/stop", "json", "json", false, false, ""},
	{"heygen", "v3-list-video-agent-styles", "GET", "/v3/video-agents/styles", "raw", "json", false, false, ""},
	{"heygen", "v3-create-lipsync", "POST", "/v3/lipsyncs", "json", "json", true, false, "v3-get-lipsync"},
	{"heygen", "v3-get-lipsync", "GET", "/v3/lipsyncs/{lipsync_id}", "raw", "json", false, false, ""},
	{"heygen", "v3-create-webhook-endpoint", "POST", "/v3/webhooks/endpoints", "json", "json", false, false, ""},
	{"heygen", "v3-list-webhook-endpoints", "GET", "/v3/webhooks/endpoints", "raw", "json", false, false, ""},
	{"heygen", "v3-delete-webhook-endpoint", "DELETE", "/v3/webhooks/endpoints/{endpoint_id}", "raw", "json", false, true, ""},
	{"heygen", "v3-update-webhook-endpoint", "PATCH", "/v3/webhooks/endpoints/{endpoint_id}", "json", "json", false, false, ""},
	{"heygen", "v3-rotate-webhook-secret", "POST", "/v3/webhooks/endpoints/{endpoint_id}/rotate-secret", "raw", "json", false, false, ""},
	{"heygen", "v3-list-webhook-event-types", "GET", "/v3/webhooks/event-types", "raw", "json", false, false, ""},
	{"heygen", "v3-list-webhook-events", "GET", "/v3/webhooks/events", "raw", "json", false, false, ""},
	{"heygen", "v3-get-current-user", "GET", "/v3/users/me", "raw", "json", false, false, ""},
	// elevenlabs
	{"elevenlabs", "list-voices", "GET", "/v1/voices", "raw", "json", false, false, ""},
	{"elevenlabs", "search-voices", "GET", "/v2/voices", "raw", "json", false, false, ""},
	{"elevenlabs", "get-voice", "GET", "/v1/voices/{voice_id}", "raw", "json", false, false, ""},
	{"elevenlabs", "add-voice", "POST", "/v1/voices/add", "multipart", "json", false, false, ""},
	{"elevenlabs", "edit-voice", "POST", "/v1/voices/{voice_id}/edit", "multipart", "json", false, false, ""},
	{"elevenlabs", "delete-voice", "DELETE", "/v1/voices/{voice_id}", "raw", "json", false, true, ""},
	{"elevenlabs", "get-voice-settings", "GET", "/v1/voices/{voice_id}/settings", "raw", "json", false, false, ""},
	{"elevenlabs", "get-default-voice-settings", "GET", "/v1/voices/settings/default", "raw", "json", false, false, ""},
	{"elevenlabs", "edit-voice-settings", "POST", "/v1/voices/{voice_id}/settings/edit", "json", "json", false, false, ""},
	{"elevenlabs", "list-shared-voices", "GET", "/v1/shared-voices", "raw", "json", false, false, ""},
	{"elevenlabs", "add-shared-voice", "POST", "/v1/voices/add/{public_user_id}/{voice_id}", "json", "json", false, false, ""},
	{"elevenlabs", "list-models", "GET", "/v1/models", "raw", "json", false, false, ""},
	{"elevenlabs", "tts", "POST", "/v1/text-to-speech/{voice_id}", "json", "passthrough", true, false, ""},
	{"elevenlabs", "tts-stream", "POST", "/v1/text-to-speech/{voice_id}/stream", "json", "stream", true, false, ""},
	{"elevenlabs", "tts-timestamps", "POST", "/v1/text-to-speech/{voice_id}/with-timestamps", "json", "json", true, false, ""},
	{"elevenlabs", "tts-stream-timestamps", "POST", "/v1/text-to-speech/{voice_id}/stream/with-timestamps", "json", "stream", true, false, ""},
	{"elevenlabs", "sound-generation", "POST", "/v1/sound-generation", "json", "passthrough", true, false, ""},
	{"elevenlabs", "audio-isolation", "POST", "/v1/audio-isolation", "multipart", "passthrough", true, false, ""},
	{"elevenlabs", "audio-isolation-stream", "POST", "/v1/audio-isolation/stream", "multipart", "stream", true, false, ""},
	{"elevenlabs", "speech-to-text", "POST", "/v1/speech-to-text", "multipart", "json", true, false, ""},
	{"elevenlabs", "get-transcript", "GET", "/v1/speech-to-text/transcripts/{transcription_id}", "raw", "json", false, false, ""},
	{"elevenlabs", "delete-transcript", "DELETE", "/v1/speech-to-text/transcripts/{transcription_id}", "raw", "json", false, true, ""},
	{"elevenlabs", "speech-to-speech", "POST", "/v1/speech-to-speech/{voice_id}", "multipart", "passthrough", true, false, ""},
	{"elevenlabs", "speech-to-speech-stream", "POST", "/v1/speech-to-speech/{voice_id}/stream", "multipart", "stream", true, false, ""},
	{"elevenlabs", "text-to-dialogue", "POST", "/v1/text-to-dialogue", "json", "passthrough", true, false, ""},
	{"elevenlabs", "text-to-dialogue-stream", "POST", "/v1/text-to-dialogue/stream", "json", "stream", true, false, ""},
	{"elevenlabs", "text-to-dialogue-timestamps", "POST", "/v1/text-to-dialogue/with-timestamps", "json", "json", true, false, ""},
	{"elevenlabs", "design-voice", "POST", "/v1/text-to-voice/design", "json", "json", true, false, ""},
	{"elevenlabs", "create-voice-from-preview", "POST", "/v1/text-to-voice", "json", "json", false, false, ""},
	{"elevenlabs", "remix-voice", "POST", "/v1/text-to-voice/{voice_id}/remix", "json", "json", true, false, ""},
	{"elevenlabs", "compose-music", "POST", "/v1/music", "json", "passthrough", true, false, ""},
	{"elevenlabs", "compose-music-stream", "POST", "/v1/music/stream", "json", "stream", true, false, ""},
	{"elevenlabs", "create-composition-plan", "POST", "/v1/music/plan", "json", "json", false, false, ""},
	{"elevenlabs", "forced-alignment", "POST", "/v1/forced-alignment", "multipart", "json", true, false, ""},
	{"elevenlabs", "create-dubbing", "POST", "/v1/dubbing", "multipart", "json", true, false, "get-dubbing"},
	{"elevenlabs", "get-dubbing", "GET", "/v1/dubbing/{dubbing_id}", "raw", "json", false, false, ""},
	{"elevenlabs", "get-dubbed-audio", "GET", "/v1/dubbing/{dubbing_id}/audio/{language_code}", "raw", "passthrough", false, false, ""},
	{"elevenlabs", "get-dubbing-transcript", "GET", "/v1/dubbing/{dubbing_id}/transcript/{language_code}", "raw", "passthrough", false, false, ""},
	{"elevenlabs", "delete-dubbing", "DELETE", "/v1/dubbing/{dubbing_id}", "raw", "json", false, true, ""},
	{"elevenlabs", "list-dubbings", "GET", "/v1/dubbing", "raw", "json", false, false, ""},
	{"elevenlabs", "get-history", "GET", "/v1/history", "raw", "json", false, false, ""},
	{"elevenlabs", "get-history-item", "GET", "/v1/history/{history_item_id}", "raw", "json", false, false, ""},
	{"elevenlabs", "get-history-audio", "GET", "/v1/history/{history_item_id}/audio", "raw", "passthrough", false, false, ""},
	{"elevenlabs", "delete-history-item", "DELETE", "/v1/history/{history_item_id}", "raw", "json", false, true, ""},
	{"elevenlabs", "download-history", "POST", "/v1/history/download", "json", "passthrough", false, false, ""},
	{"elevenlabs", "get-user", "GET", "/v1/user", "raw", "json", false, false, ""},
	{"elevenlabs", "get-subscription", "GET", "/v1/user/subscription", "raw", "json", false, false, ""},
	{"elevenlabs", "get-character-stats", "GET", "/v1/usage/character-stats", "raw", "json", false, false, ""},
	{"elevenlabs", "create-single-use-token", "POST", "/v1/single-use-token/{token_type}", "raw", "json", false, false, ""},
	{"elevenlabs", "list-workspace-webhooks", "GET", "/v1/workspace/webhooks", "raw", "json", false, false, ""},
	{"elevenlabs", "create-workspace-webhook", "POST", "/v1/workspace/webhooks", "json", "json", false, false, ""},
	{"elevenlabs", "update-workspace-webhook", "PATCH", "/v1/workspace/webhooks/{webhook_id}", "json", "json", false, false, ""},
	{"elevenlabs", "delete-workspace-webhook", "DELETE", "/v1/workspace/webhooks/{webhook_id}", "raw", "json", false, true, ""},
	{"elevenlabs", "tts-websocket", "GET", "/v1/text-to-speech/{voice_id}/stream-input", "raw", "passthrough", true, false, ""},
	{"elevenlabs", "tts-multi-context", "GET", "/v1/text-to-speech/{voice_id}/multi-stream-input", "raw", "passthrough", true, false, ""},
	{"elevenlabs", "stt-realtime", "GET", "/v1/speech-to-text/realtime", "raw", "passthrough", true, false, ""},
	{"elevenlabs", "agent-conversation", "GET", "/v1/convai/conversation", "raw", "passthrough", true, false, ""},
}

func mustBuiltin(t *testing.T) *Catalog {
	t.Helper()
	c, err := Builtin()
	if err != nil {
		t.Fatalf("Builtin: %v", err)
	}
	return c
}

func TestBuiltinLoads(t *testing.T) {
	c := mustBuiltin(t)
	var slugs []string
	for _, s := range c.Services() {
		slugs = append(slugs, s.Slug)
	}
	if want := []string{"elevenlabs", "heygen"}; !slices.Equal(slugs, want) {
		t.Fatalf("services = %v, want %v", slugs, want)
	}
}

func TestBuiltinEnabledActionsAreExactlyCatalogMD(t *testing.T) {
	c := mustBuiltin(t)
	got := map[string][]string{}
	want := map[string][]string{}
	for _, s := range c.Services() {
		for _, e := range s.EnabledEndpoints() {
			got[s.Slug] = append(got[s.Slug], e.Slug)
		}
	}
	for _, a := range catalogMD {
		want[a.service] = append(want[a.service], a.slug)
	}
	for svc := range want {
		if !slices.Equal(got[svc], want[svc]) {
			t.Errorf("%s enabled actions, in order:\n got %v\nwant %v", svc, got[svc], want[svc])
		}
	}
	if len(got) != len(want) {
		t.Errorf("services with actions: got %d, want %d", len(got), len(want))
	}
}

func TestBuiltinActionsMatchCatalogMD(t *testing.T) {
	c := mustBuiltin(t)
	for _, a := range catalogMD {
		t.Run(a.service+"/"+a.slug, func(t *testing.T) {
			s := c.Service(a.service)
			if s == nil {
				t.Fatalf("no service %q", a.service)
			}
			e := s.Endpoint(a.slug)
			if e == nil {
				t.Fatalf("no action %q", a.slug)
			}
			if e.HTTPMethod != a.method || e.Path.String() != a.path {
				t.Errorf("upstream = %s %s, want %s %s", e.HTTPMethod, e.Path, a.method, a.path)
			}
			if string(e.RequestMode) != a.request || string(e.ResponseMode) != a.response {
				t.Errorf("modes = %s→%s, want %s→%s", e.RequestMode, e.ResponseMode, a.request, a.response)
			}
			if e.Billable != a.billable || e.Destructive != a.destructive {
				t.Errorf("billable, destructive = %v, %v, want %v, %v", e.Billable, e.Destructive, a.billable, a.destructive)
			}
			wantCallback := CallbackNone
			if a.pollAction != "" {
				wantCallback = CallbackPoll
			}
			if e.CallbackMode != wantCallback || e.PollAction != a.pollAction {
				t.Errorf("callback = %s → %q, want %s → %q", e.CallbackMode, e.PollAction, wantCallback, a.pollAction)
			}
			if e.SupportsStreaming != (e.ResponseMode == ResponseStream) {
				t.Errorf("supports_streaming = %v with response_mode %s", e.SupportsStreaming, e.ResponseMode)
			}
			if !e.Enabled {
				t.Errorf("disabled: %s", e.DisabledReason)
			}
		})
	}
}

func TestBuiltinDisabledActionsAreTheTwoMissingUpstreamPaths(t *testing.T) {
	c := mustBuiltin(t)
	want := map[string]string{
		"heygen/get-asset":              "GET /v1/asset/{asset_id}",
		"heygen/generate-talking-photo": "POST /v2/video/talking_photo",
	}
	got := map[string]string{}
	for _, s := range c.Services() {
		for _, e := range s.Endpoints {
			if e.Enabled {
				continue
			}
			got[s.Slug+"/"+e.Slug] = e.HTTPMethod + " " + e.Path.String()
			if e.DisabledReason == "" {
				t.Errorf("%s/%s: disabled without a reason", s.Slug, e.Slug)
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("disabled = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestBuiltinServiceHeaders(t *testing.T) {
	tests := []struct {
		slug, display, typ, baseURL, header string
		timeout                             time.Duration
		async, streaming                    bool
	}{
		{"heygen", "HeyGen", "video", "https://api.heygen.com", "X-Api-Key", 120 * time.Second, true, false},
		{"elevenlabs", "ElevenLabs", "tts", "https://api.elevenlabs.io", "xi-api-key", 60 * time.Second, true, true},
	}
	c := mustBuiltin(t)
	for _, tt := range tests {
		t.Run(tt.slug, func(t *testing.T) {
			s := c.Service(tt.slug)
			if s == nil {
				t.Fatal("missing")
			}
			if s.DisplayName != tt.display || s.ServiceType != tt.typ || s.BaseURL != tt.baseURL {
				t.Errorf("display, type, base_url = %q, %q, %q", s.DisplayName, s.ServiceType, s.BaseURL)
			}
			if s.AuthMode != "header" || s.AuthHeader != tt.header || s.AuthPrefix != "" {
				t.Errorf("auth = %q %q %q, want header %q", s.AuthMode, s.AuthHeader, s.AuthPrefix, tt.header)
			}
			if s.DefaultTimeout != tt.timeout {
				t.Errorf("timeout = %v, want %v", s.DefaultTimeout, tt.timeout)
			}
			if s.SupportsAsyncJobs != tt.async || s.SupportsStreaming != tt.streaming {
				t.Errorf("async, streaming = %v, %v", s.SupportsAsyncJobs, s.SupportsStreaming)
			}
			if s.CredentialName != tt.slug {
				t.Errorf("credential_name = %q", s.CredentialName)
			}
			if s.CredentialPolicy != aiproxy.TenantOnly {
				t.Errorf("credential_policy = %+v, want tenant-only", s.CredentialPolicy)
			}
		})
	}
}

func TestBuiltinUploadDetails(t *testing.T) {
	c := mustBuiltin(t)
	tests := []struct {
		service, slug string
		baseURL       string
		requiredQuery []string
		fileFields    []string
		contentTypes  []string
	}{
		{"heygen", "upload-asset", "https://upload.heygen.com", nil, []string{"file"},
			[]string{"image/png", "image/jpeg", "video/mp4", "video/webm", "audio/mpeg"}},
		{"heygen", "v3-upload-asset", "https://api.heygen.com", nil, []string{"file"}, nil},
		{"heygen", "video-status", "https://api.heygen.com", []string{"video_id"}, nil, nil},
		{"heygen", "delete-video", "https://api.heygen.com", []string{"video_id"}, nil, nil},
		{"heygen", "delete-webhook", "https://api.heygen.com", []string{"endpoint_id"}, nil, nil},
		{"elevenlabs", "add-voice", "https://api.elevenlabs.io", nil, []string{"files"}, nil},
		{"elevenlabs", "audio-isolation", "https://api.elevenlabs.io", nil, []string{"audio"}, nil},
		{"elevenlabs", "audio-isolation-stream", "https://api.elevenlabs.io", nil, []string{"audio"}, nil},
		{"elevenlabs", "speech-to-text", "https://api.elevenlabs.io", nil, []string{"file"}, nil},
		{"elevenlabs", "speech-to-speech", "https://api.elevenlabs.io", nil, []string{"audio"}, nil},
		{"elevenlabs", "speech-to-speech-stream", "https://api.elevenlabs.io", nil, []string{"audio"}, nil},
		{"elevenlabs", "forced-alignment", "https://api.elevenlabs.io", nil, []string{"file"}, nil},
		{"elevenlabs", "create-dubbing", "https://api.elevenlabs.io", nil, []string{"file", "csv_file", "foreground_audio_file", "background_audio_file"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.service+"/"+tt.slug, func(t *testing.T) {
			s := c.Service(tt.service)
			e := s.Endpoint(tt.slug)
			if got := s.BaseURLFor(e); got != tt.baseURL {
				t.Errorf("base URL = %q, want %q", got, tt.baseURL)
			}
			if !slices.Equal(e.RequiredQuery, tt.requiredQuery) {
				t.Errorf("required_query = %v, want %v", e.RequiredQuery, tt.requiredQuery)
			}
			if !slices.Equal(e.FileFields, tt.fileFields) {
				t.Errorf("file_fields = %v, want %v", e.FileFields, tt.fileFields)
			}
			if !slices.Equal(e.ContentTypes, tt.contentTypes) {
				t.Errorf("content_types = %v, want %v", e.ContentTypes, tt.contentTypes)
			}
		})
	}
}

func TestBuiltinStreamingActions(t *testing.T) {
	c := mustBuiltin(t)
	var got []string
	for _, s := range c.Services() {
		for _, e := range s.Endpoints {
			if e.SupportsStreaming {
				got = append(got, s.Slug+"/"+e.Slug)
			}
		}
	}
	want := []string{"elevenlabs/tts-stream", "elevenlabs/tts-stream-timestamps", "elevenlabs/audio-isolation-stream",
		"elevenlabs/speech-to-speech-stream", "elevenlabs/text-to-dialogue-stream", "elevenlabs/compose-music-stream"}
	if !slices.Equal(got, want) {
		t.Errorf("streaming actions = %v, want %v", got, want)
	}
}

func TestOpenWithoutDirIsBuiltin(t *testing.T) {
	c, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	if c != mustBuiltin(t) {
		t.Error(`Open("") is not the built-in catalog`)
	}
}

func TestBuiltinRealtimeActions(t *testing.T) {
	c := mustBuiltin(t)
	svc := c.Service("elevenlabs")
	for _, slug := range []string{"tts-websocket", "tts-multi-context", "stt-realtime", "agent-conversation"} {
		e := svc.Endpoint(slug)
		if e == nil || !e.WebSocket() || len(e.Query) == 0 || !slices.Contains(e.CredentialFields, "xi_api_key") {
			t.Errorf("%s: not a websocket action with query and credential_fields: %+v", slug, e)
		}
	}
	if e := svc.Endpoint("tts"); e.Transport != TransportHTTP {
		t.Errorf("tts transport = %q, want http", e.Transport)
	}
	if !slices.Contains(svc.Endpoint("agent-conversation").Query, "agent_id") {
		t.Error("agent-conversation does not allow agent_id")
	}
	// Metered in characters of text (TTS), seconds of audio (speech to text), session
	// seconds (agents).
	if e := svc.Endpoint("tts-websocket"); e.Meter.Characters == nil || e.SessionSeconds() {
		t.Error("tts-websocket is not metered in characters")
	}
	stt := svc.Endpoint("stt-realtime")
	if m := stt.Meter.AudioSeconds; m == nil || stt.SessionSeconds() || m.FormatQuery != "audio_format" || len(m.Formats) != 7 ||
		m.Formats["pcm_44100"] != (AudioFormat{SampleRate: 44100, BytesPerSample: 2}) || m.Formats["ulaw_8000"] != (AudioFormat{SampleRate: 8000, BytesPerSample: 1}) {
		t.Errorf("stt-realtime meter = %+v, want seconds of audio", stt.Meter.AudioSeconds)
	}
	if !svc.Endpoint("agent-conversation").SessionSeconds() {
		t.Error("agent-conversation is not metered in session seconds")
	}
}
