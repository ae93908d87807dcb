package gateway

import (
	"bytes"
	"encoding/base64"
	"io"
	"sync"
	"unsafe"
)

// minScrubLen is the shortest credential the gateway searches for in responses: replacing
// a two-letter test key would mangle ordinary bytes, and real provider keys are far longer.
const minScrubLen = 6

// scrubber replaces the injected provider key wherever an upstream response echoes it
// (contract §7): ElevenLabs GET /v1/user may return it as xi_api_key.
//
// What it looks for, "the forms" of the key, everywhere (bodies of every mode, headers,
// upstream_body):
//
//   - the key itself, in any ASCII letter case (a hex key is the same key in upper case;
//     every case variant is masked, whatever the key's alphabet);
//   - the key with any of its '/' written `\/` (JSON's optional escape);
//   - base64 of any text that contains the key, in the standard or the URL alphabet,
//     padded or not, at any of the three alignments: for each alignment the characters
//     that depend on the key's bytes alone (its "core", see b64Core) are matched, and
//     that region is masked; a '/' of the core may also arrive as `\/`.
//
// In json mode (JSON below) the key is also matched as a JSON parser recovers it: inside
// a string token, after decoding every escape (`\u0061`, surrogate pairs, `\/`, …).
// Arbitrary `\u` escapes are matched in json mode (and in upstream_body) only: a stream
// is not parsed, and the finite forms above are what it is scanned for.
//
// Matches are masked leftmost first, the longest form winning at one position, each by
// as many '*' as it occupies (so the key is replaced by as many '*' as it has bytes, and
// a passthrough's Content-Length stays true). Because every decision looks only forward
// from its position, a stream scrubbed in any chunks gives exactly the bytes of the whole
// scrubbed at once (FuzzScrubberSplits).
type scrubber struct {
	secret []byte
	rare   int // index in secret of its least common byte, the anchor of Bytes' searches

	forms  [numForms]form
	first  [4]uint64 // bytes an occurrence of a form may start with
	minLen int       // the shortest form, in decoded bytes
	maxRaw int       // the longest raw occurrence of a form (each '/' may take two bytes)
	// escapable: a form holds a byte that JSON writes only as an escape ('"', '\\',
	// control characters), so escaped strings must be decoded to be searched.
	escapable bool
	inForms   [4]uint64 // bytes that match a byte of some form
	nonASCII  bool      // the key has a byte above ASCII
	factsMade bool      // escapable, inForms and nonASCII are set (made on first use)

	// Searches look for anchor bytes, then compare the forms around them. text anchors
	// each form on its least common byte in JSON and text (json mode, headers, error
	// bodies); streams, which are mostly media where every byte is as common as another,
	// anchor on as few distinct bytes as cover all forms (made on first use).
	text  anchorPlan
	media *anchorPlan
}

// numForms: the key, then its base64 core at each of three alignments.
const numForms = 4

// form is one thing the scrubber matches: the bytes of p, compared through tbl (which
// folds letter case for the key and the two base64 alphabets for cores), where a '/' of
// p may also be written `\/`.
type form struct {
	p     []byte
	tbl   *[256]byte
	slash bool // p holds a '/'
	lead  bool // p starts with '/': an occurrence may start with the `\` of `\/`
	// anchorEnd: anchors are taken from p[:anchorEnd], before the first '/', so that an
	// anchor's distance from the start of an occurrence is fixed (p[0] if p starts with '/').
	anchorEnd int
}

// anchorPlan is what a search looks for: n distinct bytes, and for each the forms it
// serves with the index in each where the byte stands (byte k's in e[lo[k]:lo[k+1]]).
type anchorPlan struct {
	n   int
	c   [2 * numForms]byte
	lo  [2*numForms + 1]uint8
	e   [2 * numForms]planEntry
	max int // the largest index: how far past an occurrence's start its anchor may be
}

// planEntry is one form served by an anchor byte, with what the first check at a stop
// needs at hand: the form's first and last bytes (through its table) and its length.
type planEntry struct {
	r, n        int32
	form        uint8
	first, last byte
	fixed       bool // no '/': an occurrence has exactly n bytes
	tbl         *[256]byte
}

