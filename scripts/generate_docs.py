"""Write the generated parts of the docs from the code, or check that they are current.

    python scripts/generate_docs.py          # rewrite them
    python scripts/generate_docs.py --check  # exit 1 naming each stale page

A page holds each generated part between `<!-- generated: NAME -->` and `<!-- end: NAME -->`;
the text around them is written by hand.
"""

from __future__ import annotations

import argparse
import ast
import re
import shlex
import sys
from collections import defaultdict
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "lstmlm"


def module_name(path: Path) -> str:
    """`lstmlm.training.trainer` for src/lstmlm/training/trainer.py."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that `path` imports anywhere (at the top, in functions, under
    TYPE_CHECKING), each `from . import name` resolved to the module it names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else base)
    return {module for module in found if module in modules and module != name}


def import_graph() -> dict[str, set[str]]:
    """Each module of the package and the modules it imports."""
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {module_name(path): imports_of(path, modules) for path in paths}


def layers(graph: dict[str, set[str]]) -> dict[str, int]:
    """Each module's layer: 0 for one that imports nothing of the package, else one above the
    highest module it imports. A package's `__init__` is left out (it gathers its modules'
    names); raises ValueError naming the modules of an import cycle."""
    graph = {module: imports - {"lstmlm"} for module, imports in graph.items()
             if module != "lstmlm"}
    graph = {module: {imported for imported in imports
                      if not any(other.startswith(imported + ".") for other in graph)}
             for module, imports in graph.items()}
    level: dict[str, int] = {}
    visiting: list[str] = []

    def visit(module: str) -> int:
        if module in visiting:
            cycle = visiting[visiting.index(module):] + [module]
            raise ValueError(f"import cycle: {' -> '.join(cycle)}")
        if module not in level:
            visiting.append(module)
            level[module] = 1 + max((visit(imported) for imported in graph[module]), default=-1)
            visiting.pop()
        return level[module]

    for module in graph:
        visit(module)
    return level


def reduced(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph without the arrows implied by others (a -> c where a -> b -> ... -> c): the
    same layering, drawn with far fewer arrows."""
    def reachable(start: str) -> set[str]:
        seen, stack = set(), list(graph[start])
        while stack:
            module = stack.pop()
            if module not in seen:
                seen.add(module)
                stack.extend(graph.get(module, ()))
        return seen

    return {module: {imported for imported in imports
                     if not any(imported in reachable(other) for other in imports - {imported})}
            for module, imports in graph.items()}


def short(module: str) -> str:
    return module.removeprefix("lstmlm.")


def node(module: str) -> str:
    """The module's name as a Mermaid node id."""
    return short(module).replace(".", "_")


def architecture() -> str:
    """The layers as a Mermaid diagram (bottom up; an arrow for each import that no chain of
    other imports implies) and a table of the modules of each."""
    graph = import_graph()
    level = layers(graph)
    graph = reduced({module: imports & set(level) for module, imports in graph.items()
                     if module in level})
    by_layer = defaultdict(list)
    for module, number in level.items():
        by_layer[number].append(module)
    lines = ["```mermaid", "flowchart BT"]
    for number in sorted(by_layer):
        lines.append(f"  subgraph layer{number}[layer {number}]")
        lines.extend(f"    {node(module)}[{short(module)}]"
                     for module in sorted(by_layer[number]))
        lines.append("  end")
    for module in sorted(level):
        lines.extend(f"  {node(module)} --> {node(imported)}" for imported in sorted(graph[module]))
    lines += ["```", "", "| layer | modules |", "|---|---|"]
    lines += [f"| {number} | {', '.join(f'`{short(module)}`' for module in sorted(modules))} |"
              for number, modules in sorted(by_layer.items())]
    return "\n".join(lines)


def cli_help() -> str:
    """Every command's `--help`, as a terminal 100 columns wide prints it."""
    import os

    from lstmlm import cli

    parser, commands = cli.build_parser()
    sections = [("lstmlm", parser)] + [(f"lstmlm {words}", command)
                                       for words, command in commands.items()]
    lines, columns = [], os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps help to the terminal's width
    try:
        for title, command in sections:
            lines += [f"### `{title}`", "", "```text", command.format_help().rstrip(), "```", ""]
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    return "\n".join(lines)


