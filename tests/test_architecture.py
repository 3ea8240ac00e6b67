"""The package's layering, read from its imports, and the architecture page generated from it."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_generator():
    spec = importlib.util.spec_from_file_location("generate_docs",
                                                  ROOT / "scripts" / "generate_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generator = load_generator()


def test_no_import_cycles_and_the_config_at_the_bottom():
    graph = generator.import_graph()
    layers = generator.layers(graph)  # raises on a cycle
    assert graph["lstmlm.config"] == {"lstmlm.errors"}
    assert layers["lstmlm.config"] == 1


def test_a_cycle_is_found_and_named():
    graph = {"lstmlm.a": {"lstmlm.b"}, "lstmlm.b": {"lstmlm.c"}, "lstmlm.c": {"lstmlm.a"}}
    with pytest.raises(ValueError, match="import cycle: lstmlm.a -> lstmlm.b -> lstmlm.c -> "
                                         "lstmlm.a"):
        generator.layers(graph)


def test_imports_inside_functions_and_under_type_checking_count(tmp_path, monkeypatch):
    package = tmp_path / "lstmlm"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text("from typing import TYPE_CHECKING\n"
                                    "if TYPE_CHECKING:\n    from .high import Thing\n")
    (package / "high.py").write_text("def make():\n    from . import low\n")
    monkeypatch.setattr(generator, "PACKAGE", package)
    graph = generator.import_graph()
    assert graph["lstmlm.low"] == {"lstmlm.high"} and graph["lstmlm.high"] == {"lstmlm.low"}
    with pytest.raises(ValueError, match="import cycle"):
        generator.layers(graph)


# The modules below the setup, which take plain values or one section, never a whole config.
PLAIN_VALUES = ("model", "corpus", "evaluation", "generation", "scoring", "budget",
                "checkpoint", "training/step", "training/schedule", "training/sharding",
                "training/final_evaluation")


@pytest.mark.parametrize("module", PLAIN_VALUES)
def test_the_modules_below_the_setup_take_no_whole_config(module):
    source = (ROOT / "src" / "lstmlm" / f"{module}.py").read_text()
    assert not re.search(r"\bConfig\b", source), module


@pytest.mark.docs
def test_the_architecture_page_names_every_module():
    page = (ROOT / "docs" / "architecture.md").read_text()
    prose = page.split("<!-- end: architecture -->")[1]
    named = set(re.findall(r"`([\w.]+)`", prose))
    modules = {generator.short(module) for module in generator.layers(generator.import_graph())}
    assert modules - named == set()
