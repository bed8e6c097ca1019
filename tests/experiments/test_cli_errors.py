"""Every input error of the CLI: exit status 2, one stderr line naming the flag, no traceback.

The table below runs each subcommand (``demo``, ``recall``, ``capacity``, ``train et``,
``params``, every ``study``) with each class of bad value in-process
(``hopfield.cli.main``), catching ``SystemExit``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
import torch

from hopfield.cli import build_parser, main
from hopfield.experiments import demo_cli, train_et_cli
from hopfield.experiments.demo import DemoResult
from hopfield.experiments.studies import STUDIES
from hopfield.experiments.train_et import TrainConfig, train

FILE = "<file>"  # replaced by the path of an existing regular file
MISSING = "<missing>"  # replaced by a path that does not exist
EMPTY = "<empty-dir>"  # replaced by an existing empty folder

SIZES_DEMO = ["--patterns", "--image-size", "--steps", "--max-steps"]
COMMANDS: dict[str, list[str]] = {
    "demo": ["demo", "--quick", "--no-progress"],
    "recall": ["recall", "--model", "modern-dot", "--no-progress"],
    "capacity": ["capacity", "--model", "modern-dot", "--no-progress"],
    "train et": ["train", "et", "--no-progress"],
    "params": ["params"],
    "explore": ["explore"],
}


def _cases() -> list[tuple[str, str, list[str]]]:
    """``(class of bad value, flag, argv)`` for every subcommand."""
    cases: list[tuple[str, str, list[str]]] = []

    def add(kind: str, command: str, flag: str, *values: str) -> None:
        for value in values:
            cases.append((kind, flag, [*COMMANDS[command], flag, value]))

    for command in ("demo", "recall"):
        for flag in SIZES_DEMO:
            add("size ≤ 0", command, flag, "0", "-1")
        add("not a number", command, "--patterns", "abc", "1.5")
        add("beta ≤ 0 / nan / inf", command, "--beta", "0", "-1", "nan", "inf")
        add("seed out of range", command, "--seed", "-1", str(2**40))
        add("unknown device", command, "--device", "nosuch", "cuda:x")
        add("unknown name", command, "--dataset", "nosuch")
        add("missing data root", command, "--data-root", MISSING, FILE)
        add("output under a file", command, "--out", FILE + "/sub")
    add("unknown name", "demo", "--models", "nosuch", "modern-dot,nosuch", ",")
    add("bad corruption", "demo", "--corruptions", "blur:0.2", "flip", "flip:2", "noise:inf")
    add("bad corruption", "recall", "--corruption", "occlude:abc", "flip:-0.1", "smudge:0.1")
    cases.append(("unknown name", "--model", ["recall", "--model", "nosuch"]))
    for flag in ("--neurons", "--trials", "--max-patterns", "--max-steps"):
        add("size ≤ 0", "capacity", flag, "0", "-5")
    add("probability outside [0, 1]", "capacity", "--flip", "2", "-0.1", "nan")
    add("probability outside [0, 1]", "capacity", "--max-error", "1.5")
    add("beta ≤ 0 / nan / inf", "capacity", "--beta", "0", "-inf")
    add("seed out of range", "capacity", "--seed", "-1")
    add("unknown device", "capacity", "--device", "nosuch")
    add("unknown name", "capacity", "--criterion", "nosuch")
    add("output under a file", "capacity", "--out", FILE + "/result.json", EMPTY)
    cases.append(("unknown name", "--model", ["capacity", "--model", "nosuch"]))
    for flag in ("--steps", "--batch-size", "--num-features", "--image-size", "--eval-every"):
        add("size ≤ 0", "train et", flag, "0", "-3")
    add("size ≤ 0", "train et", "--et-steps", "-1")
    add("probability outside [0, 1]", "train et", "--mask-fraction", "2", "0", "1")
    add("beta ≤ 0 / nan / inf", "train et", "--lr", "0", "nan")
    add("beta ≤ 0 / nan / inf", "train et", "--alpha", "-1", "inf")
    add("seed out of range", "train et", "--seed", "-1")
    add("unknown device", "train et", "--device", "nosuch")
    add("unknown name", "train et", "--dataset", "nosuch")
    add("missing data root", "train et", "--data-root", MISSING)
    add("missing checkpoint", "train et", "--resume", MISSING, EMPTY)
    add("output under a file", "train et", "--out", FILE + "/run")
    add("unknown device", "params", "--device", "nosuch")
    add("port out of range", "explore", "--port", "-1", "70000", "http")
    for name in STUDIES:
        study = ["study", name, "--quick", "--no-progress"]
        cases.append(("seed out of range", "--seed", [*study, "--seed", "-1"]))
        cases.append(("not a number", "--seed", [*study, "--seed", "x"]))
        cases.append(("output under a file", "--out", [*study, "--out", FILE + "/sub"]))
    cases.append(("unknown name", "--kind", ["study", "kernel", "--kind", "nope"]))
    cases.append(("size ≤ 0", "--steps", ["study", "gam", "--steps", "0"]))
    cases.append(("size ≤ 0", "--seeds", ["study", "reframe", "--seeds", "-2"]))
    mae = ["study", "et-vs-mae", "--quick"]
    cases.append(("unknown name", "--datasets", [*mae, "--datasets", "cifar"]))
    cases.append(("missing data root", "--data-root", [*mae, "--data-root", MISSING]))
    cases.append(("size ≤ 0", "--steps", [*mae, "--steps", "0"]))
    cases.append(("size ≤ 0", "--seeds", [*mae, "--seeds", "0"]))
    cases.append(
        ("quick with a bad explicit flag", "--max-steps", ["demo", "--quick", "--max-steps", "-1"])
    )
    if not torch.cuda.is_available():
        for command in ("demo", "capacity", "train et"):
            add("cuda on a CPU build", command, "--device", "cuda")
    return cases


CASES = _cases()


def _materialise(argv: list[str], tmp_path: Path) -> list[str]:
    file = tmp_path / "a-file.txt"
    file.write_text("not a folder\n")
    (tmp_path / "empty").mkdir(exist_ok=True)
    swap = {FILE: str(file), MISSING: str(tmp_path / "missing"), EMPTY: str(tmp_path / "empty")}
    out = []
    for arg in argv:
        for key, value in swap.items():
            arg = arg.replace(key, value)
        out.append(arg)
    if "--out" not in argv and argv[0] not in ("params", "explore"):
        out += ["--out", str(tmp_path / "out")]
    return out


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code or 0)


def _check_one_line_error(code: int, err: str, flag: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert flag in lines[0] or flag.lstrip("-").replace("-", "_") in lines[0], lines[0]
    assert lines[0].startswith("hopfield"), lines[0]


@pytest.mark.parametrize(("kind", "flag", "argv"), CASES, ids=[" ".join(c[2]) for c in CASES])
def test_bad_value_is_one_line_naming_the_flag(
    kind: str, flag: str, argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    del kind
    code = _exit_code(_materialise(argv, tmp_path))
    _check_one_line_error(code, capsys.readouterr().err, flag)


def test_the_table_covers_every_subcommand_and_class() -> None:
    commands = {
        " ".join(argv[:2]) if argv[0] in ("train", "study") else argv[0] for _, _, argv in CASES
    }
    assert {"demo", "recall", "capacity", "train et", "params", "explore"} <= commands
    assert {f"study {name}" for name in STUDIES} <= commands
    assert len({kind for kind, _, _ in CASES}) >= 12
    assert len(CASES) >= 150


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["demo", "--quick", "--patterns", "100000"], "patterns"),
        (
            ["recall", "--model", "modern-dot", "--dataset", "mnist", "--data-root", EMPTY],
            "--data-root",
        ),
    ],
)
def test_library_errors_while_running_are_one_line(
    argv: list[str], flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _exit_code(_materialise([*argv, "--no-progress"], tmp_path))
    _check_one_line_error(code, capsys.readouterr().err, flag)


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(where: str, tmp_path: Path) -> None:
    argv = _materialise(["demo", "--quick", "--no-progress", "--patterns", "100000"], tmp_path)
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    with pytest.raises(ValueError, match="patterns"):
        main(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["demo"],
        ["recall", "--model", "modern-dot"],
        ["capacity", "--model", "modern-dot"],
        ["params"],
        ["train", "et"],
        ["study", "kernel"],
    ],
)
def test_debug_is_accepted_after_every_command(argv: list[str]) -> None:
    parser = build_parser()
    assert parser.parse_args([*argv, "--debug"]).debug is True
    assert parser.parse_args(["--debug", *argv]).debug is True
    assert parser.parse_args(argv).debug is False


def test_every_flag_has_help_and_shows_its_default() -> None:
    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif action.option_strings and action.dest != "help":
                assert action.help, f"{path} {action.option_strings} has no help"
        assert issubclass(parser.formatter_class, argparse.ArgumentDefaultsHelpFormatter), path

    walk(build_parser(), "hopfield")
    text = build_parser()._subparsers._group_actions[0].choices["demo"].format_help()  # type: ignore[union-attr]
    assert "(default: 16)" in text and "(default: runs/demo)" in text
    assert "(default: None)" not in text and text.count("(default: until converged)") == 1


def _captured_demo_config(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    seen: dict[str, Any] = {}

    def fake_run(config: Any) -> DemoResult:
        seen["config"] = config
        return DemoResult(rows=[{"model": "x"}])

    monkeypatch.setattr(demo_cli, "run_demo", fake_run)
    assert main(argv) == 0
    return seen["config"]


def test_quick_does_not_override_explicit_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ["demo", "--quick", "--no-progress", "--out", str(tmp_path)]
    quick = _captured_demo_config(base, monkeypatch)
    assert (quick.patterns, quick.image_size, quick.max_steps) == (8, 16, 10)
    assert len(quick.corruptions) == 2
    given = _captured_demo_config(
        [*base, "--max-steps", "3", "--patterns", "12", "--corruptions", "noise:0.3"], monkeypatch
    )
    assert (given.patterns, given.image_size, given.max_steps) == (12, 16, 3)
    assert [c.label for c in given.corruptions] == ["noise:0.3"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("et-run")
    config = TrainConfig(
        steps=2,
        batch_size=4,
        num_features=8,
        num_heads=2,
        head_dim=4,
        num_memories=8,
        et_steps=1,
        eval_every=2,
        eval_images=8,
        checkpoint_every=2,
        warmup=1,
        lr=0.003,
        device="cpu",
    )
    train(config, out_dir=out, progress=False, report=False, log=lambda _: None)
    return out / "checkpoint.safetensors"


def _captured_train_config(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> TrainConfig:
    seen: dict[str, Any] = {}

    def fake_train(config: TrainConfig, **kwargs: Any) -> Any:
        seen["config"], seen["resume"] = config, kwargs["resume"]
        raise SystemExit(0)

    monkeypatch.setattr(train_et_cli, "train", fake_train)
    assert _exit_code(argv) == 0
    return seen["config"]


def test_resume_takes_the_configuration_from_the_checkpoint(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ["train", "et", "--no-progress", "--out", str(tmp_path), "--resume", str(checkpoint)]
    config = _captured_train_config(base, monkeypatch)
    assert (config.num_features, config.num_memories, config.steps, config.lr) == (8, 8, 2, 0.003)
    longer = _captured_train_config([*base, "--steps", "6", "--lr", "0.01"], monkeypatch)
    assert (longer.num_features, longer.steps, longer.lr) == (8, 6, 0.01)
    same = _captured_train_config([*base, "--num-features", "8"], monkeypatch)
    assert same.num_features == 8


def test_resume_with_a_different_architecture_is_one_line(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "et", "--out", str(tmp_path), "--resume", str(checkpoint)]
    code = _exit_code([*argv, "--num-features", "16"])
    _check_one_line_error(code, capsys.readouterr().err, "--num-features")
    bad = tmp_path / "not-a-checkpoint.safetensors"
    bad.write_bytes(b"garbage")
    code = _exit_code(["train", "et", "--out", str(tmp_path), "--resume", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(bad) in err
