package catalog

import (
	"io/fs"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// builtinAccess is how every built-in action, disabled ones included, is classified for a
// shared provider account: scope, creates_job, job_ref (in:name), list_filter (items id
// drop…) and meter (unit=pointer). A change here is a change of what orgs sharing a key can
// reach of each other: make it on purpose.
var builtinAccess = []struct {
	service, slug, scope, createsJob, jobRef, listFilter, meter string
}{
	// heygen
	{"heygen", "list-templates", "public", "", "", "", ""},
	{"heygen", "get-template", "public", "", "", "", ""},
	{"heygen", "generate-template-video", "job", "/data/video_id", "", "", "output_seconds=/data/duration completed_when=/data/status:completed"},
	{"heygen", "list-avatars", "public", "", "", "", ""},
	{"heygen", "list-voices", "public", "", "", "", ""},
	{"heygen", "generate-video", "job", "/data/video_id", "", "", "output_seconds=/data/duration completed_when=/data/status:completed"},
	{"heygen", "video-status", "job", "", "query:video_id", "", ""},
	{"heygen", "list-videos", "account", "", "", "/data/videos video_id /data/token", ""},
	{"heygen", "delete-video", "job", "", "query:video_id", "", ""},
	{"heygen", "translate-video", "job", "/data/video_translate_id", "", "", ""},
	{"heygen", "translation-status", "job", "", "path:video_translate_id", "", ""},
	{"heygen", "upload-asset", "job", "/data/id", "", "", ""},
	{"heygen", "get-asset", "job", "", "path:asset_id", "", ""},
	{"heygen", "list-assets", "account", "", "", "/data/assets id /data/total /data/token", ""},
	{"heygen", "create-photo-avatar", "job", "/data/id /data/group_id", "", "", ""},
	{"heygen", "train-photo-avatar", "job", "/data/flow_id", "", "", ""},
	{"heygen", "photo-avatar-training-status", "job", "", "path:group_id", "", ""},
	{"heygen", "get-photo-avatar", "job", "", "path:photo_avatar_id", "", ""},
	{"heygen", "list-talking-photos", "account", "", "", "/data id", ""},
	{"heygen", "generate-talking-photo", "job", "/data/video_id", "", "", ""},
	{"heygen", "get-remaining-quota", "account", "", "", "", ""},
	{"heygen", "add-webhook", "account", "", "", "", ""},
	{"heygen", "list-webhooks", "account", "", "", "", ""},
	{"heygen", "delete-webhook", "account", "", "", "", ""},
	{"heygen", "v3-list-avatar-groups", "public", "", "", "", ""},
	{"heygen", "v3-get-avatar-group", "public", "", "", "", ""},
	{"heygen", "v3-create-avatar", "job", "/data/avatar_item/id /data/avatar_group/id", "", "", ""},
	{"heygen", "v3-list-avatar-looks", "public", "", "", "", ""},
	{"heygen", "v3-get-avatar-look", "job", "", "path:look_id", "", ""},
	{"heygen", "v3-update-avatar-look", "job", "", "path:look_id", "", ""},
	{"heygen", "v3-delete-avatar-look", "job", "", "path:look_id", "", ""},
	{"heygen", "v3-delete-avatar-group", "job", "", "path:group_id", "", ""},
	{"heygen", "v3-avatar-consent", "job", "", "path:group_id", "", ""},
	{"heygen", "v3-list-voices", "public", "", "", "", ""},
	{"heygen", "v3-get-voice", "public", "", "", "", ""},
	{"heygen", "v3-speech", "public", "", "", "", "characters=/text"},
	{"heygen", "v3-design-voice", "public", "", "", "", ""},
	{"heygen", "v3-clone-voice", "job", "/data/voice_clone_id", "", "", ""},
	{"heygen", "v3-delete-voice", "job", "", "path:voice_id", "", ""},
	{"heygen", "v3-search-sounds", "public", "", "", "", ""},
	{"heygen", "v3-create-video", "job", "/data/video_id", "", "", "output_seconds=/data/duration completed_when=/data/status:completed"},
	{"heygen", "v3-list-videos", "account", "", "", "/data id /has_more /next_token", ""},
	{"heygen", "v3-get-video", "job", "", "path:video_id", "", ""},
	{"heygen", "v3-delete-video", "job", "", "path:video_id", "", ""},
	{"heygen", "v3-create-video-batch", "job", "/data/batch_id", "", "", ""},
	{"heygen", "v3-get-video-statuses", "account", "", "", "/data video_id /has_more /next_token", ""},
	{"heygen", "v3-upload-asset", "job", "/data/asset_id", "", "", ""},
	{"heygen", "v3-get-asset", "job", "", "path:asset_id", "", ""},
	{"heygen", "v3-delete-asset", "job", "", "path:asset_id", "", ""},
	{"heygen", "v3-create-direct-upload", "job", "/data/asset_id", "", "", ""},
	{"heygen", "v3-complete-direct-upload", "job", "", "path:asset_id", "", ""},
	{"heygen", "v3-list-templates", "public", "", "", "", ""},
	{"heygen", "v3-get-template", "public", "", "", "", ""},
	{"heygen", "v3-generate-template-video", "job", "/data/id", "", "", "output_seconds=/data/duration completed_when=/data/status:completed"},
	{"heygen", "v3-create-video-translation", "job", "/data/video_translation_ids", "", "", "output_seconds=/data/duration completed_when=/data/status:completed"},
	{"heygen", "v3-get-video-translation", "job", "", "path:video_translation_id", "", ""},
	{"heygen", "v3-list-video-translations", "account", "", "", "/data id /has_more /next_token", ""},
	{"heygen", "v3-delete-video-translation", "job", "", "path:video_translation_id", "", ""},
	{"heygen", "v3-list-translation-languages", "public", "", "", "", ""},
	{"heygen", "v3-create-video-agent", "job", "/data/session_id /data/video_id", "", "", ""},
	{"heygen", "v3-get-video-agent", "job", "", "path:session_id", "", ""},
	{"heygen", "v3-stop-video-agent", "job", "", "path:session_id", "", ""},
	{"heygen", "v3-list-video-agent-styles", "public", "", "", "", ""},
	{"heygen", "v3-create-lipsync", "job", "/data/lipsync_id", "", "", "output_seconds=/data/duration completed_when=/data/status:completed"},
	{"heygen", "v3-get-lipsync", "job", "", "path:lipsync_id", "", ""},
	{"heygen", "v3-create-webhook-endpoint", "account", "", "", "", ""},
	{"heygen", "v3-list-webhook-endpoints", "account", "", "", "", ""},
	{"heygen", "v3-delete-webhook-endpoint", "account", "", "", "", ""},
	{"heygen", "v3-update-webhook-endpoint", "account", "", "", "", ""},
	{"heygen", "v3-rotate-webhook-secret", "account", "", "", "", ""},
	{"heygen", "v3-list-webhook-event-types", "public", "", "", "", ""},
	{"heygen", "v3-list-webhook-events", "account", "", "", "", ""},
	{"heygen", "v3-get-current-user", "account", "", "", "", ""},
	// elevenlabs
	{"elevenlabs", "list-voices", "public", "", "", "", ""},
	{"elevenlabs", "search-voices", "public", "", "", "", ""},
	{"elevenlabs", "get-voice", "public", "", "", "", ""},
	{"elevenlabs", "add-voice", "job", "/voice_id", "", "", ""},
	{"elevenlabs", "edit-voice", "job", "", "path:voice_id", "", ""},
	{"elevenlabs", "delete-voice", "job", "", "path:voice_id", "", ""},
	{"elevenlabs", "get-voice-settings", "public", "", "", "", ""},
	{"elevenlabs", "get-default-voice-settings", "public", "", "", "", ""},
	{"elevenlabs", "edit-voice-settings", "job", "", "path:voice_id", "", ""},
	{"elevenlabs", "list-shared-voices", "public", "", "", "", ""},
	{"elevenlabs", "add-shared-voice", "job", "/voice_id", "", "", ""},
	{"elevenlabs", "list-models", "public", "", "", "", ""},
	{"elevenlabs", "tts", "public", "", "", "", "characters=/text"},
	{"elevenlabs", "tts-stream", "public", "", "", "", "characters=/text"},
	{"elevenlabs", "tts-timestamps", "public", "", "", "", "characters=/text"},
	{"elevenlabs", "tts-stream-timestamps", "public", "", "", "", "characters=/text"},
	{"elevenlabs", "sound-generation", "public", "", "", "", "seconds=/duration_seconds"},
	{"elevenlabs", "audio-isolation", "public", "", "", "", ""},
	{"elevenlabs", "audio-isolation-stream", "public", "", "", "", ""},
	{"elevenlabs", "speech-to-text", "job", "/transcription_id /request_id", "", "", ""},
	{"elevenlabs", "get-transcript", "job", "", "path:transcription_id", "", ""},
	{"elevenlabs", "delete-transcript", "job", "", "path:transcription_id", "", ""},
	{"elevenlabs", "speech-to-speech", "public", "", "", "", ""},
	{"elevenlabs", "speech-to-speech-stream", "public", "", "", "", ""},
	{"elevenlabs", "text-to-dialogue", "public", "", "", "", ""},
	{"elevenlabs", "text-to-dialogue-stream", "public", "", "", "", ""},
	{"elevenlabs", "text-to-dialogue-timestamps", "public", "", "", "", ""},
	{"elevenlabs", "design-voice", "public", "", "", "", "characters=/text"},
	{"elevenlabs", "create-voice-from-preview", "job", "/voice_id", "", "", ""},
	{"elevenlabs", "remix-voice", "public", "", "", "", "characters=/text"},
	{"elevenlabs", "compose-music", "public", "", "", "", ""},
	{"elevenlabs", "compose-music-stream", "public", "", "", "", ""},
	{"elevenlabs", "create-composition-plan", "public", "", "", "", ""},
	{"elevenlabs", "forced-alignment", "public", "", "", "", ""},
	{"elevenlabs", "create-dubbing", "job", "/dubbing_id", "", "", "output_seconds=/media_metadata/duration completed_when=/status:dubbed"},
	{"elevenlabs", "get-dubbing", "job", "", "path:dubbing_id", "", ""},
	{"elevenlabs", "get-dubbed-audio", "job", "", "path:dubbing_id", "", ""},
	{"elevenlabs", "get-dubbing-transcript", "job", "", "path:dubbing_id", "", ""},
	{"elevenlabs", "delete-dubbing", "job", "", "path:dubbing_id", "", ""},
	{"elevenlabs", "list-dubbings", "account", "", "", "/dubs dubbing_id /next_cursor /has_more", ""},
	{"elevenlabs", "get-history", "account", "", "", "", ""},
	{"elevenlabs", "get-history-item", "account", "", "", "", ""},
	{"elevenlabs", "get-history-audio", "account", "", "", "", ""},
	{"elevenlabs", "delete-history-item", "account", "", "", "", ""},
	{"elevenlabs", "download-history", "account", "", "", "", ""},
	{"elevenlabs", "get-user", "account", "", "", "", ""},
	{"elevenlabs", "get-subscription", "account", "", "", "", ""},
	{"elevenlabs", "get-character-stats", "account", "", "", "", ""},
	{"elevenlabs", "create-single-use-token", "account", "", "", "", ""},
	{"elevenlabs", "list-workspace-webhooks", "account", "", "", "", ""},
	{"elevenlabs", "create-workspace-webhook", "account", "", "", "", ""},
	{"elevenlabs", "update-workspace-webhook", "account", "", "", "", ""},
	{"elevenlabs", "delete-workspace-webhook", "account", "", "", "", ""},
	{"elevenlabs", "tts-websocket", "public", "", "", "", "characters=/text"},
	{"elevenlabs", "tts-multi-context", "public", "", "", "", "characters=/text"},
	{"elevenlabs", "stt-realtime", "public", "", "", "", ""},
	{"elevenlabs", "agent-conversation", "account", "", "", "", ""},
}

func pointers(ps []*Pointer) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return strings.Join(out, " ")
}

