package elevenlabs

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
)

// voiceFor returns a voice the caller can see: a premade one or one the key created.
func (s *Server) voiceFor(a *account, id string) (*Voice, bool) {
	if v, ok := s.premadeByID[id]; ok {
		return v, true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, v := range a.voices {
		if v.VoiceID == id {
			return v, true
		}
	}
	return nil, false
}

func writeVoiceNotFound(w http.ResponseWriter, id string) {
	// HTTP 404 as observed in 2025-07 (400 in older reports) [EL-iss-voice404, EL-iss-voice400].
	writeDetail(w, http.StatusNotFound, "voice_not_found", "A voice with the voice_id "+id+" was not found.")
}

// visibleVoices lists the key's own voices, then the premade ones, as views with the
// key's setting overrides applied.
func (s *Server) visibleVoices(a *account) []Voice {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Voice, 0, len(a.voices)+len(s.premade))
	for _, v := range a.voices {
		out = append(out, a.view(v))
	}
	for _, v := range s.premade {
		out = append(out, a.view(v))
	}
	return out
}

// view copies v with the account's settings (callers hold a.mu).
func (a *account) view(v *Voice) Voice {
	c := *v
	st := defaultSettings()
	if own, ok := a.settings[v.VoiceID]; ok {
		st = *own
	}
	c.Settings = &st
	return c
}

func (s *Server) listVoices(w http.ResponseWriter, r *http.Request) {
	// GET /v1/voices has no pagination [EL-oas]; show_legacy is accepted and ignored (the
	// simulator has no legacy voices).
	writeJSON(w, http.StatusOK, map[string]any{"voices": s.visibleVoices(s.accountOf(r))})
}

// searchVoices (GET /v2/voices) is in voices2.go.

func (s *Server) getVoice(w http.ResponseWriter, r *http.Request) {
	a, id := s.accountOf(r), r.PathValue("voice_id")
	v, ok := s.voiceFor(a, id)
	if !ok {
		writeVoiceNotFound(w, id)
		return
	}
	a.mu.Lock()
	view := a.view(v)
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, view)
}

func (s *Server) getDefaultVoiceSettings(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, defaultSettings())
}

func (s *Server) getVoiceSettings(w http.ResponseWriter, r *http.Request) {
	a, id := s.accountOf(r), r.PathValue("voice_id")
	if _, ok := s.voiceFor(a, id); !ok {
		writeVoiceNotFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, a.voiceSettings(id))
}

func (a *account) voiceSettings(id string) VoiceSettings {
	a.mu.Lock()
	defer a.mu.Unlock()
	if st, ok := a.settings[id]; ok {
		return *st
	}
	return defaultSettings()
}

func (s *Server) editVoiceSettings(w http.ResponseWriter, r *http.Request) {
	a, id := s.accountOf(r), r.PathValue("voice_id")
	var body VoiceSettings
	if errs := decodeBody(r, &body); errs != nil {
		writeValidation(w, errs...)
		return
	}
	if errs := body.validate("body"); errs != nil {
		writeValidation(w, errs...)
		return
	}
	if _, ok := s.voiceFor(a, id); !ok {
		writeVoiceNotFound(w, id)
		return
	}
	merged := a.voiceSettings(id)
	merged.merge(body)
	a.mu.Lock()
	a.settings[id] = &merged
	a.mu.Unlock()
	writeStatusOK(w)
}

// merge overwrites the fields o sets.
func (st *VoiceSettings) merge(o VoiceSettings) {
	if o.Stability != nil {
		st.Stability = o.Stability
	}
	if o.SimilarityBoost != nil {
		st.SimilarityBoost = o.SimilarityBoost
	}
	if o.Style != nil {
		st.Style = o.Style
	}
	if o.Speed != nil {
		st.Speed = o.Speed
	}
	if o.UseSpeakerBoost != nil {
		st.UseSpeakerBoost = o.UseSpeakerBoost
	}
}

// validate checks the documented ranges (0–1; speed 0.7–1.2).
func (st VoiceSettings) validate(where ...any) []fieldError {
	var errs []fieldError
	check := func(name string, v *float64, lo, hi float64) {
		loc := append(append([]any{}, where...), name)
		switch {
		case v == nil:
		case *v < lo:
			errs = append(errs, fieldError{Loc: loc, Msg: "Input should be greater than or equal to " + fmtNum(lo), Type: "greater_than_equal"})
		case *v > hi:
			errs = append(errs, fieldError{Loc: loc, Msg: "Input should be less than or equal to " + fmtNum(hi), Type: "less_than_equal"})
		}
	}
	check("stability", st.Stability, 0, 1)
	check("similarity_boost", st.SimilarityBoost, 0, 1)
	check("style", st.Style, 0, 1)
	check("speed", st.Speed, 0.7, 1.2)
	return errs
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// addVoice serves POST /v1/voices/add: an instant voice clone from multipart samples [EL-oas].
func (s *Server) addVoice(w http.ResponseWriter, r *http.Request) {
	a := s.accountOf(r)
	f, ok := requestForm(w, r)
	if !ok {
		return
	}
	var errs []fieldError
	if f.value("name") == "" {
		errs = append(errs, missing("body", "name"))
	}
	if len(f.files["files"]) == 0 {
		errs = append(errs, missing("body", "files"))
	}
	labels, lerr := parseLabels(f)
	if lerr != nil {
		errs = append(errs, *lerr)
	}
	if errs != nil {
		writeValidation(w, errs...)
		return
	}
	now := s.clock.Now().Unix()
	owner := "admin"
	v := &Voice{
		VoiceID:  a.rand.Alnum(20),
		Name:     f.value("name"),
		Category: "cloned",
		FineTuning: &FineTuning{
			State: map[string]string{}, VerificationFailures: []string{},
			Progress: map[string]any{}, Message: map[string]any{},
		},
		Labels:                  labels,
		AvailableForTiers:       []string{},
		HighQualityBaseModelIDs: []string{},
		VerifiedLanguages:       []VerifiedLang{},
		VoiceVerification:       VoiceVerification{VerificationFailures: []string{}},
		PermissionOnResource:    &owner,
		IsOwner:                 true,
		CreatedAtUnix:           &now,
	}
	if d := f.value("description"); d != "" {
		v.Description = &d
	}
	v.Samples = a.samples(f)
	a.mu.Lock()
	a.voices = append(a.voices, v)
	a.voiceAddCnt++
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"voice_id": v.VoiceID, "requires_verification": false})
}