def run_results() -> list[tuple[Path, dict]]:
    """The training runs recorded in benchmarks/results/run-*.json, with their files."""
    import json

    return [(path, json.loads(path.read_text())) for path in
            sorted((ROOT / "benchmarks" / "results").glob("run-*.json"))]


def results() -> str:
    """The README's table of recorded training runs, the machines named short (their files
    hold the whole description)."""
    from lstmlm.hardware import short_machine_name

    lines = ["| preset | data | epochs | test perplexity | wall time | machine |",
             "|---|---|---|---|---|---|"]
    for path, run in run_results():
        minutes = run["elapsed_seconds"] / 60
        note = f" ({run['note']})" if run.get("note") else ""
        lines.append(f"| `{run['preset']}` | {run['data']} | {run['epochs']} | "
                     f"{run['test_ppl']:.2f} | {minutes:.1f} min{note} | "
                     f"[{short_machine_name(run['machine'])}](benchmarks/results/{path.name}) |")
    return "\n".join(lines)


def frontier_results() -> dict[str, dict]:
    """The latest frontier (benchmarks/frontier.py) of each machine, the newest last."""
    import json
    import re

    latest: dict[str, dict] = {}
    for path in sorted((ROOT / "benchmarks" / "results").glob("frontier-*.json"),
                       key=lambda path: path.name[-20:]):  # by the DATE-TIME.json they end with
        result = json.loads(path.read_text())
        # frontier-CPU-DATE-TIME.json, drawn to frontier-CPU.png
        result["picture"] = re.sub(r"-\d{8}-\d{6}\.json$", ".png", path.name)
        result["file"] = path.name
        latest.pop(result["machine"], None)
        latest[result["machine"]] = result
    return latest


def shown_command(result: dict) -> str:
    """A result's command without its --note, which the tables show once, after the date."""
    words = shlex.split(result["command"])
    if "--note" in words:
        del words[words.index("--note"):words.index("--note") + 2]
    return shlex.join(words)


def frontier_table(result: dict, pictures: str, brief: bool = False) -> list[str]:
    """One machine's frontier: test perplexity by budget and recipe (adapted beside it where
    measured), the minutes to 116, the levers against lstmlm at their budgets, and the plot
    (its path relative to `pictures`). `brief` leaves out the command, the note and the levers,
    which docs/benchmarks.md gives."""
    levers = result.get("levers", [])
    recipes = [recipe for recipe in dict.fromkeys(row["recipe"] for row in result["rows"])
               if recipe not in levers]
    budgets = sorted({row["budget_minutes"] for row in result["rows"]
                      if row["recipe"] in recipes})
    cell = {(row["budget_minutes"], row["recipe"]): row for row in result["rows"]}

    def shown(row: dict) -> str:
        adapted = f"; dynamic {row['adapted_test_ppl']:.2f}" if row.get("adapted_test_ppl") else ""
        softmax = (f", {row['softmax']} softmax" if row.get("softmax") in ("adaptive", "sampled")
                   else "")
        return (f"{row['test_ppl']:.2f} ({row['epochs']:g} epochs of {row['hidden_size']}"
                f"{softmax}{adapted})")

    from lstmlm.hardware import short_machine_name

    source = ("; the command and the notes are in [benchmarks](docs/benchmarks.md)" if brief else
              f" (`{shown_command(result)}`, {result['date']}"
              + (f"; {result['note']}" if result.get("note") else "") + ")")
    machine = f"[{short_machine_name(result['machine'])}]({pictures}{result['file']})"
    lines = [f"PTB test perplexity within a wall-clock budget on {machine}{source}:", "",
             "| budget | " + " | ".join(f"`{recipe}`" for recipe in recipes) + " |",
             "|---|" + "---|" * len(recipes)]
    for minutes in budgets:
        lines.append(f"| {minutes:g} min | " + " | ".join(
            shown(cell[minutes, recipe]) if (minutes, recipe) in cell else "not run"
            for recipe in recipes) + " |")
    reached = {recipe: min((row["minutes_to_116"] for row in result["rows"]
                            if row["recipe"] == recipe
                            and not isinstance(row["minutes_to_116"], str)), default=None)
               for recipe in recipes}
    lines += ["", "Minutes to a test perplexity of 116: " + "; ".join(
        f"`{recipe}` {minutes:.1f}" if minutes is not None else f"`{recipe}` not reached"
        for recipe, minutes in reached.items()) + ".", ""]
    lever_rows = [row for row in result["rows"] if row["recipe"] in levers]
    if lever_rows and not brief:
        lines += ["Levers, each one change to `lstmlm`'s recipe, beside `lstmlm` at the same "
                  "budget:", "", "| lever | budget | test perplexity | `lstmlm` |",
                  "|---|---|---|---|"]
        lines += [f"| `{row['recipe']}` | {row['budget_minutes']:g} min | {shown(row)} | "
                  + (shown(cell[row["budget_minutes"], "lstmlm"])
                     if (row["budget_minutes"], "lstmlm") in cell else "not run") + " |"
                  for row in sorted(lever_rows, key=lambda row: (levers.index(row["recipe"]),
                                                                 row["budget_minutes"]))]
        lines.append("")
    if (ROOT / "benchmarks" / "results" / result["picture"]).exists():
        lines += [f"![frontier]({pictures}{result['picture']})", ""]
    return lines


