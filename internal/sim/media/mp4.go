package media

import (
	"bytes"
	"encoding/binary"
	"math"
)

// MP4 frame timing: HeyGen renders at 25 fps [HG-limits] (docs/simulators.md §23), and
// 12800 is the media timescale common encoders use for 25 fps (512 ticks per frame).
const (
	mp4FPS            = 25
	mp4MediaTimescale = 12800
	mp4FrameTicks     = mp4MediaTimescale / mp4FPS
	mp4MovieTimescale = 1000
)

// MP4 returns a small, structurally valid ISO-BMFF (MP4) file: ftyp, moov (mvhd, one H.264
// video trak with a complete sample table) and mdat. The mvhd duration equals seconds (in
// milliseconds). The video is a decodable flat grey H.264 Baseline stream at 25 fps: one IDR
// frame of DC-predicted macroblocks followed by all-skip P frames, so files stay a few
// kilobytes even for long durations. Width and height are rounded up to even numbers and
// clamped to 16..4096; non-positive values mean 1280x720.
func MP4(seconds float64, width, height int) []byte {
	if math.IsNaN(seconds) || seconds < 1.0/mp4FPS {
		seconds = 1.0 / mp4FPS
	}
	if width <= 0 || height <= 0 {
		width, height = 1280, 720
	}
	width, height = clampDim(width), clampDim(height)

	frames := int(math.Round(seconds * mp4FPS))
	if frames < 1 {
		frames = 1
	}
	sps, pps, idr, p := h264Stream(width, height)

	// Samples are length-prefixed NAL units (avcC lengthSizeMinusOne = 3).
	var mdatPayload bytes.Buffer
	sizes := make([]uint32, frames)
	for i := 0; i < frames; i++ {
		nal := idr
		if i > 0 {
			nal = p(i)
		}
		_ = binary.Write(&mdatPayload, binary.BigEndian, uint32(len(nal)))
		mdatPayload.Write(nal)
		sizes[i] = uint32(4 + len(nal))
	}

	movieDur := uint32(math.Round(seconds * mp4MovieTimescale))
	mediaDur := uint32(frames * mp4FrameTicks)
	ftyp := box("ftyp", []byte("isom"), u32(0x200), []byte("isomiso2avc1mp41"))

	build := func(chunkOffset uint32) []byte {
		avcC := box("avcC",
			[]byte{1, sps[1], sps[2], sps[3], 0xFF, 0xE1},
			u16(uint16(len(sps))), sps,
			[]byte{1}, u16(uint16(len(pps))), pps)
		avc1 := box("avc1",
			make([]byte, 6), u16(1), // reserved, data_reference_index
			make([]byte, 16), // pre_defined, reserved
			u16(uint16(width)), u16(uint16(height)),
			u32(0x00480000), u32(0x00480000), // 72 dpi
			u32(0), u16(1), // reserved, frame_count
			make([]byte, 32), // compressorname
			u16(0x0018), u16(0xFFFF), avcC)
		stsd := fullBox("stsd", 0, 0, u32(1), avc1)
		stts := fullBox("stts", 0, 0, u32(1), u32(uint32(frames)), u32(mp4FrameTicks))
		stss := fullBox("stss", 0, 0, u32(1), u32(1))
		stsc := fullBox("stsc", 0, 0, u32(1), u32(1), u32(uint32(frames)), u32(1))
		szs := make([]byte, 0, 4*frames)
		for _, s := range sizes {
			szs = append(szs, u32(s)...)
		}
		stsz := fullBox("stsz", 0, 0, u32(0), u32(uint32(frames)), szs)
		stco := fullBox("stco", 0, 0, u32(1), u32(chunkOffset))
		stbl := box("stbl", stsd, stts, stss, stsc, stsz, stco)
		dinf := box("dinf", fullBox("dref", 0, 0, u32(1), fullBox("url ", 0, 1)))
		vmhd := fullBox("vmhd", 0, 1, make([]byte, 8))
		minf := box("minf", vmhd, dinf, stbl)
		hdlr := fullBox("hdlr", 0, 0, u32(0), []byte("vide"), make([]byte, 12), []byte("VideoHandler\x00"))
		mdhd := fullBox("mdhd", 0, 0, u32(0), u32(0), u32(mp4MediaTimescale), u32(mediaDur), u16(0x55C4), u16(0))
		mdia := box("mdia", mdhd, hdlr, minf)
		tkhd := fullBox("tkhd", 0, 3,
			u32(0), u32(0), u32(1), u32(0), u32(movieDur), // times, track_ID, reserved, duration
			make([]byte, 8), u16(0), u16(0), u16(0), u16(0), // reserved, layer, alternate_group, volume, reserved
			unityMatrix(), u32(uint32(width)<<16), u32(uint32(height)<<16))
		trak := box("trak", tkhd, mdia)
		mvhd := fullBox("mvhd", 0, 0,
			u32(0), u32(0), u32(mp4MovieTimescale), u32(movieDur),
			u32(0x00010000), u16(0x0100), make([]byte, 10), // rate, volume, reserved
			unityMatrix(), make([]byte, 24), u32(2)) // pre_defined, next_track_ID
		return box("moov", mvhd, trak)
	}
	moovLen := len(build(0))
	moov := build(uint32(len(ftyp) + moovLen + 8))

	out := make([]byte, 0, len(ftyp)+len(moov)+8+mdatPayload.Len())
	out = append(out, ftyp...)
	out = append(out, moov...)
	out = append(out, box("mdat", mdatPayload.Bytes())...)
	return out
}

