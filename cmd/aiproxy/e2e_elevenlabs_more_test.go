package main

import (
	"archive/zip"
	"bytes"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"github.com/aiproxy/aiproxy/internal/sim/media"
)

// TestE2EElevenLabsVoiceSearchLibraryAndSettings: the paginated voice search, the default
// settings, the voice library, a library voice added to the org's voices and its settings
// changed, all through the proxy.
func TestE2EElevenLabsVoiceSearchLibraryAndSettings(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	seen := map[string]bool{}
	query := map[string]any{"page_size": "20"}
	for pages := 0; ; pages++ {
		res := e.call("elevenlabs", "search-voices", map[string]any{"query": query})
		for _, v := range jlist(t, res, "voices") {
			seen[jstr(t, v, "voice_id")] = true
		}
		if jget(res, "has_more") != true {
			if total := jget(res, "total_count"); total != float64(len(seen)) || pages < 2 {
				t.Errorf("search-voices paged %d voices in %d pages, total_count %v", len(seen), pages+1, total)
			}
			break
		}
		query = map[string]any{"page_size": "20", "next_page_token": jstr(t, res, "next_page_token")}
	}
	if !seen[rachel] {
		t.Errorf("search-voices lacks %s", rachel)
	}

	def := e.call("elevenlabs", "get-default-voice-settings", nil)
	if jget(def, "stability") != 0.5 || jget(def, "similarity_boost") != 0.75 {
		t.Errorf("default settings %v", def)
	}

	lib := e.call("elevenlabs", "list-shared-voices", map[string]any{"query": map[string]any{"page_size": "5", "language": "en"}})
	voices := jlist(t, lib, "voices")
	if len(voices) != 5 || jget(lib, "has_more") != true {
		t.Fatalf("list-shared-voices: %v", lib)
	}
	owner, libID := jstr(t, voices[0], "public_owner_id"), jstr(t, voices[0], "voice_id")
	added := e.call("elevenlabs", "add-shared-voice", map[string]any{
		"path_params": map[string]any{"public_user_id": owner, "voice_id": libID},
		"body":        map[string]any{"new_name": "E2E library voice"}})
	id := jstr(t, added, "voice_id")
	pp := e2ePathParams("voice_id", id)
	if name := jget(e.call("elevenlabs", "get-voice", pp), "name"); name != "E2E library voice" {
		t.Errorf("added voice's name %v", name)
	}

	if res := e.call("elevenlabs", "edit-voice-settings", map[string]any{"path_params": map[string]any{"voice_id": id},
		"body": map[string]any{"stability": 0.3, "speed": 1.1}}); jget(res, "status") != "ok" {
		t.Errorf("edit-voice-settings: %v", res)
	}
	st := e.call("elevenlabs", "get-voice-settings", pp)
	if jget(st, "stability") != 0.3 || jget(st, "speed") != 1.1 || jget(st, "similarity_boost") != 0.75 {
		t.Errorf("settings after edit %v", st)
	}
	status, _, body := e.invoke("elevenlabs", "edit-voice-settings", map[string]any{"path_params": map[string]any{"voice_id": id},
		"body": map[string]any{"speed": 3}})
	if status != http.StatusBadGateway || jget(e2eDecode(t, body), "upstream_status") != float64(422) {
		t.Errorf("speed 3: %d %s, want the provider's 422", status, body)
	}

	community := e.call("elevenlabs", "search-voices", map[string]any{"query": map[string]any{"voice_type": "community"}})
	if !e2eContainsID(jlist(t, community, "voices"), "voice_id", id) {
		t.Errorf("the added voice is not a community voice: %v", community)
	}
	lib = e.call("elevenlabs", "list-shared-voices", map[string]any{"query": map[string]any{"page_size": "5", "language": "en"}})
	if jget(lib, "voices", 0, "is_added_by_user") != true {
		t.Errorf("library after adding %v", jget(lib, "voices", 0))
	}
	e.call("elevenlabs", "delete-voice", pp)
}