def frontier() -> str:
    """The README's frontier: the newest of the machines' latest frontiers that compare lstmlm
    with the peers' recipes (the others are in benchmarks.md)."""
    results = list(frontier_results().values())
    if not results:
        return ""
    peers = {"ptb_word_lm", "word_language_model"}
    compared = [result for result in results
                if peers <= {row["recipe"] for row in result["rows"]}]
    shown = (compared or results)[-1]
    return "\n".join(frontier_table(shown, "benchmarks/results/", brief=True)).rstrip()


def frontier_machines() -> str:
    """The latest frontier of every machine, for docs/benchmarks.md."""
    return "\n".join(line for result in frontier_results().values()
                     for line in frontier_table(result, "../benchmarks/results/")).rstrip()


# PTB's training split in words, <eos> included: a run's words/sec over its wall time.
PTB_TRAIN_WORDS = 929_589
MACHINE_CLASSES = ("AVX2-only CPU", "bf16 CPU", "GPU")


def machine_class(machine: str) -> str:
    """Which of MACHINE_CLASSES a `describe_machine` line names: a GPU, or a CPU by whether it
    computes bf16 natively."""
    from lstmlm.hardware import NATIVE_BF16_FLAGS, description_parts

    _, flags, gpu = description_parts(machine)
    if gpu:
        return "GPU"
    return "bf16 CPU" if flags & set(NATIVE_BF16_FLAGS) else "AVX2-only CPU"


def expectations() -> str:
    """What to expect on each class of machine: lstmlm's recorded runs on PTB and its frontier
    (`cpu-fast` within a budget), one table per class, each row linked to its result file."""
    from lstmlm.hardware import short_machine_name

    rows: dict[str, list[tuple]] = defaultdict(list)
    for path, run in run_results():
        if run["data"] != "ptb":
            continue
        rows[machine_class(run["machine"])].append(
            (short_machine_name(run["machine"]), f"`{run['preset']}`, {run['epochs']} epochs",
             f"{run['test_ppl']:.2f}", run["elapsed_seconds"] / 60,
             run["epochs"] * PTB_TRAIN_WORDS / run["elapsed_seconds"], path.name))
    for result in frontier_results().values():
        for row in result["rows"]:
            if row["recipe"] not in ("lstmlm", "lstmlm-dynamic"):
                continue
            adapted = (f" (dynamic evaluation {row['adapted_test_ppl']:.2f})"
                       if row.get("adapted_test_ppl") else "")
            rows[machine_class(result["machine"])].append(
                (short_machine_name(result["machine"]),
                 f"`cpu-fast` in {row['budget_minutes']:g} min: {row['epochs']:g} "
                 f"epochs of {row['hidden_size']}", f"{row['test_ppl']:.2f}{adapted}",
                 row["wall_minutes"], row["epochs"] * PTB_TRAIN_WORDS / (row["wall_minutes"] * 60),
                 result["file"]))
    lines = []
    for kind in MACHINE_CLASSES:
        lines += [f"### {kind}", ""]
        if not rows[kind]:
            lines += ["Nothing measured yet.", ""]
            continue
        lines += ["| machine | run | PTB test perplexity | wall time | words/sec | result |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {machine} | {run} | {perplexity} | {minutes:.1f} min | "
                  + f"{words:,.0f} | [file](../benchmarks/results/{name}) |"
                  for machine, run, perplexity, minutes, words, name in sorted(
                      rows[kind], key=lambda row: (row[0], row[3]))]
        lines.append("")
    return "\n".join(lines).rstrip()


