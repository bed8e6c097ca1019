"""``hopfield explore``: serve the explorer page on a local address.

Needs the optional extra ``hopfield[explore]`` (Starlette + uvicorn); without it the
command prints a one-line hint and exits with status 2. Binds to 127.0.0.1 unless
``--host`` says otherwise; Ctrl-C stops the server cleanly.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib.util
import socket
import sys
from typing import Any

__all__ = ["EXTRA_HINT", "explore_available", "register", "serve"]

EXTRA_HINT = "hopfield explore needs the optional extra: pip install 'hopfield[explore]'"
DEFAULT_PORT = 8765
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def explore_available() -> bool:
    """True when Starlette and uvicorn can be imported."""
    return all(importlib.util.find_spec(name) is not None for name in ("starlette", "uvicorn"))


def register(subparsers: Any) -> None:
    """Add ``hopfield explore`` to the command-line interface."""
    parser = subparsers.add_parser(
        "explore",
        help="interactive page: store, corrupt, recall and watch the energy (local server)",
        description=(
            "Serve the explorer page: store patterns, corrupt a query, recall with any "
            "memory and watch the energy fall; a 2-D landscape view. Needs hopfield[explore]."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    from hopfield.experiments.cli_types import port

    parser.add_argument("--port", type=port, default=DEFAULT_PORT, help="port (0: any free port)")
    parser.set_defaults(func=_main)


def _check_port(host: str, port: int) -> str | None:
    """An error line when ``host:port`` cannot be bound, else None."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return f"port {port} is already in use on {host}: choose another with --port"
            return f"cannot bind {host}:{port}: {error.strerror}"
    return None


def serve(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
    """Run the explorer server until interrupted (blocks)."""
    import uvicorn

    from hopfield.explore.app import create_app

    config = uvicorn.Config(create_app(), host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    shown = f"[{host}]" if ":" in host else host
    print(f"hopfield explore: serving on http://{shown}:{port}/ (Ctrl-C stops)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn handles SIGINT itself
        server.run()
    print("hopfield explore: stopped", flush=True)


def _main(args: argparse.Namespace) -> int:
    if not explore_available():
        print(EXTRA_HINT, file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"--port must be in [0, 65535], got {args.port}", file=sys.stderr)
        return 2
    problem = _check_port(args.host, args.port)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    port = args.port
    if port == 0:
        port = _free_port(args.host)
    if args.host not in _LOCAL_HOSTS:
        print(
            f"warning: binding {args.host}: other machines on the network can reach the page",
            file=sys.stderr,
        )
    serve(args.host, port)
    return 0


def _free_port(host: str) -> int:
    """A port that is free on ``host`` now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
