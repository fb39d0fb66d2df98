"""
A tiny registered dataset in the team's dict format, fake model outputs, and the worker of the 2-process gloo
test (module level, so the spawned processes can import it).
"""
import copy
import json
import os

import numpy as np
import torch

import pedet  # noqa: F401  (Pillow alias before detectron2.data)
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode, Boxes, Instances


def _ann(box, ignore=False, vis=None, label=None):
    vis = list(box) if vis is None else vis
    a = {"bbox": list(box), "bbox_mode": BoxMode.XYWH_ABS, "category_id": -1 if ignore else 0, "iscrowd": 0,
         "ignore": int(ignore), "vis_bbox": vis, "vis_ratio": (vis[2] * vis[3]) / (box[2] * box[3]),
         "height": float(box[3])}
    if label:
        a["label"] = label
    return a


NUM_IMAGES = 30


def dataset_dicts():
    """30 images 200x160: persons (some partly outside the image, visibility 0.3-1), ignore regions, no-GT image."""
    rng = np.random.default_rng(3)
    dicts = []
    for i in range(NUM_IMAGES):
        anns = []
        for k in range(i % 4 + 1):
            x, y = float(rng.integers(-10, 150)), float(rng.integers(0, 60))
            h = float(rng.integers(40, 110))
            v = float(rng.choice([0.3, 0.5, 0.8, 1.0]))
            anns.append(_ann([x, y, round(0.41 * h, 2), h], vis=[x, y, round(0.41 * h, 2), round(h * v, 2)]))
        if i % 3 == 0:
            anns.append(_ann([120.0, 10.0, 60.0, 60.0], ignore=True))
        if i == 5:
            anns = []
        dicts.append({"file_name": f"img{i}.jpg", "image_id": f"img{i}", "height": 160, "width": 200,
                      "annotations": anns})
    return dicts


def register(name, evaluator_type):
    if name not in DatasetCatalog.list():
        DatasetCatalog.register(name, lambda: copy.deepcopy(dataset_dicts()))
        MetadataCatalog.get(name).set(thing_classes=["person"], evaluator_type=evaluator_type)


def fake_outputs(image_index: int, n_extra: int = 120):
    """Instances at the original size: jittered GT copies + many low-score boxes (> 100 per image) + a class-1 box."""
    d = dataset_dicts()[image_index]
    rng = np.random.default_rng(100 + image_index)
    boxes, scores, classes = [], [], []
    for a in d["annotations"]:
        if rng.random() < 0.2:
            continue  # missed person
        x, y, w, h = a["bbox"]
        j = rng.normal(0, 0.1, 4)
        boxes.append([x + j[0] * w, y + j[1] * h, x + w + j[2] * w, y + h + j[3] * h])
        scores.append(float(rng.uniform(0.5, 1)))
        classes.append(0)
    for _ in range(n_extra):
        x, y = rng.uniform(0, 180), rng.uniform(0, 100)
        boxes.append([x, y, x + rng.uniform(10, 40), y + rng.uniform(30, 90)])
        scores.append(float(rng.uniform(0.01, 0.8)))
        classes.append(0)
    boxes.append([0, 0, 50, 100])
    scores.append(0.99)
    classes.append(1)  # not a person: the evaluator must drop it
    inst = Instances((d["height"], d["width"]))
    inst.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
    inst.scores = torch.tensor(scores, dtype=torch.float32)
    inst.pred_classes = torch.tensor(classes, dtype=torch.int64)
    return {"instances": inst}


def write_gt_files(out_dir):
    """The same ground truth as the dataset dicts, as CrowdHuman odgt and CityPersons-style COCO JSON."""
    dicts = dataset_dicts()
    with open(os.path.join(out_dir, "gt.odgt"), "w") as f:
        for d in dicts:
            boxes = [{"tag": "mask" if a["ignore"] else "person", "fbox": a["bbox"], "vbox": a["vis_bbox"],
                      "extra": {"ignore": a["ignore"]}} for a in d["annotations"]]
            f.write(json.dumps({"ID": d["image_id"], "gtboxes": boxes}) + "\n")
    images, anns = [], []
    for d in dicts:
        images.append({"id": d["image_id"], "width": d["width"], "height": d["height"]})
        for a in d["annotations"]:
            anns.append({"id": len(anns) + 1, "image_id": d["image_id"], "category_id": 1, "bbox": a["bbox"],
                         "vis_bbox": a["vis_bbox"], "height": a["height"], "vis_ratio": a["vis_ratio"],
                         "ignore": a["ignore"]})
    with open(os.path.join(out_dir, "val_gt.json"), "w") as f:
        json.dump({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}, f)


def distributed_worker(name, evaluator_type, out_file):
    """Each of the ranks processes every other image; rank 0 writes the results."""
    from detectron2.utils import comm

    from pedet.evaluation import MissRateEvaluator

    register(name, evaluator_type)
    ev = MissRateEvaluator(name, output_dir=None, distributed=True)
    ev.reset()
    rank, world = comm.get_rank(), comm.get_world_size()
    for i in range(rank, len(dataset_dicts()), world):
        ev.process([{"image_id": f"img{i}"}], [fake_outputs(i)])
    res = ev.evaluate()
    if comm.is_main_process():
        with open(out_file, "w") as f:
            json.dump({"world_size": world, "results": res}, f)
    else:
        assert res == {}
