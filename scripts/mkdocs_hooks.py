"""MkDocs hooks (`mkdocs.yml`): the site is docs/ together with the repository files its
pages link to, and the README is its home page.

The pages are written to be read on GitHub, where a link from docs/ to the README or to a
result file leaves docs/ (`../README.md`, `../benchmarks/results/...`) and the README links
into docs/ (`docs/training.md`). In the site every one of those files keeps its place in
the repository, docs/ being the root, and the links are rewritten to match.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
# The repository files outside docs/ that the site carries, by their path in the repository.
OUTSIDE_DOCS = ["README.md", "CHANGELOG.md", "LICENSE", "CITATION.cff",
                *sorted(path.relative_to(ROOT).as_posix()
                        for path in (ROOT / "benchmarks" / "results").iterdir())]
LINK = re.compile(r"(\]\()([^)\s#]+)(#[^)\s]*)?(\))")


def on_files(files, config):
    for path in OUTSIDE_DOCS:
        files.append(File(path, src_dir=str(ROOT), dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    return files


def site_path(repository_path: str) -> str:
    """Where a repository file is in the site: docs/ is its root, the rest keep their place."""
    return repository_path.removeprefix("docs/")


def on_page_markdown(markdown, page, config, files):
    source = page.file.src_uri
    in_repository = source if source in OUTSIDE_DOCS else f"docs/{source}"

    def relinked(match: re.Match) -> str:
        target = match.group(2)
        if re.match(r"[a-z]+:", target):
            return match.group(0)  # a web address
        linked = posixpath.normpath(posixpath.join(posixpath.dirname(in_repository), target))
        relative = posixpath.relpath(site_path(linked), posixpath.dirname(source) or ".")
        return match.group(1) + relative + (match.group(3) or "") + match.group(4)

    return LINK.sub(relinked, markdown)