func (pl *anchorPlan) add(c byte, form int, f *form, r int) {
	k := 0
	for k < pl.n && pl.c[k] != c {
		k++
	}
	if k == pl.n {
		pl.c[k], pl.lo[k+1] = c, pl.lo[k]
		pl.n++
	}
	at, total := int(pl.lo[k+1]), int(pl.lo[pl.n])
	copy(pl.e[at+1:total+1], pl.e[at:total])
	pl.e[at] = planEntry{r: int32(r), n: int32(len(f.p)), form: uint8(form), first: f.p[0], last: f.p[len(f.p)-1], fixed: !f.slash, tbl: f.tbl}
	for kk := k + 1; kk <= pl.n; kk++ {
		pl.lo[kk]++
	}
	pl.max = max(pl.max, r)
}

func makeScrubber(secret string) scrubber {
	if len(secret) < minScrubLen {
		return scrubber{}
	}
	// One allocation holds the key and every form's bytes: the folded key, then three
	// cores.
	n := len(secret)
	arena := make([]byte, 0, 2*n+3*(n*4/3+2))
	arena = append(arena, secret...)
	s := scrubber{secret: arena[:n:n]}
	for i := range s.secret {
		if commonness[s.secret[i]] < commonness[s.secret[s.rare]] {
			s.rare = i
		}
	}
	for i := range n {
		arena = append(arena, lowerTable[secret[i]])
	}
	s.forms[0] = form{p: arena[n : 2*n : 2*n], tbl: &lowerTable}
	for a := range 3 {
		off := len(arena)
		arena = b64Core(arena, s.secret, a)
		s.forms[1+a] = form{p: arena[off:len(arena):len(arena)], tbl: &b64Table}
	}
	s.minLen = n
	for i := range s.forms {
		f := &s.forms[i]
		f.anchorEnd = len(f.p)
		if k := bytes.IndexByte(f.p, '/'); k >= 0 {
			f.slash, f.lead, f.anchorEnd = true, k == 0, max(k, 1)
		}
		s.minLen = min(s.minLen, len(f.p))
		s.maxRaw = max(s.maxRaw, len(f.p)+bytes.Count(f.p, []byte("/")))
		sp, nsp := f.spellings(f.p[0])
		for _, c := range sp[:nsp] {
			s.first[c>>6] |= 1 << (c & 63)
		}
		if f.lead {
			s.first['\\'>>6] |= 1 << ('\\' & 63)
		}
		// The text plan: the least common byte before anchorEnd, counting each spelling.
		best, bestScore := 0, 1<<30
		scores := f.scores()
		for r, c := range f.p[:f.anchorEnd] {
			if score := int(scores[c]); score < bestScore {
				best, bestScore = r, score
			}
		}
		sp, nsp = f.spellings(f.p[best])
		for _, c := range sp[:nsp] {
			s.text.add(c, i, f, best)
		}
	}
	return s
}

// makeFacts sets what the JSON pass needs to know of the forms' bytes, on first use.
func (s *scrubber) makeFacts() {
	if s.factsMade {
		return
	}
	s.factsMade = true
	for i := range s.forms {
		f := &s.forms[i]
		other := f.others()
		for _, c := range f.p {
			s.escapable = s.escapable || c == '"' || c == '\\' || c < 0x20
			s.nonASCII = s.nonASCII || c >= 0x80
			o := other[c]
			s.inForms[c>>6] |= 1 << (c & 63)
			s.inForms[o>>6] |= 1 << (o & 63)
		}
	}
}

