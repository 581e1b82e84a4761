# The two commands of the README are `go run ./cmd/parley serve` and the
# test command below; these targets are shorthands for them and for the
# benchmarks (bench/README.md).

.PHONY: build test bench bench-kamailio bench-go

build:
	go build -o bin/parley ./cmd/parley

test:
	go vet ./... && go test -race -count=1 -timeout 45m ./...

# The sipp series for parley: calls and REGISTERs over UDP and TCP,
# REGISTERs with digest authentication, and memory per registration at
# 100 000 and 1 000 000 bindings. WHAT narrows it, e.g.
# make bench WHAT=call-udp
bench: build
	cd bench && ./campaign.sh parley ./parley.sh $(WHAT)
	cd bench && ./summarize.py results/*.jsonl

bench-kamailio:
	cd bench && ./campaign.sh kamailio peers/kamailio.sh $(WHAT)
	cd bench && ./summarize.py results/*.jsonl

bench-go:
	go test -run XXX -bench . -benchmem ./sip/ ./transport/ ./transaction/ ./location/ ./proxy/