// accessOf renders e's classification in the notation of builtinAccess.
func accessOf(e *Endpoint) (scope, createsJob, jobRef, listFilter, meter string) {
	if e.JobRef != nil {
		jobRef = e.JobRef.In + ":" + e.JobRef.Name
	}
	if f := e.ListFilter; f != nil {
		listFilter = strings.TrimSpace(f.Items.String() + " " + f.ID + " " + pointers(f.Drop))
	}
	var units []string
	for _, u := range []struct {
		name string
		p    *Pointer
	}{{"characters", e.Meter.Characters}, {"seconds", e.Meter.Seconds}, {"output_seconds", e.Meter.OutputSeconds}} {
		if u.p != nil {
			units = append(units, u.name+"="+u.p.String())
		}
	}
	if c := e.Meter.CompletedWhen; c != nil {
		units = append(units, "completed_when="+c.Pointer.String()+":"+strings.Join(c.Equals, "|"))
	}
	return string(e.AccountScope), pointers(e.CreatesJob), jobRef, listFilter, strings.Join(units, " ")
}

// builtinRefs are the job_refs of every built-in action that has some, in the notation of
// refsOf: what else of an org's an envelope may name, and how strictly it is checked on a
// shared key ("public" for may_be_public). Like builtinAccess, a change here is a change of
// what orgs sharing a key can reach of each other.
var builtinRefs = map[string]string{
	"heygen/generate-template-video": "body:/variables/*/properties/asset_id public, body:/variables/*/properties/character_id public",
	"heygen/generate-video": "body:/video_inputs/*/voice/audio_asset_id, body:/video_inputs/*/background/image_asset_id, " +
		"body:/video_inputs/*/background/video_asset_id, body:/video_inputs/*/character/avatar_id public, " +
		"body:/video_inputs/*/character/talking_photo_id public",
	"heygen/translate-video":      "body:/video_id",
	"heygen/create-photo-avatar":  "body:/image_key image/{id}/original",
	"heygen/train-photo-avatar":   "body:/group_id",
	"heygen/v3-get-avatar-group":  "path:group_id public",
	"heygen/v3-create-avatar":     "body:/file/asset_id, body:/reference_images/*/asset_id, body:/avatar_group_id, body:/avatar_id public",
	"heygen/v3-list-avatar-looks": "query:group_id public",
	"heygen/v3-create-video": "body:/image/asset_id, body:/audio_asset_id, body:/background/asset_id, body:/references/*/asset_id, " +
		"body:/watermark/image/asset_id, body:/scenes/*/audio_asset_id, body:/scenes/*/source/asset_id, " +
		"body:/scenes/*/input/image/asset_id, body:/scenes/*/input/audio_asset_id, body:/avatar_id public, " +
		"body:/engine/reference_look_id public, body:/scenes/*/input/avatar_id public, body:/scenes/*/input/engine/reference_look_id public",
	"heygen/v3-create-video-batch": "body:/videos/*/image/asset_id, body:/videos/*/audio_asset_id, body:/videos/*/background/asset_id, " +
		"body:/videos/*/references/*/asset_id, body:/videos/*/watermark/image/asset_id, body:/videos/*/scenes/*/audio_asset_id, " +
		"body:/videos/*/scenes/*/source/asset_id, body:/videos/*/scenes/*/input/image/asset_id, body:/videos/*/scenes/*/input/audio_asset_id, " +
		"body:/videos/*/avatar_id public, body:/videos/*/engine/reference_look_id public, body:/videos/*/scenes/*/input/avatar_id public, " +
		"body:/videos/*/scenes/*/input/engine/reference_look_id public",
	"heygen/v3-generate-template-video":  "body:/variables/*/properties/asset_id public, body:/variables/*/properties/character_id public",
	"heygen/v3-create-video-translation": "body:/video/asset_id, body:/audio/asset_id, body:/srt/asset_id",
	"heygen/v3-get-voice":                "path:voice_id public",
	"heygen/v3-clone-voice":              "body:/audio/asset_id",
	"heygen/v3-create-video-agent":       "body:/files/*/asset_id, body:/avatar_id public, body:/voice_id public",
	"heygen/v3-create-lipsync":           "body:/video/asset_id, body:/audio/asset_id",
	"heygen/v3-avatar-consent":           "body:/consent_video/asset_id",
	"elevenlabs/get-voice":               "path:voice_id public",
	"elevenlabs/get-voice-settings":      "path:voice_id public",
	"elevenlabs/tts":                     "path:voice_id public",
	"elevenlabs/tts-stream":              "path:voice_id public",
	"elevenlabs/tts-websocket":           "path:voice_id public",
	"elevenlabs/tts-multi-context":       "path:voice_id public",
	"elevenlabs/tts-timestamps":          "path:voice_id public",
	"elevenlabs/tts-stream-timestamps":   "path:voice_id public",
	// speech to speech, dialogue, voice design
	"elevenlabs/speech-to-speech":            "path:voice_id public",
	"elevenlabs/speech-to-speech-stream":     "path:voice_id public",
	"elevenlabs/text-to-dialogue":            "body:/inputs/*/voice_id public",
	"elevenlabs/text-to-dialogue-stream":     "body:/inputs/*/voice_id public",
	"elevenlabs/text-to-dialogue-timestamps": "body:/inputs/*/voice_id public",
	"elevenlabs/remix-voice":                 "path:voice_id public",
}

