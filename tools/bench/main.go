// Command bench measures what aiproxy costs in front of an upstream, next to the cheapest
// possible proxy (a bare httputil.ReverseProxy, "the floor") and nginx, all on one machine
// in one run. Every server runs in its own process: the canned upstream and the floor are
// this binary re-executed with a subcommand, nginx and aiproxy are their own binaries.
//
//	cd tools
//	go run ./bench                   # full run, a few minutes; writes tools/bench/results and docs/benchmarks.md
//	go run ./bench --quick           # about a minute, for CI
//	go run ./bench --install-nginx   # apt-get install nginx-light first if nginx is missing
//	go run ./bench --accounting-only # only the accounting comparison (issue 11), a minute or two
//	go run ./bench --only job-waiters # only the job-waiters run (10,000 event streams on 100 jobs), about a minute and a half
//	go run ./bench --only realtime   # only the realtime run (2,000 relayed WebSocket sessions), about a minute
//
// It finds the repository from the working directory (the tools module or the root: `go
// -C tools run ./bench` works too) and builds ./cmd/aiproxy there. Without nginx, and
// without --install-nginx, the nginx comparison is skipped.
//
// The accounting comparison (accounting.go) runs aiproxy with jobs, usage metering and an
// org budget on against `serve --accounting=false`, on SQLite and on PostgreSQL + Redis
// (--postgres, --redis; that part is skipped, with the reason, when either does not
// answer), and prints "accounting overhead, STORE, ACTION: on/off = R ≥ 0.9 OK" or FAIL.
//
// The job-waiters run (jobwaiters.go) follows HeyGen test videos from `aiproxy sim` with
// many event streams (GET …/jobs/{id}/events/) and fails the run unless the simulator is
// read at most once per poll interval per job, aiproxy holds at most 32 KiB of RSS per
// waiter, and every waiter gets done within one poll interval of the completion.
//
// The realtime run (realtime.go) opens 2,000 WebSocket sessions of ElevenLabs'
// tts-websocket straight to an echo server in this process, then the same through aiproxy,
// and fails the run if a frame is dropped, duplicated, reordered or corrupted; it reports
// the added latency per frame (target p50 ≤ 1 ms) and aiproxy's RSS per session (≤ 64 KiB)
// as met or missed.
//
// See docs/benchmarks.md for the method and its caveats.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "upstream":
			return cmdUpstream(ctx, args[1:])
		case "floor":
			return cmdFloor(ctx, args[1:])
		}
	}
	return cmdBench(ctx, args)
}
