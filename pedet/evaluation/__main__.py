"""
Offline miss-rate evaluation: ``python -m pedet.evaluation --protocol P --gt GT --dt DT [...]``.

Inputs by protocol:
  crowdhuman   GT and DT ``.odgt`` (DT lines ``{"ID", "width", "height", "dtboxes": [{"box", "score", "tag"}]}``;
               image size from either file). --box full|visible picks fbox or vbox of the GT.
  citypersons  GT: COCO-style ``val_gt.json`` (bbox, vis_bbox, height, vis_ratio, ignore); DT: COCO results JSON.
  caltech      GT: the same COCO-style JSON with Caltech label strings in ``label`` and ``vis_bbox`` ([0,0,0,0] or
               absent = not occluded), 640x480 frames in file order; DT: COCO results JSON.
Prints a table; --out writes a flat JSON of fractions plus ``details`` (a ``.md`` name: the Markdown table);
--plot writes MR-FPPI curves (PNG).
Pure numpy (no torch / Detectron2 import), so it starts fast.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings

from pedet.utils.cli import data_command
from pedet.utils.file_io import describe_os_error, is_inside, same_file

from .io import EvalInputError
from .report import PROTOCOLS, evaluate, json_safe, read_inputs


def _positive_fppi(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: the FPPI must be a positive finite number (e.g. 0.1)")
    return v


# option -> (the protocols it applies to, its value when not given): given with another protocol, it is an error;
# --mode / --box default to None so that a value given explicitly (even the usual one: `--mode official` with caltech,
# which is scored by the toolbox's rule) is seen and refused, not ignored; _OPTION_DEFAULTS fills them in afterwards
_PROTOCOL_OPTIONS = {
    "mode": (("citypersons",), None),
    "box": (("crowdhuman",), None),
    "no_ji": (("crowdhuman",), False),
    "setups": (("citypersons", "caltech"), None),
    "no_det_resize": (("caltech",), False),
}
_OPTION_DEFAULTS = {"mode": "official", "box": "full"}


def _check_options(args) -> str | None:
    """The error message for an option that the chosen protocol would silently ignore, else None."""
    for key, (protocols, default) in _PROTOCOL_OPTIONS.items():
        if getattr(args, key) != default and args.protocol not in protocols:
            return f"--{key.replace('_', '-')} applies to {' / '.join(protocols)} only, not --protocol {args.protocol}"
    if args.setups and len(set(args.setups)) != len(args.setups):
        return f"--setups names a setup twice: {' '.join(args.setups)}"
    for flag, value in (("--gt", args.gt), ("--dt", args.dt), ("--out", args.out), ("--plot", args.plot)):
        if value is not None and not value.strip():
            return f"{flag} must not be empty"
    for flag, value, what in (("--gt", args.gt, "ground-truth"), ("--dt", args.dt, "detection")):
        if os.path.isdir(value):  # before: "[Errno 21] Is a directory", naming neither the option nor the fix
            return f"{flag} '{value}' is a folder; give the {what} file"
    if same_file(args.gt, args.dt):
        return f"--gt and --dt are the same file ({args.gt})"
    if args.out and args.out.endswith(("/", os.sep)):
        return (f"--out is the JSON file to write, not a folder ({args.out}); give a file name, e.g. "
                f"{args.out}metrics.json")
    if args.out and args.plot and same_file(args.out, args.plot):
        return f"--out and --plot are the same path ({args.out}); --out is a JSON file, --plot a folder for the PNGs"
    png = args.plot and os.path.join(args.plot, f"mr_fppi_{args.protocol}.png")
    if args.out and png and same_file(args.out, png):  # before: the PNG silently replaced the metrics just written
        return f"--out is the PNG that --plot writes ({png}); give the JSON file another name"
    if args.out and args.plot:  # one inside the other (the same path is refused above): the first written stands
        # where the second needs a folder
        if is_inside(args.plot, args.out):  # before: --out written, then "Not a directory" after the evaluation
            return (f"--plot '{args.plot}' is inside --out '{args.out}', the JSON file written first; give the "
                    "folder for the PNGs another path")
        if is_inside(args.out, png):  # before: --out written, then "is a folder, not a file" for the PNG
            return f"--out '{args.out}' is inside '{png}', the PNG that --plot writes; give the JSON file another path"
    for flag, value in (("--out", args.out), ("--plot", args.plot)):
        for name, path in (("--gt", args.gt), ("--dt", args.dt)):
            if value and same_file(value, path):  # the input would be overwritten
                return f"{flag} is the {name} file ({path}); give another path"
    for name, path in (("--gt", args.gt), ("--dt", args.dt)):
        if png and same_file(png, path):  # before: the input silently replaced by the plot (by name or a link)
            return (f"--plot '{args.plot}': the PNG it writes there, {png}, is the {name} file ({path}); give the "
                    "PNGs another folder")
    # outputs that cannot be written: found before the evaluation, not after it (with --out already written)
    if args.out and os.path.isdir(args.out):
        return (f"--out '{args.out}' is a folder; give the JSON file to write, e.g. "
                f"{os.path.join(args.out, 'metrics.json')}")
    if args.plot and os.path.exists(args.plot) and not os.path.isdir(args.plot):
        return f"--plot '{args.plot}' exists and is not a folder (the PNGs are written into it)"
    if args.plot and os.path.isdir(os.path.join(args.plot, f"mr_fppi_{args.protocol}.png")):  # before: [Errno 21]
        return (f"--plot '{args.plot}' holds a folder named 'mr_fppi_{args.protocol}.png', the name of the PNG to "
                "write there; move it away")  # after the evaluation, with --out already written
    from pedet.utils.file_io import file_in_the_way, name_too_long, symlink_loop

    for flag, value in (("--out", args.out), ("--plot", args.plot)):
        blocking = value and file_in_the_way(value)
        if blocking:
            return f"{flag} '{value}': '{blocking}' is a file, not a folder"
        too_long = value and name_too_long(value)  # before: "File name too long" once the evaluation was done
        if too_long:
            return f"{flag}: {too_long}"
        loop = value and symlink_loop(value)  # before: the link replaced by the metrics file, or an error after them
        if loop:
            return f"{flag}: {loop}"
    return None


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pedet.evaluation", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--protocol", required=True, choices=PROTOCOLS)
    p.add_argument("--gt", required=True, help="ground-truth file")
    p.add_argument("--dt", required=True, help="detection file")
    p.add_argument("--setups", nargs="+", default=None,
                   help="citypersons/caltech subsets: names (Reasonable Reasonable_small Heavy All R+HO Bare Partial) "
                        "or NAME:HMIN:HMAX:VMIN:VMAX; default: all seven (citypersons), Reasonable All Heavy (caltech)")
    p.add_argument("--mode", choices=("official", "matlab"), default=None,
                   help="citypersons: 'official' (the default) reproduces eval_MR_multisetup.py (final recall where no detection "
                        "has FPPI <= ref); 'matlab' uses the toolbox's recall-0 rule")
    p.add_argument("--box", choices=("full", "visible"), default=None,
                   help="crowdhuman: GT fbox (full, the default) or vbox (visible)")
    p.add_argument("--no-ji", action="store_true", help="crowdhuman: skip JI")
    p.add_argument("--no-det-resize", action="store_true",
                   help="caltech: do not squarify detections to aspect 0.41 (Pedestron/CSP dbEval copies)")
    p.add_argument("--out", help="write metrics (fractions) + details as JSON here; a name ending in .md gets the "
                                 "Markdown table instead")
    p.add_argument("--plot", help="write MR-FPPI curve PNGs into this folder")
    p.add_argument("--error-analysis", type=_positive_fppi, metavar="FPPI", default=None,
                   help="also print the RepLoss-style FP / miss breakdown at this FPPI (e.g. 0.1)")
    p.add_argument("--timing", action="store_true",
                   help="print wall / CPU seconds of start-up, reading and evaluation to stderr")
    return p


@data_command
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    problem = _check_options(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    for key, value in _OPTION_DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _show_warning  # one line each, no source line
        try:
            return _run(args)
        except (EvalInputError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        except OSError as e:  # Python's "[Errno N] ..." prefix tells a user nothing
            print(f"error: {describe_os_error(e)}", file=sys.stderr)
            return 1
        except Exception as e:  # noqa: BLE001  (never a traceback for input we failed to foresee)
            print(f"error: could not evaluate {args.dt} against {args.gt}: {type(e).__name__}: {e}", file=sys.stderr)
            return 1


def _run(args) -> int:
    t0, c0 = time.perf_counter(), time.process_time()
    gt, dt = read_inputs(args.protocol, args.gt, args.dt, box_mode=args.box)
    t1, c1 = time.perf_counter(), time.process_time()
    report = evaluate(
        args.protocol, gt, dt, setups=args.setups, mode=args.mode, box_mode=args.box,
        resize_dets=not args.no_det_resize, compute_ji=not args.no_ji,
    )
    if args.timing:
        t2, c2 = time.perf_counter(), time.process_time()
        print(f"timing: start-up (imports) {c0:.2f} s CPU, read {t1 - t0:.2f} s wall / {c1 - c0:.2f} s CPU, "
              f"evaluate {t2 - t1:.2f} s wall / {c2 - c1:.2f} s CPU", file=sys.stderr)
    print(report.format_table(), end="")
    payload = report.to_json()
    if args.error_analysis is not None:
        from .error_analysis import analyze_report, format_error_analysis

        ea = analyze_report(report, gt, dt, fppi=args.error_analysis)
        payload["details"]["error_analysis"] = ea
        print(format_error_analysis(ea), end="")
    if args.out and args.out.lower().endswith(".md"):  # the table, as MissRateEvaluator's metrics.md (JSON was
        # written under that name before)
        from pedet.utils.file_io import atomic_write

        text = report.format_table(markdown=True)
        if args.error_analysis is not None:
            text += "\n```text\n" + format_error_analysis(ea) + "```\n"
        atomic_write(args.out, text)
    elif args.out:
        from .evaluator_io import atomic_write_json

        atomic_write_json(args.out, json_safe(payload))
    if args.plot:
        from .plots import plot_mr_fppi

        os.makedirs(args.plot, exist_ok=True)
        for path in plot_mr_fppi(report, args.plot):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
