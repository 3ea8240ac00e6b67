"""The documentation runs: every `console`, `bash` and `python` block of README.md and docs/
is executed, in order, page by page; its links and anchors lead somewhere; the site builds.

The README's quickstart runs once per suite as the README shows it, and every other page
finds its model in `runs/quickstart` (importing.md also finds that model's weights in the
published checkpoints' layouts, under their names: `published.stand_ins`). A training command
on the sample corpus that sets its length runs as shown; any other is shortened with the
config's own caps (SHORTENED), so that PTB's recipes can be shown with their real commands.
How a block reads:
- `console`: each `$ command` runs in bash and must succeed; the lines after it are its
  expected output, where `...` stands for any text and a decimal number for a number within
  the block's tolerance of it. An expected output that starts with `lstmlm: error:` expects
  exit status 2 instead.
- `bash`: the whole block runs in bash, stopping at the first failing command.
- `python`: the blocks of a page run in one namespace; a `text` block marked
  `<!-- output -->` after one is what it prints, compared as a console step's output.
Markers in HTML comments just before a block:
- `<!-- skip: REASON -->`: not run; it shows in the test report as skipped, with its reason.
- `<!-- requires: ptb -->`: run where PTB can be had.
- `<!-- tolerance: 10% or 1 -->`: how far its decimal numbers may be off (Tolerance).
- `<!-- varies: REASON -->`: the words a model picks (samples, ranks, its most probable words)
  are not compared, only its numbers (matches_varied).

The runner is a few functions on markdown-it-py rather than Sybil or pytest-examples: they
test Python blocks, while most blocks here are shell sessions that need a working folder, the
shortened training commands and output matched with wildcards and tolerances.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

import lstmlm
from lstmlm import LstmlmError, datasets

from . import published

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
RUN_KINDS = ("console", "bash", "python")
MARKER = re.compile(r"<!--\s*(skip|requires|tolerance|varies|output)\b:?\s*(.*?)\s*-->")

pytestmark = pytest.mark.docs


@dataclass(frozen=True)
class Tolerance:
    """How far a decimal number of an actual output may lie from the page's: `relative` of the
    page's value or `absolute`, whichever is larger.

    The pages show the numbers of models as one machine trained them, and every machine
    trains its own: kernels that round differently make a different model. Run with ATen's
    and oneDNN's AVX2 kernels instead of AVX-512's on one machine, the quickstart's test
    perplexity was 376.5 against 365.5 (3%; the default allows 15%), a sentence's perplexity
    moved by 16%, a word's surprisal by 1.4 bits and a one-epoch run's perplexity by 31%:
    blocks of such numbers state `50% or 2`. (SSE4.1 kernels, which every CPU with AVX2
    outruns, moved a word's surprisal by up to 4.8 bits: no tolerance here covers them.)
    """
    relative: float = 0.15
    absolute: float = 0.05

    @classmethod
    def parse(cls, text: str) -> "Tolerance":
        """`2%` (relative), `0.5` (absolute) or both (`3% or 0.5`), as a
        `<!-- tolerance: ... -->` marker states it."""
        relative = absolute = 0.0
        for part in text.split(" or "):
            value = part.strip().lstrip("±")
            if value.endswith("%"):
                relative = float(value[:-1]) / 100
            else:
                absolute = float(value)
        return cls(relative=relative, absolute=absolute)

    def admits(self, expected: float, actual: float) -> bool:
        return abs(actual - expected) <= max(self.relative * abs(expected), self.absolute)


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    kind: str
    code: str
    skip: str | None = None
    requires: str | None = None
    tolerance: Tolerance = Tolerance()
    varies: str | None = None  # why the output's text differs between machines
    output: str | None = None  # a python block's printed output, as the page shows it

    @property
    def name(self) -> str:
        page = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page
        return f"{page}:{self.line}"


def tokens_of(page: Path):
    return MarkdownIt("commonmark").parse(page.read_text(encoding="utf-8"))


def blocks_of(page: Path) -> list[Block]:
    """The page's code blocks of the kinds that run, with the markers just before each; a
    `text` block marked `<!-- output -->` is the printed output of the python block before
    it."""
    blocks: list[Block] = []
    markers: dict[str, str] = {}
    for token in tokens_of(page):
        if token.type == "html_block" and MARKER.search(token.content):
            markers.update((key, value) for key, value in MARKER.findall(token.content))
            continue
        kind = token.info.split()[0] if token.type == "fence" and token.info.split() else None
        if kind in RUN_KINDS:
            blocks.append(Block(page, token.map[0] + 1, kind, token.content,
                                skip=markers.get("skip"), requires=markers.get("requires"),
                                tolerance=Tolerance.parse(markers["tolerance"])
                                if "tolerance" in markers else Tolerance(),
                                varies=markers.get("varies")))
        elif kind == "text" and "output" in markers:
            assert blocks and blocks[-1].kind == "python", \
                f"{page.name}:{token.map[0] + 1}: an output block follows no python block"
            blocks[-1].output = token.content
            if "tolerance" in markers:
                blocks[-1].tolerance = Tolerance.parse(markers["tolerance"])
            blocks[-1].varies = markers.get("varies", blocks[-1].varies)
        markers = {}
    return blocks


NUMBER = r"-?\d+\.\d+"


def matches(expected: str, actual: str, tolerance: Tolerance = Tolerance()) -> bool:
    """Whether `actual` is `expected` with each `...` standing for any text and each decimal
    number for a number within `tolerance` of it (trailing spaces of lines ignored)."""
    def lines(text: str) -> str:
        return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())

    pattern, numbers = [], []
    for piece in re.split(rf"(\.\.\.|{NUMBER})", lines(expected)):
        if piece == "...":
            pattern.append(".*?")
        elif re.fullmatch(NUMBER, piece):
            pattern.append(r"(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?|-?inf|nan)")
            numbers.append(float(piece))
        else:
            pattern.append(re.escape(piece))
    found = re.fullmatch("".join(pattern), lines(actual), re.DOTALL)
    return found is not None and all(
        tolerance.admits(want, float(got)) for want, got in zip(numbers, found.groups()))


def matches_varied(expected: str, actual: str, tolerance: Tolerance) -> bool:
    """Whether `actual` has the numbers of `expected`, where the model's words, ranks and
    sampled text differ: its lines with a decimal number have as many fields as the page's,
    and the same decimal numbers within `tolerance`, in order; the page's other lines stand for
    any text."""
    def numeric(text: str) -> list[str]:
        return [line for line in text.strip("\n").splitlines() if re.search(NUMBER, line)]

    def same(want: str, have: str) -> bool:
        wanted, got = re.findall(NUMBER, want), re.findall(NUMBER, have)
        return len(want.split()) == len(have.split()) and len(wanted) == len(got) and all(
            tolerance.admits(float(a), float(b)) for a, b in zip(wanted, got))

    wanted, got = numeric(expected), numeric(actual)
    return bool(actual.strip()) and len(wanted) == len(got) and all(map(same, wanted, got))


def console_steps(code: str) -> list[tuple[str, str]]:
    """Each `$ command` of a console block with the output shown after it."""
    steps = []
    for line in code.splitlines():
        if line.startswith("$ "):
            steps.append([line[2:], []])
        elif steps:
            steps[-1][1].append(line)
        elif line.strip():
            raise AssertionError(f"console block text before its first `$ `: {line!r}")
    return [(command, "\n".join(output)) for command, output in steps]


# What the pages' training commands on real corpora run with here: one epoch (unless the page
# sets its own) of 10 windows, validated and tested on the first 2,000 words of each split; a
# run the page resumes keeps the caps it began with. A run on the sample corpus that sets its
# own length (epochs or a time budget) runs as shown, so the page can show its numbers.
SHORTENED = "--set max_max_epoch=1 --set max_windows=10 --set max_eval_words=2000"


def shortened(command: str) -> str:
    """`command` with every new training run in it capped by SHORTENED, but a short one on the
    sample corpus."""
    if re.search(r"--data sample\b", command) and \
            re.search(r"max_max_epoch=|--time-budget", command):
        return command
    return re.sub(r"\blstmlm train(?! --resume)", f"lstmlm train {SHORTENED}", command)


def environment() -> dict[str, str]:
    env = dict(os.environ, COLUMNS="100", NO_COLOR="1", OMP_NUM_THREADS="1")
    if env.get("LSTMLM_DATA_DIR"):
        # The blocks run in a folder of their own: a relative path (CI's) must not change meaning.
        env["LSTMLM_DATA_DIR"] = os.path.abspath(env["LSTMLM_DATA_DIR"])
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def run_shell(command: str, folder: Path, block: Block) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", shortened(command)], cwd=folder,
                          env=environment(), capture_output=True, text=True, timeout=600)


def printed_as_shown(block: Block, command: str, expected: str, shown: str) -> None:
    same = (matches_varied(expected, shown, block.tolerance) if block.varies else
            matches(expected, shown, block.tolerance))
    assert same, f"{block.name}: `{command}` printed\n{shown}\nwhere the page shows\n{expected}"


def run_block(block: Block, folder: Path, namespace: dict) -> None:
    if block.kind == "python":
        code = compile(block.code, block.name, "exec")
        previous = Path.cwd()
        printed = io.StringIO()
        os.chdir(folder)
        try:
            with contextlib.redirect_stdout(printed):
                exec(code, namespace)
        finally:
            os.chdir(previous)
        if block.output is not None:
            printed_as_shown(block, "the python block", block.output, printed.getvalue())
        return
    if block.kind == "bash":
        result = run_shell(block.code, folder, block)
        assert result.returncode == 0, f"{block.name}: exit {result.returncode}\n{result.stderr}"
        return
    for command, expected in console_steps(block.code):
        result = run_shell(command, folder, block)
        failing = expected.startswith("lstmlm: error:")
        assert result.returncode == (2 if failing else 0), \
            f"{block.name}: `{command}` exited {result.returncode}\n{result.stderr[-3000:]}"
        if expected.strip():
            printed_as_shown(block, command, expected, result.stderr if failing else result.stdout)


def ptb_available() -> bool:
    try:
        datasets.resolve("ptb", show_progress=False)
        return True
    except LstmlmError:
        return False


def quickstart_block() -> Block:
    return next(block for block in blocks_of(ROOT / "README.md")
                if "--name quickstart" in block.code)


@pytest.fixture(scope="session")
def quickstart_folder(tmp_path_factory) -> Path:
    """The README's quickstart, run once per suite as the README shows it: its model trains in
    full on the sample corpus, and its numbers are compared with the README's. The other pages
    find that model in `runs/quickstart`."""
    folder = tmp_path_factory.mktemp("quickstart")
    run_block(quickstart_block(), folder, {})
    return folder


RUNNABLE = [page for page in PAGES if any(block.skip is None for block in blocks_of(page))]


@pytest.mark.slow
@pytest.mark.parametrize("page", RUNNABLE, ids=[str(page.relative_to(ROOT)) for page in RUNNABLE])
def test_the_code_blocks_of_a_page_run(page, tmp_path, quickstart_folder):
    blocks = [block for block in blocks_of(page) if block.skip is None]
    if page.name == "README.md":
        shutil.copytree(quickstart_folder, tmp_path, dirs_exist_ok=True)
        blocks.remove(quickstart_block())
    else:
        shutil.copytree(quickstart_folder / "runs" / "quickstart", tmp_path / "runs" / "quickstart")
    if page.name == "importing.md":
        # The published checkpoints' stand-ins: the quickstart model in their layouts.
        published.stand_ins(tmp_path, lstmlm.load(quickstart_folder / "runs" / "quickstart"))
    namespace: dict = {"__name__": "__docs__"}
    for block in blocks:
        if block.requires == "ptb" and not os.environ.get("CI") and not ptb_available():
            pytest.skip(f"{block.name} and later blocks need PTB")
        run_block(block, tmp_path, namespace)


SKIPPED = [block for page in PAGES for block in blocks_of(page) if block.skip is not None]


@pytest.mark.parametrize("block", SKIPPED, ids=[block.name for block in SKIPPED])
def test_a_block_that_cannot_run_here_says_why(block):
    pytest.skip(f"documented, not run: {block.skip}")


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors_of(page: Path) -> set[str]:
    tokens = tokens_of(page)
    return {anchor(tokens[index + 1].content) for index, token in enumerate(tokens)
            if token.type == "heading_open"}


def links_of(page: Path) -> list[str]:
    links = []
    for token in tokens_of(page):
        for child in token.children or ():
            if child.type == "link_open":
                links.append(child.attrs["href"])
    return links


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_relative_links_and_anchors_lead_somewhere(page):
    for link in links_of(page):
        if re.match(r"[a-z]+:", link):
            continue  # a web address: not reachable from the tests
        target, _, fragment = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        assert path.exists(), f"{page.relative_to(ROOT)}: {link} does not exist"
        if fragment and path.suffix == ".md":
            assert fragment in anchors_of(path), \
                f"{page.relative_to(ROOT)}: {link} names no heading of {path.name}"


def test_the_generated_parts_are_current():
    """The README's results table and the reference pages, as scripts/generate_docs.py writes
    them from the code and from benchmarks/results/."""
    spec = importlib.util.spec_from_file_location("generate_docs",
                                                  ROOT / "scripts" / "generate_docs.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert generator.stale_pages(write=False) == [], "run python scripts/generate_docs.py"


def test_no_console_step_shows_only_a_wildcard():
    """A step's output is shown as it prints: `...` stands for part of it, never all of it."""
    for page in PAGES:
        for block in blocks_of(page):
            if block.kind == "console":
                for command, expected in console_steps(block.code):
                    assert expected.strip() != "...", f"{block.name}: `{command}` shows only ..."


def test_ptb_word_lm_small_is_quoted_as_published_everywhere():
    """One figure for ptb_word_lm small's test perplexity: its own table's 115.91."""
    assert "PTB_WORD_LM_SMALL = 115.91" in (ROOT / "benchmarks" / "end_to_end.py").read_text()
    for page in (ROOT / "README.md", ROOT / "docs" / "training.md"):
        text = page.read_text(encoding="utf-8")
        assert "115.91" in text and "116.7" not in text, page.name


def test_pages_that_write_a_folder_do_not_write_the_same_one():
    """A reader who follows the README and then another page never finds the folder taken."""
    written: dict[str, str] = {}
    for page in PAGES:
        for block in blocks_of(page):
            for target in re.findall(r"lstmlm (?:export|import) (?:\S+ )+?(models/\S+)",
                                     block.code):
                assert written.setdefault(target, page.name) == page.name, \
                    f"{page.name} and {written[target]} both write {target}"


def test_the_runner_shortens_new_training_runs_on_real_corpora_only():
    assert shortened("lstmlm train --preset small && lstmlm eval runs/x") == \
        f"lstmlm train {SHORTENED} --preset small && lstmlm eval runs/x"
    assert shortened("torchrun -m lstmlm train --name ddp") == \
        f"torchrun -m lstmlm train {SHORTENED} --name ddp"
    assert shortened("lstmlm train --resume runs/x") == "lstmlm train --resume runs/x"
    assert shortened("lstmlm train --data sample --name x") == \
        f"lstmlm train {SHORTENED} --data sample --name x"
    for as_shown in ("lstmlm train --data sample --set max_max_epoch=2",
                     "lstmlm train --data sample --time-budget 20s"):
        assert shortened(as_shown) == as_shown


def test_the_runner_compares_numbers_within_their_tolerance():
    assert matches("valid perplexity: ...\ntest perplexity: ...",
                   "valid perplexity: 12.5\ntest perplexity: 13.1\n")
    assert not matches("test perplexity: 1...", "test perplexity: 2.0")
    assert matches("test perplexity: 378.22", "test perplexity: 383.1")  # 1.3%
    assert not matches("test perplexity: 378.22", "test perplexity: 391.0", Tolerance.parse("2%"))
    assert not matches("test perplexity: 378.22", "test perplexity: 440.0")  # 16%
    assert not matches("test perplexity: 378.22", "test perplexity: 3782200.1")
    assert matches("the\t8.25 bits", "the\t8.71 bits", Tolerance.parse("0.5"))
    assert not matches("the\t8.25 bits", "the\t8.80 bits", Tolerance.parse("±0.5"))
    assert not matches("1 pair\t100%", "1 pair\t0%")  # whole numbers are text
    assert Tolerance.parse("5%") == Tolerance(relative=0.05, absolute=0.0)
    assert Tolerance.parse("3% or ±0.5") == Tolerance(relative=0.03, absolute=0.5)


def test_the_runner_reads_markers_and_output_blocks(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# A page\n\n<!-- skip: needs a GPU -->\n```console\n$ lstmlm train\n```\n\n"
        "```text\nnot run\n```\n\n```console\n$ lstmlm evall\n```\n\n"
        "<!-- requires: ptb -->\n<!-- tolerance: 10% -->\n```python\nprint(round(2 / 3, 2))\n```\n"
        "<!-- output -->\n```text\n0.7\n```\n\n"
        "<!-- varies: sampled -->\n```console\n$ echo a b; echo c\nx y\nz\n```\n")
    skipped, wrong, python, sampled = blocks_of(page)
    assert skipped.skip == "needs a GPU" and wrong.skip is None and wrong.line == 12
    with pytest.raises(AssertionError, match="lstmlm evall` exited 2"):
        run_block(wrong, tmp_path, {})
    assert python.requires == "ptb" and python.tolerance == Tolerance(relative=0.1, absolute=0.0)
    assert python.output == "0.7\n"
    run_block(python, tmp_path, {})
    python.output = "0.5\n"
    with pytest.raises(AssertionError, match="where the page shows"):
        run_block(python, tmp_path, {})
    run_block(sampled, tmp_path, {})
    sampled.code = "$ true\nx y\n"
    with pytest.raises(AssertionError, match="where the page shows"):
        run_block(sampled, tmp_path, {})
    assert matches_varied("the king\n8.25 bits", "a queen is\nhere\n8.31 bits", Tolerance())
    assert not matches_varied("the king\n8.25 bits", "a queen\n9.81 bits", Tolerance())
    assert not matches_varied("the king\n8.25 bits", "a queen", Tolerance())
    assert matches_varied("dead\t8.25\t119", "dead\t8.31\t121", Tolerance())
    assert not matches_varied("dead\t8.25\t119", "dead\t8.31", Tolerance())


def build_site(root: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(site)], cwd=root, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))


