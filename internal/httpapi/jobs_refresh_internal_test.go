package httpapi

import (
	"testing"
	"time"
)

// TestLinkExpiryReadsTheSigningSchemesProvidersUse: CloudFront/S3 v2 Expires, S3 v4 and
// Google Cloud Storage date + lifetime; a URL without them has no expiry; the earliest link
// of a result counts.
func TestLinkExpiryReadsTheSigningSchemesProvidersUse(t *testing.T) {
	for _, c := range []struct {
		url  string
		want time.Time
		ok   bool
	}{
		{"https://cdn.example.com/v.mp4?Expires=1764000000&Signature=x", time.Unix(1764000000, 0), true},
		{"https://s3.example.com/v.mp4?X-Amz-Date=20261202T120000Z&X-Amz-Expires=3600&X-Amz-Signature=y",
			time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC), true},
		{"https://storage.googleapis.com/b/v.mp4?X-Goog-Date=20261202T120000Z&X-Goog-Expires=60",
			time.Date(2026, 12, 2, 12, 1, 0, 0, time.UTC), true},
		{"https://cdn.example.com/v.mp4", time.Time{}, false},
		{"https://cdn.example.com/v.mp4?Expires=soon", time.Time{}, false},
		{"not a url?Expires=1", time.Time{}, false},
	} {
		got, ok := linkExpiry(c.url)
		if ok != c.ok || !got.Equal(c.want) {
			t.Errorf("linkExpiry(%q) = %v, %v; want %v, %v", c.url, got, ok, c.want, c.ok)
		}
	}
	got, ok := resultExpiry(`{"video_url":"https://a/v.mp4?Expires=2000000000","thumbnail_url":"https://a/t.jpg?Expires=1900000000","duration":3.2,"list":["https://a/x?Expires=1950000000"]}`)
	if !ok || got.Unix() != 1900000000 {
		t.Errorf("resultExpiry = %v, %v; want the earliest, 1900000000", got.Unix(), ok)
	}
	if _, ok := resultExpiry(`{"duration": 3}`); ok {
		t.Error("a result without links has an expiry")
	}
}
