"""``hopfield explore``: the hint without the extra, port errors, a real start and Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from hopfield.cli import main
from hopfield.explore import command


def test_without_the_extra_prints_a_hint_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(command, "explore_available", lambda: False)
    assert main(["explore"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == command.EXTRA_HINT and "\n" not in err


def test_a_busy_port_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    if not command.explore_available():
        pytest.skip("the explore extra is not installed")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert main(["explore", "--port", str(port)]) == 2
    assert "already in use" in capsys.readouterr().err


def test_a_bad_port_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    if not command.explore_available():
        pytest.skip("the explore extra is not installed")
    with pytest.raises(SystemExit) as stop:  # rejected by the parser (argument type)
        main(["explore", "--port", "70000"])
    assert stop.value.code == 2
    assert "--port" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serves_on_localhost_prints_the_url_and_stops_on_ctrl_c() -> None:
    if not command.explore_available():
        pytest.skip("the explore extra is not installed")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "hopfield.cli", "explore", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.strip() == (
            f"hopfield explore: serving on http://127.0.0.1:{port}/ (Ctrl-C stops)"
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/options") as answer:
                    assert answer.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