// samples turns the uploaded files parts into sample objects.
func (a *account) samples(f form) []Sample {
	removeNoise, _ := strconv.ParseBool(f.value("remove_background_noise"))
	var out []Sample
	for _, u := range f.files["files"] {
		out = append(out, Sample{
			SampleID: a.rand.Alnum(20), FileName: u.FileName, MimeType: u.MimeType,
			SizeBytes: u.SizeBytes, Hash: u.MD5, DurationSecs: round3(u.duration()),
			RemoveBackgroundNoise: removeNoise,
		})
	}
	return out
}

// parseLabels reads the labels field, a JSON-serialised object of strings [EL-oas].
func parseLabels(f form) (map[string]string, *fieldError) {
	labels := map[string]string{}
	raw := f.value("labels")
	if raw == "" {
		return labels, nil
	}
	if err := json.Unmarshal([]byte(raw), &labels); err != nil {
		return nil, &fieldError{Loc: []any{"body", "labels"}, Msg: "Value error, labels must be a JSON object of strings", Type: "value_error"}
	}
	return labels, nil
}

// editVoice serves POST /v1/voices/{voice_id}/edit: name is required, files add samples.
func (s *Server) editVoice(w http.ResponseWriter, r *http.Request) {
	a, id := s.accountOf(r), r.PathValue("voice_id")
	f, ok := requestForm(w, r)
	if !ok {
		return
	}
	if f.value("name") == "" {
		writeValidation(w, missing("body", "name"))
		return
	}
	labels, lerr := parseLabels(f)
	if lerr != nil {
		writeValidation(w, *lerr)
		return
	}
	v, ok := s.ownVoice(w, a, id)
	if !ok {
		return
	}
	added := a.samples(f)
	a.mu.Lock()
	defer a.mu.Unlock()
	v.Name = f.value("name")
	if d := f.value("description"); d != "" {
		v.Description = &d
	}
	if f.value("labels") != "" {
		v.Labels = labels
	}
	v.Samples = append(v.Samples, added...)
	a.voiceAddCnt++
	writeStatusOK(w)
}

func (s *Server) deleteVoice(w http.ResponseWriter, r *http.Request) {
	a, id := s.accountOf(r), r.PathValue("voice_id")
	if _, ok := s.ownVoice(w, a, id); !ok {
		return
	}
	a.mu.Lock()
	a.voices = slices.DeleteFunc(a.voices, func(v *Voice) bool { return v.VoiceID == id })
	delete(a.settings, id)
	a.mu.Unlock()
	writeStatusOK(w)
}

// ownVoice finds a voice the key created, writing the error when there is none.
// GAP: the status for editing or deleting a premade voice is not documented; the simulator
// answers 400 voice_not_editable (docs/simulators.md §20).
func (s *Server) ownVoice(w http.ResponseWriter, a *account, id string) (*Voice, bool) {
	if _, ok := s.premadeByID[id]; ok {
		writeDetail(w, http.StatusBadRequest, "voice_not_editable", "Premade voices cannot be edited or deleted.")
		return nil, false
	}
	v, ok := s.voiceFor(a, id)
	if !ok {
		writeVoiceNotFound(w, id)
	}
	return v, ok
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, models) // a bare JSON array [EL-oas]
}

// offsetPage picks a page of at most size of n items, starting at the offset cursor (clamped
// to the list): the page is [start:end), and next is the cursor of the page after it, nil
// on the last page.
func offsetPage(cursor string, size, n int) (start, end int, next *string) {
	start, _ = strconv.Atoi(cursor)
	start = min(max(start, 0), n)
	end = min(start+size, n)
	if end < n {
		c := strconv.Itoa(end)
		next = &c
	}
	return start, end, next
}

// intParam parses an integer query parameter with FastAPI's range errors.
func intParam(raw, name string, def, lo, hi int) (int, *fieldError) {
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	loc := []any{"query", name}
	switch {
	case err != nil:
		return 0, &fieldError{Loc: loc, Msg: "Input should be a valid integer, unable to parse string as an integer", Type: "int_parsing"}
	case n < lo:
		return 0, &fieldError{Loc: loc, Msg: "Input should be greater than or equal to " + strconv.Itoa(lo), Type: "greater_than_equal"}
	case n > hi:
		return 0, &fieldError{Loc: loc, Msg: "Input should be less than or equal to " + strconv.Itoa(hi), Type: "less_than_equal"}
	}
	return n, nil
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }
