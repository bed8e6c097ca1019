"""The explorer's web server: one static page and a JSON API over the library.

Starlette (routing, static files, test client) behind uvicorn: a small, well-kept ASGI
stack with no template engine or ORM to carry. Every endpoint validates its body with
:mod:`.requests` (bad input → 4xx ``{"error": message}``, the server keeps serving),
computes with the library in a worker thread, and answers JSON.

API (all ``POST`` bodies are JSON objects; ``session`` is the id from ``/api/session``):

``GET /api/options``
    memories, pattern sets, corruptions, landscape energies and limits.
``POST /api/session`` / ``DELETE /api/session/{id}``
    create / forget a session.
``POST /api/store``  ``{session, set, count, side?, seed?, patterns?}``
    store a pattern set; returns the patterns and their labels.
``POST /api/corrupt``  ``{session, query, kind, level, seed?}``
    flips / occlusion / noise applied to a query grid.
``POST /api/recall/start``  ``{session, model, query, beta?, step_size?}``
    build the memory on the stored patterns; returns the first state and energy.
``POST /api/recall/step``  ``{session, steps?}``
    run up to ``steps`` updates (stops early when converged or cancelled).
``POST /api/recall/cancel``  ``{session}``
    stop a running ``recall/step`` after its current update.
``POST /api/landscape``  ``{energy, beta, memories}``
    energy contour of 1–8 memories in the plane and its minima.
``POST /api/landscape/trajectory``  ``{energy, beta, memories, start, steps?, step_size?}``
    a descent from one point.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from hopfield.explore import landscape, models, patterns
from hopfield.explore.requests import (
    MAX_PATTERNS,
    MAX_SIDE,
    MIN_SIDE,
    RequestError,
    get_choice,
    get_float,
    get_int,
    get_matrix,
    get_session_id,
    get_vector,
    parse_body,
)
from hopfield.explore.sessions import Recall, Session, SessionStore, UnknownSessionError

__all__ = ["STATIC_DIR", "create_app"]

STATIC_DIR = Path(str(resources.files("hopfield.explore") / "static"))
MAX_BETA = 1e4
MAX_STEPS_PER_REQUEST = 200
MAX_RECALL_STEPS = 2000
MAX_LANDSCAPE_MEMORIES = 8
MAX_TRAJECTORY_STEPS = 500

Handler = Callable[[SessionStore, dict[str, Any]], dict[str, Any]]


def _json_ready(values: list[float]) -> list[float | None]:
    """Energies for JSON: ``None`` for ±inf/NaN (JSON has no such numbers)."""
    return [v if math.isfinite(v) else None for v in values]


def _options(store: SessionStore, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "models": [info.__dict__ for info in models.memory_catalogue()],
        "pattern_sets": list(patterns.PATTERN_SETS),
        "corruptions": list(patterns.CORRUPTIONS),
        "energies": list(landscape.ENERGIES),
        "step_size_energies": list(landscape.STEP_SIZE_ENERGIES),
        "limits": {
            "min_side": MIN_SIDE,
            "max_side": MAX_SIDE,
            "max_patterns": MAX_PATTERNS,
            "max_glyphs": patterns.MAX_GLYPHS,
            "max_beta": MAX_BETA,
            "max_steps_per_request": MAX_STEPS_PER_REQUEST,
            "max_landscape_memories": MAX_LANDSCAPE_MEMORIES,
        },
        "landscape": {"extent": landscape.EXTENT, "grid_points": landscape.GRID_POINTS},
    }


def _session(store: SessionStore, data: dict[str, Any]) -> Session:
    try:
        return store.get(get_session_id(data))
    except UnknownSessionError:
        message = "unknown or expired session: create one with POST /api/session"
        raise RequestError(message, 404) from None


def _store(store: SessionStore, data: dict[str, Any]) -> dict[str, Any]:
    session = _session(store, data)
    kind = get_choice(data, "set", patterns.PATTERN_SETS)
    side = get_int(data, "side", low=MIN_SIDE, high=MAX_SIDE, default=16)
    seed = get_int(data, "seed", low=0, high=2**31 - 1, default=0)
    limit = patterns.MAX_GLYPHS if kind == "glyphs" else MAX_PATTERNS
    drawn = None
    if kind == "drawn":
        drawn = get_matrix(data, "patterns", columns=side * side, max_rows=MAX_PATTERNS)
        if not bool(((drawn == 1) | (drawn == -1)).all()):
            raise RequestError("drawn patterns must contain only -1 and +1")
        count = drawn.shape[0]
    else:
        count = get_int(data, "count", low=1, high=limit, default=8)
    stored = patterns.make_pattern_set(kind, count, side=side, seed=seed, drawn=drawn)
    session.patterns = stored
    session.recall = None
    return {
        "side": stored.side,
        "labels": stored.labels,
        "patterns": stored.patterns.tolist(),
    }


def _stored(session: Session) -> patterns.PatternSet:
    if session.patterns is None:
        raise RequestError("no patterns stored in this session: POST /api/store first", 409)
    return session.patterns


def _corrupt(store: SessionStore, data: dict[str, Any]) -> dict[str, Any]:
    stored = _stored(_session(store, data))
    query = get_vector(data, "query", stored.side * stored.side)
    kind = get_choice(data, "kind", patterns.CORRUPTIONS)
    high = 10.0 if kind == "noise" else 1.0
    level = get_float(data, "level", low=0.0, high=high, default=0.2)
    seed = get_int(data, "seed", low=0, high=2**31 - 1, default=0)
    assert level is not None
    return {"query": patterns.corrupt(query, kind, level, side=stored.side, seed=seed).tolist()}


def _recall_payload(session: Session, recall: Recall, **extra: Any) -> dict[str, Any]:
    stored = _stored(session)
    index, value = models.nearest_pattern(recall.state, stored.patterns)
    return {
        "model": recall.model_name,
        "state": recall.state.tolist(),
        "energies": _json_ready(recall.energies),
        "step": recall.steps,
        "converged": recall.converged,
        "nearest": {"index": index, "label": stored.labels[index], "overlap": value},
        "beta": recall.beta,
        "step_size": recall.step_size,
        **extra,
    }


def _recall_start(store: SessionStore, data: dict[str, Any]) -> dict[str, Any]:
    session = _session(store, data)
    stored = _stored(session)
    names = [info.name for info in models.memory_catalogue()]
    name = get_choice(data, "model", names)
    beta = get_float(data, "beta", low=0.0, high=MAX_BETA, open_low=True)
    step_size = get_float(data, "step_size", low=0.0, high=10.0, open_low=True)
    query = get_vector(data, "query", stored.side * stored.side)
    if models.is_binary(name):
        query = torch.where(query >= 0, 1.0, -1.0)
    model = models.build_memory(name, stored.patterns, beta=beta)
    if not models.accepts_step_size(model):
        step_size = None
    recall = Recall(name, model, query, beta, step_size, [models.initial_energy(model, query)])
    session.recall = recall
    session.cancel.clear()
    return _recall_payload(session, recall, rejections=None, elapsed_ms=0.0)


def _recall_step(store: SessionStore, data: dict[str, Any]) -> dict[str, Any]:
    session = _session(store, data)
    steps = get_int(data, "steps", low=1, high=MAX_STEPS_PER_REQUEST, default=1)
    recall = session.recall
    if recall is None:
        raise RequestError("no recall started in this session: POST /api/recall/start first", 409)
    if not session.busy.acquire(blocking=False):
        raise RequestError("a recall step is already running in this session", 409)
    try:
        session.cancel.clear()
        started = time.perf_counter()
        rejections: list[int] | None = []
        cancelled = False
        for _ in range(steps):
            if recall.converged or recall.steps >= MAX_RECALL_STEPS:
                break
            if session.cancel.is_set():
                cancelled = True
                break
            result = models.recall_step(recall.model, recall.state, step_size=recall.step_size)
            recall.state = result.state
            recall.energies.extend(result.energies)
            recall.steps += 1
            recall.converged = result.converged
            if rejections is not None and result.rejections is not None:
                rejections.extend(result.rejections)
            else:
                rejections = None
        elapsed = 1000.0 * (time.perf_counter() - started)
        return _recall_payload(
            session, recall, rejections=rejections, elapsed_ms=elapsed, cancelled=cancelled
        )
    finally:
        session.busy.release()


def _recall_cancel(store: SessionStore, data: dict[str, Any]) -> dict[str, Any]:
    session = _session(store, data)
    session.cancel.set()
    return {"cancelled": True}


def _landscape_inputs(data: dict[str, Any]) -> landscape.Landscape:
    energy = get_choice(data, "energy", tuple(landscape.ENERGIES))
    beta = get_float(data, "beta", low=0.0, high=MAX_BETA, open_low=True, default=1.0)
    memories = get_matrix(data, "memories", columns=2, max_rows=MAX_LANDSCAPE_MEMORIES)
    if float(memories.abs().max()) > landscape.EXTENT:
        raise RequestError(f"memories must lie in [-{landscape.EXTENT}, {landscape.EXTENT}]²")
    assert beta is not None
    return landscape.build_landscape(energy, memories, beta)


def _landscape(store: SessionStore, data: dict[str, Any]) -> dict[str, Any]:
    view = _landscape_inputs(data)
    axis, energies = view.grid()
    minima = landscape.grid_minima(axis, energies)
    finite = energies[torch.isfinite(energies)]
    return {
        "axis": axis.tolist(),
        "energy": [_json_ready(row) for row in energies.tolist()],
        "range": [float(finite.min()), float(finite.max())] if finite.numel() else None,
        "minima": [list(point) for point in minima],
        "count": len(minima),
    }


def _trajectory(store: SessionStore, data: dict[str, Any]) -> dict[str, Any]:
    view = _landscape_inputs(data)
    start = get_vector(data, "start", 2)
    if float(start.abs().max()) > landscape.EXTENT:
        raise RequestError(f"start must lie in [-{landscape.EXTENT}, {landscape.EXTENT}]²")
    steps = get_int(data, "steps", low=1, high=MAX_TRAJECTORY_STEPS, default=100)
    step_size = get_float(data, "step_size", low=0.0, high=10.0, open_low=True, default=0.1)
    assert step_size is not None
    path = view.descend(start, steps=steps, step_size=step_size)
    return {
        "points": path.points.tolist(),
        "energies": _json_ready(path.energies.tolist()),
        "rejections": path.rejections,
    }


def _new_session(store: SessionStore, data: dict[str, Any]) -> dict[str, Any]:
    return {"session": store.create().id, "ttl_s": store.ttl_s}


def _endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap ``handler`` (run in a worker thread): parse, call, map errors to 4xx JSON."""

    async def endpoint(request: Request) -> Response:
        store: SessionStore = request.app.state.sessions
        try:
            data = parse_body(await request.body()) if request.method == "POST" else {}
            return JSONResponse(await run_in_threadpool(handler, store, data))
        except RequestError as error:
            return JSONResponse({"error": error.message}, status_code=error.status)
        except (ValueError, TypeError) as error:  # the library's own input checks
            return JSONResponse({"error": str(error)}, status_code=400)

    return endpoint


