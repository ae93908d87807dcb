# Benchmarks: see docs/benchmarks.md. The benchmark lives in the tools module (tools/go.mod),
# so it runs with `go -C tools`; it finds the repository and builds ./cmd/aiproxy itself.
# Other targets may be added below.
.PHONY: bench bench-quick

# Full run, a few minutes: load steps, 1 GiB transfers, 10,000 held streams. Writes
# tools/bench/results and the generated section of docs/benchmarks.md. Without nginx on
# PATH the nginx comparison is skipped; add ARGS=--install-nginx to apt-get it.
bench:
	go -C tools run ./bench $(ARGS)

# Under a minute, for CI: fewer rates, 1 s steps, no memory or streams runs.
bench-quick:
	go -C tools run ./bench --quick $(ARGS)