// mediaPlan returns the plan for streams: greedily, the anchor byte (or the two spellings
// of a letter, for the key in any case) that serves the most forms not yet served per
// IndexByte pass, the least common in text among equals, until every form is served.
// Each distinct byte is one pass over a chunk, and in media one stop every 256 bytes or
// so: a key whose forms share a byte costs one pass, most cost two.
func (s *scrubber) mediaPlan() *anchorPlan {
	if s.media != nil {
		return s.media
	}
	s.media = new(anchorPlan)
	// single[c]: the forms with an anchor position spelled c alone, at rs[c][form];
	// pair[c]: those with one spelled c or its other spelling (c: the lower case letter,
	// '+' or '/'), at rp[c][form].
	var single, pair [256]uint8
	var rs, rp [256][numForms]uint8
	var cands [256]byte
	nc := 0
	for i := range s.forms {
		f := &s.forms[i]
		bit := uint8(1) << i
		for r, c := range f.p[:min(f.anchorEnd, 256)] {
			if _, n := f.spellings(c); n == 1 {
				if single[c]&bit == 0 {
					if single[c] == 0 && pair[c] == 0 {
						cands[nc], nc = c, nc+1
					}
					single[c] |= bit
					rs[c][i] = uint8(r)
				}
			} else if pair[c]&bit == 0 {
				if single[c] == 0 && pair[c] == 0 {
					cands[nc], nc = c, nc+1
				}
				pair[c] |= bit
				rp[c][i] = uint8(r)
			}
		}
	}
	otherOf := func(c byte) byte {
		if c >= 'a' && c <= 'z' {
			return foldOthers[c]
		}
		return b64Others[c]
	}
	for left := uint8(1<<numForms - 1); left != 0; {
		bestServed, bestCost, bestScore, bestC := uint8(0), 1, 0, byte(0)
		for _, c := range cands[:nc] {
			for cost := 1; cost <= 2; cost++ {
				var served uint8
				score := int(commonness[c])
				if cost == 1 {
					served = single[c] & left
				} else {
					if pair[c] == 0 {
						continue
					}
					o := otherOf(c)
					served = (pair[c] | single[c] | single[o]) & left
					score += int(commonness[o])
				}
				cnt, bcnt := bitsSet(served), bitsSet(bestServed)
				if served != 0 && (bestServed == 0 || cnt*bestCost > bcnt*cost || cnt*bestCost == bcnt*cost && score < bestScore) {
					bestServed, bestCost, bestScore, bestC = served, cost, score, c
				}
			}
		}
		if bestServed == 0 {
			break // cannot happen: every form has an anchor position
		}
		o := otherOf(bestC)
		for j := range s.forms {
			bit := uint8(1) << j
			if bestServed&bit == 0 {
				continue
			}
			f := &s.forms[j]
			switch {
			case single[bestC]&bit != 0:
				s.media.add(bestC, j, f, int(rs[bestC][j]))
			case pair[bestC]&bit != 0:
				s.media.add(bestC, j, f, int(rp[bestC][j]))
				s.media.add(o, j, f, int(rp[bestC][j]))
			default: // served through the other spelling alone
				s.media.add(o, j, f, int(rs[o][j]))
			}
		}
		left &^= bestServed
	}
	return s.media
}

func bitsSet(x uint8) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

// scores returns, for each byte of p, the commonness of all its spellings together.
func (f *form) scores() *[256]uint16 {
	if f.tbl == &lowerTable {
		return &foldScores
	}
	return &b64Scores
}

// others returns, for each byte of p, its other spelling (itself if none).
func (f *form) others() *[256]byte {
	if f.tbl == &lowerTable {
		return &foldOthers
	}
	return &b64Others
}

var foldOthers, b64Others = func() (fo, bo [256]byte) {
	for c := range 256 {
		fo[c], bo[c] = byte(c), byte(c)
		if c >= 'a' && c <= 'z' {
			fo[c] = byte(c) - 'a' + 'A'
		}
	}
	bo['+'], bo['/'] = '-', '_'
	return fo, bo
}()

var foldScores, b64Scores = func() (fs, bs [256]uint16) {
	for c := range 256 {
		fs[c], bs[c] = uint16(commonness[c]), uint16(commonness[c])
		if c >= 'a' && c <= 'z' {
			fs[c] += uint16(commonness[c-'a'+'A'])
		}
	}
	bs['+'] += uint16(commonness['-'])
	bs['/'] += uint16(commonness['_'])
	return fs, bs
}()

// spellings returns the input bytes that match the form's byte c through its table.
func (f *form) spellings(c byte) ([2]byte, int) {
	if f.tbl == &lowerTable {
		if c >= 'a' && c <= 'z' {
			return [2]byte{c, c - 'a' + 'A'}, 2
		}
		return [2]byte{c}, 1
	}
	switch c {
	case '+':
		return [2]byte{'+', '-'}, 2
	case '/':
		return [2]byte{'/', '_'}, 2
	}
	return [2]byte{c}, 1
}

// lowerTable folds ASCII letters to lower case; b64Table reads the URL alphabet's '-'
// and '_' as the standard alphabet's '+' and '/'.
var lowerTable, b64Table = func() (l, b [256]byte) {
	for c := range 256 {
		l[c], b[c] = byte(c), byte(c)
		if c >= 'A' && c <= 'Z' {
			l[c] = byte(c) - 'A' + 'a'
		}
	}
	b['-'], b['_'] = '+', '/'
	return l, b
}()

