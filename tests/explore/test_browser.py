"""The explorer in a real browser: headless Debian Chromium driven by Playwright.

Scenario 1 stores 8 glyphs, flips 20 % of one glyph's pixels (fixed seeds), recalls with the modern
Hopfield memory and checks that the page shows the stored glyph and an energy curve that
never rises; it also records the page's round-trip time per recall step. Scenario 2
moves the β slider of the landscape view and checks that the number of minima changes.
Screenshots (and the step timings) are written to ``runs/explore/``. Skips when
Playwright or Chromium is missing (see ``conftest.py``).
"""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path
from typing import Any

GLYPH = 2  # "C"
# Fixed corruption seeds: a random flip can tie "C" with "G" exactly (about 1 seed in 130),
# and the memory then rightly settles on their mixture (tests/explore/test_models.py).
SEEDS = range(1, 12)


def _corrupt_and_run(page: Any, seed: int) -> dict[str, Any]:
    page.fill("#corruption-seed", str(seed))
    page.click("#corrupt-button")
    page.wait_for_function(
        f"Recall.query.some((v, k) => v !== Recall.patterns[{GLYPH}][k])",
        timeout=30_000,
    )
    flipped = page.evaluate(
        f"Recall.query.filter((v, k) => v !== Recall.patterns[{GLYPH}][k]).length"
    )
    page.evaluate("delete document.body.dataset.recallDone")
    page.click("#run")
    page.wait_for_selector("body[data-recall-done='1']", timeout=60_000)
    return {
        "flipped": flipped,
        "state": json.loads(page.get_attribute("#state-grid", "data-state")),
        "energies": json.loads(page.get_attribute("#energy-curve", "data-energies")),
    }


def test_store_corrupt_recall_restores_the_glyph(page: Any, screenshots: Path) -> None:
    assert page.input_value("#pattern-set") == "glyphs"
    page.fill("#pattern-count", "8")
    page.click("#store-button")
    page.wait_for_selector("#stored figure:nth-child(8)", timeout=30_000)
    assert page.locator("#stored figure").count() == 8
    page.click(f"#stored figure:nth-child({GLYPH + 1})")
    page.select_option("#corruption", "flip")
    page.fill("#corruption-level", "0.2")
    page.select_option("#model", "modern-dot")
    stored = page.evaluate(f"Recall.patterns[{GLYPH}]")
    side = page.evaluate("Recall.side")

    result = _corrupt_and_run(page, SEEDS[0])
    assert page.get_attribute("body", "data-corruption-seed") == str(SEEDS[0])
    assert 0.1 * side * side <= result["flipped"] <= 0.3 * side * side  # about 20 %
    assert result["state"] == stored  # the page shows the stored glyph
    assert page.text_content("#nearest-label") == "C"
    assert page.text_content("#overlap-value") == "1.000"
    energies = result["energies"]
    assert len(energies) >= 2 and energies[-1] < energies[0]
    assert all(b <= a + 1e-6 * abs(a) for a, b in itertools.pairwise(energies))
    page.screenshot(path=str(screenshots / "recall.png"), full_page=True)

    round_trips, server = [], []
    for seed in SEEDS[1:]:  # more recalls from fresh corruptions, for the step timings
        page.click(f"#stored figure:nth-child({GLYPH + 1})")
        assert _corrupt_and_run(page, seed)["state"] == stored
        round_trips += json.loads(page.get_attribute("#timing", "data-round-trips"))
        server += json.loads(page.get_attribute("#timing", "data-server-times"))
    timing = {
        "memory": "modern-dot",
        "patterns": f"8 glyphs, {side}x{side}",
        "steps_measured": len(round_trips),
        "round_trip_ms_median": statistics.median(round_trips),
        "round_trip_ms_max": max(round_trips),
        "server_ms_median": statistics.median(server),
    }
    (screenshots / "step_timing.json").write_text(json.dumps(timing, indent=2) + "\n")


def _minima(page: Any) -> int:
    return int(page.get_attribute("#landscape", "data-minima"))


