"""The `lstmlm` command: one module per command, the options they share in `options`, and
`main`, which parses a command line and calls the library (every error one line, exit 2)."""

from .main import build_parser, main, parse_args

__all__ = ["build_parser", "main", "parse_args"]
