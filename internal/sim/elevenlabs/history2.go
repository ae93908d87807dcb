package elevenlabs

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim/media"
)

// downloadHistoryRequest is the OpenAPI DownloadHistoryRequest [EL-oas, EL-js].
type downloadHistoryRequest struct {
	HistoryItemIDs *[]string `json:"history_item_ids"`
	OutputFormat   *string   `json:"output_format"`
}

// downloadHistory serves POST /v1/history/download [EL-oas, EL-js]: one history item's
// audio as a file, or several packed in a .zip. output_format "wav" transcodes to WAV; any
// other value is the items' own MP3.
// GAP: the sources list only 400 and 422 for this route: an empty list is 400
// invalid_history_item_ids and an id the key has no item for 400 history_item_not_found; the
// names of the files (the attachment's, and the zip's entries) are not documented either:
// the simulator names them after the voice, the date and the item id; the WAV is 44.1 kHz
// 16-bit mono silence of the item's length (docs/simulators.md §22).
func (s *Server) downloadHistory(w http.ResponseWriter, r *http.Request) {
	a := s.accountOf(r)
	var body downloadHistoryRequest
	if errs := decodeBody(r, &body); errs != nil {
		writeValidation(w, errs...)
		return
	}
	if body.HistoryItemIDs == nil {
		writeValidation(w, missing("body", "history_item_ids"))
		return
	}
	var ids []string
	for _, id := range *body.HistoryItemIDs {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		writeDetail(w, http.StatusBadRequest, "invalid_history_item_ids", "Please provide at least one history item id.")
		return
	}
	items := make([]historyItem, 0, len(ids))
	for _, id := range ids {
		it, ok := a.historyItem(id)
		if !ok {
			writeDetail(w, http.StatusBadRequest, "history_item_not_found", "A history item with the history_item_id "+id+" was not found.")
			return
		}
		items = append(items, it)
	}
	wav := body.OutputFormat != nil && *body.OutputFormat == "wav"
	if len(items) == 1 {
		data, ext, ct := historyAudio(items[0], wav)
		w.Header().Set("Content-Disposition", `attachment; filename="`+historyFileName(items[0], ext)+`"`)
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(data)
		return
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, it := range items {
		data, ext, _ := historyAudio(it, wav)
		// Audio does not compress: stored, as an archiver would.
		f, err := zw.CreateHeader(&zip.FileHeader{Name: historyFileName(it, ext), Method: zip.Store, Modified: time.Unix(it.DateUnix, 0).UTC()})
		if err == nil {
			_, err = f.Write(data)
		}
		if err != nil {
			writeDetail(w, http.StatusInternalServerError, "internal_error", "Packing the history items failed.")
			return
		}
	}
	if err := zw.Close(); err != nil {
		writeDetail(w, http.StatusInternalServerError, "internal_error", "Packing the history items failed.")
		return
	}
	w.Header().Set("Content-Disposition", `attachment; filename="ElevenLabs_history.zip"`)
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// historyAudio is an item's audio, as MP3 or WAV, with its file extension and type.
func historyAudio(it historyItem, wav bool) (data []byte, ext, contentType string) {
	if wav {
		return silentWAV(it.seconds), "wav", "audio/wav"
	}
	return media.MP3(it.seconds), "mp3", "audio/mpeg"
}

// historyFileName names an item's file: ElevenLabs_<date>_<voice>_<id>.<ext>.
func historyFileName(it historyItem, ext string) string {
	voice := strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == '"' || r < ' ' {
			return '_'
		}
		return r
	}, it.VoiceName)
	return fmt.Sprintf("ElevenLabs_%s_%s_%s.%s", time.Unix(it.DateUnix, 0).UTC().Format("2006-01-02T15_04_05"), voice, it.ID, ext)
}

// wavRate is the sample rate of the simulator's WAV files.
const wavRate = 44100

// silentWAV is a RIFF/WAVE file of seconds of 16-bit mono silence.
func silentWAV(seconds float64) []byte {
	n := int(seconds * wavRate)
	dataLen := uint32(2 * n)
	b := make([]byte, 44+dataLen)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], 36+dataLen)
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)        // fmt chunk size
	binary.LittleEndian.PutUint16(b[20:], 1)         // PCM
	binary.LittleEndian.PutUint16(b[22:], 1)         // mono
	binary.LittleEndian.PutUint32(b[24:], wavRate)   // sample rate
	binary.LittleEndian.PutUint32(b[28:], wavRate*2) // byte rate
	binary.LittleEndian.PutUint16(b[32:], 2)         // block align
	binary.LittleEndian.PutUint16(b[34:], 16)        // bits per sample
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], dataLen)
	return b
}
