package media

import (
	"bytes"
	"math"
	"testing"
)

func TestMP3IsValidAndLastsTheRequestedFrames(t *testing.T) {
	for _, secs := range []float64{0, 0.01, 0.5, 1, 2.5, 10} {
		b := MP3(secs)
		d, err := MP3Duration(b)
		if err != nil {
			t.Fatalf("MP3(%v): %v", secs, err)
		}
		want := float64(MP3FrameCount(secs)) * MP3FrameSeconds
		if math.Abs(d-want) > 1e-9 {
			t.Errorf("MP3(%v) lasts %v, want %v", secs, d, want)
		}
		if secs >= 0.5 && math.Abs(d-secs) > MP3FrameSeconds/2+1e-9 {
			t.Errorf("MP3(%v) lasts %v: more than half a frame off", secs, d)
		}
	}
}

func TestMP3FramesFollowThePaddingRule(t *testing.T) {
	frames := MP3Frames(5)
	total := 0
	for i, f := range frames {
		if len(f) != 417 && len(f) != 418 {
			t.Fatalf("frame %d is %d bytes", i, len(f))
		}
		if pad := int(f[2]>>1) & 1; len(f) != 417+pad {
			t.Fatalf("frame %d: %d bytes but padding bit %d", i, len(f), pad)
		}
		if !bytes.Equal(f[:2], []byte{0xFF, 0xFB}) {
			t.Fatalf("frame %d header % x", i, f[:4])
		}
		total += len(f)
	}
	// The average frame length must track 144*128000/44100 bytes.
	exact := float64(len(frames)) * 144 * 128000 / 44100
	if math.Abs(float64(total)-exact) > 1 {
		t.Errorf("%d frames take %d bytes, want about %.1f", len(frames), total, exact)
	}
}

func TestMP3DurationGrowsWithSeconds(t *testing.T) {
	prev := 0.0
	for _, secs := range []float64{0.5, 1, 1.5, 3, 6} {
		d, err := MP3Duration(MP3(secs))
		if err != nil {
			t.Fatal(err)
		}
		if d <= prev {
			t.Errorf("MP3(%v) lasts %v, not more than the previous %v", secs, d, prev)
		}
		prev = d
	}
}

func TestMP3ChunksOfFramesAreValidStreams(t *testing.T) {
	frames := MP3Frames(1)
	var chunk []byte
	for _, f := range frames[3:7] {
		chunk = append(chunk, f...)
	}
	d, err := MP3Duration(chunk)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(d-4*MP3FrameSeconds) > 1e-9 {
		t.Errorf("4 frames last %v", d)
	}
}

func TestMP3DurationSkipsID3Tags(t *testing.T) {
	audio := MP3(1)
	id3v2 := append([]byte("ID3\x04\x00\x00\x00\x00\x00\x05"), "abcde"...)
	id3v1 := append([]byte("TAG"), make([]byte, 125)...)
	b := append(append(append([]byte{}, id3v2...), audio...), id3v1...)
	want, _ := MP3Duration(audio)
	got, err := MP3Duration(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("with tags %v, without %v", got, want)
	}
}

func TestMP3DurationRejectsInvalidStreams(t *testing.T) {
	good := MP3(0.2)
	corrupt := func(at int, v byte) []byte {
		b := append([]byte{}, good...)
		b[at] = v
		return b
	}
	second := 417 // the first frame is never padded
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"not audio", []byte("{\"detail\":\"Not Found\"}")},
		{"truncated last frame", good[:len(good)-10]},
		{"lost sync in second frame", corrupt(second, 0x00)},
		{"free-format bitrate", corrupt(second+2, 0x00)},
		{"bad bitrate index", corrupt(second+2, 0xF0)},
		{"reserved sample rate", corrupt(second+2, 0x9C)},
		{"reserved layer", corrupt(second+1, 0xF9)},
		{"reserved version", corrupt(second+1, 0xEB)},
		{"trailing garbage", append(append([]byte{}, good...), 1, 2, 3)},
		{"ID3 tag larger than input", []byte("ID3\x04\x00\x00\x00\x00\x7f\x7f")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d, err := MP3Duration(tt.in); err == nil {
				t.Errorf("accepted, duration %v", d)
			}
		})
	}
}

func TestMP3DurationReadsOtherMPEGVersions(t *testing.T) {
	// MPEG-2 Layer III, 64 kbit/s, 22.05 kHz: 72*64000/22050 = 208 bytes, 576 samples.
	frame := make([]byte, 208)
	copy(frame, []byte{0xFF, 0xF3, 0x80, 0xC4})
	d, err := MP3Duration(append(append([]byte{}, frame...), frame...))
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * 576.0 / 22050; math.Abs(d-want) > 1e-9 {
		t.Errorf("got %v, want %v", d, want)
	}
}
