package heygen

import (
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// Assets: the upload host's POST /v1/asset, GET /v1/asset/list, and POST, GET and DELETE
// /v3/assets (docs/simulators.md §12). Both versions share one store; an asset's bytes are
// served back under /media/heygen/assets/.

type asset struct {
	ID, Key, Name, FileType, MIME, Ext, FolderID string
	Data                                         []byte
	CreatedAt                                    time.Time
}

func (a *asset) url(base string) string { return mediaURL(base, "assets", a.ID+"."+a.Ext) }

func (s *Server) storeAsset(c *call, name, fileType, mimeType, ext string, data []byte) *asset {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &asset{ID: s.ids.Hex(32), Key: c.key, FileType: fileType, MIME: mimeType, Ext: ext, Data: data, CreatedAt: time.Now()}
	a.Name = name
	if a.Name == "" {
		a.Name = a.ID // data.name equals the id in the upload example [HG-upload]
	}
	c.acct.assets[a.ID] = a
	c.acct.assetOrder = append(c.acct.assetOrder, a.ID)
	s.assets[a.ID] = a
	return a
}

// assetInput is the v3 file union: url | asset_id | base64 (docs/simulators.md §5).
type assetInput struct {
	Type      string `json:"type"`
	URL       string `json:"url"`
	AssetID   string `json:"asset_id"`
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
}

// resolveAsset checks the input and returns a URL for it (none for base64). Caller holds
// s.mu.
func (s *Server) resolveAsset(c *call, in *assetInput, param string) (string, error) {
	if in == nil {
		return "", invalidParam(param, "%s is required", param)
	}
	switch in.Type {
	case "url":
		if !strings.HasPrefix(in.URL, "http://") && !strings.HasPrefix(in.URL, "https://") {
			return "", invalidParam(param, "%s.url must be an http(s) URL", param)
		}
		return in.URL, nil
	case "asset_id":
		a := c.acct.assets[in.AssetID]
		if a == nil {
			return "", invalidParam(param, "asset %q not found", in.AssetID)
		}
		return a.url(c.base), nil
	case "base64":
		if in.MediaType == "" {
			return "", invalidParam(param, "%s.media_type is required", param)
		}
		if _, err := base64.StdEncoding.DecodeString(in.Data); err != nil || in.Data == "" {
			return "", invalidParam(param, "%s.data must be base64", param)
		}
		return "", nil
	}
	return "", invalidParam(param, "%s.type must be url, asset_id or base64", param)
}

// ---- v1: the upload host ----

// uploadTypes are the Content-Types upload.heygen.com/v1/asset accepts [HG-upload].
var uploadTypes = map[string]struct{ fileType, ext string }{
	"image/png": {"image", "png"}, "image/jpeg": {"image", "jpg"}, "video/mp4": {"video", "mp4"},
	"video/webm": {"video", "webm"}, "audio/mpeg": {"audio", "mp3"},
}

// maxUploadBytes — GAP: the upload host's own size limit is undocumented; the 100 MB video
// resource limit is used (docs/simulators.md §12).
const maxUploadBytes = 100 << 20

// v1UploadAsset takes the raw file as the body, typed by Content-Type.
func (s *Server) v1UploadAsset(w http.ResponseWriter, r *http.Request, c *call) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	kind, ok := uploadTypes[mt]
	if !ok {
		return invalidParam("Content-Type", "Unsupported Content-Type %q: use image/png, image/jpeg, video/mp4, video/webm or audio/mpeg", mt)
	}
	// The body may arrive chunked, without Content-Length; read it to the end.
	data, err := readBody(w, r, maxUploadBytes,
		tooLarge("", "File is too large"), invalidParam("body", "could not read the upload body"))
	if err != nil {
		return err
	}
	if len(data) == 0 {
		return invalidParam("body", "the request body must contain the file bytes")
	}
	a := s.storeAsset(c, "", kind.fileType, mt, kind.ext, data)
	var imageKey any
	if kind.fileType == "image" {
		imageKey = "image/" + a.ID + "/original"
	}
	okUpload(w, map[string]any{
		"id": a.ID, "name": a.Name, "file_type": a.FileType, "folder_id": "", "meta": nil,
		"created_ts": a.CreatedAt.Unix(), "url": a.url(c.base), "image_key": imageKey,
	})
	return nil
}

