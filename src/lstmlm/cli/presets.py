"""`lstmlm presets`: the presets and the values they set, side by side."""

from __future__ import annotations

import argparse

from ..config import Config, format_value
from ..presets import PRESETS, get_preset

NAME = "presets"


def add_parser(commands) -> dict[str, argparse.ArgumentParser]:
    return {NAME: commands.add_parser(NAME, help="list the presets and their values")}


def run(args: argparse.Namespace) -> None:
    """A table with a column per preset and a row per field that some preset sets."""
    keys = [name for name in Config().flat() if name != "preset"]
    shown = [key for key in keys if any(key in values for values in PRESETS.values())]
    configs = [get_preset(name).flat() for name in PRESETS]
    cells = {key: [cell_text(key, config[key]) for config in configs] for key in shown}
    widths = [max(len(name), *(len(cells[key][column]) for key in shown)) + 2
              for column, name in enumerate(PRESETS)]
    print(f"{'':<20}" + "".join(f"{name:>{width}}" for name, width in zip(PRESETS, widths)))
    for key in shown:
        print(f"{key:<20}" + "".join(f"{cell:>{width}}" for cell, width in zip(cells[key], widths)))


def cell_text(name: str, value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else format_value(name, value)
