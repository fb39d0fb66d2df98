"""Builders of tiny GroundTruthSet / DetectionSet inputs for the evaluation tests."""
from pedet.evaluation.io import build_detections, build_ground_truth


def make_gt(images, width=100.0, height=100.0):
    """
    images: list of (image_id, [gt, ...]); gt = dict(bbox=[x, y, w, h], height=?, vis=?, ignore=?, id=?, label=?,
    vbox=?). Returns a GroundTruthSet.
    """
    ids, counts, boxes, heights, vis, ign, ann_ids, labels, vboxes = [], [], [], [], [], [], [], [], []
    any_label = False
    for img_id, gts in images:
        ids.append(img_id)
        counts.append(len(gts))
        for g in gts:
            boxes.append(list(g["bbox"]))
            heights.append(g.get("height", g["bbox"][3]))
            vis.append(g.get("vis", 1.0))
            ign.append(bool(g.get("ignore", False)))
            ann_ids.append(g.get("id", len(ann_ids) + 1))
            labels.append(g.get("label", "ignore" if g.get("ignore") else "person"))
            any_label |= "label" in g
            vboxes.append(list(g.get("vbox", g["bbox"])))
    return build_ground_truth(
        ids, counts, boxes if boxes else [[0, 0, 0, 0]][:0], vis_boxes=vboxes if vboxes else None, heights=heights,
        vis_ratios=vis, ignore=ign, ann_ids=ann_ids, labels=labels if any_label else None,
        image_width=[width] * len(ids), image_height=[height] * len(ids),
    )


def make_dt(gt, dets):
    """dets: list of (image_id, [x, y, w, h], score)."""
    return build_detections(gt, [d[0] for d in dets], [list(d[1]) for d in dets], [d[2] for d in dets])
