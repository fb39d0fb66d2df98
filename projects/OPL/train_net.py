#!/usr/bin/env python
"""
OPL training / evaluation script, shaped like detectron2's projects/TridentNet/train_net.py.

    python projects/OPL/train_net.py --config-file projects/OPL/configs/opl_R_50_FPN_crowdhuman_30k.yaml --num-gpus 8
    python projects/OPL/train_net.py --config-file ... --eval-only MODEL.WEIGHTS path/to/model_final.pth
    python projects/OPL/train_net.py --config-file ... --resume

Evaluation uses pedet's miss-rate evaluator with the protocol from the data set's metadata (evaluator_type); every
TEST.EVAL_PERIOD iterations the TEST sets are evaluated, and, only when a model-selection set that is not reported is
configured (DATASETS.SELECTION / DATASETS.SELECTION_HOLDOUT), the checkpoint with the best protocol metric on it
(lowest mMR / MR^-2) is kept as ``model_best.pth``; otherwise ``model_final.pth`` is the model to report. Data go
through PedestrianDatasetMapper (ignore boxes as class -1).
"""

import pedet  # noqa: F401  (Pillow alias before any detectron2.data import)
from detectron2.config import get_cfg
from detectron2.engine import default_argument_parser, default_setup
from detectron2.evaluation import verify_results

import pedet.data  # noqa: F401  (registers the data set names)
from pedet.config import add_pedet_config, check_config, merge_config
from pedet.engine import PedestrianTrainer, PedetCheckpointer, launch  # CPU/gloo launch, resume, safe loading
from pedet.engine.checkpoint import check_weights
from pedet.engine.launch import check_launch_args, one_line_errors

from opl import add_opl_config
from opl.config import check_opl_config


# DefaultTrainer + pedet's loaders, miss-rate evaluator and best checkpoint on the selection set (pedet/engine/trainer.py)
Trainer = PedestrianTrainer


def setup(args):
    """get_cfg -> pedet (incl. evaluator) and OPL keys -> merge file -> merge opts -> freeze -> default_setup."""
    cfg = get_cfg()
    add_pedet_config(cfg)
    add_opl_config(cfg)
    merge_config(cfg, args.config_file, args.opts)  # yacs errors as one line (pedet.config)
    # values that would crash deep inside or train nonsense: one line naming the key (pedet.config.ConfigError)
    check_config(cfg, training=not args.eval_only, world_size=args.num_gpus * args.num_machines)
    check_opl_config(cfg)
    cfg.freeze()
    default_setup(cfg, args)
    return cfg


def main(args):
    cfg = setup(args)
    if args.eval_only:
        model = Trainer.build_model(cfg)
        checkpointer = PedetCheckpointer(model, save_dir=cfg.OUTPUT_DIR, require_all=True)
        if not (args.resume and checkpointer.has_checkpoint()):  # MODEL.WEIGHTS is what gets evaluated
            check_weights(cfg.MODEL.WEIGHTS, "evaluating")
        checkpointer.resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        res = Trainer.test(cfg, model)
        verify_results(cfg, res)
        return res
    check_weights(cfg.MODEL.WEIGHTS)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    print("Command Line Args:", args)
    check_launch_args(args)  # bad --num-gpus / --num-machines / --machine-rank / --dist-url: one line
    with one_line_errors():  # bad MODEL.WEIGHTS, a process that stopped on bad input: one line, no traceback
        launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
               dist_url=args.dist_url, args=(args,))