def _set_beta(page: Any, key: str) -> int:
    """Press ``key`` on the β slider; the minima count once the page shows that β."""
    page.focus("#landscape-beta")
    page.keyboard.press(key)
    page.wait_for_function(
        "document.getElementById('landscape').dataset.beta === String(landscapeBeta())",
        timeout=30_000,
    )
    return _minima(page)


def test_beta_slider_merges_basins(page: Any, screenshots: Path) -> None:
    page.click("#tab-landscape")
    page.wait_for_selector("#landscape[data-minima]", timeout=30_000)
    page.select_option("#energy", "lse")
    low = _set_beta(page, "Home")  # β = 10^-1.3 ≈ 0.05: one basin
    page.screenshot(path=str(screenshots / "landscape_low_beta.png"), full_page=True)
    high = _set_beta(page, "End")  # β = 10^1.7 ≈ 50: one basin per memory
    assert low == 1 and high == 3
    assert page.text_content("#minima-count") == "3"

    box = page.locator("#landscape").bounding_box()
    start = page.evaluate("Landscape.memories[0].slice()")
    x = box["x"] + (start[0] + 2.5) / 5 * box["width"]
    y = box["y"] + (2.5 - start[1]) / 5 * box["height"]
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 30, y - 30, steps=5)
    page.mouse.up()
    page.wait_for_load_state("networkidle")
    moved = page.evaluate("Landscape.memories[0]")
    assert moved[0] > start[0] and moved[1] > start[1]  # the memory was dragged

    for fx, fy in ((0.62, 0.92), (0.1, 0.1), (0.95, 0.3)):  # descents from clicked points
        page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
    page.wait_for_function("Landscape.paths.length === 3", timeout=30_000)
    assert _minima(page) == 3
    page.screenshot(path=str(screenshots / "landscape_high_beta.png"), full_page=True)


def _drag(page: Any, cells: list[tuple[int, int]], side: int) -> None:
    """Press the mouse on the first grid cell (row, column), move through the others."""
    box = page.locator("#query-grid").bounding_box()

    def at(cell: tuple[int, int]) -> tuple[float, float]:
        row, column = cell
        return (
            box["x"] + (column + 0.5) * box["width"] / side,
            box["y"] + (row + 0.5) * box["height"] / side,
        )

    page.mouse.move(*at(cells[0]))
    page.mouse.down()
    for cell in cells[1:]:
        page.mouse.move(*at(cell), steps=2)
    page.mouse.up()


def test_drawn_patterns_are_stored_and_a_mouse_erased_query_recalled(page: Any) -> None:
    side = 8
    page.select_option("#pattern-set", "drawn")
    page.fill("#pattern-side", str(side))
    page.dispatch_event("#pattern-side", "change")
    bar = [(row, 2) for row in range(side)]
    cross = [(3, column) for column in range(side)]
    for stroke in (bar, cross):
        _drag(page, stroke, side)
        page.click("#add-drawn")
    assert page.text_content("#drawn-count") == "2 drawn"
    page.click("#store-button")
    page.wait_for_selector("#stored figure:nth-child(2)", timeout=30_000)
    patterns = page.evaluate("Recall.patterns")
    assert sum(v == 1 for v in patterns[0]) == side and patterns[0][2] == 1  # column 2 inked
    assert all(patterns[1][3 * side + c] == 1 for c in range(side))  # row 3 inked

    page.click("#stored figure:nth-child(1)")
    page.check("input[name=brush][value='-1']")
    _drag(page, [(row, 2) for row in range(3)], side)  # erase the top of the bar
    query = page.evaluate("Recall.query")
    assert sum(v == 1 for v in query) == side - 3
    page.select_option("#model", "hopfield-hebbian")
    page.click("#run")
    page.wait_for_selector("body[data-recall-done='1']", timeout=60_000)
    assert json.loads(page.get_attribute("#state-grid", "data-state")) == patterns[0]
    assert page.text_content("#nearest-label") == "drawn 0"
