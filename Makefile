.PHONY: bench

# Rate limiter benchmark on a local redis-server it starts itself (loopback only):
# decisions/s, p50/p99 and Redis round trips per decision, store alone and through the proxy.
bench:
	go run ./ratelimit/cmd/ratelimit-bench -duration 5s -workers 16
