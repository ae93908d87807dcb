package catalog

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim"
	"github.com/aiproxy/aiproxy/internal/sim/media"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
	"github.com/aiproxy/aiproxy/internal/sim/simtest"
)

// The account fields are pointers into answers the catalog never sees; these tests check
// them against the simulators, which answer with the providers' shapes (docs/simulators.md).
// Every built-in action that has creates_job, job_ref, list_filter or a meter is invoked the
// way the gateway invokes it (method, rendered path, query, body, the service's key header),
// and:
//   - creates_job finds the new object's ids in the real answer;
//   - job_ref names, where it says, an id some creates_job recorded, and the provider takes it
//     there (the call succeeds);
//   - every id a strict job_refs entry finds is one some creates_job recorded, and the refs
//     the requests below fill find their ids (refsFound);
//   - list_filter's items is an array whose items carry the id member, the ids the org created
//     are among them, and every drop pointer is in the answer;
//   - characters and seconds find a text and a number in the request body the provider took;
//   - output_seconds finds a positive number in the poll_action's completed answer, which
//     completed_when says is completed, and no earlier answer is.

// simRequest is one invoke's inputs.
type simRequest struct {
	params      map[string]string // path placeholders
	query       url.Values
	body        map[string]any    // json body, or multipart text fields (string values)
	files       map[string][]byte // multipart file parts, by field name
	data        []byte            // binary body
	contentType string            // of data
}

// simDriver invokes built-in actions on a simulator and remembers what it checked.
type simDriver struct {
	cat       *Catalog
	base      string
	created   map[string]bool // service/id of every object a creates_job recorded
	exercised map[string]bool // service/action
	refsFound map[string]bool // service/action ref: a job_refs entry that found an id
}

func (d *simDriver) endpoint(t *testing.T, service, action string) (*Service, *Endpoint) {
	t.Helper()
	s := d.cat.Service(service)
	e := s.Endpoint(action)
	if e == nil {
		t.Fatalf("no action %s/%s", service, action)
	}
	return s, e
}

// invoke calls the action, fails the test unless it answers 2xx, checks the account fields
// that apply to this call, and returns the decoded answer (nil unless response_mode json).
func (d *simDriver) invoke(t *testing.T, service, action string, r simRequest) any {
	t.Helper()
	s, e := d.endpoint(t, service, action)
	d.exercised[service+"/"+action] = true
	d.checkJobRef(t, service, e, r)
	d.checkRefs(t, service, e, r)
	d.checkBodyMeters(t, e, r)

	path, err := e.Path.Render(r.params)
	if err != nil {
		t.Fatalf("%s: %v", action, err)
	}
	u := d.base + path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	header := []string{s.AuthHeader, "org-a-shared-key"}
	switch e.RequestMode {
	case RequestJSON:
		b, err := json.Marshal(r.body)
		if err != nil {
			t.Fatal(err)
		}
		body, header = bytes.NewReader(b), append(header, "Content-Type", "application/json")
	case RequestMultipart:
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, v := range r.body {
			if err := mw.WriteField(k, v.(string)); err != nil {
				t.Fatal(err)
			}
		}
		for field, data := range r.files {
			fw, err := mw.CreateFormFile(field, field+fileExt(data))
			if err != nil {
				t.Fatal(err)
			}
			fw.Write(data)
		}
		mw.Close()
		body, header = &buf, append(header, "Content-Type", mw.FormDataContentType())
	case RequestBinary:
		body, header = bytes.NewReader(r.data), append(header, "Content-Type", r.contentType)
	}
	resp, raw := simtest.Do(t, http.DefaultClient, e.HTTPMethod, u, body, header...)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", e.HTTPMethod, u, resp.StatusCode, raw)
	}
	if e.ResponseMode != ResponseJSON {
		return nil
	}
	var answer any
	if err := json.Unmarshal(raw, &answer); err != nil {
		t.Fatalf("%s: the answer is not JSON: %v", action, err)
	}
	d.checkListFilter(t, service, e, answer)
	return answer
}

func fileExt(data []byte) string {
	if bytes.HasPrefix(data, []byte("\x89PNG")) {
		return ".png"
	}
	return ".mp3"
}

