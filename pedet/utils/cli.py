"""
Argument checks shared by the repository's scripts (benchmarks/, tools/): argparse ``type=`` converters, so that a
value out of range ends in argparse's own one-line ``error: argument --x: ...`` (exit status 2) before any work,
instead of a traceback (``torch.set_num_threads(0)``, a median of no step) or a silent change later; and
``data_command`` for the mains of the pure-data commands (standard output piped into ``head`` or a full device;
Ctrl-C or ``kill``; a deleted current folder). No torch here.
"""
import argparse
import errno
import functools
import math
import os
import re
import signal
import sys
import threading

from pedet.utils.file_io import (CURRENT_FOLDER_GONE, current_folder_is_gone, describe_os_error, file_in_the_way,
                                 same_file)


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


_OVERRIDE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+")


def override_pairs_problem(opts) -> str:
    """
    What is wrong with a yacs override list (``KEY VALUE KEY VALUE ...``), or "" when nothing is. Detectron2's
    LazyConfig scripts take ``key=value`` items (``train.init_checkpoint=model.pth``); here yacs read such an item as a
    key and answered "Non-existent key: SOLVER.MAX_ITER=2" (the key exists), or the count came out odd. An item in a
    key position that is a dotted name followed by ``=`` is therefore named with the pair to write instead.
    """
    opts = list(opts or [])
    for item in opts[0::2]:
        key, sep, value = item.partition("=")
        if sep and _OVERRIDE_KEY.fullmatch(key):
            example = f"{key} {value}" if key.isupper() else "MODEL.WEIGHTS model.pth (not train.init_checkpoint=...)"
            return (f"config override {item}: KEY=VALUE is the LazyConfig syntax; this script takes a yacs config, "
                    f"overridden by KEY VALUE pairs, e.g. {example}")
    if len(opts) % 2:
        return f"config overrides come as KEY VALUE pairs, got {len(opts)} items: {' '.join(opts)}"
    return ""


def _check_parents(parser, option: str, path: str) -> None:
    blocking = file_in_the_way(path)
    if blocking:
        parser.error(f"{option} {path}: {blocking} is a file, not a folder")


class _GuardedStdout:
    """sys.stdout that remembers its first write error (a reader that stopped reading, a full device) instead of
    raising it: the rest of the output is dropped, the command's work and its files go on. Text it cannot encode is
    written with backslash escapes, as Python writes it to stderr."""

    def __init__(self, stream):
        self.stream = stream
        self.error = None

    def write(self, text):
        if self.error is None:
            try:
                try:
                    return self.stream.write(text)
                except UnicodeEncodeError:
                    # a file name of bytes that are not UTF-8 (surrogates) on a strict stdout (a UTF-8 locale): shown
                    # as stderr shows it ("\udcff"); before: a traceback after the output file was written
                    encoding = getattr(self.stream, "encoding", None) or "utf-8"
                    return self.stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
            except OSError as e:
                self._failed(e)
        return len(text)

    def flush(self):
        if self.error is None:
            try:
                self.stream.flush()
            except OSError as e:
                self._failed(e)

    def _failed(self, error: OSError) -> None:
        self.error = error
        # what stays in the stream's buffer goes nowhere: the interpreter flushes sys.__stdout__ at exit, which
        # printed "Exception ignored ... BrokenPipeError" and ended with status 120
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):  # a stream without a file descriptor (pytest's capture)
            pass

    def __getattr__(self, name):
        return getattr(self.stream, name)


def guard_stdout(main):
    """
    Decorator for the ``main(argv) -> int`` of a pure-data command: standard output that cannot be written never
    ends the work half-way or in a traceback. A reader that stopped reading (``cmd | head``: EPIPE) only stops the
    printing: the files asked for are still written and the status is the command's own, as if it had been read to
    the end. Any other failure (``> /dev/full``: "No space left on device") is one line on stderr once the work is
    done, with status 1. Before: the evaluator ended with "error: Broken pipe" before writing --out and --plot, and a
    converter with an OSError traceback after its output was written.
    """

    @functools.wraps(main)
    def guarded(*args, **kwargs):
        if sys.stdout is None or isinstance(sys.stdout, _GuardedStdout):  # stdout closed (>&-): print() writes nothing
            return main(*args, **kwargs)
        guard = sys.stdout = _GuardedStdout(sys.stdout)
        status, exit_ = 0, None
        try:
            status = main(*args, **kwargs)
        except SystemExit as e:  # argparse's exit (--help, a bad argument): its output may be what failed
            exit_ = e
        finally:
            guard.flush()  # block-buffered to a pipe: the error comes with this flush, not with print()
            sys.stdout = guard.stream
        if guard.error is not None and guard.error.errno != errno.EPIPE:
            print(f"error: standard output: {guard.error.strerror or guard.error}", file=sys.stderr)
            return (exit_.code if exit_ is not None else status) or 1
        if exit_ is not None:
            raise exit_
        return status

    return guarded


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as Ctrl-C is (a KeyboardInterrupt: ``except Exception`` does not swallow it), so that the
    writers' cleanup runs (``atomic_open`` removes its temporary file) instead of the process ending on the spot."""


def _raise_terminated(signum, frame):
    raise Terminated()


def interruptible(main):
    """
    Decorator for the ``main(argv) -> int`` of a pure-data command: Ctrl-C (SIGINT) or ``kill`` (SIGTERM) during the
    work ends it with one line, "error: interrupted (SIGINT)", and the shell's status 128 + signal number (130, 143).
    The file being written is left as it was (``atomic_open`` removes its temporary); files already complete stay.
    Before: a KeyboardInterrupt traceback of 20-40 lines for Ctrl-C, and for SIGTERM a hidden ``.tmp`` file left
    behind (removed only by the next run into that folder).
    """

    @functools.wraps(main)
    def wrapped(*args, **kwargs):
        previous = None
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # never replace a handler someone installed
            previous = signal.signal(signal.SIGTERM, _raise_terminated)
        try:
            return main(*args, **kwargs)
        except KeyboardInterrupt as e:
            signum = signal.SIGTERM if isinstance(e, Terminated) else signal.SIGINT
            print(f"error: interrupted ({signum.name})", file=sys.stderr)
            return 128 + signum
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    return wrapped


def _current_folder_checked(main):
    """A relative path while the current folder is deleted: one line (before: a FileNotFoundError traceback from
    os.path.abspath in the option checks, which run before the commands' own error handling)."""

    @functools.wraps(main)
    def wrapped(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except FileNotFoundError as e:
            if e.filename is not None or not current_folder_is_gone():
                raise
            print(f"error: {CURRENT_FOLDER_GONE}", file=sys.stderr)
            return 1

    return wrapped


def data_command(main):
    """The decorators of a pure-data command's ``main(argv) -> int``: ``guard_stdout``, ``interruptible`` and the
    check of a deleted current folder."""
    return guard_stdout(interruptible(_current_folder_checked(main)))


def run_script(main) -> None:
    """
    ``if __name__ == "__main__": run_script(main)`` for a script whose ``main()`` returns its results (the
    benchmarks): ``data_command``'s guards, and an OSError that names a file (an output on a full or read-only
    disk) as one line with status 1 instead of a traceback. Exits.
    """

    @data_command
    def run():
        try:
            main()
        except OSError as e:
            if e.filename is None:
                raise
            print(f"error: {describe_os_error(e)}", file=sys.stderr)
            return 1
        return 0

    sys.exit(run())
