"""The explorer's session store: bounded, expiring, least-recently-used eviction."""

from __future__ import annotations

import pytest

from hopfield.explore.sessions import SessionStore, UnknownSessionError


def test_ids_are_unique_and_unguessable() -> None:
    store = SessionStore(max_sessions=100)
    ids = {store.create().id for _ in range(50)}
    assert len(ids) == 50 and all(len(i) >= 20 for i in ids)


def test_least_recently_used_is_evicted_and_cancelled() -> None:
    now = [0.0]
    store = SessionStore(max_sessions=2, ttl_s=100.0, clock=lambda: now[0])
    a, b = store.create(), store.create()
    store.get(a.id)  # a is now the most recent
    c = store.create()
    assert b.cancel.is_set() and not a.cancel.is_set()
    with pytest.raises(UnknownSessionError):
        store.get(b.id)
    assert store.get(c.id) is c and len(store) == 2


def test_idle_sessions_expire_and_use_refreshes() -> None:
    now = [0.0]
    store = SessionStore(max_sessions=4, ttl_s=10.0, clock=lambda: now[0])
    kept, dropped = store.create(), store.create()
    now[0] = 8.0
    store.get(kept.id)
    now[0] = 12.0
    assert store.get(kept.id) is kept
    with pytest.raises(UnknownSessionError):
        store.get(dropped.id)
    assert dropped.cancel.is_set()


def test_delete() -> None:
    store = SessionStore()
    session = store.create()
    store.delete(session.id)
    assert len(store) == 0
    with pytest.raises(UnknownSessionError):
        store.delete(session.id)