// create invokes a creates_job action and returns the ids it recorded.
func (d *simDriver) create(t *testing.T, service, action string, r simRequest, wantIDs int) []string {
	t.Helper()
	_, e := d.endpoint(t, service, action)
	if len(e.CreatesJob) == 0 {
		t.Fatalf("%s/%s has no creates_job", service, action)
	}
	answer := d.invoke(t, service, action, r)
	ids, err := e.CreatedJobIDs(answer)
	if err != nil || len(ids) != wantIDs {
		t.Fatalf("%s: creates_job %s found %q, %v in %v; want %d ids", action, pointers(e.CreatesJob), ids, err, answer, wantIDs)
	}
	for _, id := range ids {
		d.created[service+"/"+id] = true
	}
	return ids
}

// checkJobRef: the request names, where job_ref says, an object a creates_job recorded.
func (d *simDriver) checkJobRef(t *testing.T, service string, e *Endpoint, r simRequest) {
	t.Helper()
	if e.JobRef == nil {
		return
	}
	id := r.params[e.JobRef.Name]
	if e.JobRef.In == JobRefQuery {
		id = r.query.Get(e.JobRef.Name)
	}
	if !d.created[service+"/"+id] {
		t.Errorf("%s: job_ref %s %q holds %q, which no creates_job recorded", e.Slug, e.JobRef.In, e.JobRef.Name, id)
	}
}

// checkRefs: every id a strict job_refs entry finds in the request is one a creates_job
// recorded; an id a may_be_public one finds may be either.
func (d *simDriver) checkRefs(t *testing.T, service string, e *Endpoint, r simRequest) {
	t.Helper()
	var body any
	if e.RequestMode == RequestJSON {
		body = decodeRoundTrip(t, r.body)
	}
	for _, ref := range e.JobRefs {
		ids := ref.IDs(r.query, r.params, body)
		if len(ids) > 0 {
			d.refsFound[service+"/"+e.Slug+" "+refName(ref)] = true
		}
		for _, id := range ids {
			if !ref.MayBePublic && !d.created[service+"/"+id] {
				t.Errorf("%s: job_refs %s finds %q, which no creates_job recorded", e.Slug, refName(ref), id)
			}
		}
	}
}

func refName(r *JobRef) string {
	if r.In == JobRefBody {
		return r.Pointer.String()
	}
	return r.In + ":" + r.Name
}

// checkBodyMeters: characters finds a text and seconds a positive number in the body.
func (d *simDriver) checkBodyMeters(t *testing.T, e *Endpoint, r simRequest) {
	t.Helper()
	body := decodeRoundTrip(t, r.body)
	if p := e.Meter.Characters; p != nil {
		if v, ok := p.Lookup(body); !ok || v == "" {
			t.Errorf("%s: meter characters %s finds %v, %v in %v", e.Slug, p, v, ok, r.body)
		} else if _, isText := v.(string); !isText {
			t.Errorf("%s: meter characters %s finds a %T", e.Slug, p, v)
		}
	}
	if p := e.Meter.Seconds; p != nil {
		if v, ok := p.Lookup(body); !ok {
			t.Errorf("%s: meter seconds %s finds nothing in %v", e.Slug, p, r.body)
		} else if n, isNumber := v.(float64); !isNumber || n <= 0 {
			t.Errorf("%s: meter seconds %s finds %v", e.Slug, p, v)
		}
	}
}

// decodeRoundTrip gives v the form decoded JSON has.
func decodeRoundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkListFilter: items is an array of objects with the id member, the org's objects are
// among them, and every drop pointer is present.
func (d *simDriver) checkListFilter(t *testing.T, service string, e *Endpoint, answer any) {
	t.Helper()
	f := e.ListFilter
	if f == nil {
		return
	}
	v, ok := f.Items.Lookup(answer)
	items, isArray := v.([]any)
	if !ok || !isArray || len(items) == 0 {
		t.Fatalf("%s: list_filter items %q finds %v in %v", e.Slug, f.Items, v, answer)
	}
	own := 0
	for _, it := range items {
		obj, _ := it.(map[string]any)
		id, _ := obj[f.ID].(string)
		if id == "" {
			t.Fatalf("%s: an item without its id member %q: %v", e.Slug, f.ID, it)
		}
		if d.created[service+"/"+id] {
			own++
		}
	}
	if own == 0 {
		t.Errorf("%s: none of the %d items is one the org created", e.Slug, len(items))
	}
	for _, p := range f.Drop {
		if _, ok := p.Lookup(answer); !ok {
			t.Errorf("%s: list_filter drop %q is not in the answer %v", e.Slug, p, answer)
		}
	}
}

