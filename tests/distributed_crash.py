"""`lstmlm` as torchrun starts it, except that rank 1 dies (os._exit) at its training window
number $LSTMLM_TEST_CRASH_AT: how tests make a process of a distributed run fail."""

import os
import sys

from lstmlm import cli
from lstmlm.training import step

crash_at = int(os.environ["LSTMLM_TEST_CRASH_AT"])
real_step, windows = step.train_step, 0


def crashing_step(*args, **kwargs):
    global windows
    windows += 1
    if windows == crash_at and os.environ.get("RANK") == "1":
        os._exit(3)
    return real_step(*args, **kwargs)


step.train_step = crashing_step
sys.exit(cli.main(sys.argv[1:]))
