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
	{"heygen", "generate-template-video", "job", "/data/video_id", "", "", "output_seconds=/data/duration"},
	{"heygen", "list-avatars", "public", "", "", "", ""},
	{"heygen", "list-voices", "public", "", "", "", ""},
	{"heygen", "generate-video", "job", "/data/video_id", "", "", "output_seconds=/data/duration"},
	{"heygen", "video-status", "job", "", "query:video_id", "", ""},
	{"heygen", "list-videos", "account", "", "", "/data/videos video_id /data/token", ""},
	{"heygen", "delete-video", "job", "", "query:video_id", "", ""},
	{"heygen", "translate-video", "job", "/data/video_translate_id", "", "", ""},
	{"heygen", "translation-status", "job", "", "path:video_translate_id", "", ""},
	{"heygen", "upload-asset", "job", "/data/id", "", "", ""},
	{"heygen", "get-asset", "job", "", "path:asset_id", "", ""},
	{"heygen", "list-assets", "account", "", "", "/data/assets id /data/total /data/token", ""},
	{"heygen", "create-photo-avatar", "job", "/data/id", "", "", ""},
	{"heygen", "photo-avatar-train-status", "job", "", "path:photo_avatar_id", "", ""},
	{"heygen", "list-talking-photos", "account", "", "", "/data id", ""},
	{"heygen", "generate-talking-photo", "job", "/data/video_id", "", "", ""},
	{"heygen", "get-remaining-quota", "account", "", "", "", ""},
	{"heygen", "add-webhook", "account", "", "", "", ""},
	{"heygen", "list-webhooks", "account", "", "", "", ""},
	{"heygen", "delete-webhook", "account", "", "", "", ""},
	{"heygen", "v3-list-avatar-groups", "public", "", "", "", ""},
	{"heygen", "v3-get-avatar-group", "public", "", "", "", ""},
	{"heygen", "v3-create-avatar", "job", "/data/avatar_item/id", "", "", ""},
	{"heygen", "v3-list-avatar-looks", "public", "", "", "", ""},
	{"heygen", "v3-get-avatar-look", "job", "", "path:look_id", "", ""},
	{"heygen", "v3-list-voices", "public", "", "", "", ""},
	{"heygen", "v3-get-voice", "public", "", "", "", ""},
	{"heygen", "v3-speech", "public", "", "", "", "characters=/text"},
	{"heygen", "v3-create-video", "job", "/data/video_id", "", "", "output_seconds=/data/duration"},
	{"heygen", "v3-list-videos", "account", "", "", "/data id /has_more /next_token", ""},
	{"heygen", "v3-get-video", "job", "", "path:video_id", "", ""},
	{"heygen", "v3-delete-video", "job", "", "path:video_id", "", ""},
	{"heygen", "v3-upload-asset", "job", "/data/asset_id", "", "", ""},
	{"heygen", "v3-get-asset", "job", "", "path:asset_id", "", ""},
	{"heygen", "v3-delete-asset", "job", "", "path:asset_id", "", ""},
	{"heygen", "v3-list-templates", "public", "", "", "", ""},
	{"heygen", "v3-get-template", "public", "", "", "", ""},
	{"heygen", "v3-generate-template-video", "job", "/data/id", "", "", "output_seconds=/data/duration"},
	{"heygen", "v3-create-video-translation", "job", "/data/video_translation_ids", "", "", "output_seconds=/data/duration"},
	{"heygen", "v3-get-video-translation", "job", "", "path:video_translation_id", "", ""},
	{"heygen", "v3-list-translation-languages", "public", "", "", "", ""},
	{"heygen", "v3-create-webhook-endpoint", "account", "", "", "", ""},
	{"heygen", "v3-list-webhook-endpoints", "account", "", "", "", ""},
	{"heygen", "v3-delete-webhook-endpoint", "account", "", "", "", ""},
	{"heygen", "v3-get-current-user", "account", "", "", "", ""},
	// elevenlabs
	{"elevenlabs", "list-voices", "public", "", "", "", ""},
	{"elevenlabs", "get-voice", "public", "", "", "", ""},
	{"elevenlabs", "add-voice", "job", "/voice_id", "", "", ""},
	{"elevenlabs", "edit-voice", "job", "", "path:voice_id", "", ""},
	{"elevenlabs", "delete-voice", "job", "", "path:voice_id", "", ""},
	{"elevenlabs", "get-voice-settings", "public", "", "", "", ""},
	{"elevenlabs", "list-models", "public", "", "", "", ""},
	{"elevenlabs", "tts", "public", "", "", "", "characters=/text"},
	{"elevenlabs", "tts-stream", "public", "", "", "", "characters=/text"},
	{"elevenlabs", "tts-timestamps", "public", "", "", "", "characters=/text"},
	{"elevenlabs", "tts-stream-timestamps", "public", "", "", "", "characters=/text"},
	{"elevenlabs", "sound-generation", "public", "", "", "", "seconds=/duration_seconds"},
	{"elevenlabs", "audio-isolation", "public", "", "", "", ""},
	{"elevenlabs", "audio-isolation-stream", "public", "", "", "", ""},
	{"elevenlabs", "create-dubbing", "job", "/dubbing_id", "", "", "output_seconds=/media_metadata/duration"},
	{"elevenlabs", "get-dubbing", "job", "", "path:dubbing_id", "", ""},
	{"elevenlabs", "get-dubbed-audio", "job", "", "path:dubbing_id", "", ""},
	{"elevenlabs", "delete-dubbing", "job", "", "path:dubbing_id", "", ""},
	{"elevenlabs", "get-history", "account", "", "", "", ""},
	{"elevenlabs", "get-history-item", "account", "", "", "", ""},
	{"elevenlabs", "get-history-audio", "account", "", "", "", ""},
	{"elevenlabs", "delete-history-item", "account", "", "", "", ""},
	{"elevenlabs", "get-user", "account", "", "", "", ""},
	{"elevenlabs", "get-subscription", "account", "", "", "", ""},
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
	return string(e.AccountScope), pointers(e.CreatesJob), jobRef, listFilter, strings.Join(units, " ")
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
		})
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
			if e.Destructive && e.AccountScope == AccountScopePublic {
				t.Errorf("%s deletes something but is public", name)
			}
		}
	}
}
