package media

import (
	"encoding/binary"
	"math"
	"testing"
)

type mp4Box struct {
	typ     string
	payload []byte
	offset  int // of the box header within the file
}

func parseBoxes(t *testing.T, b []byte, base int) []mp4Box {
	t.Helper()
	var out []mp4Box
	for off := 0; off < len(b); {
		if len(b)-off < 8 {
			t.Fatalf("trailing %d bytes at %d", len(b)-off, base+off)
		}
		size := int(binary.BigEndian.Uint32(b[off:]))
		if size < 8 || off+size > len(b) {
			t.Fatalf("box %q at %d has bad size %d (remaining %d)", b[off+4:off+8], base+off, size, len(b)-off)
		}
		out = append(out, mp4Box{typ: string(b[off+4 : off+8]), payload: b[off+8 : off+size], offset: base + off})
		off += size
	}
	return out
}

func child(t *testing.T, parent mp4Box, path ...string) mp4Box {
	t.Helper()
	cur := parent
	for _, typ := range path {
		skip := 0
		if cur.typ == "stsd" || cur.typ == "dref" {
			skip = 8 // full box header + entry_count
		}
		if cur.typ == "avc1" {
			skip = 78 // VisualSampleEntry fields
		}
		found := false
		for _, c := range parseBoxes(t, cur.payload[skip:], cur.offset+8+skip) {
			if c.typ == typ {
				cur, found = c, true
				break
			}
		}
		if !found {
			t.Fatalf("no %q box inside %q", typ, cur.typ)
		}
	}
	return cur
}

func TestMP4HasMatchingDurationAndConsistentSampleTables(t *testing.T) {
	tests := []struct {
		seconds       float64
		width, height int
		wantW, wantH  int
	}{
		{2.4, 1280, 720, 1280, 720},
		{10, 1920, 1080, 1920, 1080},
		{0.5, 721, 405, 722, 406},
		{61.25, 0, 0, 1280, 720},
	}
	for _, tt := range tests {
		file := MP4(tt.seconds, tt.width, tt.height)
		top := parseBoxes(t, file, 0)
		if len(top) != 3 || top[0].typ != "ftyp" || top[1].typ != "moov" || top[2].typ != "mdat" {
			t.Fatalf("top-level boxes = %v, want ftyp moov mdat", top)
		}
		if brand := string(top[0].payload[:4]); brand != "isom" {
			t.Errorf("major brand %q", brand)
		}
		moov, mdat := top[1], top[2]

		mvhd := child(t, moov, "mvhd")
		ts := binary.BigEndian.Uint32(mvhd.payload[12:])
		dur := binary.BigEndian.Uint32(mvhd.payload[16:])
		if got := float64(dur) / float64(ts); math.Abs(got-tt.seconds) > 0.001 {
			t.Errorf("mvhd duration = %.3fs, want %.3fs", got, tt.seconds)
		}

		tkhd := child(t, moov, "trak", "tkhd")
		w := binary.BigEndian.Uint32(tkhd.payload[76:]) >> 16
		h := binary.BigEndian.Uint32(tkhd.payload[80:]) >> 16
		if int(w) != tt.wantW || int(h) != tt.wantH {
			t.Errorf("tkhd size = %dx%d, want %dx%d", w, h, tt.wantW, tt.wantH)
		}
		hdlr := child(t, moov, "trak", "mdia", "hdlr")
		if string(hdlr.payload[8:12]) != "vide" {
			t.Errorf("handler %q", hdlr.payload[8:12])
		}
		child(t, moov, "trak", "mdia", "minf", "stbl", "stsd", "avc1", "avcC")

		stbl := child(t, moov, "trak", "mdia", "minf", "stbl")
		stsz := child(t, stbl, "stsz")
		count := int(binary.BigEndian.Uint32(stsz.payload[8:]))
		wantFrames := max(1, int(math.Round(tt.seconds*25)))
		if count != wantFrames {
			t.Errorf("sample count = %d, want %d", count, wantFrames)
		}
		stco := child(t, stbl, "stco")
		chunk := int(binary.BigEndian.Uint32(stco.payload[8:]))
		if chunk != mdat.offset+8 {
			t.Errorf("chunk offset %d, want mdat payload at %d", chunk, mdat.offset+8)
		}
		total := 0
		for i := 0; i < count; i++ {
			size := int(binary.BigEndian.Uint32(stsz.payload[12+4*i:]))
			nalLen := int(binary.BigEndian.Uint32(file[chunk+total:]))
			if nalLen+4 != size {
				t.Fatalf("sample %d: NAL length %d does not match sample size %d", i, nalLen, size)
			}
			total += size
		}
		if total != len(mdat.payload) {
			t.Errorf("samples cover %d bytes, mdat holds %d", total, len(mdat.payload))
		}
		if nalType := file[chunk+4] & 0x1F; nalType != 5 {
			t.Errorf("first sample NAL type %d, want IDR (5)", nalType)
		}
	}
}
