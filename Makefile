.PHONY: test vet bench plan check

# The README's test command: vet, then every test (the rate limiter's start real redis-server processes).
test: vet
	go test -count=1 -timeout 30m ./...

vet:
	go vet ./...

# The offline plan of every stack.
plan:
	for s in prod staging; do go run ./cmd/plan --stack $$s > /dev/null || exit 1; done

# Posture policies (internal/policy) against every stack file's plan; fails listing the findings.
check:
	for f in Pulumi.*.yaml; do s=$${f#Pulumi.}; go run ./cmd/plan --stack $${s%.yaml} --check || exit 1; done

# Rate limiter benchmark on a local redis-server it starts itself (loopback only):
# decisions/s, p50/p99 and Redis round trips per decision, store alone and through the proxy.
bench:
	go run ./ratelimit/cmd/ratelimit-bench -duration 5s -workers 16