// b64Core appends to dst the base64 characters (standard alphabet) that every base64
// encoding of a text holding key at byte offset ≡ a (mod 3) contains, whatever the text's
// other bytes: the characters whose six bits all come from key. Counting bits from the
// start of the group the key begins in, key occupies bits [8a, 8a+8n); character c covers
// bits [6c, 6c+6), so the core is characters ceil(8a/6) … floor((8a+8n)/6)-1. The one
// or two characters on either side mix a few bits of the key (at most four of its first
// byte and four of its last) with bits of its neighbours and stay unmasked.
func b64Core(dst, key []byte, a int) []byte {
	n := len(key)
	var textBuf [96]byte
	var encBuf [128]byte // base64 of textBuf
	text := textBuf[:0]
	if a+n+2 > len(textBuf) {
		text = make([]byte, 0, a+n+2)
	}
	text = append(text, make([]byte, a)...)
	text = append(text, key...)
	text = append(text, 0, 0) // the last group's other bytes: left out of the core anyway
	var enc []byte
	if el := base64.StdEncoding.EncodedLen(len(text)); el <= len(encBuf) {
		enc = encBuf[:el]
	} else {
		enc = make([]byte, el)
	}
	base64.StdEncoding.Encode(enc, text)
	return append(dst, enc[(8*a+5)/6:(8*a+8*n)/6]...)
}

// commonness ranks how often a byte turns up in JSON and text, so that a search for the
// secret can anchor on its rarest byte: bytes.Index anchors on the first byte, and when that
// is an 'e' or an 's' it stops at every other word of a 20 KB voice list. IndexByte on a
// rare byte skips through such a body at memory speed.
var commonness = func() (t [256]uint8) {
	for c := range t {
		t[c] = 10 // other punctuation, bytes above ASCII
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = 40
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = 30
	}
	// Lower case letters by their frequency in English, least common first.
	for i, c := range "zqxjkvbpygfwmucldrhsnioate" {
		t[c] = uint8(50 + 5*i)
	}
	for _, c := range ` "{}[]:,_-.` + "\n\t" {
		t[c] = 200
	}
	return t
}()

// index returns the first index of the secret in b, or -1.
func (s *scrubber) index(b []byte) int {
	anchor, n := s.secret[s.rare], len(s.secret)
	for from := 0; ; {
		j := bytes.IndexByte(b[from:], anchor)
		if j < 0 {
			return -1
		}
		start := from + j - s.rare
		// Compare the first and last bytes before the whole key: most anchor hits in
		// binary media fail there, without a call.
		if start >= 0 && start+n <= len(b) && b[start] == s.secret[0] && b[start+n-1] == s.secret[n-1] &&
			bytes.Equal(b[start:start+n], s.secret) {
			return start
		}
		from += j + 1
	}
}

// mask is what replaces the secret: as many '*' as it has bytes. Made only when needed.
func (s *scrubber) mask() []byte { return bytes.Repeat([]byte("*"), len(s.secret)) }

func (s *scrubber) active() bool { return len(s.secret) > 0 }

// Bytes returns b with every occurrence of the key exactly as written masked, left to
// right (b itself when none): bytes.ReplaceAll with a mask. It is the plain form alone;
// what the gateway applies to answers is Forms, JSON and the scrubWriter.
func (s *scrubber) Bytes(b []byte) []byte {
	if !s.active() {
		return b
	}
	i := s.index(b)
	if i < 0 {
		return b
	}
	out := bytes.Clone(b)
	for mask := s.mask(); i >= 0; {
		copy(out[i:], mask)
		j := s.index(out[i+len(mask):])
		if j < 0 {
			break
		}
		i += len(mask) + j
	}
	return out
}

// Forms returns b with every form of the key masked (b itself when none).
func (s *scrubber) Forms(b []byte) []byte {
	out, _, _ := s.scan(b, true, &s.text)
	return out
}

// String is Forms for strings (header values).
func (s *scrubber) String(v string) string {
	if !s.active() || v == "" {
		return v
	}
	// scan only reads its input, and copies before it masks.
	out, _, changed := s.scan(unsafe.Slice(unsafe.StringData(v), len(v)), true, &s.text)
	if !changed {
		return v
	}
	return string(out)
}

// match states
const (
	noMatch = iota
	fullMatch
	partialMatch // the input ended before the form did, every byte so far agreeing
)

