"""
Argument checks shared by the repository's scripts (benchmarks/, tools/): argparse ``type=`` converters, so that a
value out of range ends in argparse's own one-line ``error: argument --x: ...`` (exit status 2) before any work,
instead of a traceback (``torch.set_num_threads(0)``, a median of no step) or a silent change later. No torch here.
"""
import argparse
import math
import os

from pedet.utils.file_io import file_in_the_way, same_file


def int_at_least(low: int):
    """``type=`` for an integer option that must be >= ``low``."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value}: must be >= {low}")
        return value

    convert.__name__ = f"int >= {low}"
    return convert


def finite_above(low: float):
    """``type=`` for a float option that must be finite and > ``low`` (NaN compared False with every bound)."""

    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
        if not (math.isfinite(value) and value > low):
            raise argparse.ArgumentTypeError(f"{value}: must be a finite number > {low:g}")
        return value

    convert.__name__ = f"float > {low:g}"
    return convert


def check_output_file(parser: argparse.ArgumentParser, option: str, path: str) -> None:
    """An output file name the script can write at its end: not empty, not a folder, no file on the way (else an
    IsADirectoryError / FileExistsError traceback after the work) -> parser.error."""
    if not path.strip():
        parser.error(f"{option} {path!r}: an empty file name")
    if os.path.isdir(path):
        parser.error(f"{option} {path}: a folder; give the file to write")
    _check_parents(parser, option, path)


def check_output_folder(parser: argparse.ArgumentParser, option: str, path: str) -> None:
    """An output folder: not empty, not an existing file, no file on the way -> parser.error."""
    if not path.strip():
        parser.error(f"{option} {path!r}: an empty folder name")
    if os.path.exists(path) and not os.path.isdir(path):
        parser.error(f"{option} {path}: a file; give a folder")
    _check_parents(parser, option, path)


def check_not_an_input(parser: argparse.ArgumentParser, option: str, path: str, inputs) -> None:
    """
    An output file that is one of the files the script reads (``inputs``: (what, path) pairs, e.g. ("MODEL.WEIGHTS",
    "w.pth")), also through '..', a symbolic or a hard link: the output replaced the input after the work, in silence
    -> parser.error naming both. Remote paths (``scheme://``) and empty names are not compared.
    """
    for what, source in inputs:
        if source and "://" not in source and same_file(path, source):
            parser.error(f"{option} {path}: is {what} ({source}), which this script reads; give another file to write")


def check_no_repeats(parser: argparse.ArgumentParser, option: str, values, why: str = "") -> None:
    """A list option with a value given twice (its row was measured and written twice) -> parser.error (+ " (why)")."""
    twice = [v for k, v in enumerate(values) if v in values[:k]]
    if twice:
        parser.error(f"{option} {' '.join(map(str, values))}: {twice[0]} given twice" + (f" ({why})" if why else ""))


def _check_parents(parser, option: str, path: str) -> None:
    blocking = file_in_the_way(path)
    if blocking:
        parser.error(f"{option} {path}: {blocking} is a file, not a folder")