// v1ListAssets answers in the error/data envelope, as documented for this route [HG-assets].
func (s *Server) v1ListAssets(w http.ResponseWriter, r *http.Request, c *call) error {
	ft := r.URL.Query().Get("file_type")
	var items []map[string]any
	s.mu.Lock()
	for _, a := range newestFirst(c.acct.assetOrder, c.acct.assets) {
		if ft == "" || a.FileType == ft {
			items = append(items, map[string]any{
				"id": a.ID, "name": a.Name, "file_type": a.FileType, "folder_id": a.FolderID,
				"created_ts": a.CreatedAt.Unix(), "url": a.url(c.base),
			})
		}
	}
	s.mu.Unlock()
	p, err := legacyPage(r, items)
	if err != nil {
		return err
	}
	okV2(w, map[string]any{"assets": p.Items, "total": len(items), "token": p.Next})
	return nil
}

// ---- v3 ----

// maxV3Asset is the POST /v3/assets limit, 32 MB [HG-v3-upload].
const maxV3Asset = 32 << 20

// v3AssetTypes: png, jpeg, mp4, webm, mp3, wav, pdf, srt [HG-cli, HG-v3-upload].
var v3AssetTypes = map[string]struct{ kind, ext string }{
	"image/png": {"image", "png"}, "image/jpeg": {"image", "jpg"}, "video/mp4": {"video", "mp4"},
	"video/webm": {"video", "webm"}, "audio/mpeg": {"audio", "mp3"}, "audio/wav": {"audio", "wav"},
	"application/pdf": {"document", "pdf"}, "application/x-subrip": {"document", "srt"},
}

// sniffMIME detects the type from the bytes ("auto-detected from file bytes"), falling back
// to the file name for formats the sniffer does not know (MP3 without ID3, SRT).
func sniffMIME(data []byte, filename, partType string) string {
	mt := http.DetectContentType(data)
	mt, _, _ = mime.ParseMediaType(mt)
	switch mt {
	case "audio/wave":
		return "audio/wav"
	case "application/octet-stream", "text/plain":
		switch strings.ToLower(path.Ext(filename)) {
		case ".mp3":
			return "audio/mpeg"
		case ".srt":
			return "application/x-subrip"
		case ".wav":
			return "audio/wav"
		}
		if pt, _, _ := mime.ParseMediaType(partType); pt != "" && pt != "application/octet-stream" {
			return pt
		}
	}
	return mt
}

// v3UploadAsset reads the multipart part named file. GAP: the oversize response; HeyGen's
// CLI maps 413 to payload_too_large (docs/simulators.md §12).
func (s *Server) v3UploadAsset(w http.ResponseWriter, r *http.Request, c *call) error {
	limit := s.maxAssetBytes
	r.Body = http.MaxBytesReader(w, r.Body, limit+1<<20)
	mr, err := r.MultipartReader()
	if err != nil {
		return invalidParam("file", "the body must be multipart/form-data with a file part named file")
	}
	tooBig := tooLarge("file", "File exceeds the 32 MB upload limit; use direct uploads for larger files.")
	var mbe *http.MaxBytesError
	for {
		part, err := mr.NextPart()
		if errors.As(err, &mbe) {
			return tooBig
		}
		if err != nil {
			return invalidParam("file", "file part is required")
		}
		if part.FormName() != "file" {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(part, limit+1))
		if int64(len(data)) > limit || errors.As(err, &mbe) {
			return tooBig
		}
		if err != nil || len(data) == 0 {
			return invalidParam("file", "file is empty or unreadable")
		}
		mt := sniffMIME(data, part.FileName(), part.Header.Get("Content-Type"))
		kind, ok := v3AssetTypes[mt]
		if !ok {
			return invalidParam("file", "unsupported file type %q", mt)
		}
		a := s.storeAsset(c, part.FileName(), kind.kind, mt, kind.ext, data)
		okV3(w, map[string]any{
			"asset_id": a.ID, "url": a.url(c.base), "mime_type": mt, "size_bytes": len(data),
		})
		return nil
	}
}

var errNoAsset = notFound("resource_not_found", "Asset not found")

func (s *Server) v3GetAsset(w http.ResponseWriter, r *http.Request, c *call) error {
	a := lookup(s, c.acct.assets, r.PathValue("asset_id"))
	if a == nil {
		return errNoAsset
	}
	okV3(w, map[string]any{
		"id": a.ID, "name": a.Name, "type": a.FileType, "owner": c.acct.username, "space_id": "space_" + c.acct.username,
		"uploaded_at": a.CreatedAt.Unix(), "folder_id": nullable(a.FolderID), "url": a.url(c.base),
	})
	return nil
}

func (s *Server) v3DeleteAsset(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("asset_id")
	if !removeOwned(s, c.acct.assets, s.assets, id) {
		return errNoAsset
	}
	okV3(w, map[string]any{"id": id})
	return nil
}
