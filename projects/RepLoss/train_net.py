#!/usr/bin/env python
"""
Training and evaluation script of the Repulsion Loss project ("Repulsion Loss: Detecting Pedestrians in a Crowd",
Wang et al., CVPR 2018) and its Faster R-CNN baselines, in the shape of Detectron2's projects/*/train_net.py.

Data come from pedet.data (PedestrianDatasetMapper keeps ignore boxes as gt_classes == -1); evaluation is pedet's
miss-rate evaluator, whose protocol (CrowdHuman or CityPersons) follows the data set's MetadataCatalog evaluator_type.
The TEST sets are evaluated every TEST.EVAL_PERIOD iterations; model_best.pth (lowest miss rate) is kept only on a
model-selection set that is not reported (DATASETS.SELECTION / DATASETS.SELECTION_HOLDOUT, pedet.data.selection);
without one, model_final.pth is the model to report.

    python projects/RepLoss/train_net.py \
        --config-file projects/RepLoss/configs/tiny/reploss_R_18_FPN_synthetic_tiny.yaml
    python projects/RepLoss/train_net.py --config-file ... --eval-only MODEL.WEIGHTS output/.../model_final.pth
    python projects/RepLoss/train_net.py --config-file ... --num-gpus 8 --resume
"""

import pedet  # noqa: F401  (Pillow alias before any detectron2.data import)
import detectron2.utils.comm as comm
from detectron2.config import get_cfg
from detectron2.engine import default_argument_parser, default_setup
from detectron2.evaluation import verify_results

import pedet.data  # noqa: F401  (registers the data sets)
from pedet.config import add_pedet_config, check_config, merge_config
from pedet.engine import PedestrianTrainer, PedetCheckpointer, launch  # CPU/gloo launch, resume, safe loading
from pedet.engine.checkpoint import check_weights
from pedet.engine.launch import check_launch_args, one_line_errors
from reploss import add_reploss_config
from reploss.config import check_reploss_config


# DefaultTrainer + pedet's loaders, miss-rate evaluator and best checkpoint on the selection set (pedet/engine/trainer.py)
Trainer = PedestrianTrainer


def setup(args):
    """get_cfg -> pedet (incl. evaluator) and reploss keys -> merge file and options -> freeze -> default_setup."""
    cfg = get_cfg()
    add_pedet_config(cfg)
    add_reploss_config(cfg)
    merge_config(cfg, args.config_file, args.opts)  # yacs errors as one line (pedet.config)
    # values that would crash deep inside or train nonsense: one line naming the key (pedet.config.ConfigError)
    check_config(cfg, training=not args.eval_only, world_size=args.num_gpus * args.num_machines)
    check_reploss_config(cfg)
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
        if comm.is_main_process():
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