// TestE2EElevenLabsDubbingListAndTranscript: a dubbing made with its manual-mode file parts
// too, then listed, and its transcript fetched as SRT, WebVTT and JSON.
func TestE2EElevenLabsDubbingListAndTranscript(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 5)
	status, _, body := e.invokeMultipart("elevenlabs", "create-dubbing",
		map[string]any{"body": map[string]any{"target_lang": "de", "source_lang": "en", "name": "E2E transcript"}},
		formFile{field: "file", filename: "talk.mp3", contentType: "audio/mpeg", data: media.MP3(6)},
		formFile{field: "background_audio_file", filename: "bed.mp3", contentType: "audio/mpeg", data: media.MP3(6)},
		formFile{field: "csv_file", filename: "script.csv", contentType: "text/csv", data: []byte("speaker,start_time,end_time,transcription,translation\n")})
	if status != http.StatusOK {
		t.Fatalf("create-dubbing: %d %s", status, body)
	}
	id := jstr(t, e2eDecode(t, body), "dubbing_id")
	tr := func(lang, format string) map[string]any {
		env := map[string]any{"path_params": map[string]any{"dubbing_id": id, "language_code": lang}}
		if format != "" {
			env["query"] = map[string]any{"format_type": format}
		}
		return env
	}
	status, _, body = e.invoke("elevenlabs", "get-dubbing-transcript", tr("de", ""))
	if status != http.StatusBadGateway || jget(e2eDecode(t, body), "upstream_status") != float64(425) {
		t.Errorf("transcript before ready: %d %s, want upstream 425", status, body)
	}
	e2ePoll(t, "dubbing", func() bool {
		return jget(e.call("elevenlabs", "get-dubbing", e2ePathParams("dubbing_id", id)), "status") == "dubbed"
	})

	dubs := jlist(t, e.call("elevenlabs", "list-dubbings", nil), "dubs")
	if !e2eContainsID(dubs, "dubbing_id", id) || jget(dubs, 0, "name") != "E2E transcript" {
		t.Errorf("list-dubbings: %v", dubs)
	}

	status, hdr, srt := e.invoke("elevenlabs", "get-dubbing-transcript", tr("de", ""))
	if status != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") ||
		!strings.HasPrefix(string(srt), "1\n00:00:00,000 --> 00:00:04,000\nSegment 1 in de.\n\n2\n00:00:04,000 --> ") {
		t.Errorf("srt: %d %q %q", status, hdr.Get("Content-Type"), srt)
	}
	status, hdr, vtt := e.invoke("elevenlabs", "get-dubbing-transcript", tr("source", "webvtt"))
	if status != http.StatusOK || hdr.Get("Content-Type") != "text/vtt; charset=utf-8" || !strings.HasPrefix(string(vtt), "WEBVTT\n\n1\n00:00:00.000 --> 00:00:04.000\nSegment 1 in en.") {
		t.Errorf("webvtt: %d %q %q", status, hdr.Get("Content-Type"), vtt)
	}
	status, _, js := e.invoke("elevenlabs", "get-dubbing-transcript", tr("de", "json"))
	if res := e2eDecode(t, js); status != http.StatusOK || jget(res, "language") != "de" || len(jlist(t, res, "utterances")) != 2 {
		t.Errorf("json transcript: %d %s", status, js)
	}
}

// TestE2EElevenLabsHistoryDownloadUsageAndToken: history downloaded as one file and as a
// zip, the usage those calls made, and a single-use token, with the org's own key.
func TestE2EElevenLabsHistoryDownloadUsageAndToken(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 50)
	var ids []string
	for _, text := range []string{"Download me.", "And me, please."} {
		status, hdr, _ := e.invoke("elevenlabs", "tts", ttsEnvelope(text))
		if status != http.StatusOK {
			t.Fatalf("tts: %d", status)
		}
		ids = append(ids, hdr.Get("history-item-id"))
	}
	status, hdr, audio := e.invoke("elevenlabs", "download-history", map[string]any{"body": map[string]any{"history_item_ids": ids[:1]}})
	mp3Of(t, "download-history of one item", status, hdr, audio)
	status, hdr, archive := e.invoke("elevenlabs", "download-history", map[string]any{"body": map[string]any{"history_item_ids": ids}})
	if status != http.StatusOK || hdr.Get("Content-Type") != "application/zip" {
		t.Fatalf("download-history of two: %d %v", status, hdr)
	}
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	if err != nil || len(zr.File) != 2 {
		t.Fatalf("zip: %v", err)
	}
	for i, f := range zr.File {
		if !strings.Contains(f.Name, ids[i]) {
			t.Errorf("zip entry %q for item %s", f.Name, ids[i])
		}
	}

	stats := e.call("elevenlabs", "get-character-stats", map[string]any{"query": map[string]any{
		"start_unix": "0", "end_unix": "99999999999999", "aggregation_interval": "cumulative"}})
	if all := jlist(t, stats, "usage", "All"); len(all) != 1 || all[0] != float64(len("Download me.")+len("And me, please.")) {
		t.Errorf("character stats %v", stats)
	}

	for _, typ := range []string{"realtime_scribe", "tts_websocket"} {
		tok := e.call("elevenlabs", "create-single-use-token", e2ePathParams("token_type", typ))
		if !strings.HasPrefix(jstr(t, tok, "token"), "sutkn_") {
			t.Errorf("%s token %v", typ, tok)
		}
	}
}