// follow polls the poll_action of creator for the job id, placing id where the poll's
// job_ref says, until the job is done; then creator's output_seconds, if any, must find a
// positive number in that answer. It returns the completed answer.
func (d *simDriver) follow(t *testing.T, service, creator, id string, params map[string]string) any {
	t.Helper()
	s, e := d.endpoint(t, service, creator)
	poll := s.Endpoint(e.PollAction)
	r := simRequest{params: map[string]string{}}
	for k, v := range params {
		r.params[k] = v
	}
	if poll.JobRef.In == JobRefPath {
		r.params[poll.JobRef.Name] = id
	} else {
		r.query = url.Values{poll.JobRef.Name: {id}}
	}
	var answer any
	simtest.WaitFor(t, creator+" "+id+" to finish", 10*time.Second, 5*time.Millisecond, func() bool {
		answer = d.invoke(t, service, poll.Slug, r)
		status, _ := simtest.Get(answer, "data", "status").(string)
		if status == "" {
			status, _ = simtest.Get(answer, "status").(string)
		}
		if status == "failed" {
			t.Fatalf("%s %s failed: %v", creator, id, answer)
		}
		done := slices.Contains([]string{"completed", "success", "dubbed"}, status)
		if !done && e.Meter.OutputSeconds != nil && e.Meter.Completed(answer) {
			t.Errorf("%s: meter completed_when holds for %s's answer %v, which is not completed", creator, poll.Slug, answer)
		}
		return done
	})
	if p := e.Meter.OutputSeconds; p != nil {
		v, ok := p.Lookup(answer)
		if n, isNumber := v.(float64); !ok || !isNumber || n <= 0 {
			t.Errorf("%s: meter output_seconds %s finds %v, %v in %s's answer %v", creator, p, v, ok, poll.Slug, answer)
		}
		if !e.Meter.Completed(answer) {
			t.Errorf("%s: meter completed_when does not hold for %s's completed answer %v", creator, poll.Slug, answer)
		}
	}
	return answer
}