async def _delete_session(request: Request) -> Response:
    store: SessionStore = request.app.state.sessions
    session_id = request.path_params["session_id"]
    try:
        store.delete(session_id)
    except UnknownSessionError:
        return JSONResponse({"error": "unknown or expired session"}, status_code=404)
    return JSONResponse({"deleted": session_id})


async def _index(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return JSONResponse({"error": error.detail}, status_code=error.status_code)


def create_app(store: SessionStore | None = None) -> Starlette:
    """The explorer's ASGI app, its sessions in ``store`` (a fresh one by default)."""
    routes = [
        Route("/", _index),
        Route("/api/options", _endpoint(_options)),
        Route("/api/session", _endpoint(_new_session), methods=["POST"]),
        Route("/api/session/{session_id}", _delete_session, methods=["DELETE"]),
        Route("/api/store", _endpoint(_store), methods=["POST"]),
        Route("/api/corrupt", _endpoint(_corrupt), methods=["POST"]),
        Route("/api/recall/start", _endpoint(_recall_start), methods=["POST"]),
        Route("/api/recall/step", _endpoint(_recall_step), methods=["POST"]),
        Route("/api/recall/cancel", _endpoint(_recall_cancel), methods=["POST"]),
        Route("/api/landscape", _endpoint(_landscape), methods=["POST"]),
        Route("/api/landscape/trajectory", _endpoint(_trajectory), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.sessions = store if store is not None else SessionStore()
    return app
