"""API tests of the explorer server (Starlette's TestClient), bad inputs included."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the explore extra is not installed (starlette)")
pytest.importorskip("starlette.testclient", reason="the TestClient needs httpx2 (dev extra)")

import itertools

from starlette.testclient import TestClient

from hopfield.explore import app as app_module
from hopfield.explore.app import create_app
from hopfield.explore.requests import MAX_BODY_BYTES
from hopfield.explore.sessions import SessionStore

MEMORIES = [[-1.2, -0.4], [1.2, -0.4], [0.0, 1.1]]


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app())


def _session(client: TestClient) -> str:
    response = client.post("/api/session")
    assert response.status_code == 200
    return str(response.json()["session"])


def _stored(client: TestClient, count: int = 8, **extra: Any) -> tuple[str, dict[str, Any]]:
    session = _session(client)
    body = {"session": session, "set": "glyphs", "count": count, **extra}
    response = client.post("/api/store", json=body)
    assert response.status_code == 200, response.text
    return session, response.json()


def _error(response: Any, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    for word in words:
        assert word in message, message


def test_index_and_static_files_are_served_locally(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    for name in ("explorer.css", "common.js", "recall.js", "landscape.js"):
        assert f"/static/{name}" in page.text
        assert client.get(f"/static/{name}").status_code == 200
    assert "http://" not in page.text and "https://" not in page.text  # nothing from a CDN


def test_options_lists_registry_memories_and_limits(client: TestClient) -> None:
    options = client.get("/api/options").json()
    models = {m["name"]: m for m in options["models"]}
    assert models["modern-dot"]["has_beta"] and not models["hopfield-hebbian"]["has_beta"]
    assert models["hopfield-hebbian"]["binary"] and not models["modern-dot"]["binary"]
    assert not models["modern-dot"]["has_step_size"]
    assert options["pattern_sets"] == ["glyphs", "digits", "random", "drawn"]
    assert set(options["energies"]) == {"lse", "lsr", "polynomial", "random-features"}
    assert options["limits"]["max_side"] == 32


@pytest.mark.parametrize(
    ("kind", "extra", "side", "count"),
    [
        ("glyphs", {"count": 5, "side": 12}, 12, 5),
        ("digits", {"count": 10}, 8, 10),
        ("random", {"count": 4, "side": 10, "seed": 3}, 10, 4),
    ],
)
def test_store_pattern_sets(
    client: TestClient, kind: str, extra: dict[str, Any], side: int, count: int
) -> None:
    session = _session(client)
    data = client.post("/api/store", json={"session": session, "set": kind, **extra}).json()
    assert data["side"] == side and len(data["patterns"]) == count
    assert all(len(p) == side * side and set(p) <= {-1.0, 1.0} for p in data["patterns"])
    assert len(data["labels"]) == count


def test_store_drawn_patterns(client: TestClient) -> None:
    session = _session(client)
    drawn = [[1.0] * 32 + [-1.0] * 32, [-1.0] * 32 + [1.0] * 32]
    body = {"session": session, "set": "drawn", "side": 8, "patterns": drawn}
    data = client.post("/api/store", json=body).json()
    assert data["patterns"] == drawn and data["labels"] == ["drawn 0", "drawn 1"]
    bad = {**body, "patterns": [[0.5] * 64]}
    _error(client.post("/api/store", json=bad), 400, "-1 and +1")
    _error(client.post("/api/store", json={**body, "patterns": [[1.0] * 10]}), 400, "64 entries")


@pytest.mark.parametrize(("kind", "level"), [("flip", 0.2), ("occlude", 0.5), ("noise", 0.5)])
def test_corrupt_changes_the_query(client: TestClient, kind: str, level: float) -> None:
    session, stored = _stored(client)
    query = stored["patterns"][0]
    body = {"session": session, "query": query, "kind": kind, "level": level, "seed": 1}
    corrupted = client.post("/api/corrupt", json=body).json()["query"]
    assert len(corrupted) == len(query) and corrupted != query
    again = client.post("/api/corrupt", json=body).json()["query"]
    assert again == corrupted  # seeded
    if kind == "occlude":
        assert corrupted[-16:] == [-1.0] * 16  # bottom row hidden as background


def test_recall_with_the_modern_memory_restores_the_glyph(client: TestClient) -> None:
    session, stored = _stored(client)
    target = stored["patterns"][2]
    body = {"session": session, "query": target, "kind": "flip", "level": 0.2, "seed": 0}
    query = client.post("/api/corrupt", json=body).json()["query"]
    start = client.post(
        "/api/recall/start", json={"session": session, "model": "modern-dot", "query": query}
    ).json()
    assert start["step"] == 0 and len(start["energies"]) == 1 and start["beta"] is None
    data = client.post("/api/recall/step", json={"session": session, "steps": 20}).json()
    assert data["converged"] and data["state"] == target
    assert data["nearest"] == {"index": 2, "label": "C", "overlap": 1.0}
    energies = data["energies"]
    assert len(energies) == data["step"] + 1
    assert all(b <= a + 1e-6 * abs(a) for a, b in itertools.pairwise(energies))
    assert data["rejections"] is None  # the modern memory does not report any
    assert data["elapsed_ms"] >= 0


@pytest.mark.parametrize("model", ["hopfield-hebbian", "dense-exp", "lsr", "linear"])
def test_recall_start_and_step_every_family(client: TestClient, model: str) -> None:
    session, stored = _stored(client, count=3, side=10)
    body = {"session": session, "model": model, "query": stored["patterns"][1]}
    assert client.post("/api/recall/start", json=body).status_code == 200
    data = client.post("/api/recall/step", json={"session": session, "steps": 2}).json()
    assert 1 <= data["step"] <= 2 and len(data["state"]) == 100


def test_recall_passes_beta_and_binarises_binary_queries(client: TestClient) -> None:
    session, _ = _stored(client, count=3, side=10)
    query = [0.3] * 100
    body = {"session": session, "model": "dense-exp", "query": query, "beta": 0.5}
    data = client.post("/api/recall/start", json=body).json()
    assert data["beta"] == 0.5 and set(data["state"]) == {1.0}


def test_step_and_corrupt_need_stored_patterns_and_a_started_recall(client: TestClient) -> None:
    session = _session(client)
    _error(client.post("/api/recall/step", json={"session": session}), 409, "recall/start")
    body = {"session": session, "query": [1.0], "kind": "flip", "level": 0.1}
    _error(client.post("/api/corrupt", json=body), 409, "api/store")


def test_cancel_stops_a_long_recall(monkeypatch: pytest.MonkeyPatch) -> None:
    client = TestClient(create_app())
    session, stored = _stored(client, count=3, side=10)
    body = {"session": session, "model": "modern-dot", "query": stored["patterns"][0]}
    client.post("/api/recall/start", json=body)
    real_step = app_module.models.recall_step
    running = threading.Event()

    def slow_step(*args: Any, **kwargs: Any) -> Any:
        running.set()  # the long request holds the session from its first step on
        time.sleep(0.05)
        result = real_step(*args, **kwargs)
        result.converged = False  # keep going until cancelled
        return result

    monkeypatch.setattr(app_module.models, "recall_step", slow_step)
    answers: list[Any] = []
    worker = threading.Thread(
        target=lambda: answers.append(
            client.post("/api/recall/step", json={"session": session, "steps": 200})
        )
    )
    worker.start()
    assert running.wait(timeout=30)
    busy = client.post("/api/recall/step", json={"session": session, "steps": 1})
    _error(busy, 409, "already running")
    assert client.post("/api/recall/cancel", json={"session": session}).json() == {
        "cancelled": True
    }
    worker.join(timeout=30)
    data = answers[0].json()
    assert data["cancelled"] is True and 1 <= data["step"] < 200


def test_sessions_are_isolated(client: TestClient) -> None:
    first, stored_first = _stored(client, count=3)
    second = _session(client)
    body = {"session": second, "query": stored_first["patterns"][0], "kind": "flip", "level": 0.1}
    _error(client.post("/api/corrupt", json=body), 409, "no patterns stored")
    client.post("/api/store", json={"session": second, "set": "digits", "count": 2})
    again = {"session": first, "query": stored_first["patterns"][0], "kind": "flip", "level": 0}
    assert client.post("/api/corrupt", json=again).json()["query"] == stored_first["patterns"][0]


def test_sessions_are_bounded_and_expire() -> None:
    now = [0.0]
    store = SessionStore(max_sessions=2, ttl_s=10.0, clock=lambda: now[0])
    client = TestClient(create_app(store))
    a, b = _session(client), _session(client)
    c = _session(client)  # evicts the least recently used (a)
    assert len(store) == 2
    _error(client.post("/api/recall/cancel", json={"session": a}), 404, "unknown or expired")
    now[0] = 11.0
    _error(client.post("/api/recall/cancel", json={"session": b}), 404, "expired")
    _error(client.post("/api/recall/cancel", json={"session": c}), 404, "expired")
    assert client.delete(f"/api/session/{_session(client)}").status_code == 200
    assert client.delete("/api/session/nope").status_code == 404


def test_landscape_counts_minima_that_merge_at_small_beta(client: TestClient) -> None:
    counts = {}
    for beta in (0.3, 10.0):
        body = {"energy": "lse", "beta": beta, "memories": MEMORIES}
        data = client.post("/api/landscape", json=body).json()
        assert len(data["axis"]) == len(data["energy"]) == len(data["energy"][0])
        assert data["count"] == len(data["minima"])
        counts[beta] = data["count"]
    assert counts == {0.3: 1, 10.0: 3}


@pytest.mark.parametrize("energy", ["lse", "lsr", "polynomial", "random-features"])
def test_landscape_and_trajectory_for_every_energy(client: TestClient, energy: str) -> None:
    body = {"energy": energy, "beta": 2.0, "memories": MEMORIES}
    grid = client.post("/api/landscape", json=body).json()
    assert grid["count"] >= 1 and grid["range"][0] <= grid["range"][1]
    path = client.post(
        "/api/landscape/trajectory", json={**body, "start": [0.4, -1.8], "steps": 50}
    ).json()
    assert 2 <= len(path["points"]) <= 51 and len(path["energies"]) == len(path["points"])
    finite = [e for e in path["energies"] if e is not None]
    assert all(b <= a + 1e-5 * max(1.0, abs(a)) for a, b in itertools.pairwise(finite))
    if energy == "polynomial":  # the guarded HAM descent reports its rejected trials
        assert isinstance(path["rejections"], list)
        assert len(path["rejections"]) == len(path["points"]) - 1
    else:
        assert path["rejections"] is None


def test_lsr_outside_every_support_is_null_not_infinity(client: TestClient) -> None:
    body = {"energy": "lsr", "beta": 20.0, "memories": [[0.0, 0.0]]}
    response = client.post("/api/landscape", json=body)
    assert "Infinity" not in response.text and "NaN" not in response.text
    assert response.json()["energy"][0][0] is None


# ---- bad input: a 4xx with a clear message, and the server keeps serving ---------------


BAD_REQUESTS = [
    ("/api/landscape", b"{", 400, "malformed JSON"),
    ("/api/landscape", b"[1, 2]", 400, "JSON object"),
    ("/api/landscape", b'{"energy": "lse", "beta": NaN, "memories": [[0, 0]]}', 400, "NaN"),
    ("/api/landscape", b'{"energy": "lse", "beta": Infinity, "memories": [[0, 0]]}', 400, "finite"),
    ("/api/landscape", b'{"energy": "lse", "beta": 0, "memories": [[0, 0]]}', 400, "beta"),
    ("/api/landscape", b'{"energy": "lse", "beta": -2, "memories": [[0, 0]]}', 400, "(0,"),
    ("/api/landscape", b'{"energy": "lse", "beta": "big", "memories": [[0, 0]]}', 400, "number"),
    ("/api/landscape", b'{"energy": "quartic", "beta": 1, "memories": [[0, 0]]}', 400, "lse"),
    ("/api/landscape", b'{"energy": "lse", "memories": []}', 400, "memories"),
    ("/api/landscape", b'{"energy": "lse", "memories": [[0, 0, 0]]}', 400, "2 entries"),
    ("/api/landscape", b'{"energy": "lse", "memories": [[9, 0]]}', 400, "lie in"),
    ("/api/landscape", json.dumps({"energy": "lse", "memories": [[0, 0]] * 9}).encode(), 400, "8"),
    (
        "/api/landscape/trajectory",
        b'{"energy": "lse", "memories": [[0, 0]], "start": [0, 0], "steps": 100000}',
        400,
        "steps",
    ),
    (
        "/api/landscape/trajectory",
        b'{"energy": "lse", "memories": [[0, 0]], "start": [0, 0], "step_size": -1}',
        400,
        "step_size",
    ),
    ("/api/store", b'{"session": "nope", "set": "glyphs"}', 404, "unknown or expired"),
    ("/api/store", b'{"set": "glyphs"}', 400, "session"),
]


@pytest.mark.parametrize(("path", "body", "status", "word"), BAD_REQUESTS)
def test_bad_requests_get_a_clear_4xx(
    client: TestClient, path: str, body: bytes, status: int, word: str
) -> None:
    _error(client.post(path, content=body), status, word)
    assert client.get("/api/options").status_code == 200  # still serving


def test_bad_session_requests(client: TestClient) -> None:
    session, stored = _stored(client, count=3)
    side = stored["side"]
    query = stored["patterns"][0]
    cases = [
        ("/api/store", {"set": "fonts"}, "unknown set"),
        ("/api/store", {"set": "glyphs", "side": 33}, "side"),
        ("/api/store", {"set": "glyphs", "side": 4096}, "side"),
        ("/api/store", {"set": "glyphs", "count": 0}, "count"),
        ("/api/store", {"set": "glyphs", "count": 37}, "count"),
        ("/api/store", {"set": "random", "count": 1.5}, "integer"),
        ("/api/store", {"set": "drawn"}, "patterns"),
        ("/api/corrupt", {"query": query, "kind": "blur", "level": 0.1}, "kind"),
        ("/api/corrupt", {"query": query, "kind": "flip", "level": 2}, "level"),
        ("/api/corrupt", {"query": query[:-1], "kind": "flip"}, f"{side * side} entries"),
        ("/api/corrupt", {"query": "pixels", "kind": "flip"}, "list"),
        ("/api/recall/start", {"model": "hopfield-9000", "query": query}, "unknown model"),
        ("/api/recall/start", {"model": "modern-dot", "query": query, "beta": 0}, "beta"),
        ("/api/recall/start", {"model": "modern-dot", "query": query, "beta": -1}, "beta"),
        ("/api/recall/start", {"model": "modern-dot", "query": [1e9] * len(query)}, "within"),
        ("/api/recall/start", {"model": "modern-dot", "query": [True] * len(query)}, "number"),
        ("/api/recall/step", {"steps": 0}, "steps"),
        ("/api/recall/step", {"steps": 10_000}, "steps"),
    ]
    for path, body, word in cases:
        _error(client.post(path, json={"session": session, **body}), 400, word)
    oversized = b'{"session": "' + session.encode() + b'", "pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    _error(client.post("/api/store", content=oversized), 413, "too large")
    grid = {"session": session, "set": "random", "count": 2, "side": 512}
    _error(client.post("/api/store", json=grid), 400, "side")
    assert (
        client.post(
            "/api/recall/start", json={"session": session, "model": "modern-dot", "query": query}
        ).status_code
        == 200
    )


def test_unknown_routes_and_methods_answer_json(client: TestClient) -> None:
    _error(client.get("/api/nothing"), 404, "Not Found")
    _error(client.get("/api/store"), 405, "Method Not Allowed")