@pytest.mark.slow
def test_the_site_builds_without_a_warning(tmp_path):
    """`mkdocs build --strict`: every page in the navigation, every link and anchor found, the
    API reference read from the docstrings."""
    result = build_site(ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stderr[-3000:]
    api = (tmp_path / "site" / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    assert 'id="lstmlm.load"' in api and 'id="lstmlm.LanguageModel.surprisals"' in api


@pytest.mark.slow
def test_the_site_build_fails_on_a_broken_link(tmp_path):
    for name in ("mkdocs.yml", "README.md", "CHANGELOG.md", "LICENSE", "CITATION.cff"):
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in ("docs", "scripts", "src", "benchmarks/results"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    page = tmp_path / "docs" / "faq.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n[gone](no-such-page.md)\n")
    result = build_site(tmp_path, tmp_path / "site")
    assert result.returncode != 0 and "no-such-page.md" in result.stderr


def test_a_result_note_is_a_sentence():
    """The notes the generated tables show, of every result and design decision: a sentence
    of at most 200 characters each."""
    import json

    results = ROOT / "benchmarks" / "results"
    notes = {path.name: json.loads(path.read_text()).get("note") or ""
             for path in results.glob("*.json")}
    decisions = json.loads((ROOT / "benchmarks" / "decisions.json").read_text(encoding="utf-8"))
    notes.update((row["lever"], row.get("note", "")) for row in decisions["decisions"])
    for name, note in notes.items():
        assert len(note) <= 200, f"{name}: a note of {len(note)} characters"
    for row in decisions["decisions"]:
        evidence = row["evidence"]
        assert not evidence.endswith(".json") or (results / evidence).exists(), evidence