func clampDim(v int) int {
	v = min(max(v, 16), 4096)
	return v + v%2
}

func box(typ string, parts ...[]byte) []byte {
	n := 8
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	b = append(b, u32(uint32(n))...)
	b = append(b, typ...)
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func fullBox(typ string, version byte, flags uint32, parts ...[]byte) []byte {
	vf := u32(uint32(version)<<24 | flags&0xFFFFFF)
	return box(typ, append([][]byte{vf}, parts...)...)
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func unityMatrix() []byte {
	var b []byte
	for _, v := range []uint32{0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000} {
		b = append(b, u32(v)...)
	}
	return b
}

// h264Stream returns the SPS and PPS NAL units, the IDR frame and a function that returns
// the P frame with the given index (frame_num differs per frame). See ITU-T H.264 §7.3.
func h264Stream(width, height int) (sps, pps, idr []byte, p func(i int) []byte) {
	const log2MaxFrameNum = 16
	mbW, mbH := (width+15)/16, (height+15)/16
	level := byte(31)
	switch {
	case mbW*mbH > 8192:
		level = 51
	case mbW*mbH > 3600:
		level = 40
	}

	var w bitWriter
	w.bits(66, 8)   // profile_idc: Baseline
	w.bits(0xC0, 8) // constraint_set0_flag, constraint_set1_flag
	w.bits(uint64(level), 8)
	w.ue(0)                   // seq_parameter_set_id
	w.ue(log2MaxFrameNum - 4) // log2_max_frame_num_minus4
	w.ue(2)                   // pic_order_cnt_type 2: output order = decoding order
	w.ue(1)                   // max_num_ref_frames
	w.bits(0, 1)              // gaps_in_frame_num_value_allowed_flag
	w.ue(uint64(mbW - 1))
	w.ue(uint64(mbH - 1))
	w.bits(1, 1) // frame_mbs_only_flag
	w.bits(1, 1) // direct_8x8_inference_flag
	cropR, cropB := (mbW*16-width)/2, (mbH*16-height)/2
	if cropR > 0 || cropB > 0 {
		w.bits(1, 1)
		w.ue(0)
		w.ue(uint64(cropR))
		w.ue(0)
		w.ue(uint64(cropB))
	} else {
		w.bits(0, 1)
	}
	w.bits(0, 1) // vui_parameters_present_flag
	sps = nalUnit(3, 7, w.trailing())

	w = bitWriter{}
	w.ue(0)      // pic_parameter_set_id
	w.ue(0)      // seq_parameter_set_id
	w.bits(0, 1) // entropy_coding_mode_flag: CAVLC
	w.bits(0, 1) // bottom_field_pic_order_in_frame_present_flag
	w.ue(0)      // num_slice_groups_minus1
	w.ue(0)      // num_ref_idx_l0_default_active_minus1
	w.ue(0)      // num_ref_idx_l1_default_active_minus1
	w.bits(0, 1) // weighted_pred_flag
	w.bits(0, 2) // weighted_bipred_idc
	w.se(0)      // pic_init_qp_minus26
	w.se(0)      // pic_init_qs_minus26
	w.se(0)      // chroma_qp_index_offset
	w.bits(0, 1) // deblocking_filter_control_present_flag
	w.bits(0, 1) // constrained_intra_pred_flag
	w.bits(0, 1) // redundant_pic_cnt_present_flag
	pps = nalUnit(3, 8, w.trailing())

	w = bitWriter{}
	w.ue(0)                    // first_mb_in_slice
	w.ue(7)                    // slice_type: I (all slices)
	w.ue(0)                    // pic_parameter_set_id
	w.bits(0, log2MaxFrameNum) // frame_num
	w.ue(0)                    // idr_pic_id
	w.bits(0, 1)               // no_output_of_prior_pics_flag
	w.bits(0, 1)               // long_term_reference_flag
	w.se(0)                    // slice_qp_delta
	for i := 0; i < mbW*mbH; i++ {
		w.ue(3)      // mb_type I_16x16_2_0_0: DC prediction, no coded residual
		w.ue(0)      // intra_chroma_pred_mode: DC
		w.se(0)      // mb_qp_delta
		w.bits(1, 1) // Intra16x16DCLevel coeff_token: TotalCoeff 0 (nC 0)
	}
	idr = nalUnit(3, 5, w.trailing())

	p = func(i int) []byte {
		var w bitWriter
		w.ue(0) // first_mb_in_slice
		w.ue(5) // slice_type: P (all slices)
		w.ue(0) // pic_parameter_set_id
		w.bits(uint64(i%(1<<log2MaxFrameNum)), log2MaxFrameNum)
		w.bits(0, 1) // num_ref_idx_active_override_flag
		w.bits(0, 1) // ref_pic_list_modification_flag_l0
		w.bits(0, 1) // adaptive_ref_pic_marking_mode_flag
		w.se(0)      // slice_qp_delta
		w.ue(uint64(mbW * mbH))
		return nalUnit(2, 1, w.trailing())
	}
	return sps, pps, idr, p
}

// nalUnit adds the NAL header and emulation-prevention bytes (H.264 §7.4.1).
func nalUnit(refIdc, typ byte, rbsp []byte) []byte {
	out := []byte{refIdc<<5 | typ}
	zeros := 0
	for _, b := range rbsp {
		if zeros >= 2 && b <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

type bitWriter struct {
	buf  []byte
	cur  byte
	nbit uint
}

func (w *bitWriter) bits(v uint64, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		w.cur = w.cur<<1 | byte(v>>uint(i)&1)
		w.nbit++
		if w.nbit == 8 {
			w.buf = append(w.buf, w.cur)
			w.cur, w.nbit = 0, 0
		}
	}
}

// ue writes an unsigned Exp-Golomb code.
func (w *bitWriter) ue(v uint64) {
	v++
	n := uint(0)
	for t := v; t > 1; t >>= 1 {
		n++
	}
	w.bits(0, n)
	w.bits(v, n+1)
}

// se writes a signed Exp-Golomb code.
func (w *bitWriter) se(v int64) {
	if v <= 0 {
		w.ue(uint64(-2 * v))
	} else {
		w.ue(uint64(2*v - 1))
	}
}

// trailing appends rbsp_trailing_bits and returns the bytes.
func (w *bitWriter) trailing() []byte {
	w.bits(1, 1)
	for w.nbit != 0 {
		w.bits(0, 1)
	}
	return w.buf
}