def decisions() -> str:
    """The design decisions of benchmarks/decisions.json as one table."""
    import json

    table = json.loads((ROOT / "benchmarks" / "decisions.json").read_text(encoding="utf-8"))
    lines = ["| lever | kept | measured | against | machine | evidence |",
             "|---|---|---|---|---|---|"]
    for row in table["decisions"]:
        note = f" ({row['note']})" if row.get("note") else ""
        evidence = row["evidence"]
        shown = (f"[result](../benchmarks/results/{evidence})" if evidence.endswith(".json") else
                 f"`{evidence}`" if evidence else "not recorded")
        lines.append(f"| {row['lever']} | {'yes' if row['kept'] else 'no'} | {row['result']}{note} "
                     f"| {row['baseline']} | {row['machine']} | {shown} |")
    return "\n".join(lines)


def config_fields() -> str:
    """A table per section of the Config: each field's flat name (as `--set` takes it), its
    type, default and meaning (from where it is declared)."""
    from lstmlm.config import FLAT, SECTIONS, Config, format_value

    defaults = Config().flat()
    lines = []
    for section_name, kind in SECTIONS.items():
        lines += [f"### `{section_name}`", "", (kind.__doc__ or "").strip(), "",
                  "| field | type | default | meaning |", "|---|---|---|---|"]
        for name, (section, own_name, hint, config_field) in FLAT.items():
            if section != section_name:
                continue
            kind_text = re.sub(r"<class '(\w+)'>", r"\1", str(hint).replace("typing.", ""))
            text = format_value(name, defaults[name])
            default = f"`{text}`" if text else "(empty)"
            meaning = config_field.metadata["help"].replace("|", "\\|")
            shown = name if name == own_name else f"{name}` (`{section_name}.{own_name}`)"
            lines.append(f"| `{shown}` | `{kind_text}` | {default} | {meaning} |")
        lines.append("")
    return "\n".join(lines).rstrip()


def presets() -> str:
    """The values each preset sets, one table per preset."""
    from lstmlm.config import format_value
    from lstmlm.presets import PRESETS, get_preset

    lines = []
    for name in PRESETS:
        values = get_preset(name).flat()
        lines += [f"### `{name}`", "", "| field | value |", "|---|---|"]
        lines += [f"| `{key}` | `{format_value(key, values[key])}` |" for key in PRESETS[name]]
        lines.append("")
    return "\n".join(lines)


def file_table(docstring: str) -> list[str]:
    """A Markdown table of the `name   meaning` lines (indented by two) of a module docstring."""
    rows = [re.match(r"  (\S+)\s+(.*)", line).groups() for line in docstring.splitlines()
            if re.match(r"  \S+\s{2,}", line)]
    return ["| file | holds |", "|---|---|"] + [f"| `{name}` | {meaning} |"
                                                for name, meaning in rows]


def formats() -> str:
    """The files of a run directory and of a model folder (from the docstrings of the modules
    that write them), and the columns of metrics.csv."""
    import dataclasses

    from lstmlm import export, rundir

    columns = ", ".join(f"`{field.name}`" for field in dataclasses.fields(rundir.EpochMetrics))
    return "\n".join(["### A run directory", "", *file_table(rundir.__doc__), "",
                      "### A model folder", "", *file_table(export.__doc__), "",
                      "### metrics.csv and metrics.jsonl", "",
                      f"One row (line) per finished epoch: {columns}."])


