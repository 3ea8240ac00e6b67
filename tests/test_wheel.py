"""The wheel `python -m build` makes works away from the clone: installed into a new virtual
environment, it trains the README's quickstart on the sample corpus it carries."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from .test_docs import ROOT, quickstart_block

pytestmark = pytest.mark.slow


def run(command: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"
    return result


def test_the_wheel_carries_the_sample_corpus_and_runs_the_quickstart(tmp_path):
    # The tracked files alone, as a fresh clone has them, so that the build writes nothing
    # into this checkout.
    source = tmp_path / "source"
    for name in run(["git", "ls-files"], ROOT).stdout.splitlines():
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"),
         str(source)], tmp_path)
    wheel, = (tmp_path / "dist").glob("lstmlm-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {"lstmlm/data/sample/train.txt", "lstmlm/data/sample/valid.txt",
            "lstmlm/data/sample/test.txt"} <= set(names)
    assert not any(name.startswith(("tests/", "benchmarks/")) for name in names)

    # A new environment that sees this one's dependencies (PyTorch is large) through a path
    # file, but not its lstmlm: a path listed there is searched without running its own .pth
    # files, so this checkout's editable install stays out.
    environment = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(environment)], tmp_path)
    python = environment / "bin" / "python"
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
               tmp_path).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)], tmp_path)

    user = tmp_path / "user"
    user.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LSTMLM_")}
    env.update(PATH=f"{environment / 'bin'}{os.pathsep}{env['PATH']}",
               LSTMLM_CACHE_DIR=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    where = run([str(python), "-c", "import lstmlm; print(lstmlm.__file__)"], user, env).stdout
    assert where.startswith(site), where
    train, evaluate = [line[2:] for line in quickstart_block().code.splitlines()
                       if line.startswith("$ ")][:2]
    assert run(["bash", "-c", train], user, env).stdout.startswith("run: runs/quickstart\n")
    assert re.fullmatch(r"test perplexity: \d+\.\d+\n", run(["bash", "-c", evaluate], user,
                                                            env).stdout)