func pngBytes(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func str(t *testing.T, v any, path ...any) string {
	t.Helper()
	s, ok := simtest.Get(v, path...).(string)
	if !ok || s == "" {
		t.Fatalf("no string at %v in %v", path, v)
	}
	return s
}

func TestBuiltinAccountFieldsAgainstTheSimulators(t *testing.T) {
	_, srv := simtest.Start(t, simcore.Options{Seed: 7}, sim.New)
	d := &simDriver{cat: mustBuiltin(t), base: srv.URL, created: map[string]bool{}, exercised: map[string]bool{}, refsFound: map[string]bool{}}

	t.Run("heygen", func(t *testing.T) { d.heygen(t) })
	t.Run("elevenlabs", func(t *testing.T) { d.elevenlabs(t) })
	if t.Failed() {
		return
	}
	// Every enabled action with an account field was checked against a real answer.
	for _, s := range d.cat.Services() {
		for _, e := range s.EnabledEndpoints() {
			has := len(e.CreatesJob) > 0 || e.JobRef != nil || e.ListFilter != nil || e.Meter != (Meter{})
			// A websocket action is relayed, not invoked: its meter is checked by the relay's
			// tests (internal/httpapi/realtime_test.go).
			if has && !e.WebSocket() && !d.exercised[s.Slug+"/"+e.Slug] {
				t.Errorf("%s/%s has account fields but was not invoked", s.Slug, e.Slug)
			}
		}
	}
	// The refs the requests fill found their ids where the provider took them.
	for _, ref := range []string{
		"heygen/generate-video /video_inputs/*/voice/audio_asset_id",
		"heygen/generate-video /video_inputs/*/background/image_asset_id",
		"heygen/generate-video /video_inputs/*/character/avatar_id",
		"heygen/generate-video /video_inputs/*/character/talking_photo_id",
		"heygen/translate-video /video_id",
		"heygen/create-photo-avatar /image_key",
		"heygen/train-photo-avatar /group_id",
		"heygen/v3-create-avatar /file/asset_id",
		"heygen/v3-create-avatar /avatar_group_id",
		"heygen/v3-get-avatar-group path:group_id",
		"heygen/v3-list-avatar-looks query:group_id",
		"heygen/v3-create-video /avatar_id",
		"heygen/v3-create-video /image/asset_id",
		"heygen/v3-create-video-translation /video/asset_id",
		"heygen/v3-get-voice path:voice_id",
		"heygen/v3-clone-voice /audio/asset_id",
		"heygen/v3-create-video-agent /files/*/asset_id",
		"heygen/v3-create-video-agent /avatar_id",
		"heygen/v3-create-lipsync /video/asset_id",
		"heygen/v3-create-video-batch /videos/*/avatar_id",
		"heygen/v3-create-video-batch /videos/*/image/asset_id",
		"heygen/v3-avatar-consent /consent_video/asset_id",
		"elevenlabs/get-voice path:voice_id",
		"elevenlabs/get-voice-settings path:voice_id",
		"elevenlabs/tts path:voice_id",
		"elevenlabs/tts-stream-timestamps path:voice_id",
		"elevenlabs/speech-to-speech path:voice_id",
		"elevenlabs/remix-voice path:voice_id",
		"elevenlabs/text-to-dialogue /inputs/*/voice_id",
	} {
		if !d.refsFound[ref] {
			t.Errorf("%s found no id", ref)
		}
	}
}

const (
	simAvatar = "Abigail_expressive_2024112501"    // fixed in the seeded catalog (docs/simulators.md §17)
	simVoice  = "f38a635bee7a4d1f9b0a654a31d050d2" // "Chill Brian", a starfish voice (§11)
)

func (d *simDriver) heygen(t *testing.T) {
	const hg = "heygen"
	img := pngBytes(t)

	// Assets, through both versions, then listed.
	assetV1 := d.create(t, hg, "upload-asset", simRequest{data: img, contentType: "image/png"}, 1)[0]
	audioV1 := d.create(t, hg, "upload-asset", simRequest{data: media.MP3(2), contentType: "audio/mpeg"}, 1)[0]
	assetV3 := d.create(t, hg, "v3-upload-asset", simRequest{files: map[string][]byte{"file": img}}, 1)[0]
	clipV3 := d.create(t, hg, "v3-upload-asset", simRequest{files: map[string][]byte{"file": media.MP4(3, 320, 240)}}, 1)[0]
	d.invoke(t, hg, "v3-get-asset", simRequest{params: map[string]string{"asset_id": assetV3}})
	d.invoke(t, hg, "list-assets", simRequest{})

	// v2 videos: plain and from a template, followed to completion.
	video := d.create(t, hg, "generate-video", simRequest{body: simtest.HeyGenVideoRequest(simAvatar, simVoice, "Hello from org A.")}, 1)[0]
	d.follow(t, hg, "generate-video", video, nil)
	// A scene spoken by the org's uploaded audio in front of its uploaded image.
	d.create(t, hg, "generate-video", simRequest{body: map[string]any{"test": true, "video_inputs": []any{map[string]any{
		"character":  map[string]any{"type": "avatar", "avatar_id": simAvatar},
		"voice":      map[string]any{"type": "audio", "audio_asset_id": audioV1},
		"background": map[string]any{"type": "image", "image_asset_id": assetV1},
	}}}}, 1)
	templates := d.invoke(t, hg, "list-templates", simRequest{})
	tpl := str(t, templates, "data", "templates", 0, "template_id")
	vars := simtest.Get(d.invoke(t, hg, "get-template", simRequest{params: map[string]string{"template_id": tpl}}), "data", "variables")
	tplVideo := d.create(t, hg, "generate-template-video", simRequest{
		params: map[string]string{"template_id": tpl}, body: map[string]any{"variables": vars, "test": true}}, 1)[0]
	d.follow(t, hg, "generate-template-video", tplVideo, nil)

	// A v2 translation of the org's own video.
	lang := str(t, d.invoke(t, hg, "v3-list-translation-languages", simRequest{}), "data", "languages", 0)
	translation := d.create(t, hg, "translate-video", simRequest{body: map[string]any{"video_id": video, "output_language": lang}}, 1)[0]
	d.follow(t, hg, "translate-video", translation, nil)
	d.invoke(t, hg, "list-videos", simRequest{})

	// A photo avatar from the uploaded image: trained, then a talking photo of the org's.
	photoAndGroup := d.create(t, hg, "create-photo-avatar", simRequest{body: map[string]any{
		"name": "Org A presenter", "image_key": "image/" + assetV1 + "/original"}}, 2)
	photo := photoAndGroup[0]
	d.follow(t, hg, "create-photo-avatar", photo, nil)
	// Its group, trained (issue 13).
	d.create(t, hg, "train-photo-avatar", simRequest{body: map[string]any{"group_id": photoAndGroup[1]}}, 1)
	d.invoke(t, hg, "photo-avatar-training-status", simRequest{params: map[string]string{"group_id": photoAndGroup[1]}})
	d.invoke(t, hg, "list-talking-photos", simRequest{})
	// The trained photo avatar speaks as a talking photo.
	d.create(t, hg, "generate-video", simRequest{body: map[string]any{"test": true, "video_inputs": []any{map[string]any{
		"character": map[string]any{"type": "talking_photo", "talking_photo_id": photo},
		"voice":     map[string]any{"type": "text", "input_text": "Hello from org A's photo.", "voice_id": simVoice},
	}}}}, 1)

	// v3: an avatar look, videos, a template video, translations into two languages.
	// The first look of a new group records both; a second look joins the org's group.
	created := d.create(t, hg, "v3-create-avatar", simRequest{body: map[string]any{
		"type": "photo", "name": "Org A look", "file": map[string]any{"type": "asset_id", "asset_id": assetV3}}}, 2)
	look, group := created[0], created[1]
	d.follow(t, hg, "v3-create-avatar", look, nil)
	look2 := d.create(t, hg, "v3-create-avatar", simRequest{body: map[string]any{
		"type": "photo", "name": "Org A look 2", "avatar_group_id": group,
		"file": map[string]any{"type": "asset_id", "asset_id": assetV3}}}, 1)[0]
	d.follow(t, hg, "v3-create-avatar", look2, nil)
	d.invoke(t, hg, "v3-get-avatar-group", simRequest{params: map[string]string{"group_id": group}})
	d.invoke(t, hg, "v3-list-avatar-looks", simRequest{query: url.Values{"group_id": {group}}})
	v3Video := d.create(t, hg, "v3-create-video", simRequest{body: map[string]any{
		"type": "avatar", "avatar_id": simAvatar, "script": "Hello from org A.", "voice_id": simVoice, "test": true}}, 1)[0]
	d.follow(t, hg, "v3-create-video", v3Video, nil)
	// An image video of the org's uploaded image, and a video of its trained look.
	d.create(t, hg, "v3-create-video", simRequest{body: map[string]any{
		"type": "image", "image": map[string]any{"type": "asset_id", "asset_id": assetV3},
		"script": "Hello from org A's image.", "voice_id": simVoice, "test": true}}, 1)
	d.create(t, hg, "v3-create-video", simRequest{body: map[string]any{
		"type": "avatar", "avatar_id": look, "script": "Hello from org A's look.", "voice_id": simVoice, "test": true}}, 1)
	v3tpl := str(t, d.invoke(t, hg, "v3-list-templates", simRequest{}), "data", 0, "id")
	v3vars := simtest.Get(d.invoke(t, hg, "v3-get-template", simRequest{params: map[string]string{"template_id": v3tpl}}), "data", "variables")
	v3TplVideo := d.create(t, hg, "v3-generate-template-video", simRequest{
		params: map[string]string{"template_id": v3tpl}, body: map[string]any{"variables": v3vars, "test": true}}, 1)[0]
	d.follow(t, hg, "v3-generate-template-video", v3TplVideo, nil)
	langs := simtest.Get(d.invoke(t, hg, "v3-list-translation-languages", simRequest{}), "data", "languages").([]any)
	v3Translations := d.create(t, hg, "v3-create-video-translation", simRequest{body: map[string]any{
		"video":            map[string]any{"type": "url", "url": "https://media.example.test/org-a/talk.mp4"},
		"output_languages": langs[:2]}}, 2)
	for _, id := range v3Translations {
		d.follow(t, hg, "v3-create-video-translation", id, nil)
	}
	d.create(t, hg, "v3-create-video-translation", simRequest{body: map[string]any{
		"video":            map[string]any{"type": "asset_id", "asset_id": clipV3},
		"output_languages": langs[:1]}}, 1)
	d.invoke(t, hg, "v3-list-videos", simRequest{})

	// A batch of a look's video and an image video, read with the org's video by statuses.
	v3Batch := d.create(t, hg, "v3-create-video-batch", simRequest{body: map[string]any{"title": "Org A batch", "videos": []any{
		map[string]any{"type": "avatar", "avatar_id": look, "script": "Batch one.", "voice_id": simVoice, "test": true},
		map[string]any{"type": "image", "image": map[string]any{"type": "asset_id", "asset_id": assetV3},
			"script": "Batch two.", "voice_id": simVoice, "test": true},
	}}}, 1)[0]
	d.invoke(t, hg, "v3-get-video-statuses", simRequest{query: url.Values{"video_ids": {v3Video}, "batch_ids": {v3Batch}}})
	d.invoke(t, hg, "v3-list-video-translations", simRequest{})
	// Consent for the org's group, by its uploaded clip.
	d.invoke(t, hg, "v3-avatar-consent", simRequest{params: map[string]string{"group_id": group},
		body: map[string]any{"consent_video": map[string]any{"type": "asset_id", "asset_id": clipV3}}})

	// Speech, metered by its text.
	d.invoke(t, hg, "v3-speech", simRequest{body: map[string]any{"text": "Hello from org A.", "voice_id": simVoice}})

	// Video Agent, lipsync, a voice clone and a direct upload (issue 13).
	d.heygenV3More(t, clipV3)

	// Deletes, by the id where job_ref says.
	d.invoke(t, hg, "delete-video", simRequest{query: url.Values{"video_id": {video}}})
	d.invoke(t, hg, "v3-delete-video", simRequest{params: map[string]string{"video_id": v3Video}})
	d.invoke(t, hg, "v3-delete-asset", simRequest{params: map[string]string{"asset_id": assetV3}})
	d.invoke(t, hg, "v3-delete-video-translation", simRequest{params: map[string]string{"video_translation_id": v3Translations[0]}})
	d.invoke(t, hg, "v3-update-avatar-look", simRequest{params: map[string]string{"look_id": look2}, body: map[string]any{"name": "Org A look, renamed"}})
	d.invoke(t, hg, "v3-delete-avatar-look", simRequest{params: map[string]string{"look_id": look2}})
	d.invoke(t, hg, "v3-delete-avatar-group", simRequest{params: map[string]string{"group_id": group}})
}

func (d *simDriver) elevenlabs(t *testing.T) {
	const el = "elevenlabs"
	premade := str(t, d.invoke(t, el, "list-voices", simRequest{}), "voices", 0, "voice_id")

	// A cloned voice: created, edited, used, deleted.
	sample := media.MP3(2)
	voice := d.create(t, el, "add-voice", simRequest{body: map[string]any{"name": "Org A narrator"},
		files: map[string][]byte{"files": sample}}, 1)[0]
	d.invoke(t, el, "edit-voice", simRequest{params: map[string]string{"voice_id": voice},
		body: map[string]any{"name": "Org A narrator, v2"}})
	for _, v := range []string{premade, voice} {
		d.invoke(t, el, "get-voice", simRequest{params: map[string]string{"voice_id": v}})
		d.invoke(t, el, "get-voice-settings", simRequest{params: map[string]string{"voice_id": v}})
	}

	// Speech and sound effects, metered from the request body.
	for _, action := range []string{"tts", "tts-stream", "tts-timestamps", "tts-stream-timestamps"} {
		for _, v := range []string{premade, voice} {
			d.invoke(t, el, action, simRequest{params: map[string]string{"voice_id": v},
				body: map[string]any{"text": "Héllo, wörld: 👋"}})
		}
	}
	d.invoke(t, el, "sound-generation", simRequest{body: map[string]any{"text": "rain on a tin roof", "duration_seconds": 2.5}})

	// Speech to text (a transcript, read and deleted; with webhook=true also the request_id
	// its delivery names), speech to speech, dialogue and voice design (docs/simulators.md §26).
	tr := d.create(t, el, "speech-to-text", simRequest{body: map[string]any{"model_id": "scribe_v2"},
		files: map[string][]byte{"file": media.MP3(2)}}, 1)[0]
	d.invoke(t, el, "get-transcript", simRequest{params: map[string]string{"transcription_id": tr}})
	d.invoke(t, el, "delete-transcript", simRequest{params: map[string]string{"transcription_id": tr}})
	d.create(t, el, "speech-to-text", simRequest{body: map[string]any{"model_id": "scribe_v2", "webhook": "true"},
		files: map[string][]byte{"file": media.MP3(1)}}, 2)
	for _, v := range []string{premade, voice} {
		d.invoke(t, el, "speech-to-speech", simRequest{params: map[string]string{"voice_id": v}, files: map[string][]byte{"audio": sample}})
		d.invoke(t, el, "remix-voice", simRequest{params: map[string]string{"voice_id": v},
			body: map[string]any{"voice_description": "older", "text": strings.Repeat("A remixed voice says this. ", 5)}})
	}
	dialogue := map[string]any{"inputs": []any{map[string]any{"text": "Knock knock.", "voice_id": premade}, map[string]any{"text": "Who?", "voice_id": voice}}}
	for _, action := range []string{"text-to-dialogue", "text-to-dialogue-stream", "text-to-dialogue-timestamps"} {
		d.invoke(t, el, action, simRequest{body: dialogue})
	}
	design := d.invoke(t, el, "design-voice", simRequest{body: map[string]any{"voice_description": "a lighthouse keeper",
		"text": strings.Repeat("A designed voice says this. ", 5)}})
	d.create(t, el, "create-voice-from-preview", simRequest{body: map[string]any{"voice_name": "Keeper",
		"voice_description": "a lighthouse keeper", "generated_voice_id": str(t, design, "previews", 0, "generated_voice_id")}}, 1)

	// A dubbing, followed to "dubbed", its audio fetched, then deleted.
	dub := d.create(t, el, "create-dubbing", simRequest{body: map[string]any{"target_lang": "es"},
		files: map[string][]byte{"file": media.MP3(3)}}, 1)[0]
	d.follow(t, el, "create-dubbing", dub, nil)
	d.invoke(t, el, "get-dubbed-audio", simRequest{params: map[string]string{"dubbing_id": dub, "language_code": "es"}})
	d.invoke(t, el, "get-dubbing-transcript", simRequest{params: map[string]string{"dubbing_id": dub, "language_code": "source"}})
	d.invoke(t, el, "list-dubbings", simRequest{})
	d.invoke(t, el, "delete-dubbing", simRequest{params: map[string]string{"dubbing_id": dub}})

	// A library voice added to the org's voices, its settings changed, then deleted.
	lib := d.invoke(t, el, "list-shared-voices", simRequest{query: url.Values{"page_size": {"1"}}})
	added := d.create(t, el, "add-shared-voice", simRequest{params: map[string]string{
		"public_user_id": str(t, lib, "voices", 0, "public_owner_id"), "voice_id": str(t, lib, "voices", 0, "voice_id")},
		body: map[string]any{"new_name": "Org A library voice"}}, 1)[0]
	d.invoke(t, el, "edit-voice-settings", simRequest{params: map[string]string{"voice_id": added}, body: map[string]any{"stability": 0.4}})
	d.invoke(t, el, "delete-voice", simRequest{params: map[string]string{"voice_id": added}})
	d.invoke(t, el, "delete-voice", simRequest{params: map[string]string{"voice_id": voice}})
}

// TestSimulatorCheckCatchesAWrongPointer: the simulator check fails for a creates_job that
// points where the real answer has nothing, so it is not vacuous.
func TestSimulatorCheckCatchesAWrongPointer(t *testing.T) {
	_, srv := simtest.Start(t, simcore.Options{Seed: 7}, sim.New)
	c, err := mustBuiltin(t).Override(files("heygen.yaml", `slug: heygen
endpoints:
  - slug: v3-upload-asset
    method: POST
    path: /v3/assets
    request_mode: multipart
    response_mode: json
    file_fields: [file]
    account_scope: job
    creates_job: [/data/id] # the v3 upload answers data.asset_id
`))
	if err != nil {
		t.Fatal(err)
	}
	d := &simDriver{cat: c, base: srv.URL, created: map[string]bool{}, exercised: map[string]bool{}, refsFound: map[string]bool{}}
	_, e := d.endpoint(t, "heygen", "v3-upload-asset")
	answer := d.invoke(t, "heygen", "v3-upload-asset", simRequest{files: map[string][]byte{"file": pngBytes(t)}})
	if ids, err := e.CreatedJobIDs(answer); err != nil || len(ids) != 0 {
		t.Errorf("a wrong pointer found %q, %v in %v", ids, err, answer)
	}
	if !strings.Contains(pointers(e.CreatesJob), "/data/id") {
		t.Fatal("override not applied")
	}
}
