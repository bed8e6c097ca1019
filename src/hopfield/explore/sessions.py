"""Per-visitor state of the explorer: bounded, expiring and isolated sessions.

Each page load creates a session (an unguessable id); the stored patterns, the model
and the recall state live in it, so two visitors never see each other's memories.
The store holds at most ``max_sessions``: a new session first drops expired ones
(idle longer than ``ttl_s``), then the least recently used. A running recall can be
cancelled from another request through :attr:`Session.cancel`.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from hopfield.explore.patterns import PatternSet

__all__ = ["Recall", "Session", "SessionStore", "UnknownSessionError"]


class UnknownSessionError(KeyError):
    """The session id is unknown or expired."""


@dataclass
class Recall:
    """A recall in progress: the model, its current state and the energy trace."""

    model_name: str
    model: nn.Module
    state: torch.Tensor
    beta: float | None
    step_size: float | None
    energies: list[float]
    steps: int = 0
    converged: bool = False


@dataclass
class Session:
    """One visitor's memories and recall."""

    id: str
    patterns: PatternSet | None = None
    recall: Recall | None = None
    last_used: float = 0.0
    cancel: threading.Event = field(default_factory=threading.Event)
    busy: threading.Lock = field(default_factory=threading.Lock)


class SessionStore:
    """Sessions by id, at most ``max_sessions``, dropped after ``ttl_s`` seconds idle."""

    def __init__(
        self,
        *,
        max_sessions: int = 32,
        ttl_s: float = 1800.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_sessions = max_sessions
        self.ttl_s = ttl_s
        self._clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def _drop_expired(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if now - s.last_used > self.ttl_s]:
            self._sessions[key].cancel.set()
            del self._sessions[key]

    def create(self) -> Session:
        """A new empty session (dropping expired, then least recently used, ones)."""
        with self._lock:
            now = self._clock()
            self._drop_expired(now)
            while len(self._sessions) >= self.max_sessions:
                _, oldest = self._sessions.popitem(last=False)
                oldest.cancel.set()
            session = Session(id=secrets.token_urlsafe(16), last_used=now)
            self._sessions[session.id] = session
            return session

    def get(self, session_id: str) -> Session:
        """The live session ``session_id`` (``UnknownSessionError`` if unknown or expired)."""
        with self._lock:
            now = self._clock()
            self._drop_expired(now)
            session = self._sessions.get(session_id)
            if session is None:
                raise UnknownSessionError(session_id)
            session.last_used = now
            self._sessions.move_to_end(session_id)
            return session

    def delete(self, session_id: str) -> None:
        """Forget session ``session_id`` (``UnknownSessionError`` if unknown)."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is None:
            raise UnknownSessionError(session_id)
        session.cancel.set()
