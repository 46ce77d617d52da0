"""Process-wide settings changed at run time, each set and restored by a context manager so no stage
leaks them into the caller (thread counts), and the process rank under torchrun. Light: the CLI
imports it before deciding whether torch is needed."""

from __future__ import annotations

import os
from contextlib import contextmanager


def is_main_process() -> bool:
    """True on the process that writes outputs: rank 0 under torchrun, or the only process."""
    return int(os.environ.get("RANK", "0")) == 0


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


@contextmanager
def torch_threads(threads: int | None):
    """Run the block with torch's intra-op thread count at ``threads`` (None: unchanged), then restore it.

    torch's count is process-wide (ExecuTorch's XNNPACK pool is not: it is the runtime's own), so a
    stage that sets it without restoring it changes the caller's speed after it returns.
    """
    if not threads:
        yield
        return
    import torch

    before = torch.get_num_threads()
    if before == threads:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


OFFLINE_ENVIRONMENT = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
