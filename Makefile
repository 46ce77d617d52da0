# The two commands of the README's Quick start. Each sets up .venv first.
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup arm64 demo quick test

setup:
	./scripts/setup.sh

# The aarch64 lane (bench --emulate): qemu, an arm64 userland and the aarch64 runtimes, built once into
# ~/.cache/mobile-distill/arm64 (installs debootstrap and an aarch64 cross compiler with apt when missing).
arm64: setup
	.venv/bin/mobile-distill emulate --setup

demo: setup
	.venv/bin/mobile-distill run default

quick: setup
	.venv/bin/mobile-distill run quick

# Two processes, one test file each at a time (--dist loadfile: a file's module fixtures are built once),
# one OpenMP thread each: two workers' torch pools on two cores spin against each other (test_students and
# test_parity took 283 s with torch's default threads, 241 s with one, on a 2-core machine). Tests that time
# or run at a thread count set it themselves.
test: setup arm64
	OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q -n 2 --dist loadfile --durations=10
