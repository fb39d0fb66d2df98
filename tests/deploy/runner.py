"""
Test harness of tests/deploy: registers a tiny synthetic crowd set, then runs a project's train_net.main under
pedet.engine.launch, the way ``python projects/<P>/train_net.py --num-gpus N ...`` does.

    python tests/deploy/runner.py --project opl --root /tmp/x [--num-procs 2] [--record FILE] [--result FILE] \
        -- --config-file ... [--resume] [--eval-only] KEY VALUE ...

PEDET_TEST_WRITER_PERIOD=N makes the metric writers write every N iterations (detectron2 hard-codes 20).
--record appends the image_id of every image the training mapper maps (one per line, in order; rank 0 only; use it
with DATALOADER.NUM_WORKERS 0 so that mapping order is consumption order). --result writes main()'s return value
(evaluation results) as JSON on rank 0.
"""
import argparse
import importlib.util
import json
import os
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROJECT_DIRS = {"opl": os.path.join(REPO, "projects", "OPL"), "reploss": os.path.join(REPO, "projects", "RepLoss")}
for _d in (REPO, *PROJECT_DIRS.values()):
    if _d not in sys.path:
        sys.path.insert(0, _d)

import pedet  # noqa: E402,F401

# 128 px squares with 2-6 persons: big enough for P3-P7 (stride 128), small enough for CI
TINY_SPLITS = {"train": dict(num_images=8, seed=300), "val": dict(num_images=6, seed=301)}
TINY_PREFIX, TINY_PRESET = "deploy_crowd", "tiny"
TRAIN_SET, VAL_SET = f"{TINY_PREFIX}_{TINY_PRESET}_train", f"{TINY_PREFIX}_{TINY_PRESET}_val"


def register_tiny_sets(root: str):
    """Register (and, on first use, generate under root) deploy_crowd_tiny_train / _val; idempotent."""
    from detectron2.data import DatasetCatalog
    from pedet.data.synthetic import SplitSpec, register_synthetic_crowd

    if TRAIN_SET in DatasetCatalog.list():
        return
    specs = {split: SplitSpec(persons_per_image=(2, 6), image_size=(128, 128), min_height=24.0, clutter_per_image=(1, 3),
                              far_crowd_prob=0.3, **kw) for split, kw in TINY_SPLITS.items()}
    register_synthetic_crowd(root, presets={TINY_PRESET: specs}, prefix=TINY_PREFIX)


def load_train_net(project: str):
    """Import projects/<P>/train_net.py under a unique module name (both projects call theirs train_net)."""
    name = f"{project}_train_net"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(PROJECT_DIRS[project], "train_net.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _record_mapped_images(path: str):
    from detectron2.utils import comm
    from pedet.data.mapper import PedestrianDatasetMapper

    original = PedestrianDatasetMapper.__call__

    def call(self, dataset_dict):
        if self.is_train and comm.is_main_process():
            with open(path, "a") as f:
                f.write(f"{dataset_dict['image_id']}\n")
        return original(self, dataset_dict)

    PedestrianDatasetMapper.__call__ = call


def _writer_period(period: int):
    """DefaultTrainer writes metrics every 20 iterations (hard-coded); the resume test needs every iteration."""
    from detectron2.engine import hooks

    original = hooks.PeriodicWriter.__init__

    def init(self, writers, period_ignored=20, **_):
        original(self, writers, period=period)  # noqa: the argument detectron2 passes is ignored

    hooks.PeriodicWriter.__init__ = init


def worker_main(project: str, root: str, train_argv: list, record: str, result: str):
    """What each process runs: register the data, optionally record, then the project's main()."""
    import torch
    from detectron2.engine import default_argument_parser
    from detectron2.utils import comm

    torch.set_num_threads(1)
    if os.environ.get("PEDET_TEST_WRITER_PERIOD"):
        _writer_period(int(os.environ["PEDET_TEST_WRITER_PERIOD"]))
    register_tiny_sets(root)
    if record:
        _record_mapped_images(record)
    train_net = load_train_net(project)
    res = train_net.main(default_argument_parser().parse_args(train_argv))
    if result and comm.is_main_process():
        with open(result, "w") as f:
            json.dump(res or {}, f)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", choices=sorted(PROJECT_DIRS), required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--num-procs", type=int, default=1)
    parser.add_argument("--record", default="")
    parser.add_argument("--result", default="")
    parser.add_argument("train_argv", nargs=argparse.REMAINDER)
    a = parser.parse_args(argv)
    train_argv = a.train_argv[1:] if a.train_argv[:1] == ["--"] else a.train_argv
    from pedet.engine import launch

    if os.environ.get("PEDET_START_METHOD") == "fork":
        load_train_net(a.project)  # imported once here, inherited by the forked workers
    launch(worker_main, a.num_procs, dist_url="auto", args=(a.project, a.root, train_argv, a.record, a.result))


if __name__ == "__main__":
    main()
