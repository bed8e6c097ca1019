"""``hopfield explore``: a local web page to store, corrupt and recall, and watch the energy.

An app-layer package (like :mod:`hopfield.experiments`): the server (:mod:`.app`, needs the
optional extra ``hopfield[explore]``: Starlette + uvicorn) exposes the library as a small
JSON API, and one page of plain HTML/JS/CSS (``static/``, shipped with the package) draws
what the API returns. Every number on the page is computed by the library on the server:

* :mod:`.models` — the memories by name (the one adapter to the model registry);
* :mod:`.patterns` — pattern sets (glyphs, digits, random, drawn) and corruptions;
* :mod:`.landscape` — 2-D energy landscapes, their minima and descent trajectories;
* :mod:`.sessions` — per-visitor state (bounded, expiring, isolated);
* :mod:`.requests` — validation of the JSON requests (clear 4xx messages).

Only :mod:`.app` and :mod:`.command`'s server start import Starlette/uvicorn, so the core
install can import every other module of this package.
"""