// match compares the form with b from s on: the end of the occurrence and fullMatch, or
// partialMatch when b runs out first, or noMatch.
func (f *form) match(b []byte, s int) (int, int) {
	j := s
	for _, pc := range f.p {
		if j >= len(b) {
			return j, partialMatch
		}
		c := b[j]
		if f.tbl[c] == pc {
			j++
			continue
		}
		if pc == '/' && c == '\\' {
			if j+1 >= len(b) {
				return j, partialMatch
			}
			if b[j+1] == '/' {
				j += 2
				continue
			}
		}
		return j, noMatch
	}
	return j, fullMatch
}

// search finds, for each form whose starts entry is -2 (not searched), its first
// occurrence in b at p or later ([starts[i], ends[i]), or -1 when there is none). Each
// anchor byte of the plan is one pass of IndexByte, checking the forms it serves at each
// stop. A pass stops once nothing it could still find would start before the leftmost
// occurrence found so far: a form that pass serves is then left -2 unless its occurrence
// found is the leftmost (an earlier one of it would have been seen).
func (s *scrubber) search(b []byte, p int, pl *anchorPlan, starts, ends *[numForms]int) {
	var want uint8
	best := -1
	for i, st := range starts {
		if st == -2 {
			want |= 1 << i
		} else if st >= 0 && (best < 0 || st < best) {
			best = st
		}
	}
	if want == 0 {
		return
	}
	var cut uint8 // forms a pass gave up on early
	for k := range pl.n {
		entries := pl.e[pl.lo[k]:pl.lo[k+1]]
		var mine uint8 // wanted forms this byte serves, not found by this pass yet
		for _, en := range entries {
			mine |= want & (1 << en.form)
		}
		c := pl.c[k]
		for j := p; mine != 0; j++ {
			q := bytes.IndexByte(b[j:], c)
			if q < 0 {
				break
			}
			j += q
			if best >= 0 && j > best+pl.max {
				cut |= mine
				break
			}
			for ei := range entries {
				en := &entries[ei]
				bit := uint8(1) << en.form
				if mine&bit == 0 {
					continue
				}
				st := j - int(en.r)
				if en.fixed {
					// First and last bytes before the whole form: most stops in media
					// fail there without a loop.
					if st < p || st+int(en.n) > len(b) || en.tbl[b[st+int(en.n)-1]] != en.last || en.tbl[b[st]] != en.first {
						continue
					}
				} else {
					if en.r == 0 && j > p && b[j-1] == '\\' && b[j] == '/' {
						st = j - 1 // the form starts with '/', written `\/`
					}
					if st < p {
						continue
					}
				}
				if e, m := s.forms[en.form].match(b, st); m == fullMatch {
					mine &^= bit
					if starts[en.form] < 0 || st < starts[en.form] {
						starts[en.form], ends[en.form] = st, e
					}
					if best < 0 || st < best {
						best = st
					}
				}
			}
		}
	}
	for i := range starts {
		switch bit := uint8(1) << i; {
		case want&bit == 0:
		case cut&bit != 0 && !(starts[i] >= 0 && starts[i] <= best):
			starts[i] = -2 // not known past best: searched again once best is passed
		case starts[i] == -2:
			starts[i] = -1 // every pass ran out: none
		}
	}
}

// undecided returns the first position at p or later where an occurrence of a form
// may begin that b ends too early to decide, or -1.
func (s *scrubber) undecided(b []byte, p int) int {
	for u := max(p, len(b)-s.maxRaw+1); u < len(b); u++ {
		if c := b[u]; s.first[c>>6]&(1<<(c&63)) == 0 {
			continue
		}
		for i := range s.forms {
			if _, st := s.forms[i].match(b, u); st == partialMatch {
				return u
			}
		}
	}
	return -1
}

