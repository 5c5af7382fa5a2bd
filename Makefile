# nkit: `make demo` and `make test` set up everything they need (apt packages,
# npm packages, the addon, the BPF object, the VM kernels) and then run.
SHELL := /bin/bash
.DEFAULT_GOAL := build
NODEDIR := $(shell [ -f /usr/include/node/node.h ] && echo /usr)
NODE_GYP := node_modules/.bin/node-gyp $(if $(NODEDIR),--nodedir=$(NODEDIR))
TAP := node_modules/.bin/tap
CLANG ?= clang
BPF_CFLAGS := -O2 -g -target bpf -mcpu=v3 -Wall -Werror -I/usr/include/$(shell uname -m)-linux-gnu

ADDON := native/build/Release/nkit.node
CLIENT := native/build/nkit-hook-client
SNAPSHOT := dist/oci-hook.snapshot.blob
BPF_OBJ := bpf/policy.bpf.o
# Not loaded: the ABI test reads the structs' layout from its BTF.
ABI_OBJ := bpf/abi-types.bpf.o
STAMP := .cache/stamps

.PHONY: build deps test test-unit test-kernel test-e2e test-fuzz test-vm vm-kernels demo clean bpffs

build: deps node_modules/.stamp $(ADDON) $(CLIENT) $(BPF_OBJ) $(ABI_OBJ) dist/.stamp $(SNAPSHOT)

deps: $(STAMP)/deps
$(STAMP)/deps: packaging/install-deps.sh test/vm/host-packages.txt
	packaging/install-deps.sh --vm
	@mkdir -p $(STAMP) && touch $@

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

$(ADDON): node_modules/.stamp native/binding.gyp $(wildcard native/src/*)
	$(NODE_GYP) rebuild --directory native >/dev/null

# The native hook client (no Node start when the agent runs).
$(CLIENT): native/client/nkit-hook-client.c $(ADDON)
	gcc -O2 -Wall -Wextra -o $@ $<

$(BPF_OBJ): bpf/policy.bpf.c bpf/nkit_abi.h
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(ABI_OBJ): bpf/abi-types.bpf.c bpf/nkit_abi.h
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

dist/.stamp: node_modules/.stamp tsconfig.json $(shell find src hooks test bench -name '*.ts' 2>/dev/null) $(wildcard config/schema/*.json) packaging/gen-validators.js
	node packaging/gen-validators.js
	node_modules/.bin/tsc -p tsconfig.json
	cp src/spec/validators.generated.js dist/src/spec/
	@touch $@

# The cold hook as one bundle and a V8 startup snapshot of it; the stamp
# names the node binary it belongs to (the client checks it before use).
$(SNAPSHOT): dist/.stamp
	node_modules/.bin/esbuild hooks/oci-hook.ts --bundle --format=iife --platform=node --target=node20 --log-level=warning --outfile=dist/bundle/oci-hook.js
	cd dist && node --snapshot-blob oci-hook.snapshot.blob --build-snapshot bundle/oci-hook.js 2>/dev/null
	stat -Lc '%s-%Y' $$(command -v node) > $@.node

bpffs:
	@mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

vm-kernels: deps
	test/vm/fetch-kernels

test: build bpffs vm-kernels
	@start=$$(date +%s); \
	$(TAP) dist/test/unit/*.test.js dist/test/kernel/*.test.js dist/test/e2e/*.test.js dist/test/fuzz/*.test.js && \
	echo "host suites: $$(( $$(date +%s) - start )) s" && \
	$(MAKE) --no-print-directory test-vm

test-unit: build
	$(TAP) dist/test/unit/*.test.js

test-kernel: build bpffs
	$(TAP) dist/test/kernel/*.test.js

test-e2e: build bpffs
	$(TAP) dist/test/e2e/*.test.js

test-fuzz: build bpffs
	$(TAP) dist/test/fuzz/*.test.js

test-vm: build vm-kernels
	@start=$$(date +%s); \
	$(TAP) --timeout 3000 dist/test/vm/*.test.js; rc=$$?; \
	echo "VM suite wall time: $$(( $$(date +%s) - start )) s"; exit $$rc

demo: build bpffs vm-kernels
	bin/nkit-demo

clean:
	rm -rf dist native/build $(BPF_OBJ) $(ABI_OBJ) .cache/stamps

# Benchmarks, as root; rewrites BENCHMARKS.md and bench/chart.svg:
# - policy per-packet cost (bench/policy-cost.ts): BPF_PROG_TEST_RUN at
#   0-10,000 rules, and the veth path with nkit on tcx against nftables with
#   the same rules (1.5-3 minutes on 2 cores);
# - bench/run.ts: hook setup/teardown (agent and cold) against CNI ptp and
#   netavark at 0/100/1,000 existing containers, the program per packet
#   against an empty one, the TCP datapath runner here and in the VM
#   (5-7 minutes, the VM part 1-2 of them). QUICK=1: fewer rounds;
#   BENCH_VM=0: no VM part.
BENCH_PKGS := containernetworking-plugins netavark iptables strace
.PHONY: bench
bench: build bpffs vm-kernels
	@command -v nft >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nftables >/dev/null; }
	@n=$$(dpkg-query -W -f='$${db:Status-Abbrev}\n' $(BENCH_PKGS) 2>/dev/null | grep -c '^ii'); [ "$$n" = $(words $(BENCH_PKGS)) ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BENCH_PKGS) >/dev/null; }
	@mkdir -p .cache/bench
	gcc -O2 -Wall -Wextra -o .cache/bench/sender bench/sender.c
	gcc -O2 -Wall -Wextra -o .cache/bench/timeit bench/timeit.c
	gcc -O2 -Wall -Wextra -o .cache/bench/tcpbench bench/tcpbench.c
	$(CLANG) $(BPF_CFLAGS) -c bench/empty.bpf.c -o .cache/bench/empty.bpf.o
	node dist/bench/policy-cost.js $(if $(QUICK),--quick)
	node dist/bench/run.js $(if $(QUICK),--quick) $(if $(filter 0,$(BENCH_VM)),--no-vm)

# The Debian package: build/deb/nkit_VERSION_ARCH.deb (packaging/deb/build-deb).
.PHONY: deb
deb: build
	packaging/deb/build-deb --out build/deb
