package main

import (
	"context"
	"log/slog"
	"net"
	"strconv"

	"github.com/aiproxy/aiproxy/internal/sim"
	"github.com/aiproxy/aiproxy/internal/sim/simcore"
)

// aiproxy sim: the provider simulators alone.
func cmdSim(ctx context.Context, sio stdio, args []string) error {
	fs := newFlags("sim")
	addr := fs.String("addr", "127.0.0.1:9090", "listen address")
	speed := fs.Float64("speed", 1, "how much faster than real time jobs move")
	seed := fs.Uint64("seed", 1, "seed of the generated data")
	webhookHeader := fs.String("webhook-signature-header", "X-Signature", "header carrying webhook signatures")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("sim: unexpected argument %q", pos[0])
	}
	if *speed <= 0 {
		return usagef("sim: --speed must be positive")
	}
	logger := slog.New(slog.NewTextHandler(sio.stderr, nil))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	s := sim.New(simcore.Options{Speed: *speed, Seed: *seed, WebhookSignatureHeader: *webhookHeader})
	defer s.Close()
	logger.Info("simulators listening", slog.String("url", "http://"+ln.Addr().String()),
		slog.String("speed", strconv.FormatFloat(*speed, 'f', -1, 64)), slog.Uint64("seed", *seed))
	return serveHTTP(ctx, ln, s, logger)
}