// refsOf renders e's job_refs: "in:name" or "body:/pointer", then "public" when
// may_be_public and the pattern, if any.
func refsOf(e *Endpoint) string {
	var out []string
	for _, r := range e.JobRefs {
		s := r.In + ":" + r.Name
		if r.In == JobRefBody {
			s = r.In + ":" + r.Pointer.String()
		}
		if r.MayBePublic {
			s += " public"
		}
		if r.Prefix != "" || r.Suffix != "" {
			s += " " + r.Prefix + "{id}" + r.Suffix
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

func TestBuiltinAccountClassification(t *testing.T) {
	c := mustBuiltin(t)
	listed := map[string]bool{}
	for _, a := range builtinAccess {
		listed[a.service+"/"+a.slug] = true
		t.Run(a.service+"/"+a.slug, func(t *testing.T) {
			e := c.Service(a.service).Endpoint(a.slug)
			if e == nil {
				t.Fatal("no such action")
			}
			scope, createsJob, jobRef, listFilter, meter := accessOf(e)
			got := []string{scope, createsJob, jobRef, listFilter, meter}
			want := []string{a.scope, a.createsJob, a.jobRef, a.listFilter, a.meter}
			if !slices.Equal(got, want) {
				t.Errorf("scope, creates_job, job_ref, list_filter, meter =\n %q\nwant\n %q", got, want)
			}
			if got, want := refsOf(e), builtinRefs[a.service+"/"+a.slug]; got != want {
				t.Errorf("job_refs =\n %s\nwant\n %s", got, want)
			}
		})
	}
	for name := range builtinRefs {
		if !listed[name] {
			t.Errorf("builtinRefs names %s, which is not in builtinAccess", name)
		}
	}
	for _, s := range c.Services() {
		for _, e := range s.Endpoints {
			if !listed[s.Slug+"/"+e.Slug] {
				t.Errorf("%s/%s is not in builtinAccess", s.Slug, e.Slug)
			}
		}
	}
}

// TestBuiltinFilesWriteAccountScope reads the embedded files themselves: every action, the
// disabled ones too, states its account_scope rather than inheriting the default.
func TestBuiltinFilesWriteAccountScope(t *testing.T) {
	names, err := fs.Glob(builtinFiles, "services/*.yaml")
	if err != nil || len(names) != 2 {
		t.Fatalf("files = %v, %v", names, err)
	}
	for _, name := range names {
		data, err := builtinFiles.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			Endpoints []map[string]any `yaml:"endpoints"`
		}
		if err := yaml.Unmarshal(data, &f); err != nil {
			t.Fatal(err)
		}
		if len(f.Endpoints) < 20 {
			t.Fatalf("%s: only %d endpoints read", name, len(f.Endpoints))
		}
		for _, e := range f.Endpoints {
			if s, _ := e["account_scope"].(string); s == "" {
				t.Errorf("%s: %v has no account_scope", name, e["slug"])
			}
		}
	}
}

// TestBuiltinJobsCanBeFollowed: an org on a shared key must be able to reach each job it
// starts. Every action that starts a polled job records it, its poll_action reads it by id,
// and every job action knows its job.
func TestBuiltinJobsCanBeFollowed(t *testing.T) {
	c := mustBuiltin(t)
	for _, s := range c.Services() {
		for _, e := range s.Endpoints {
			name := s.Slug + "/" + e.Slug
			if e.AccountScope == AccountScopeJob && len(e.CreatesJob) == 0 && e.JobRef == nil {
				t.Errorf("%s: a job action with neither creates_job nor job_ref", name)
			}
			if e.CallbackMode == CallbackPoll {
				if e.AccountScope != AccountScopeJob || len(e.CreatesJob) == 0 {
					t.Errorf("%s starts a polled job but does not record it (scope %s)", name, e.AccountScope)
				}
				if p := s.Endpoint(e.PollAction); p.AccountScope != AccountScopeJob || p.JobRef == nil {
					t.Errorf("%s: its poll_action %s does not read a job by id", name, p.Slug)
				}
			}
			if r := e.JobRef; r != nil && r.In == JobRefQuery && !slices.Contains(e.RequiredQuery, r.Name) {
				t.Errorf("%s: job_ref query %q is not in required_query %v", name, r.Name, e.RequiredQuery)
			}
			if e.Meter.OutputSeconds != nil && e.Meter.CompletedWhen == nil {
				t.Errorf("%s: output_seconds without completed_when: a status answer may state a length before the job is done", name)
			}
			if e.Destructive && e.AccountScope == AccountScopePublic {
				t.Errorf("%s deletes something but is public", name)
			}
		}
	}
}
