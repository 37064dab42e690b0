# The two commands of README.md. Each does its own set-up on a fresh Debian 12 machine.
#   make run    benchmark on whatever GPUs exist (CPU backend where there is none)
#   make test   build everything and run every test (GPU cases skip without a GPU)
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: run test build setup clean

setup:
	./scripts/setup-debian.sh

build: setup
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./scripts/run.sh $(BUILD)

test: build
	./scripts/test.sh $(BUILD)

clean:
	rm -rf $(BUILD) target
