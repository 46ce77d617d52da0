# The two commands of the README's Quick start. Each sets up .venv first.
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo quick test

setup:
	./scripts/setup.sh

demo: setup
	.venv/bin/mobile-distill run default

quick: setup
	.venv/bin/mobile-distill run quick

test: setup
	.venv/bin/python -m pytest -q --durations=10
