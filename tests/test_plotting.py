"""Training curves drawn without touching matplotlib's global state."""

import subprocess
import sys

import pytest

from lstmlm import LstmlmError
from lstmlm.plotting import plot_runs


@pytest.fixture
def model(toy_model):
    return toy_model


def test_plot_writes_a_png_and_refuses_runs_without_epochs(model, tmp_path):
    png = (model.path / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1200, 450)
    out = plot_runs([model.path, model.path], tmp_path / "both.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = tmp_path / "empty-run"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    (empty / "vocab.json").write_text('{"words": ["<unk>"]}')
    with pytest.raises(LstmlmError, match="no finished epoch to plot"):
        plot_runs([empty], tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_plotting_leaves_the_backend_and_pyplot_alone(toy_model, tmp_path):
    code = ("import sys, matplotlib; matplotlib.use('svg'); from lstmlm.plotting import plot_runs; "
            f"plot_runs([{str(toy_model.path)!r}], {str(tmp_path / 'curves.png')!r}); "
            "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.split() == ["svg", "False"]
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
