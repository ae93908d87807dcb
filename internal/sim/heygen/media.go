package heygen

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"net/http"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy/internal/sim/media"
)

// Media routes stand in for HeyGen's presigned file links (files.heygen.ai …), which need no
// API key (docs/simulators.md §16); so they are served without auth:
//
//	/media/heygen/videos/{id}.mp4      a completed video or translation (HTTP Range supported)
//	/media/heygen/previews/{avatar}.mp4 avatar preview clip
//	/media/heygen/images/{name}.png    thumbnails, avatar and talking-photo previews
//	/media/heygen/gifs/{id}.gif        video GIF preview
//	/media/heygen/audio/{id}.mp3       v3 speech output, voice previews, translated audio
//	/media/heygen/assets/{id}.{ext}    uploaded asset bytes
//	/media/heygen/captions/{id}.{srt,vtt,ass}
const mediaPrefix = "/media/heygen/"

func (s *Server) videoURL(base, id string) string {
	// Upstream links are signed and expire after 7 days, regenerated on each status call
	// [HG-status-snap]; the simulator adds Expires only and does not check it.
	return fmt.Sprintf("%s%svideos/%s.mp4?Expires=%d", base, mediaPrefix, id, time.Now().Add(7*24*time.Hour).Unix())
}

func mediaURL(base, kind, file string) string { return base + mediaPrefix + kind + "/" + file }

func (s *Server) serveMedia(w http.ResponseWriter, r *http.Request, _ *call) error {
	kind, file := r.PathValue("kind"), r.PathValue("file")
	id, ext, _ := strings.Cut(file, ".")
	data, ctype, mod, ok := s.mediaBytes(kind, id, ext)
	if !ok {
		return errNoFile
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "private, max-age=604800")
	http.ServeContent(w, r, file, mod, bytes.NewReader(data))
	return nil
}

func (s *Server) mediaBytes(kind, id, ext string) (data []byte, ctype string, mod time.Time, ok bool) {
	cacheKey := kind + "/" + id + "." + ext
	s.mu.Lock()
	defer s.mu.Unlock()
	mod = s.started
	cached := func(ct string, gen func() []byte) ([]byte, string, time.Time, bool) {
		b, hit := s.mediaCache[cacheKey]
		if !hit {
			b = gen()
			s.mediaCache[cacheKey] = b
		}
		return b, ct, mod, true
	}
	switch kind {
	case "videos":
		if ext != "mp4" {
			return nil, "", mod, false
		}
		if v := s.videos[id]; v != nil && s.videoStatus(v) == "completed" {
			mod = v.CreatedAt
			return cached("video/mp4", func() []byte { return media.MP4(v.Duration, v.Width, v.Height) })
		}
		if t := s.translations[id]; t != nil && s.translationStatus(t) == "success" && !t.AudioOnly {
			mod = t.CreatedAt
			return cached("video/mp4", func() []byte { return media.MP4(t.Duration, 1280, 720) })
		}
	case "previews":
		if a := s.cat.avatarByID[id]; a != nil && ext == "mp4" {
			w, h := 1280, 720
			if a.Orientation == "portrait" {
				w, h = 720, 1280
			}
			return cached("video/mp4", func() []byte { return media.MP4(5, w, h) })
		}
	case "images":
		if ext == "png" {
			return cached("image/png", func() []byte { return placeholderPNG(id) })
		}
	case "gifs":
		if v := s.videos[id]; v != nil && ext == "gif" && s.videoStatus(v) == "completed" {
			return cached("image/gif", func() []byte { return placeholderGIF(id) })
		}
	case "audio":
		if ext != "mp3" {
			return nil, "", mod, false
		}
		if d, ok := s.speech[id]; ok {
			return cached("audio/mpeg", func() []byte { return media.MP3(d) })
		}
		if s.cat.voiceByID[id] != nil {
			return cached("audio/mpeg", func() []byte { return media.MP3(3) })
		}
		if t := s.translations[id]; t != nil && s.translationStatus(t) == "success" {
			return cached("audio/mpeg", func() []byte { return media.MP3(t.Duration) })
		}
	case "assets":
		if a := s.assets[id]; a != nil && a.Ext == ext {
			return a.Data, a.MIME, a.CreatedAt, true
		}
	case "captions":
		var dur float64
		if v := s.videos[id]; v != nil && s.videoStatus(v) == "completed" {
			dur = v.Duration
		} else if t := s.translations[id]; t != nil && s.translationStatus(t) == "success" {
			dur = t.Duration
		} else {
			return nil, "", mod, false
		}
		switch ext {
		case "srt":
			return cached("application/x-subrip", func() []byte { return captions(dur, "srt") })
		case "vtt":
			return cached("text/vtt", func() []byte { return captions(dur, "vtt") })
		case "ass":
			return cached("text/x-ssa", func() []byte { return captions(dur, "ass") })
		}
	}
	return nil, "", mod, false
}

func colorOf(name string) color.RGBA {
	h := fnv.New32a()
	h.Write([]byte(name))
	v := h.Sum32()
	return color.RGBA{R: uint8(v), G: uint8(v >> 8), B: uint8(v >> 16), A: 255}
}

func placeholderPNG(name string) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	c := colorOf(name)
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}

func placeholderGIF(name string) []byte {
	img := image.NewPaletted(image.Rect(0, 0, 64, 36), color.Palette{colorOf(name)})
	var b bytes.Buffer
	_ = gif.Encode(&b, img, nil)
	return b.Bytes()
}

func captions(dur float64, format string) []byte {
	ts := func(sec float64, sep string) string {
		ms := int(sec * 1000)
		return fmt.Sprintf("%02d:%02d:%02d%s%03d", ms/3600000, ms/60000%60, ms/1000%60, sep, ms%1000)
	}
	switch format {
	case "vtt":
		return []byte("WEBVTT\n\n00:00:00.000 --> " + ts(dur, ".") + "\nSimulated caption.\n")
	case "ass":
		return []byte("[Script Info]\nScriptType: v4.00+\n\n[Events]\nFormat: Layer, Start, End, Style, Text\nDialogue: 0,0:00:00.00," +
			fmt.Sprintf("%d:%02d:%02d.%02d", int(dur)/3600, int(dur)/60%60, int(dur)%60, int(dur*100)%100) + ",Default,Simulated caption.\n")
	}
	return []byte("1\n00:00:00,000 --> " + ts(dur, ",") + "\nSimulated caption.\n")
}
