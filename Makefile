# Benchmarks: see docs/benchmarks.md. Other targets may be added below.
.PHONY: bench bench-quick

# Full run, a few minutes: load steps, 1 GiB transfers, 10,000 held streams.
bench:
	go run ./bench

# Under a minute, for CI: fewer rates, 1 s steps, no memory or streams runs.
bench-quick:
	go run ./bench --quick