// TestE2EElevenLabsMoreOnASharedAccount: two orgs on the platform's ElevenLabs key. The
// dubbing list is cut to each org's own; the transcript of another org's dubbing is 404;
// history download, usage stats and single-use tokens (the whole account) are refused; a
// voice's settings can be changed only on a voice the org owns; the search, the library and
// the default settings are open.
func TestE2EElevenLabsMoreOnASharedAccount(t *testing.T) {
	t.Parallel()
	e := newE2E(t, 5)
	e.sharePlatformKey("elevenlabs", "el-platform-shared-key-e2e")
	otherKey := e.addOrg("other", "hg-other-tenant-key", "el-other-tenant-key")
	b := func(action string, envelope any) (int, []byte) {
		t.Helper()
		status, _, body := e.invokeAs("other", otherKey, "elevenlabs", action, envelope)
		return status, body
	}
	dub := func(status int, _ http.Header, body []byte) string {
		t.Helper()
		if status != http.StatusOK {
			t.Fatalf("create-dubbing: %d %s", status, body)
		}
		return jstr(t, e2eDecode(t, body), "dubbing_id")
	}
	mine := dub(e.invokeMultipart("elevenlabs", "create-dubbing", map[string]any{"body": map[string]any{"target_lang": "es"}},
		formFile{field: "file", filename: "a.mp3", contentType: "audio/mpeg", data: media.MP3(1)}))
	ct, form := e2eDubbingForm(t, "es", media.MP3(1))
	status, _, body := e.exchange("other", otherKey, "elevenlabs", "create-dubbing", ct, form)
	theirs := dub(status, nil, body)

	res := e.call("elevenlabs", "list-dubbings", nil)
	dubs := jlist(t, res, "dubs")
	if len(dubs) != 1 || jget(dubs, 0, "dubbing_id") != mine {
		t.Errorf("list-dubbings on the shared key: %v, want only %s", dubs, mine)
	}
	if m, _ := res.(map[string]any); m != nil {
		if _, ok := m["next_cursor"]; ok {
			t.Errorf("next_cursor not dropped: %v", res)
		}
		if _, ok := m["has_more"]; ok {
			t.Errorf("has_more not dropped: %v", res)
		}
	}
	status, body = b("get-dubbing-transcript", map[string]any{"path_params": map[string]any{"dubbing_id": mine, "language_code": "es"}})
	if status != http.StatusNotFound || jget(e2eDecode(t, body), "detail") != "Not found." {
		t.Errorf("another org's transcript: %d %s", status, body)
	}
	if status, body := b("list-dubbings", nil); status != http.StatusOK || !strings.Contains(string(body), theirs) || strings.Contains(string(body), mine) {
		t.Errorf("the other org's list-dubbings: %d %s, want only %s", status, body, theirs)
	}

	for action, envelope := range map[string]any{
		"download-history":        map[string]any{"body": map[string]any{"history_item_ids": []string{"x"}}},
		"get-character-stats":     map[string]any{"query": map[string]any{"start_unix": "0", "end_unix": "1"}},
		"create-single-use-token": e2ePathParams("token_type", "tts_websocket"),
	} {
		if status, _, body := e.invoke("elevenlabs", action, envelope); status != http.StatusForbidden {
			t.Errorf("%s on the shared key: %d %s, want 403", action, status, body)
		}
	}

	status, _, body = e.invoke("elevenlabs", "edit-voice-settings", map[string]any{"path_params": map[string]any{"voice_id": rachel},
		"body": map[string]any{"stability": 0.1}})
	if status != http.StatusNotFound {
		t.Errorf("edit-voice-settings of a premade voice on the shared key: %d %s, want 404", status, body)
	}
	lib := e.call("elevenlabs", "list-shared-voices", map[string]any{"query": map[string]any{"page_size": "1"}})
	added := jstr(t, e.call("elevenlabs", "add-shared-voice", map[string]any{
		"path_params": map[string]any{"public_user_id": jstr(t, lib, "voices", 0, "public_owner_id"), "voice_id": jstr(t, lib, "voices", 0, "voice_id")},
		"body":        map[string]any{"new_name": "Org voice"}}), "voice_id")
	edit := map[string]any{"path_params": map[string]any{"voice_id": added}, "body": map[string]any{"stability": 0.2}}
	e.call("elevenlabs", "edit-voice-settings", edit)
	if status, body := b("edit-voice-settings", edit); status != http.StatusNotFound {
		t.Errorf("another org edits the voice's settings: %d %s", status, body)
	}
	e.call("elevenlabs", "search-voices", nil)
	e.call("elevenlabs", "get-default-voice-settings", nil)
}

// e2eDubbingForm is a create-dubbing envelope as multipart/form-data: the body part, then
// the file under "file".
func e2eDubbingForm(t *testing.T, targetLang string, data []byte) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("body", `{"target_lang": "`+targetLang+`"}`); err != nil {
		t.Fatal(err)
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="b.mp3"`)
	h.Set("Content-Type", "audio/mpeg")
	w, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(data)
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), &buf
}
