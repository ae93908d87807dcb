package gateway

import "sync"

// copyBuffers recycles the copy loop's buffers across calls.
var copyBuffers = sync.Pool{New: func() any {
	b := make([]byte, copyBufferSize)
	return &b
}}
