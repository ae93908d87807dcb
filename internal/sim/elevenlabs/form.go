package elevenlabs

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"

	"github.com/aiproxy/aiproxy/internal/sim/media"
)

// upload describes one received file part. The content is hashed and measured while it
// streams by; only the first bytes are kept, to read an MP3's duration.
type upload struct {
	FileName  string
	MimeType  string
	SizeBytes int64
	MD5       string
	head      []byte
}

// maxFieldBytes bounds a non-file form field; files are streamed, not buffered.
const (
	maxFieldBytes = 1 << 20
	maxHeadBytes  = 4 << 20
)

// form is a parsed multipart/form-data body.
type form struct {
	values map[string][]string
	files  map[string][]upload
}

func (f form) value(name string) string {
	if v := f.values[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// requestForm reads the request's form for a handler: a body that cannot be parsed is
// answered with FastAPI's 422 and false.
func requestForm(w http.ResponseWriter, r *http.Request) (form, bool) {
	f, err := readForm(r)
	if err != nil {
		writeValidation(w, fieldError{Loc: []any{"body"}, Msg: "There was an error parsing the body", Type: "value_error"})
		return f, false
	}
	return f, true
}

// readForm streams a multipart body. A request that is not multipart yields an empty form,
// which the handlers then reject field by field, as FastAPI does.
func readForm(r *http.Request) (form, error) {
	f := form{values: map[string][]string{}, files: map[string][]upload{}}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		return f, nil
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return f, err
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return f, nil
		}
		if err != nil {
			return f, err
		}
		name := p.FormName()
		if p.FileName() == "" {
			b, err := io.ReadAll(io.LimitReader(p, maxFieldBytes))
			if err != nil {
				return f, err
			}
			f.values[name] = append(f.values[name], string(b))
			continue
		}
		u, err := readUpload(p)
		if err != nil {
			return f, err
		}
		f.files[name] = append(f.files[name], u)
	}
}

func readUpload(p *multipart.Part) (upload, error) {
	h := md5.New()
	head := &limitedBuffer{max: maxHeadBytes}
	n, err := io.Copy(io.MultiWriter(h, head), p)
	if err != nil {
		return upload{}, err
	}
	mt := p.Header.Get("Content-Type")
	if mt == "" {
		mt = "application/octet-stream"
	}
	return upload{FileName: p.FileName(), MimeType: mt, SizeBytes: n, MD5: hex.EncodeToString(h.Sum(nil)), head: head.b}, nil
}

// maxUploadSeconds caps the duration read from an upload (audio isolation accepts an hour
// [EL-iso]), which bounds the audio the simulator generates in answer.
const maxUploadSeconds = 3600

// duration estimates how long an uploaded recording lasts: exact for a complete MP3,
// otherwise its size at 128 kbit/s. GAP: the simulator does not decode other formats
// (docs/simulators.md §21).
func (u upload) duration() float64 {
	if int64(len(u.head)) == u.SizeBytes {
		if d, err := media.MP3Duration(u.head); err == nil {
			return min(d, maxUploadSeconds)
		}
	}
	return min(float64(u.SizeBytes)/16000, maxUploadSeconds)
}

type limitedBuffer struct {
	b   []byte
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
