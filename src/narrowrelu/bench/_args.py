"""Argument types of the command line: every numeric option is parsed as a finite value in its
range by argparse itself, so a bad value ends in exit status 2 and one line naming it."""

import argparse
import math
import os


def count(minimum=1, maximum=None, why=None):
    """An integer count >= ``minimum`` (and <= ``maximum``, refused with the reason ``why``),
    written ``3000`` or ``3e3`` (an integral float)."""

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}") from None
        if not math.isfinite(value) or not value.is_integer() or value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        if maximum is not None and value > maximum:
            reason = f" ({why})" if why else ""
            raise argparse.ArgumentTypeError(f"must be at most {maximum}{reason}, got {text!r}")
        return int(value)

    parse.__name__ = "count"
    return parse


def integer(minimum=None, allowed=()):
    """An integer >= ``minimum`` (or one of ``allowed``)."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or (value not in allowed and minimum is not None and value < minimum):
            extra = "".join(f" or {a}" for a in allowed)
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}{extra}, got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def real(low=None, high=None, closed="both"):
    """A finite real number in the interval (bounds ``None`` for none; ``closed`` as in
    :class:`narrowrelu._params.Real`)."""

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        ok = math.isfinite(value)
        if ok and low is not None:
            ok = value > low or (value == low and closed in ("both", "left"))
        if ok and high is not None:
            ok = value < high or (value == high and closed in ("both", "right"))
        if not ok:
            raise argparse.ArgumentTypeError(f"must be {_describe(low, high, closed)}, got {text!r}")
        return value

    parse.__name__ = "real"
    return parse


def _describe(low, high, closed):
    if low is None and high is None:
        return "a finite number"
    if high is None:
        return f"a finite number {'>=' if closed in ('both', 'left') else '>'} {low:g}"
    left = "[" if closed in ("both", "left") else "("
    right = "]" if closed in ("both", "right") else ")"
    return f"a number in {left}{low:g}, {high:g}{right}"


def output_file_problem(path, flag="--json"):
    """Why ``path`` cannot be written (checked before any computation), or ``None``."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return f"{flag} {path}: is a directory"
    if not os.path.isdir(directory):
        return f"{flag} {path}: directory {directory} does not exist"
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return f"{flag} {path}: file is not writable"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"{flag} {path}: directory {directory} is not writable"
    return None


def check_output_file(path, parser, flag="--json"):
    """``parser.error`` (exit 2) when ``path`` is given and cannot be written."""
    if path and (problem := output_file_problem(path, flag)):
        parser.error(problem)
