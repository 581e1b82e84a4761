# The two commands of the README are `go run ./cmd/parley serve` and the
# test command below; these targets are shorthands for them and for the
# benchmarks (bench/README.md).

.PHONY: build test bench bench-parley bench-kamailio bench-go

build:
	go build -o bin/parley ./cmd/parley

test:
	go vet ./... && go test -race -count=1 -timeout 45m ./...

# Issue 20's targets table in one run: every series for Parley and
# Kamailio, alternating, then the markdown table with ratios and targets
# (bench/README.md). WHAT narrows it, QUICK=1 shortens it, e.g.
# make bench WHAT="call-udp reg-udp" QUICK=1
bench: build
	cd bench && ./table.sh $(WHAT)

# One peer's sipp series alone (bench/campaign.sh), e.g.
# make bench-parley WHAT=call-udp
bench-parley: build
	cd bench && ./campaign.sh parley ./parley.sh $(WHAT)
	cd bench && ./summarize.py results/parley.jsonl

bench-kamailio:
	cd bench && ./campaign.sh kamailio peers/kamailio.sh $(WHAT)
	cd bench && ./summarize.py results/kamailio.jsonl

bench-go:
	go test -run XXX -bench . -benchmem ./sip/ ./transport/ ./transaction/ ./location/ ./proxy/