def benchmark_results() -> str:
    """The latest result of each benchmark on each machine, from benchmarks/results/, but the
    frontiers, which frontier_machines shows."""
    from lstmlm.hardware import short_machine_name

    lines = []
    for (benchmark, machine), (path, result) in sorted(latest_results().items()):
        if benchmark in ("run", "frontier"):
            continue
        columns = list(dict.fromkeys(column for row in result["rows"] for column in row))
        lines += [f"### `{benchmark}` on {short_machine_name(machine)}", "",
                  f"`{shown_command(result)}`, torch {result['torch']}, {result['date']}"
                  + (f"; {result['note']}" if result.get("note") else "")
                  + f" ([file](../benchmarks/results/{path.name}))", "",
                  "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(f"{row[column]:,}" if isinstance(row.get(column), (int, float))
                                    else str(row.get(column, "")) for column in columns) + " |"
                  for row in result["rows"]]
        lines.append("")
    return "\n".join(lines)


def latest_results(benchmark: str | None = None) -> dict[tuple[str, str], tuple[Path, dict]]:
    """The latest result file of each benchmark (or of `benchmark` only) on each machine, by
    benchmark and machine."""
    import json

    latest = {}
    for path in sorted((ROOT / "benchmarks" / "results").glob(f"{benchmark or ''}*.json")):
        result = json.loads(path.read_text())
        if benchmark in (None, result["benchmark"]):
            latest[result["benchmark"], result["machine"]] = path, result  # files sort by date
    return latest


# A window profile's kernel classes, in the order the table shows them.
PROFILE_CLASSES = ["recurrent layers", "window GEMMs", "softmax and loss", "casts",
                   "dropout and masks", "optimizer", "gradient clipping", "embedding",
                   "other ATen work", "Python and dispatch"]


