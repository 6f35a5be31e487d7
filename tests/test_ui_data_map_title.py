"""The data map's title fits its figure at any N: the "drawn, at random" note of a large
dataset on a line of its own (at 1e6 the one-line title was cut after "at rand")."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("plotly")

from test_ui_trajectories import make_session  # noqa: E402

from workbench.ui.trajectories import TrajectoryView  # noqa: E402

_CHAR_EM = 0.6  # a character's width in units of the font size (DejaVu Sans, average)


def lines(title: str) -> list[tuple[str, int]]:
    """(visible text, font size) of each line of a plotly title."""
    out = []
    for part in title.split("<br>"):
        size = re.search(r"font-size:(\d+)px", part)
        out.append((re.sub(r"<[^>]+>", "", part), int(size.group(1)) if size else 13))
    return out


def test_the_subset_note_has_its_own_line_and_every_line_fits():
    s = make_session(n=3000)
    v = TrajectoryView(s, max_points=500, seed=3)
    assert v.widget is not None
    layout = v.data_map.layout
    assert layout.title.xref == "container"  # the whole figure's width, not the plot's
    parts = lines(layout.title.text)
    assert len(parts) == 2
    assert parts[0][0] == "Data map: red = flagged by dm"
    assert parts[1][0] == "500 of 3,000 drawn, at random"
    room = layout.width * (1 - layout.title.x) - 8
    for text, size in parts:
        assert len(text) * _CHAR_EM * size <= room, text
    # a long detector name and a million samples fit too
    long = "Data map: red = flagged by cl_prune_by_noise_rate"
    assert len(long) * _CHAR_EM * 13 <= room
    assert len("100,000 of 1,000,000 drawn, at random") * _CHAR_EM * 11 <= room


def test_no_note_when_every_sample_is_drawn():
    v = TrajectoryView(make_session(n=300))
    assert v.widget is not None
    assert "<br>" not in v.data_map.layout.title.text
