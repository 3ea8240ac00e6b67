"""The exceptions the CLI turns into one line: an error of the user's input or of the world
(exit 2), and an interrupted run (exit 130)."""


class LstmlmError(Exception):
    """A problem with the user's input or environment (bad config, bad corpus, failed download).

    The CLI prints its message on one line and exits with status 2; anything else is a bug.
    """


class WriteError(LstmlmError):
    """A write the file system refused (a full disk, no permission, a read-only file system);
    the message names the file and the cause. What was there before the write is intact."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C while a run trained: what its last checkpoint holds is kept, and `run_dir`
    names the run that `lstmlm train --resume` continues."""

    def __init__(self, run_dir: object):
        super().__init__(str(run_dir))
        self.run_dir = run_dir