// scan masks every occurrence of a form in b, leftmost first and at one position the
// longest, and returns the result (b itself when nothing was masked; b is never written).
// final says b is the whole of the input. Otherwise more may follow, and scanning stops
// at the first position where an occurrence may begin that b ends too early to decide:
// held is that position (len(b) when there is none); what lies before it is final, and
// what lies from it on is returned unmasked, to be scanned again with what follows.
// The plan only changes how fast: every decision depends on the bytes from its position
// on, never on the plan or on where b was cut.
func (s *scrubber) scan(b []byte, final bool, pl *anchorPlan) (out []byte, held int, changed bool) {
	out = b
	if !s.active() {
		return out, len(b), false
	}
	var starts, ends [numForms]int
	for i := range starts {
		starts[i] = -2 // not searched yet
	}
	u := -2 // the first undecided position, once looked for
	for p := 0; ; {
		for i, st := range starts {
			if st >= 0 && st < p {
				starts[i] = -2
			}
		}
		s.search(b, p, pl, &starts, &ends)
		start, end := -1, -1
		for i, st := range starts {
			if st >= 0 && (start < 0 || st < start || st == start && ends[i] > end) {
				start, end = st, ends[i]
			}
		}
		if !final {
			if u == -2 || u >= 0 && u < p {
				u = s.undecided(b, p)
			}
			if u >= 0 && (start < 0 || u <= start) {
				return out, u, changed
			}
		}
		if start < 0 {
			return out, len(b), changed
		}
		if !changed {
			out, changed = bytes.Clone(b), true
		}
		for k := start; k < end; k++ {
			out[k] = '*'
		}
		p = end
	}
}

// scrubWriter masks the key in a stream. An occurrence may straddle two writes, so a
// write's tail that could begin a form is held back, and only that: a chunk whose end
// cannot start one goes out whole and at once, keeping streams live. What it writes is
// exactly Forms of the whole stream, however the stream is cut into writes.
type scrubWriter struct {
	w    io.Writer
	s    *scrubber
	held []byte // unscanned input: a tail that may begin a form
}

