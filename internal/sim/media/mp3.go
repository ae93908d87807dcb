package media

import (
	"errors"
	"fmt"
	"math"
)

// The generated stream is MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, mono, without CRC: the
// format of ElevenLabs' default output_format mp3_44100_128. Each frame carries 1152
// samples and 144*bitrate/samplerate = 417.96 bytes, so frames are 417 or 418 bytes long,
// the padding bit set on the frames that keep the running length exact (ISO/IEC 11172-3
// §2.4.2.3, "padding_bit").
const (
	mp3Bitrate     = 128000
	mp3SampleRate  = 44100
	mp3FrameSample = 1152
)

// MP3FrameSeconds is the duration of one generated frame (about 26.1 ms).
const MP3FrameSeconds = float64(mp3FrameSample) / mp3SampleRate

// MP3 returns a valid MPEG-1 Layer III stream of silence lasting seconds, rounded to whole
// frames (at least one frame, so the result is always a playable file).
func MP3(seconds float64) []byte {
	frames := MP3Frames(seconds)
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	out := make([]byte, 0, n)
	for _, f := range frames {
		out = append(out, f...)
	}
	return out
}

// MP3Frames returns the frames of MP3(seconds) one by one; any run of consecutive frames
// is itself a valid stream, which lets a streaming server send them in chunks.
func MP3Frames(seconds float64) [][]byte {
	n := MP3FrameCount(seconds)
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = mp3Frame(i)
	}
	return frames
}

// MP3FrameCount is the number of frames MP3(seconds) holds.
func MP3FrameCount(seconds float64) int {
	if math.IsNaN(seconds) || seconds <= 0 {
		return 1
	}
	n := int(math.Round(seconds / MP3FrameSeconds))
	return max(n, 1)
}

// mp3Frame builds frame i of the stream: header, all-zero side information (main_data_begin
// 0, part2_3_length 0 for every granule: nothing to decode, i.e. silence) and zero padding.
func mp3Frame(i int) []byte {
	// Cumulative byte position keeps the average frame length exact.
	const num = 144 * mp3Bitrate
	size := (i+1)*num/mp3SampleRate - i*num/mp3SampleRate
	padding := size - num/mp3SampleRate // 0 or 1
	b := make([]byte, size)
	b[0] = 0xFF
	b[1] = 0xFB                    // sync, MPEG-1, Layer III, no CRC
	b[2] = 0x90 | byte(padding)<<1 // bitrate index 9 (128 kbit/s), 44.1 kHz, padding
	b[3] = 0xC4                    // mono, no copyright, original, no emphasis
	// b[4:21], the 17 bytes of mono side information, and the main data stay zero.
	return b
}

// ErrNoFrames is returned by MP3Duration for input that holds no MPEG audio frame.
var ErrNoFrames = errors.New("mp3: no frames")

// MP3Duration walks the frame headers of an MPEG audio stream (MPEG-1, 2 and 2.5, layers
// I–III), skipping a leading ID3v2 tag and a trailing ID3v1 tag, and returns the total
// duration in seconds. It fails on any invalid header or a truncated last frame.
func MP3Duration(b []byte) (float64, error) {
	off := 0
	if len(b) >= 10 && string(b[:3]) == "ID3" {
		size := int(b[6]&0x7F)<<21 | int(b[7]&0x7F)<<14 | int(b[8]&0x7F)<<7 | int(b[9]&0x7F)
		off = 10 + size
		if b[5]&0x10 != 0 { // footer present
			off += 10
		}
		if off > len(b) {
			return 0, fmt.Errorf("mp3: ID3v2 tag of %d bytes exceeds the input", size)
		}
	}
	end := len(b)
	if end-off >= 128 && string(b[end-128:end-125]) == "TAG" {
		end -= 128
	}
	var total float64
	frames := 0
	for off < end {
		h, err := parseMP3Header(b[off:end])
		if err != nil {
			return 0, fmt.Errorf("mp3: frame %d at byte %d: %w", frames, off, err)
		}
		if off+h.size > end {
			return 0, fmt.Errorf("mp3: frame %d at byte %d: truncated (%d of %d bytes)", frames, off, end-off, h.size)
		}
		total += float64(h.samples) / float64(h.sampleRate)
		off += h.size
		frames++
	}
	if frames == 0 {
		return 0, ErrNoFrames
	}
	return total, nil
}

type mp3Header struct {
	size, samples, sampleRate int
}

var (
	// bitrates in kbit/s by [version is MPEG-1][layer 1..3][index]; index 0 (free format)
	// and 15 are rejected.
	mp3Bitrates = [2][4][16]int{
		{ // MPEG-2 and 2.5
			{},
			{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256, 0},
			{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
			{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
		},
		{ // MPEG-1
			{},
			{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 0},
			{0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 0},
			{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0},
		},
	}
	mp3SampleRates = map[int][3]int{ // by version bits
		3: {44100, 48000, 32000}, // MPEG-1
		2: {22050, 24000, 16000}, // MPEG-2
		0: {11025, 12000, 8000},  // MPEG-2.5
	}
)

func parseMP3Header(b []byte) (mp3Header, error) {
	if len(b) < 4 {
		return mp3Header{}, errors.New("short header")
	}
	if b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return mp3Header{}, fmt.Errorf("no frame sync (% x)", b[:4])
	}
	version := int(b[1]>>3) & 3
	layerBits := int(b[1]>>1) & 3
	bitrateIdx := int(b[2] >> 4)
	rateIdx := int(b[2]>>2) & 3
	padding := int(b[2]>>1) & 1
	rates, ok := mp3SampleRates[version]
	if !ok {
		return mp3Header{}, errors.New("reserved MPEG version")
	}
	if layerBits == 0 {
		return mp3Header{}, errors.New("reserved layer")
	}
	layer := 4 - layerBits
	if rateIdx == 3 {
		return mp3Header{}, errors.New("reserved sample rate")
	}
	if b[3]&3 == 2 {
		return mp3Header{}, errors.New("reserved emphasis")
	}
	mpeg1 := 0
	if version == 3 {
		mpeg1 = 1
	}
	kbps := mp3Bitrates[mpeg1][layer][bitrateIdx]
	if kbps == 0 {
		return mp3Header{}, fmt.Errorf("unsupported bitrate index %d", bitrateIdx)
	}
	br, sr := kbps*1000, rates[rateIdx]
	h := mp3Header{sampleRate: sr}
	switch {
	case layer == 1:
		h.samples = 384
		h.size = (12*br/sr + padding) * 4
	case layer == 3 && mpeg1 == 0:
		h.samples = 576
		h.size = 72*br/sr + padding
	default:
		h.samples = 1152
		h.size = 144*br/sr + padding
	}
	return h, nil
}
