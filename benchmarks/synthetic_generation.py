"""
Benchmark: wall time to generate the synthetic crowd set (issue 2 §4: 1 000 images of 320×320 in under 60 s here).

Times `pedet.data.synthetic.generate_synthetic_crowd` end to end (render, annotate, JPEG-encode, write the images and
the .odgt) into a temporary folder, for one preset split with its number of images and size overridden, and prints
a JSON line and a Markdown table row for benchmarks/RESULTS.md.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/synthetic_generation.py                       # default/train, 1000
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/synthetic_generation.py --preset d50 --split val --workers 2
"""
import argparse
import dataclasses
import json
import os
import platform
import statistics
import tempfile
import time

from pedet.data.synthetic import MAX_WORKERS, PRESETS, generate_synthetic_crowd
from pedet.utils.cli import int_at_least


def folder_megabytes(path: str) -> float:
    return sum(e.stat().st_size for e in os.scandir(path) if e.is_file()) / 2**20


def annotation_counts(odgt_file: str) -> tuple[float, float]:
    """Mean (valid persons, ignore boxes) per image of an .odgt file."""
    valid, ignore = [], []
    with open(odgt_file) as f:
        for line in f:
            boxes = json.loads(line)["gtboxes"]
            bad = [b["tag"] != "person" or b["extra"]["ignore"] for b in boxes]
            valid.append(len(bad) - sum(bad))
            ignore.append(sum(bad))
    return statistics.mean(valid), statistics.mean(ignore)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="default", choices=sorted(PRESETS))
    parser.add_argument("--split", default="train")
    parser.add_argument("--num-images", type=int, default=1000)
    parser.add_argument("--size", type=int, nargs=2, default=(320, 320), metavar=("H", "W"))
    parser.add_argument("--workers", type=int_at_least(1), default=1)
    parser.add_argument("--repeat", type=int_at_least(1), default=1, help="runs; the median is reported")
    args = parser.parse_args(argv)
    # each was a traceback (KeyError, the spec's ValueError, a median of no run) or a pool of 0 processes
    if args.split not in PRESETS[args.preset]:
        parser.error(f"--split {args.split}: preset {args.preset} has the splits {', '.join(PRESETS[args.preset])}")
    if args.workers > MAX_WORKERS:
        parser.error(f"--workers {args.workers}: must be <= {MAX_WORKERS}")
    try:
        spec = dataclasses.replace(PRESETS[args.preset][args.split], num_images=args.num_images,
                                   image_size=tuple(args.size))
    except ValueError as e:  # SplitSpec's own range check, naming the flag
        parser.error(str(e))
    times, cpu = [], []
    load_before = os.getloadavg()[0]
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="synthetic_bench_") as out:
            start, cpu_start = time.perf_counter(), os.times()
            odgt = generate_synthetic_crowd(out, args.split, spec, workers=args.workers)
            times.append(time.perf_counter() - start)
            cpu_end = os.times()  # CPU of this process and of its finished workers: the work itself, load aside
            cpu.append(sum(cpu_end[:4]) - sum(cpu_start[:4]))
            megabytes = folder_megabytes(os.path.join(out, "Images"))
            valid, ignore = annotation_counts(odgt)
    seconds = statistics.median(times)
    result = {
        "preset": args.preset, "split": args.split, "images": spec.num_images, "size": list(spec.image_size),
        "persons_per_image": list(spec.persons_per_image), "workers": args.workers, "seconds": round(seconds, 2),
        "runs": [round(t, 2) for t in times], "images_per_s": round(spec.num_images / seconds, 1),
        "ms_per_image": round(1000 * seconds / spec.num_images, 1), "valid_persons_per_image": round(valid, 1),
        "ignore_boxes_per_image": round(ignore, 2), "jpeg_mb": round(megabytes, 1),
        "cpu_seconds": round(statistics.median(cpu), 2), "cpus": os.cpu_count(),
        "load_avg_1min_before_after": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "python": platform.python_version(),
    }
    print(json.dumps(result))
    print(f"| {args.preset}/{args.split} | {spec.num_images} | {spec.image_size[0]}×{spec.image_size[1]} | "
          f"{spec.persons_per_image[0]}–{spec.persons_per_image[1]} | {args.workers} | {seconds:.1f} | "
          f"{1000 * seconds / spec.num_images:.1f} | {statistics.median(cpu):.1f} | {valid:.1f} | {megabytes:.1f} |")


if __name__ == "__main__":
    from pedet.utils.cli import run_script

    run_script(main)  # a full or read-only --out, | head, Ctrl-C: one line, no traceback