func (sw *scrubWriter) Write(p []byte) (int, error) {
	if !sw.s.active() {
		return sw.w.Write(p)
	}
	buf := p
	var scratch *[]byte
	if len(sw.held) > 0 {
		// The held tail and the new bytes are scanned together, in a pooled buffer: a
		// stream keeps only its short tail between writes.
		scratch = scrubScratch.Get().(*[]byte)
		buf = append(append((*scratch)[:0], sw.held...), p...)
	}
	out, u, _ := sw.s.scan(buf, false, sw.s.mediaPlan())
	var err error
	if u > 0 {
		_, err = sw.w.Write(out[:u])
	}
	sw.held = append(sw.held[:0], buf[u:]...)
	if scratch != nil && cap(buf) <= 2*copyBufferSize {
		*scratch = buf[:0]
		scrubScratch.Put(scratch)
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// scrubScratch recycles the buffers scrubWriter joins a held tail and a write in.
var scrubScratch = sync.Pool{New: func() any {
	b := make([]byte, 0, copyBufferSize+256)
	return &b
}}

// Close writes what is held back, scanned as the end of the stream.
func (sw *scrubWriter) Close() error {
	if len(sw.held) == 0 {
		return nil
	}
	out, _, _ := sw.s.scan(sw.held, true, sw.s.mediaPlan())
	_, err := sw.w.Write(out)
	sw.held = sw.held[:0]
	return err
}

// cutSlack is how far past a limit a bounded copy must read so that an occurrence of the
// key across the cut is seen whole, escaped (`\u0061` takes six bytes for one) included.
func (s *scrubber) cutSlack() int { return 6 * s.maxRaw }

// tailMask masks, after a cut, a tail of b that could begin a form (any length of it):
// the cut may have removed the rest of the key. b is modified in place.
func (s *scrubber) tailMask(b []byte) {
	if !s.active() {
		return
	}
	if u := s.undecided(b, 0); u >= 0 {
		for k := u; k < len(b); k++ {
			b[k] = '*'
		}
	}
}

// JSON returns a JSON text with the key masked in every form, and as a JSON parser
// recovers it from a string token: each string holding an escape is decoded, the forms
// are looked for in its decoded text, and the escapes and characters that make up an
// occurrence are replaced by as many '*' as the occurrence has decoded bytes. Strings
// without a match are left byte for byte. ok is false when the masked text is no longer
// JSON: the key matched outside any string (a key of digits inside a number), so the
// answer cannot be both scrubbed and valid. data must be valid JSON; for other text (an
// error body cut to its limit) the same passes run leniently (unterminated strings,
// invalid escapes kept as written) and ok says nothing.
func (s *scrubber) JSON(data []byte) (out []byte, ok bool) {
	out, changed := s.json(data)
	if !changed {
		return data, true
	}
	return out, validJSON(out)
}

func (s *scrubber) json(data []byte) ([]byte, bool) {
	out, _, changed := s.scan(data, true, &s.text)
	if !s.active() || bytes.IndexByte(data, '\\') < 0 {
		return out, changed // no escape: what a parser reads is what was scanned
	}
	s.makeFacts()
	if !changed && !s.escapable && s.nextRevealing(data, 0) < 0 {
		// Short escapes other than `\/` stand for characters no form holds, `\/` is
		// matched in raw text already, and no `\u` escape stands for a byte of a form
		// (an encoder's `\u00e9` or `\u003c`): decoding would find nothing new.
		return out, false
	}
	return s.jsonStrings(data, out, changed)
}

// nextRevealing returns the index of the first `\u` escape in data from i on that stands
// for a byte some form holds (-1 if none): only such an escape can make decoding a
// string show a form its raw text hides.
func (s *scrubber) nextRevealing(data []byte, i int) int {
	for {
		k := bytes.IndexByte(data[i:], '\\')
		if k < 0 {
			return -1
		}
		i += k
		if i+1 >= len(data) || data[i+1] != 'u' {
			i += 2 // another escape (`\\` included): skipped whole
			continue
		}
		r, n := decodeU(data[i:])
		switch {
		case n == 0:
			i += 2
			continue
		case r >= 0x80:
			if s.nonASCII {
				return i
			}
		case s.inForms[r>>6]&(1<<(r&63)) != 0:
			return i
		}
		i += n
	}
}

// jsonStrings rebuilds, from data, each string token that needs it: one holding an escape
// whose decoded text holds a form, or an escape that the raw scan (raw, same length as
// data) masked part of. Everything else is taken from raw.
func (s *scrubber) jsonStrings(data, raw []byte, changed bool) ([]byte, bool) {
	var res []byte // nil until a token is rebuilt
	copied := 0    // raw[:copied] is in res
	var js jsonString
	// A token gets looked at when it holds a revealing escape (found directly: a `\u`
	// stands inside a string, whose opening quote is the last unescaped quote before it),
	// or, when the raw scan masked anything, when it holds any escape (every token is
	// walked then, which is rare).
	walk := changed || s.escapable
	for i := 0; i < len(data); {
		var start int
		if walk {
			q := bytes.IndexByte(data[i:], '"')
			if q < 0 {
				break
			}
			start = i + q + 1
		} else {
			x := s.nextRevealing(data, i)
			if x < 0 {
				break
			}
			start = openingQuote(data, x) + 1
		}
		end, esc := stringEnd(data, start)
		i = end + 1
		if !esc {
			continue
		}
		tok := data[start:end]
		rawMasked := changed && !bytes.Equal(raw[start:end], tok)
		decode := end-start >= s.minLen && (s.escapable || s.nextRevealing(tok, 0) >= 0)
		if !rawMasked && !decode {
			continue
		}
		js.decode(tok)
		var masked []byte
		if decode {
			if m, _, ch := s.scan(js.dec, true, &s.text); ch {
				masked = m
			}
		}
		if !rawMasked && masked == nil {
			continue
		}
		if res == nil {
			res = make([]byte, 0, len(data))
		}
		res = append(res, raw[copied:start]...)
		res = js.rebuild(res, tok, raw[start:end], masked)
		copied = end
	}
	if res == nil {
		return raw, changed
	}
	return append(res, raw[copied:]...), true
}

// openingQuote returns the index of the last quote before x that no backslash escapes
// (-1 if none): in JSON, the opening quote of the string x stands in.
func openingQuote(data []byte, x int) int {
	for j := x; ; {
		q := bytes.LastIndexByte(data[:j], '"')
		if q < 0 {
			return -1
		}
		k := q
		for k > 0 && data[k-1] == '\\' {
			k--
		}
		if (q-k)%2 == 0 {
			return q
		}
		j = q
	}
}

// stringEnd returns the index of the quote that closes the string whose text starts at
// start (len(data) if none does), and whether the string holds a backslash.
func stringEnd(data []byte, start int) (int, bool) {
	esc := false
	q := -1 // the next quote at j or later, once found: each byte is looked at once
	for j := start; ; {
		if q < j {
			k := bytes.IndexByte(data[j:], '"')
			if k < 0 {
				return len(data), esc || bytes.IndexByte(data[j:], '\\') >= 0
			}
			q = j + k
		}
		b := bytes.IndexByte(data[j:q], '\\')
		if b < 0 {
			return q, esc
		}
		esc = true
		j += b + 2 // the escaped byte, a quote perhaps, belongs to the string
		if j > len(data) {
			return len(data), true
		}
	}
}

// jsonString is a string token decoded as encoding/json decodes it, and where each escape
// came from. Bytes outside escapes are copied as they are (invalid UTF-8 included).
type jsonString struct {
	dec   []byte
	units []escUnit
}

// escUnit is one escape: raw bytes [rs, re) of the token decode to dec[ds:de].
type escUnit struct{ rs, re, ds, de int }

func (js *jsonString) decode(tok []byte) {
	js.dec, js.units = js.dec[:0], js.units[:0]
	for i := 0; i < len(tok); {
		b := bytes.IndexByte(tok[i:], '\\')
		if b < 0 {
			js.dec = append(js.dec, tok[i:]...)
			return
		}
		js.dec = append(js.dec, tok[i:i+b]...)
		i += b
		u := escUnit{rs: i, ds: len(js.dec)}
		c := byte(0)
		if i+1 < len(tok) {
			c = tok[i+1]
		}
		switch c {
		case '"', '\\', '/':
			js.dec, u.re = append(js.dec, c), i+2
		case 'b':
			js.dec, u.re = append(js.dec, '\b'), i+2
		case 'f':
			js.dec, u.re = append(js.dec, '\f'), i+2
		case 'n':
			js.dec, u.re = append(js.dec, '\n'), i+2
		case 'r':
			js.dec, u.re = append(js.dec, '\r'), i+2
		case 't':
			js.dec, u.re = append(js.dec, '\t'), i+2
		case 'u':
			r, n := decodeU(tok[i:])
			if n == 0 {
				js.dec, u.re = append(js.dec, '\\'), i+1 // not an escape: kept as written
			} else {
				js.dec, u.re = appendRune(js.dec, r), i+n
			}
		default:
			js.dec, u.re = append(js.dec, '\\'), i+1
		}
		u.de = len(js.dec)
		js.units = append(js.units, u)
		i = u.re
	}
}

// decodeU decodes `\uXXXX` (and a following low surrogate's `\uXXXX`) at the start of b
// as encoding/json does: a lone surrogate is U+FFFD. n is how many bytes it took; 0 if b
// does not start with a valid escape.
func decodeU(b []byte) (rune, int) {
	r := hex4(b)
	if r < 0 {
		return 0, 0
	}
	if r >= 0xD800 && r < 0xDC00 {
		if len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
			if r2 := hex4(b[6:]); r2 >= 0xDC00 && r2 < 0xE000 {
				return 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00), 12
			}
		}
		return 0xFFFD, 6
	}
	if r >= 0xDC00 && r < 0xE000 {
		return 0xFFFD, 6
	}
	return r, 6
}

