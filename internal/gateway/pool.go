package gateway

import (
	"bytes"
	"sync"
)

// copyBuffers recycles the copy loop's buffers across calls.
var copyBuffers = sync.Pool{New: func() any {
	b := make([]byte, copyBufferSize)
	return &b
}}

// jsonBuffers recycles the buffers json-mode responses are read into for validation.
var jsonBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putJSONBuffer returns a buffer to the pool unless it grew large: one huge response
// should not pin its memory for ever.
func putJSONBuffer(b *bytes.Buffer) {
	if b.Cap() > 1<<20 {
		return
	}
	b.Reset()
	jsonBuffers.Put(b)
}
