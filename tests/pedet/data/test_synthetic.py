"""
Tests of pedet.data.synthetic: the painter and box rules on hand-made sprites, the CrowdHuman-format output,
determinism, density control, ignore regions, registration (no disk access), generation on first use and under two
concurrent processes. Images are small (128-160 px) so the whole file runs in a few seconds.
"""
import dataclasses
import json
import multiprocessing
import os

import cv2
import numpy as np
import pytest

from detectron2.data import DatasetCatalog, MetadataCatalog
from pedet.data import synthetic as syn
from pedet.data.synthetic import (
    LABEL_BACKGROUND,
    PRESETS,
    SplitSpec,
    Sprite,
    annotate_image,
    ensure_synthetic_crowd,
    generate_synthetic_crowd,
    paste_sprite,
    person_visibility,
    register_synthetic_crowd,
    render_synthetic_image,
    synthetic_dataset_name,
    tight_box,
)

TINY = SplitSpec(num_images=3, seed=11, persons_per_image=(6, 12), image_size=(128, 160), min_height=16.0)


def _contains(outer, inner) -> bool:
    """True if XYWH box `inner` lies inside XYWH box `outer` (pixel-inclusive integer boxes)."""
    return (inner[0] >= outer[0] and inner[1] >= outer[1] and inner[0] + inner[2] <= outer[0] + outer[2]
            and inner[1] + inner[3] <= outer[1] + outer[3])


