"""The one exception type that the CLI turns into a clean one-line error."""


class LstmlmError(Exception):
    """A problem with the user's input or environment (bad config, bad corpus, failed download).

    The CLI prints its message on one line and exits with status 2; anything else is a bug.
    """


class WriteError(LstmlmError):
    """A write the file system refused (a full disk, no permission, a read-only file system);
    the message names the file and the cause. What was there before the write is intact."""
