package main

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logBufferFlush is how long a log line may wait in memory before it is written.
const logBufferFlush = 100 * time.Millisecond

// bufferedLog collects log lines and writes them in batches: every 100 ms, when 64 KiB are
// waiting, and at Close. One write system call per request was the gateway's largest cost
// after the network itself; batching removes it, at the price of the last 100 ms of lines
// if the process is killed (a panic's trace goes to stderr directly and is not lost).
type bufferedLog struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newBufferedLog(w io.Writer) *bufferedLog {
	b := &bufferedLog{w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go b.loop()
	return b
}

func (b *bufferedLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

func (b *bufferedLog) loop() {
	defer close(b.done)
	t := time.NewTicker(logBufferFlush)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			b.flush()
		case <-b.stop:
			b.flush()
			return
		}
	}
}

func (b *bufferedLog) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.w.Flush()
}

// Close writes what is waiting and stops the flusher.
func (b *bufferedLog) Close() {
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	<-b.done
}
