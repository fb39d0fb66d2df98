"""
Issue 11, config cross product: every shipped config (the _BASE_ files included) and three foreign ones (Detectron2
model-zoo configs) against the config set-up of each project's scripts. A config is either one the script supports
(its project's checks pass) or refused with one line that says which kind of config it is and which scripts take it.
Models are built on the meta device only (inside the projects' checks), so the sweep stays fast.
"""
import glob
import os

import detectron2
import pytest
from detectron2.config import get_cfg

from pedet.config import ConfigError, add_pedet_config, merge_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED = sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "projects", "*", "configs", "**",
                                                                           "*.yaml"), recursive=True))
ZOO = os.path.join(os.path.dirname(detectron2.__file__), "model_zoo", "configs", "COCO-Detection")


def project_cfg(project: str):
    """The config a project's train_net.py / nms_sweep.py merges into, and the project's own check."""
    cfg = get_cfg()
    add_pedet_config(cfg)
    if project == "OPL":
        from opl import add_opl_config
        from opl.config import check_opl_config

        add_opl_config(cfg)
        return cfg, check_opl_config
    from reploss import add_reploss_config
    from reploss.config import check_reploss_config

    add_reploss_config(cfg)
    return cfg, check_reploss_config


def test_every_project_ships_configs():
    assert len([c for c in SHIPPED if c.startswith("projects/OPL/")]) >= 20
    assert len([c for c in SHIPPED if c.startswith("projects/RepLoss/")]) >= 15


@pytest.mark.parametrize("config", SHIPPED)
@pytest.mark.parametrize("project", ["OPL", "RepLoss"])
def test_shipped_config_runs_in_its_project_and_is_named_in_the_other(config, project):
    cfg, check = project_cfg(project)
    path = os.path.join(REPO, config)
    if config.startswith(f"projects/{project}/"):
        merge_config(cfg, path, ["MODEL.DEVICE", "cpu"])
        check(cfg)  # the project's checks pass (a model of the right kind is built on the meta device)
        assert cfg.MODEL.META_ARCHITECTURE == ("OPL" if project == "OPL" else "PedestrianRCNN")
        return
    with pytest.raises(ConfigError) as e:
        merge_config(cfg, path, [])
    message = str(e.value.code)
    assert "\n" not in message and message.startswith(f"error: config file {path}: Non-existent config key: MODEL.")
    # the other project's config: says so, and which scripts take it
    other = "OPL" if project == "RepLoss" else "RepLoss"
    assert f"run it with projects/{other}/train_net.py" in message, message


@pytest.mark.parametrize("zoo_config, arch", [("retinanet_R_50_FPN_1x.yaml", "RetinaNet"),
                                              ("faster_rcnn_R_50_FPN_1x.yaml", "GeneralizedRCNN")])
@pytest.mark.parametrize("project, expected", [("OPL", "must be OPL"), ("RepLoss", "must be PedestrianRCNN")])
def test_model_zoo_config_is_refused_for_its_meta_architecture_first(zoo_config, arch, project, expected):
    """A RetinaNet was refused by the RepLoss check for MODEL.RPN.IN_FEATURES, a key RetinaNet does not read."""
    cfg, check = project_cfg(project)
    merge_config(cfg, os.path.join(ZOO, zoo_config), ["MODEL.DEVICE", "cpu"])
    with pytest.raises(ConfigError) as e:
        check(cfg)
    assert str(e.value.code).startswith(f"error: config: MODEL.META_ARCHITECTURE {arch!r}: {expected}")


def test_one_to_one_diagnostics_reads_the_project_through_the_base_chain(tmp_path, monkeypatch):
    """A run config.yaml of `_BASE_: <an OPL config>` was taken for a Faster R-CNN run (the text holds no 'OPL:')."""
    from pedet.utils.imports import load_script

    class Chosen(Exception):
        pass

    class CrowdQuality:
        @staticmethod
        def project_defaults(project):
            raise Chosen(project)

    diag = load_script(os.path.join(REPO, "benchmarks", "one_to_one_diagnostics.py"))
    monkeypatch.setattr(diag, "_crowd_quality", lambda: CrowdQuality)
    monkeypatch.setattr(diag, "load_script", lambda *a, **k: None)
    base = os.path.join(REPO, "projects", "OPL", "configs", "opl_R_50_FPN_crowdhuman_30k.yaml")
    (tmp_path / "config.yaml").write_text(f"_BASE_: {base}\n")
    (tmp_path / "model_final.pth").write_bytes(b"")
    with pytest.raises(Chosen) as e:
        diag.main([str(tmp_path)])
    assert e.value.args == ("opl",)


def test_nms_sweep_data_set_without_its_files_is_one_line_before_any_model(tmp_path, capsys, monkeypatch):
    """A registered name whose files are absent (e.g. citypersons_val before the download) was a FileNotFoundError
    traceback, after the first model was built and its weights loaded."""
    from detectron2.data import DatasetCatalog, MetadataCatalog

    from pedet.data.crowdhuman import register_crowdhuman
    from pedet.utils.imports import load_script

    nms_sweep = load_script(os.path.join(REPO, "projects", "RepLoss", "nms_sweep.py"))
    monkeypatch.setattr(nms_sweep, "collect", lambda *a, **k: pytest.fail("a model ran"))
    name = "cross_product_missing_files"
    register_crowdhuman(name, str(tmp_path / "annotation_val.odgt"), str(tmp_path / "Images"))
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"")
    config = os.path.join(REPO, "projects", "RepLoss", "configs", "tiny", "reploss_R_18_FPN_synthetic_tiny.yaml")
    try:
        with pytest.raises(SystemExit) as e:
            nms_sweep.main(["--model", "A", config, str(weights), "--dataset", name, "--output", str(tmp_path / "o")])
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip() and not x.startswith(("usage:", " "))]
    assert e.value.code == 2 and len(err) == 1, err
    assert f"error: --dataset {name}: " in err[0] and str(tmp_path / "annotation_val.odgt") in err[0], err