// hex4 reads the four hex digits of `\uXXXX` at the start of b, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range b[2:6] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

func appendRune(b []byte, r rune) []byte {
	switch {
	case r < 0x80:
		return append(b, byte(r))
	case r < 0x800:
		return append(b, 0xC0|byte(r>>6), 0x80|byte(r)&0x3F)
	case r < 0x10000:
		return append(b, 0xE0|byte(r>>12), 0x80|byte(r>>6)&0x3F, 0x80|byte(r)&0x3F)
	default:
		return append(b, 0xF0|byte(r>>18), 0x80|byte(r>>12)&0x3F, 0x80|byte(r>>6)&0x3F, 0x80|byte(r)&0x3F)
	}
}

// rebuild appends the token to dst: bytes outside escapes from raw (the raw scan's
// masks included) or '*' where the decoded scan masked them; each escape as written, or
// as '*' per decoded byte when either scan masked any of it.
func (js *jsonString) rebuild(dst, tok, raw, masked []byte) []byte {
	ri, di := 0, 0
	plain := func(re int) {
		for k := ri; k < re; k++ {
			if masked != nil && masked[di+k-ri] != js.dec[di+k-ri] {
				dst = append(dst, '*')
			} else {
				dst = append(dst, raw[k])
			}
		}
		di += re - ri
		ri = re
	}
	for _, u := range js.units {
		plain(u.rs)
		hit := !bytes.Equal(raw[u.rs:u.re], tok[u.rs:u.re])
		if masked != nil && !bytes.Equal(masked[u.ds:u.de], js.dec[u.ds:u.de]) {
			hit = true
		}
		if hit {
			for range u.de - u.ds {
				dst = append(dst, '*')
			}
		} else {
			dst = append(dst, tok[u.rs:u.re]...)
		}
		ri, di = u.re, u.de
	}
	plain(len(tok))
	return dst
}
