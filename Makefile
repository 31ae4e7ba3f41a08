# The two set-up commands (README.md): `make demo` and `make test`.
BUILD ?= build
JOBS ?= 2

.PHONY: deps build test test-all demo bench clean

deps:
	bash scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# Fast and MPI tests (everything but the `slow` label).
test: build
	cd $(BUILD) && ctest --output-on-failure -LE slow -j 1

test-all: build
	cd $(BUILD) && ctest --output-on-failure -j 1

demo: build
	OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
	  mpirun --oversubscribe -np 3 $(BUILD)/kvsweep run configs/demo.json --out runs/demo --resume
	@echo "report: runs/demo/summary.md, runs/demo/plot.svg"

bench: build
	$(BUILD)/bench_engine

clean:
	rm -rf $(BUILD)
