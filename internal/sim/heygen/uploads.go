package heygen

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Direct uploads (docs/simulators.md §12): POST /v3/assets/direct-uploads answers a
// presigned storage URL; the client PUTs the raw bytes there, with the answered
// upload_headers and without any HeyGen credential (upstream the URL is S3's, not
// api.heygen.com's); POST /v3/assets/{asset_id}/complete then checks the bytes and makes the
// asset usable [HG-cli, HG-v3-upload]. Until then the asset id names nothing: GET
// /v3/assets/{id} is 404 and inputs that name it are refused.
//
// The storage URL is served by the simulator under /media/heygen/uploads/{asset_id}; it
// answers like S3 (XML errors): 403 AccessDenied once expired (15 min on the simulator's
// clock, GAP: upstream's lifetime is not published), 403 SignatureDoesNotMatch for another
// signature or Content-Type, 400 for a body of another size or checksum.
const (
	directUploadTTL = 15 * time.Minute
	// maxDirectUpload — GAP: upstream's limit for one direct upload; 5 GB, S3's limit for
	// one PUT (docs/simulators.md §12).
	maxDirectUpload = 5 << 30
)

type directUpload struct {
	ID, Key, Filename, ContentType string
	Token, Checksum                string // Checksum: the declared SHA-256, hex, or ""
	Size                           int64
	CreatedAt                      time.Time
	Data                           []byte
	Uploaded                       bool
	Asset                          *asset // once completed
}

func (u *directUpload) url(base string) string {
	q := url.Values{
		"X-Amz-Algorithm":     {"AWS4-HMAC-SHA256"},
		"X-Amz-Date":          {u.CreatedAt.UTC().Format("20060102T150405Z")},
		"X-Amz-Expires":       {fmt.Sprint(int(directUploadTTL / time.Second))},
		"X-Amz-SignedHeaders": {"content-length;content-type;host"},
		"X-Amz-Signature":     {u.Token},
	}
	return base + mediaPrefix + "uploads/" + u.ID + "?" + q.Encode()
}

// headers are the upload_headers the PUT must carry verbatim.
func (u *directUpload) headers() map[string]string {
	h := map[string]string{"Content-Type": u.ContentType}
	if u.Checksum != "" {
		sum, _ := hex.DecodeString(u.Checksum)
		h["x-amz-checksum-sha256"] = base64.StdEncoding.EncodeToString(sum)
	}
	return h
}

type directUploadRequest struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	SizeBytes   *int64 `json:"size_bytes"`
	Checksum    string `json:"checksum_sha256"`
}

func (req *directUploadRequest) validate() error {
	switch {
	case strings.TrimSpace(req.Filename) == "":
		return invalidParam("filename", "filename is required")
	case req.ContentType == "":
		return invalidParam("content_type", "content_type is required")
	case req.SizeBytes == nil:
		return invalidParam("size_bytes", "size_bytes is required")
	case *req.SizeBytes < 1 || *req.SizeBytes > maxDirectUpload:
		return invalidParam("size_bytes", "size_bytes must be between 1 and %d", int64(maxDirectUpload))
	}
	if _, ok := v3AssetTypes[req.ContentType]; !ok {
		return invalidParam("content_type", "unsupported content_type %q", req.ContentType)
	}
	if req.Checksum != "" {
		if b, err := hex.DecodeString(req.Checksum); err != nil || len(b) != sha256.Size {
			return invalidParam("checksum_sha256", "checksum_sha256 must be 64 hex digits")
		}
	}
	return nil
}

func (s *Server) v3CreateDirectUpload(w http.ResponseWriter, r *http.Request, c *call) error {
	var req directUploadRequest
	if err := decodeValid(w, r, &req); err != nil {
		return err
	}
	s.mu.Lock()
	u := &directUpload{ID: s.ids.Hex(32), Key: c.key, Filename: req.Filename, ContentType: req.ContentType,
		Token: s.ids.Hex(64), Checksum: strings.ToLower(req.Checksum), Size: *req.SizeBytes, CreatedAt: time.Now()}
	c.acct.uploads[u.ID] = u
	s.mu.Unlock()
	okV3(w, map[string]any{
		"asset_id": u.ID, "upload_url": u.url(c.base), "upload_headers": u.headers(),
		"expires_in_seconds": int(directUploadTTL / time.Second), "max_bytes": u.Size, "status": "pending_upload",
	})
	return nil
}

// s3Error is S3's XML error body.
func s3Error(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_ = xml.NewEncoder(w).Encode(struct {
		XMLName xml.Name `xml:"Error"`
		Code    string   `xml:"Code"`
		Message string   `xml:"Message"`
	}{Code: code, Message: message})
}