def machine_limit() -> str:
    """Training's speed against each machine's own limit (the latest roofline.py result of each
    machine), and where a window's time goes (the latest window_profile.py results)."""
    from lstmlm.hardware import short_machine_name

    lines = ["| machine | precision | matmul peak, GFLOP/s | `cpu-fast` (512 units), words/sec "
             "| of the peak's ceiling | the ceiling at the window's shapes, of the peak's "
             "| of the ceiling at the window's shapes | time in matrix kernels "
             "| batch-1 evaluation (`small`, fp32) against a plain loop | result |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for (_, machine), (path, result) in sorted(latest_results("roofline").items()):
        evaluation = next((row for row in result["rows"] if row["workload"].startswith("eval")),
                          None)
        against_plain = (f"{evaluation['achieved_per_sec'] / evaluation['plain_per_sec']:.2f} x"
                         + ("" if result.get("evaluation_pieces") else " (whole passes)")
                         if evaluation and evaluation["plain_per_sec"] else "not measured")
        for row in result["rows"]:
            if not row["workload"].startswith("train cpu-fast (512"):
                continue
            shown_evaluation = against_plain if row["precision"] == "fp32" else ""
            shapes = row.get("shape_ceiling_per_sec")
            shapes_of_peak = (f"{shapes / row['ceiling_per_sec']:.2f}" if shapes
                              else "not measured")
            at_shapes = f"{row['of_shape_ceiling']:.2f}" if shapes else "not measured"
            in_matrices = (f"{row['matrix_share_lstmlm']:.0%}" if row.get("matrix_share_lstmlm")
                           else "not measured")
            lines.append(f"| {short_machine_name(machine)} | {row['precision']} | "
                         f"{result['peaks_gflops'][row['precision']]:,.0f} | "
                         f"{row['achieved_per_sec']:,.0f} | {row['of_ceiling']:.2f} | "
                         f"{shapes_of_peak} | {at_shapes} | {in_matrices} | {shown_evaluation} | "
                         f"[file](../benchmarks/results/{path.name}) |")
    lines += ["", "A `cpu-fast` window of 20 × 35 words at 512 units, its time per kernel class "
              "as a share of the profiled window (`python benchmarks/window_profile.py "
              "--precision PRECISION`). Under the profiler a window runs slower; where it ran "
              "much slower, the profiler's own work inflated some classes (the softmax's, "
              "whose large buffers it made page-fault), and the shares are less sure:", "",
              "| machine | precision | ms per window | profiled, of unprofiled | "
              + " | ".join(PROFILE_CLASSES) + " | result |",
              "|---|---|---|---|" + "---|" * len(PROFILE_CLASSES) + "---|"]
    profiles = {(machine, precision): found for precision in ("bf16", "fp32")
                for (_, machine), found in latest_results(f"window_profile_{precision}").items()}
    for (machine, precision), (path, result) in sorted(profiles.items()):
        shares = {row["class"]: row["share"] for row in result["rows"]}
        lines.append(f"| {short_machine_name(machine)} | {precision} | "
                     f"{result['ms_per_window']:.1f} | "
                     f"{result['ms_per_window_profiled'] / result['ms_per_window']:.2f} x | "
                     + " | ".join(f"{shares.get(kind, 0):.1%}" for kind in PROFILE_CLASSES)
                     + f" | [file](../benchmarks/results/{path.name}) |")
    return "\n".join(lines)


def gpu_speeds() -> str:
    """The training and evaluation speeds of the latest `benchmarks/gpu_check.py` report: its
    machine, date and throughput tables."""
    reports = sorted((ROOT / "benchmarks" / "results").glob("gpu_check-*.md"))
    if not reports:
        return "No GPU has been measured yet."
    report = reports[-1].read_text(encoding="utf-8")
    machine = report.splitlines()[2]
    lines = [f"Measured by `benchmarks/gpu_check.py` on {machine} "
             f"([the report](../benchmarks/results/{reports[-1].name})):", ""]
    for title, table in re.findall(r"## (throughput, [^:]+):.*?\n```console\n\$ [^\n]+\n"
                                   r"machine: [^\n]+\n(\|.*?)\n```", report, re.DOTALL):
        lines += [f"{title.capitalize()}:", "", table, ""]
    return "\n".join(lines).rstrip()


GENERATORS: dict[str, tuple[str, Callable[[], str]]] = {
    "architecture": ("docs/architecture.md", architecture),
    "results": ("README.md", results),
    "frontier": ("README.md", frontier),
    "frontier-machines": ("docs/benchmarks.md", frontier_machines),
    "cli": ("docs/reference/cli.md", cli_help),
    "config": ("docs/reference/config.md", config_fields),
    "presets": ("docs/reference/presets.md", presets),
    "formats": ("docs/reference/formats.md", formats),
    "benchmark-results": ("docs/benchmarks.md", benchmark_results),
    "gpu-speeds": ("docs/gpu.md", gpu_speeds),
    "expectations": ("docs/benchmarks.md", expectations),
    "decisions": ("docs/benchmarks.md", decisions),
    "machine-limit": ("docs/benchmarks.md", machine_limit),
}


def render(page: str, name: str, content: str) -> str:
    """`page` with the part `name` replaced by `content`."""
    pattern = re.compile(rf"(<!-- generated: {name} -->\n).*?(<!-- end: {name} -->)", re.DOTALL)
    if not pattern.search(page):
        raise ValueError(f"no generated part {name!r} in the page")
    return pattern.sub(lambda match: match.group(1) + content.rstrip("\n") + "\n"
                       + match.group(2), page)


def stale_pages(write: bool) -> list[str]:
    """The pages whose generated parts differ from the code (rewritten if `write`)."""
    stale = []
    for name, (relative, generate) in GENERATORS.items():
        path = ROOT / relative
        page = path.read_text(encoding="utf-8")
        fresh = render(page, name, generate())
        if fresh != page:
            stale.append(f"{relative} ({name})")
            if write:
                path.write_text(fresh, encoding="utf-8")
    return stale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    args = parser.parse_args()
    stale = stale_pages(write=not args.check)
    for page in stale:
        print(f"{'stale' if args.check else 'rewrote'}: {page}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