@pytest.mark.parametrize("project", ["OPL", "RepLoss"])
@pytest.mark.parametrize("eval_only, expected", [
    (True, "DATASETS.TEST (): no test data set: nothing to evaluate (is the config a _BASE_ file?"),
    (False, "DATASETS.TRAIN (): no training data set (is the config a _BASE_ file?")])
def test_train_net_on_a_base_file_without_data_sets_is_one_line(tmp_path, project, eval_only, expected):
    """The RepLoss project's Base-RCNN-FPN-Ped.yaml names no data set: --eval-only on it evaluated nothing, printed no
    metric and exited 0 (train_net's setup ran every check and passed)."""
    from detectron2.engine import default_argument_parser

    from pedet.utils.imports import load_script

    base = {"OPL": "Base-OPL.yaml", "RepLoss": "Base-RCNN-FPN-Ped.yaml"}[project]
    opts = ["MODEL.DEVICE", "cpu", "OUTPUT_DIR", str(tmp_path / "out")]
    if project == "OPL":  # Base-OPL.yaml is a whole recipe (CrowdHuman); without its sets it is the same case
        opts += ["DATASETS.TRAIN", "()", "DATASETS.TEST", "()", "DATASETS.SELECTION", ""]
    train_net = load_script(os.path.join(REPO, "projects", project, "train_net.py"))
    args = default_argument_parser().parse_args(["--config-file", os.path.join(REPO, "projects", project, "configs",
                                                                               base),
                                                 *(["--eval-only"] if eval_only else []), *opts])
    with pytest.raises(ConfigError) as e:
        train_net.setup(args)
    assert expected in str(e.value.code), e.value.code


def test_pretrain_backbone_data_set_without_its_files_is_one_line_before_any_work(tmp_path, capsys):
    """--train / --val a registered name whose files are absent: a FileNotFoundError traceback (the check only looked
    at the registration). A name registered here, so that the case holds wherever the real sets are downloaded."""
    from detectron2.data import DatasetCatalog, MetadataCatalog

    from pedet.data.crowdhuman import register_crowdhuman
    from pedet.utils.imports import load_script

    module = load_script(os.path.join(REPO, "benchmarks", "pretrain_backbone.py"))
    module.pretrain = lambda *a, **k: pytest.fail("the pre-training started")
    name = "cross_product_pretrain_missing"
    register_crowdhuman(name, str(tmp_path / "annotation_train.odgt"), str(tmp_path / "Images"))
    try:
        with pytest.raises(SystemExit) as e:
            module.main(["--out", str(tmp_path / "w.pkl"), "--train", name, "--val", name])
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip() and not x.startswith(("usage:", " "))]
    assert e.value.code == 2 and len(err) == 1, err
    assert f"error: --train {name}: " in err[0] and str(tmp_path / "annotation_train.odgt") in err[0], err


def test_nms_sweep_refuses_weights_of_another_model(tmp_path):
    """Detectron2's loader swept a model whose mismatched parameters stayed random (only a log warning), e.g. the
    weights of the R-18 tiny model given with an R-50 config; here the FPN width differs."""
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.modeling import build_model

    from pedet.engine.checkpoint import CheckpointFileError
    from pedet.utils.imports import load_script

    nms_sweep = load_script(os.path.join(REPO, "projects", "RepLoss", "nms_sweep.py"))
    config = os.path.join(REPO, "projects", "RepLoss", "configs", "tiny", "reploss_R_18_FPN_synthetic_tiny.yaml")
    DetectionCheckpointer(build_model(nms_sweep.load_cfg(config, ["MODEL.DEVICE", "cpu"])),
                          save_dir=str(tmp_path)).save("tiny")
    other = nms_sweep.load_cfg(config, ["MODEL.DEVICE", "cpu", "MODEL.FPN.OUT_CHANNELS", "32"])
    with pytest.raises(CheckpointFileError, match="have another shape in the checkpoint.*sweeping needs them all"):
        nms_sweep.collect(other, str(tmp_path / "tiny.pth"), "synthetic_crowd_val", 1)


@pytest.mark.parametrize("config", [c for c in SHIPPED if "Base" not in os.path.basename(c)][::7])
def test_a_project_config_set_up_without_add_pedet_config_still_merges(config):
    """add_opl_config / add_reploss_config alone (a Detectron2 habit: one add_*_config per project) then a shipped
    yaml: the RepLoss ones set INPUT.IGNORE_MODE, which was yacs's KeyError; the project functions now add pedet's
    keys when they are missing (and leave them when add_pedet_config ran first)."""
    cfg = get_cfg()
    if config.startswith("projects/OPL/"):
        from opl import add_opl_config as add_project_config
    else:
        from reploss import add_reploss_config as add_project_config
    add_project_config(cfg)
    cfg.merge_from_file(os.path.join(REPO, config))
    assert cfg.INPUT.IGNORE_MODE in ("drop", "exclude_bg")