def _read_odgt(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def _register_tiny(root, prefix, presets):
    """Register `presets` under `root` with a test prefix; returns the names (removed again by the caller)."""
    return register_synthetic_crowd(root, presets=presets, prefix=prefix)


@pytest.fixture
def tiny_registered(tmp_path):
    presets = {"default": {"train": TINY, "val": dataclasses.replace(TINY, num_images=2, seed=12)}}
    names = _register_tiny(str(tmp_path / "root"), "t_synth", presets)
    yield names, tmp_path / "root"
    for name in names:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


# ---------------------------------------------------------------------------------------------------------------------
# Hand-made cases for the box and painter rules
# ---------------------------------------------------------------------------------------------------------------------
def test_tight_box_is_pixel_inclusive():
    mask = np.zeros((6, 8), bool)
    mask[1, 2] = mask[3, 5] = True
    # columns 2..5 -> x = 2, w = 5 - 2 + 1 = 4; rows 1..3 -> y = 1, h = 3; shifted by (10, 20)
    assert tight_box(mask, 10, 20) == [12, 21, 4, 3]
    assert tight_box(np.zeros((2, 2), bool)) is None


def test_person_visibility_nearer_sprite_hides_farther():
    image = np.zeros((4, 8, 3), np.uint8)
    label_map = np.full((4, 8), LABEL_BACKGROUND, np.int16)
    far = Sprite(np.ones((4, 4), np.uint8), np.full((4, 4, 3), 10, np.uint8), x0=0, y0=0)
    near = Sprite(np.ones((4, 4), np.uint8), np.full((4, 4, 3), 20, np.uint8), x0=2, y0=0)
    paste_sprite(image, label_map, far, 0)
    paste_sprite(image, label_map, near, 1)
    visible, x0, y0 = person_visibility(label_map, far, 0)
    # near covers columns 2..5, so far keeps columns 0..1: vbox [0, 0, 2, 4], 8 of 16 pixels
    assert tight_box(visible, x0, y0) == [0, 0, 2, 4]
    assert visible.sum() == 8
    assert (image[:, 2:6] == 20).all() and (image[:, :2] == 10).all()


def test_person_visibility_cuts_at_the_image_border():
    label_map = np.full((4, 4), LABEL_BACKGROUND, np.int16)
    sprite = Sprite(np.ones((3, 3), np.uint8), np.zeros((3, 3, 3), np.uint8), x0=-1, y0=2)
    paste_sprite(np.zeros((4, 4, 3), np.uint8), label_map, sprite, 0)
    visible, x0, y0 = person_visibility(label_map, sprite, 0)
    # canvas covers x -1..1, y 2..4; the image keeps x 0..1, y 2..3 -> vbox [0, 2, 2, 2], 4 pixels
    assert tight_box(visible, x0, y0) == [0, 2, 2, 2]
    assert visible.sum() == 4


# ---------------------------------------------------------------------------------------------------------------------
# Rendered images
# ---------------------------------------------------------------------------------------------------------------------
def test_render_boxes_are_consistent_and_pedestrian_shaped():
    spec = SplitSpec(persons_per_image=(10, 10), image_size=(320, 320))
    H, W = spec.image_size
    ratios, heights = [], []
    for index in range(12):
        for box in annotate_image(render_synthetic_image(spec, index), "x", spec)["gtboxes"]:
            if box["tag"] != "person":
                continue
            fbox, vbox, hbox = box["fbox"], box["vbox"], box["hbox"]
            clipped = [max(fbox[0], 0), max(fbox[1], 0)]
            clipped += [min(fbox[0] + fbox[2], W) - clipped[0], min(fbox[1] + fbox[3], H) - clipped[1]]
            assert _contains(clipped, vbox), (fbox, vbox)  # visible box inside full box ∩ image
            assert _contains(fbox, hbox), (fbox, hbox)
            assert hbox[3] < 0.3 * fbox[3]  # head: about 0.13 of the height
            ratios.append(fbox[2] / fbox[3])
            heights.append(fbox[3])
    # CityPersons/CrowdHuman pedestrians: w/h about 0.41 on average
    assert 0.36 < np.mean(ratios) < 0.47, np.mean(ratios)
    # heights span from about min_height (20 px; strides make the drawn figure a little shorter) to most of H
    assert min(heights) < 30 and max(heights) > 0.6 * H


def test_visible_box_is_the_box_of_the_persons_surviving_pixels():
    spec = SplitSpec(persons_per_image=(15, 15), image_size=(160, 160), min_height=16.0)
    rendered = render_synthetic_image(spec, 0)
    annotated = [b for b in annotate_image(rendered, "x", spec)["gtboxes"] if b["tag"] == "person"]
    expected = []
    for i, sprite in enumerate(rendered.persons):
        visible = rendered.label_map == i
        if visible.any():
            fraction = visible.sum() / (sprite.parts > 0).sum()
            expected.append((tight_box(visible), int(fraction < 0.95), int(fraction < spec.min_visible_fraction)))
    assert [(b["vbox"], b["extra"]["occ"], b["extra"]["ignore"]) for b in annotated] == expected


def test_persons_per_image_controls_the_density():
    fixed = SplitSpec(persons_per_image=(7, 7), image_size=(128, 128), min_height=16.0)
    for index in range(4):
        rendered = render_synthetic_image(fixed, index)
        assert len(rendered.persons) == 7
        written = [b for b in annotate_image(rendered, "x", fixed)["gtboxes"] if b["tag"] == "person"]
        assert len(written) <= 7  # a person with no visible pixel is not written
    ranged = SplitSpec(persons_per_image=(2, 30), image_size=(128, 128), min_height=16.0)
    counts = {len(render_synthetic_image(ranged, i).persons) for i in range(8)}
    assert all(2 <= n <= 30 for n in counts) and len(counts) > 1


def test_far_crowd_becomes_one_mask_ignore_box():
    always = SplitSpec(persons_per_image=(3, 3), image_size=(128, 128), min_height=16.0, far_crowd_prob=1.0)
    for index in range(3):
        masks = [b for b in annotate_image(render_synthetic_image(always, index), "x", always)["gtboxes"]
                 if b["tag"] == "mask"]
        assert len(masks) == 1 and masks[0]["extra"]["ignore"] == 1
        x, y, w, h = masks[0]["fbox"]
        assert 0 <= x and 0 <= y and x + w <= 128 and y + h <= 128 and w > 0 and h > 0
    never = dataclasses.replace(always, far_crowd_prob=0.0)
    assert render_synthetic_image(never, 0).far_crowd_box is None


def test_default_preset_has_ignore_regions_and_crowds():
    spec = PRESETS["default"]["train"]
    boxes = [b for i in range(10) for b in annotate_image(render_synthetic_image(spec, i), "x", spec)["gtboxes"]]
    assert any(b["tag"] == "mask" for b in boxes)
    assert any(b["tag"] == "person" and b["extra"]["occ"] == 1 for b in boxes)  # mutual occlusion happens


# ---------------------------------------------------------------------------------------------------------------------
# Files: format, determinism
# ---------------------------------------------------------------------------------------------------------------------
def test_generate_writes_crowdhuman_format(tmp_path):
    odgt = generate_synthetic_crowd(str(tmp_path), "train", TINY)
    assert odgt == str(tmp_path / "annotation_train.odgt")
    records = _read_odgt(odgt)
    assert [r["ID"] for r in records] == ["train_000000", "train_000001", "train_000002"]
    for record in records:
        assert set(record) == {"ID", "gtboxes"}
        image = cv2.imread(str(tmp_path / "Images" / f"{record['ID']}.jpg"))
        assert image.shape == (128, 160, 3)
        for box in record["gtboxes"]:
            assert box["tag"] in ("person", "mask")
            assert set(box) == {"fbox", "tag", "hbox", "extra", "vbox", "head_attr"}
            assert set(box["extra"]) == {"box_id", "occ", "ignore"}
            assert all(isinstance(v, int) for k in ("fbox", "vbox", "hbox") for v in box[k])


def test_generate_is_byte_identical_for_one_seed(tmp_path):
    a = generate_synthetic_crowd(str(tmp_path / "a"), "train", TINY)
    b = generate_synthetic_crowd(str(tmp_path / "b"), "train", TINY, workers=2)
    with open(a, "rb") as fa, open(b, "rb") as fb:
        assert fa.read() == fb.read()
    for name in os.listdir(tmp_path / "a" / "Images"):
        assert (tmp_path / "a" / "Images" / name).read_bytes() == (tmp_path / "b" / "Images" / name).read_bytes()
    other = generate_synthetic_crowd(str(tmp_path / "c"), "train", dataclasses.replace(TINY, seed=12))
    with open(a, "rb") as fa, open(other, "rb") as fc:
        assert fa.read() != fc.read()


# ---------------------------------------------------------------------------------------------------------------------
# Registration and generation on first use
# ---------------------------------------------------------------------------------------------------------------------
def test_builtin_names_are_registered():
    # pedet.data.builtin registers these at import (the names the main job and the crowd benchmark use)
    for name in ("synthetic_crowd_train", "synthetic_crowd_val", "synthetic_crowd_val_d5", "synthetic_crowd_val_d20",
                 "synthetic_crowd_val_d50"):
        assert name in DatasetCatalog.list()
        meta = MetadataCatalog.get(name)
        assert meta.evaluator_type == "crowdhuman" and meta.thing_classes == ["person"]
    assert MetadataCatalog.get("synthetic_crowd_val_d20").persons_per_image == (20, 20)
    assert synthetic_dataset_name("dense", "train") == "synthetic_crowd_dense_train"


def test_register_touches_no_file(tiny_registered):
    names, root = tiny_registered
    assert names == ["t_synth_train", "t_synth_val"]
    assert not root.exists()
    meta = MetadataCatalog.get("t_synth_val")
    assert meta.gt_file == str(root / "synthetic_crowd" / "default" / "annotation_val.odgt")


def test_register_uses_detectron2_datasets_env(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    names = register_synthetic_crowd(presets={"d7": {"val": TINY}}, prefix="t_env")
    try:
        assert names == ["t_env_val_d7"]
        assert MetadataCatalog.get("t_env_val_d7").gt_file == str(tmp_path / "synthetic_crowd" / "d7" /
                                                                  "annotation_val.odgt")
    finally:
        DatasetCatalog.remove("t_env_val_d7")
        MetadataCatalog.remove("t_env_val_d7")


def test_dataset_catalog_get_generates_on_first_use_then_reuses(tiny_registered):
    _, root = tiny_registered
    dicts = DatasetCatalog.get("t_synth_train")  # through pedet.data.crowdhuman.load_crowdhuman_odgt
    odgt = root / "synthetic_crowd" / "default" / "annotation_train.odgt"
    assert odgt.is_file() and len(dicts) == 3
    records = {r["ID"]: r for r in _read_odgt(odgt)}
    for d in dicts:
        assert (d["height"], d["width"]) == (128, 160)
        boxes = records[d["image_id"]]["gtboxes"]
        assert [a["bbox"] for a in d["annotations"]] == [[float(v) for v in b["fbox"]] for b in boxes]
        assert [a["category_id"] for a in d["annotations"]] == [
            -1 if b["tag"] != "person" or b["extra"]["ignore"] else 0 for b in boxes]
    stamp = odgt.stat().st_mtime_ns
    DatasetCatalog.get("t_synth_train")
    assert odgt.stat().st_mtime_ns == stamp  # current: not regenerated
    assert not (root / "synthetic_crowd" / "default" / "annotation_val.odgt").exists()  # only what was asked


def test_changed_spec_is_regenerated(tmp_path):
    root = str(tmp_path)
    odgt, _ = ensure_synthetic_crowd(root, "default", "train", {"default": {"train": TINY}})
    before = open(odgt).read()
    changed = dataclasses.replace(TINY, seed=99)
    ensure_synthetic_crowd(root, "default", "train", {"default": {"train": changed}})
    assert open(odgt).read() != before
    assert open(odgt).read() == open(generate_synthetic_crowd(str(tmp_path / "ref"), "train", changed,
                                                              id_prefix="default_train_")).read()


def _first_use_in_child(root, barrier, presets):
    barrier.wait()  # both processes ask at the same moment
    ensure_synthetic_crowd(root, "default", "train", presets)


def test_concurrent_first_use_generates_one_consistent_set(tmp_path, monkeypatch):
    spec = dataclasses.replace(TINY, num_images=12)
    presets = {"default": {"train": spec}}
    calls = tmp_path / "calls.txt"
    original = syn.generate_synthetic_crowd

    def counted(*args, **kwargs):
        with open(calls, "a") as f:
            f.write(f"{os.getpid()}\n")
        return original(*args, **kwargs)

    monkeypatch.setattr(syn, "generate_synthetic_crowd", counted)  # forked children inherit the patch
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_first_use_in_child, args=(str(tmp_path / "root"), barrier, presets))
             for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert len(calls.read_text().split()) == 1  # generated once; the other process waited on the lock
    out = tmp_path / "root" / "synthetic_crowd" / "default"
    reference = original(str(tmp_path / "ref"), "train", spec, id_prefix="default_train_")
    assert (out / "annotation_train.odgt").read_bytes() == open(reference, "rb").read()
    assert sorted(os.listdir(out / "Images")) == sorted(os.listdir(tmp_path / "ref" / "Images"))


# ---------------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------------
def test_cli_help_exits_cleanly(capsys):
    with pytest.raises(SystemExit) as e:
        syn.main(["--help"])
    assert e.value.code == 0
    assert "--persons-per-image" in capsys.readouterr().out


def test_cli_writes_a_custom_split_and_preview(tmp_path):
    png = tmp_path / "preview.png"
    syn.main(["--out", str(tmp_path / "set"), "--split", "val", "--num-images", "2", "--seed", "5",
              "--persons-per-image", "4", "--size", "96", "112", "--preview", str(png), "--preview-images", "2"])
    records = _read_odgt(tmp_path / "set" / "annotation_val.odgt")
    assert len(records) == 2
    assert cv2.imread(str(tmp_path / "set" / "Images" / "val_000000.jpg")).shape == (96, 112, 3)
    assert cv2.imread(str(png)) is not None


def test_cli_refuses_to_change_a_preset_in_place(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        syn.main(["--root", str(tmp_path), "--split", "val", "--num-images", "3"])
    assert e.value.code == 2 and "write such a split elsewhere with --out DIR" in capsys.readouterr().err
    assert not (tmp_path / "synthetic_crowd").exists()