// findUpload returns the pending or completed direct upload with that id, of any key (the
// storage URL carries no key). Caller holds s.mu.
func (s *Server) findUpload(id string) *directUpload {
	for _, a := range s.accounts {
		if u := a.uploads[id]; u != nil {
			return u
		}
	}
	return nil
}

// putDirectUpload is the storage side: no API key, the signature in the query.
func (s *Server) putDirectUpload(w http.ResponseWriter, r *http.Request, _ *call) error {
	// S3 takes one auth mechanism: a presigned URL with an Authorization header is refused.
	// GAP: S3 ignores an X-Api-Key header; the simulator refuses it the same way, so that a
	// client (or a gateway) that leaks the HeyGen key to the storage host is caught
	// (docs/simulators.md §12).
	if r.Header.Get("Authorization") != "" || r.Header.Get("X-Api-Key") != "" {
		s3Error(w, http.StatusBadRequest, "InvalidArgument",
			"Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
		return nil
	}
	s.mu.Lock()
	u := s.findUpload(r.PathValue("asset_id"))
	var (
		token, ctype string
		created      time.Time
		size         int64
		done         bool
		checksum     string
	)
	if u != nil {
		token, ctype, created, size, done, checksum = u.Token, u.ContentType, u.CreatedAt, u.Size, u.Asset != nil, u.Checksum
	}
	s.mu.Unlock()
	q := r.URL.Query()
	if u == nil || q.Get("X-Amz-Signature") != token {
		s3Error(w, http.StatusForbidden, "SignatureDoesNotMatch",
			"The request signature we calculated does not match the signature you provided.")
		return nil
	}
	if s.clock.Elapsed(created) > directUploadTTL {
		s3Error(w, http.StatusForbidden, "AccessDenied", "Request has expired")
		return nil
	}
	if done {
		s3Error(w, http.StatusForbidden, "AccessDenied", "Access Denied")
		return nil
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != ctype {
		s3Error(w, http.StatusForbidden, "SignatureDoesNotMatch",
			"The request signature we calculated does not match the signature you provided. Check your key and signing method.")
		return nil
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, size))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		s3Error(w, http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
		return nil
	case err != nil || int64(len(data)) < size:
		s3Error(w, http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
		return nil
	}
	sum := sha256.Sum256(data)
	if checksum != "" && hex.EncodeToString(sum[:]) != checksum {
		s3Error(w, http.StatusBadRequest, "BadDigest", "The SHA256 you specified did not match the calculated checksum.")
		return nil
	}
	s.mu.Lock()
	u.Data, u.Uploaded = data, true
	s.mu.Unlock()
	etag := md5.Sum(data)
	w.Header().Set("ETag", `"`+hex.EncodeToString(etag[:])+`"`)
	w.WriteHeader(http.StatusOK)
	return nil
}

// v3CompleteUpload finalizes a direct upload; repeated calls answer the same asset
// [HG-cli]. GAP: the error for an upload whose bytes have not arrived; 409 conflict, the
// code HeyGen gives state conflicts (docs/simulators.md §12).
func (s *Server) v3CompleteUpload(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Checksum *string `json:"checksum_sha256"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := c.acct.uploads[r.PathValue("asset_id")]
	if u == nil {
		return errNoAsset
	}
	answer := func(a *asset) error {
		okV3(w, map[string]any{"asset_id": a.ID, "url": a.url(c.base), "mime_type": a.MIME,
			"size_bytes": len(a.Data), "status": "processing"})
		return nil
	}
	if u.Asset != nil {
		return answer(u.Asset)
	}
	if !u.Uploaded {
		return &apiError{Status: 409, Code: "conflict", Param: "asset_id",
			Message: "No file has been uploaded for this asset: PUT the bytes to upload_url first."}
	}
	sum := sha256.Sum256(u.Data)
	if req.Checksum != nil && *req.Checksum != "" && !strings.EqualFold(*req.Checksum, hex.EncodeToString(sum[:])) {
		return invalidParam("checksum_sha256", "checksum_sha256 does not match the uploaded file")
	}
	// The declared type is verified against the stored bytes [HG-cli].
	mt := sniffMIME(u.Data, u.Filename, u.ContentType)
	kind, ok := v3AssetTypes[mt]
	if !ok || mt != u.ContentType {
		return invalidParam("content_type", "content_type %q does not match the uploaded file (%s)", u.ContentType, mt)
	}
	a := &asset{ID: u.ID, Key: c.key, Name: u.Filename, FileType: kind.kind, MIME: mt, Ext: kind.ext,
		Data: u.Data, CreatedAt: time.Now()}
	c.acct.assets[a.ID] = a
	c.acct.assetOrder = append(c.acct.assetOrder, a.ID)
	s.assets[a.ID] = a
	u.Asset = a
	return answer(a)
}
