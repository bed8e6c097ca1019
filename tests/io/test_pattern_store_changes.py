"""Streamed pattern stores never crash and never return NaN silently: a file with a
NaN/inf entry, or one truncated, replaced, grown or rewritten under a running memory,
gives a ValueError naming the file in every access mode. The cases run in a child
process so that a SIGBUS would show up as a failed exit status, not kill pytest."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from hopfield.io.pattern_store import open_store, write_patterns
from hopfield.models.streaming_memory import StreamingMemory

CASES = [(".npy", "read"), (".npy", "mmap"), (".safetensors", "read"), (".safetensors", "mmap")]


def _rows(num: int = 600, dim: int = 8) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((num, dim)).astype(np.float32)


def _save(path: Path, rows: np.ndarray) -> None:
    if path.suffix == ".npy":
        np.save(path, rows)
    else:
        save_file({"patterns": rows}, str(path))


@pytest.mark.parametrize(("suffix", "access"), CASES)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_entries_raise_naming_the_file(
    tmp_path: Path, suffix: str, access: str, bad: float
) -> None:
    rows = _rows()
    rows[437, 3] = bad
    path = tmp_path / f"bad{suffix}"
    _save(path, rows)
    memory = StreamingMemory(path, 1.0, chunk_size=100, access=access)
    queries = torch.zeros(2, 8)
    for call in (memory.energy, memory.step, memory.recall, memory.energy_grad):
        with pytest.raises(ValueError, match=r"bad\..* contains NaN or inf values in rows"):
            call(queries)
    with pytest.raises(ValueError, match=r"rows \[400, 500\)"):
        memory.retrieve_topk(queries, 3)
    with pytest.raises(ValueError, match="contains NaN or inf"):
        open_store(path, access=access).read()  # what ShardedMemory.from_store reads


_CHILD = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    import torch
    from hopfield.io.pattern_store import open_store
    from hopfield.models.streaming_memory import StreamingMemory

    path, other, access, change = sys.argv[1:5]
    memory = StreamingMemory(path, 1.0, chunk_size=64, access=access)
    queries = torch.zeros(1, 8)
    first = memory.recall(queries, steps=1).states
    size = os.path.getsize(path)
    if change == "truncate":
        os.truncate(path, size // 2)
    elif change == "grow":
        with open(path, "ab") as handle:
            handle.write(bytes(4096))
    elif change == "replace":
        os.replace(other, path)
    elif change == "rewrite":  # same size, new bytes, in place
        with open(path, "r+b") as handle:
            handle.seek(size - 64)
            handle.write(bytes(64))
        os.utime(path, ns=(1, 1))
    elif change == "remove":
        os.remove(path)
    outcome = {}
    try:
        memory.recall(queries, steps=1)
        outcome["first"] = "no error"
    except ValueError as error:
        outcome["first"] = str(error)
    # A change in the middle of a pass: truncate after the first chunk was read.
    if change == "truncate":
        store = open_store(other if os.path.exists(other) else path, access=access)
        chunks = store.iter_chunks(64)
        next(chunks)
        os.truncate(store.path, 200)
        try:
            next(chunks)
            outcome["mid_pass"] = "no error"
        except ValueError as error:
            outcome["mid_pass"] = str(error)
    print(json.dumps(outcome))
    """
)


@pytest.mark.parametrize(("suffix", "access"), CASES)
@pytest.mark.parametrize("change", ["truncate", "grow", "replace", "rewrite", "remove"])
def test_store_changed_under_a_running_memory(
    tmp_path: Path, suffix: str, access: str, change: str
) -> None:
    path, other = tmp_path / f"store{suffix}", tmp_path / f"other{suffix}"
    write_patterns(path, [torch.from_numpy(_rows())])
    write_patterns(other, [torch.from_numpy(_rows() + 1.0)])
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(other), access, change],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])  # -7 would be SIGBUS
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    for message in outcome.values():
        assert str(path.name) in message or "other" in message, message
        assert "store" in message and "no error" not in message, message
