"""
The built-in synthetic crowd data set: articulated pedestrians in occluded groups, written in CrowdHuman format.

No benchmark can be downloaded on a fresh machine, so this module draws one. Each image holds a background (sky/ground
gradient, buildings, low-frequency texture, clutter shapes), non-person occluders (cars, poles, crates, bushes), a
crowd of stick-and-blob people (head, hair, torso, two-segment arms and legs, hands, shoes; varied pose, colours and
clothing texture) placed in groups on a ground plane, and sometimes a far-away crowd too small to annotate. Objects
are painted far to near (painter's algorithm), and every pixel remembers which object painted it last, so the visible
box of a person is the exact bounding box of its surviving pixels.

Output is the CrowdHuman layout, so the real CrowdHuman loading path is exercised (pedet.data.crowdhuman):
    <out>/annotation_<split>.odgt   one JSON per line: {"ID", "gtboxes": [{"tag": "person"|"mask", "fbox", "vbox",
                                    "hbox", "extra": {"box_id", "occ", "ignore"}, "head_attr": {...}}]}
    <out>/Images/<ID>.jpg
and `register_synthetic_crowd(root)` registers the presets below under $DETECTRON2_DATASETS/synthetic_crowd/<preset>/,
generating a split the first time `DatasetCatalog.get` asks for it (file lock: safe under `launch` with N processes).

Registered names (PRESETS below; evaluator_type "crowdhuman"):
    synthetic_crowd_{train,val}            preset "default": 800 / 150 images, 320x320, 5-25 persons per image
    synthetic_crowd_val_d{5,20,50}         presets "d5", "d20", "d50": 150 images each, exactly 5 / 20 / 50 persons
    synthetic_crowd_dense_{train,val}      preset "dense": 1000 / 200 images, 20-60 persons, tighter groups
Command line: `python -m pedet.data.synthetic --help`.

Annotation rules (what each box means here):
    fbox  full body: tight box of the person's whole rendered silhouette, UNCLIPPED (parts outside the image count).
    vbox  visible body: tight box of the person's pixels that survive in the image (inside fbox ∩ image).
    hbox  head (with hair): tight box of the head pixels, visible or not (inside fbox).
    extra.occ = 1 when less than 95 % of the silhouette is visible; head_attr.occ = 1 when less than 50 % of the head is.
    extra.ignore = 1 for a person with visible fraction < `min_visible_fraction` (a few limb pixels: not required, not
    a false positive), and for every "mask" box (a far crowd of people below `min_height`). Persons with no visible
    pixel at all are not written (nobody could annotate them).

Shape shorthand:
    H, W = image height, width in px;   N = persons placed in one image;   h = one person's nominal height in px;
    (h_s, w_s) = size of one object's sprite (its tight local canvas).
Boxes are CrowdHuman integer boxes [x, y, w, h] (XYWH_ABS, pixel-inclusive: a box covering pixel columns x0..x1 has
w = x1 - x0 + 1). Images are uint8 BGR (OpenCV order), as Detectron2 reads them.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import json
import logging
import math
import numbers
import os
import re
import sys
from dataclasses import dataclass
from typing import Iterator, Sequence

import cv2
import numpy as np

from pedet.utils.cli import data_command
from pedet.utils.file_io import (
    atomic_open,
    atomic_write,
    atomic_write_json,
    describe_os_error,
    file_in_the_way,
    name_too_long,
    symlink_loop,
    remove_stale_temporaries,
)

from .common import DatasetFormatError, check_path_arguments, datasets_root, register_dataset
from .crowdhuman import load_crowdhuman_odgt

logger = logging.getLogger(__name__)

# Limits of a SplitSpec (beyond them a split would not fit in memory or on disk in any useful time)
MAX_IMAGES, MAX_PERSONS, MAX_SIDE = 1_000_000, 1000, 8192

# Bump when the drawing changes: stored sets whose meta file names another version are regenerated on first use.
GENERATOR_VERSION = 4

# Label-map values: persons are LABEL_PERSON_BASE + i (i = index in placement order); the rest are not persons.
LABEL_PERSON_BASE = 0
LABEL_BACKGROUND, LABEL_OCCLUDER, LABEL_FAR_CROWD = -1, -2, -3

# Person part ids in a person sprite's part map (0 = empty). Indices into the person's palette.
(PART_HEAD, PART_HAIR, PART_NECK, PART_TORSO, PART_UPPER_ARM, PART_FOREARM, PART_HAND, PART_THIGH, PART_SHIN,
 PART_SHOE) = range(1, 11)
HEAD_PARTS = (PART_HEAD, PART_HAIR)
IS_HEAD_PART = np.isin(np.arange(256), HEAD_PARTS)  # (256,) bool lookup table: IS_HEAD_PART[parts] is the head mask
TEXTURED_PARTS = (PART_TORSO, PART_UPPER_ARM, PART_THIGH, PART_SHIN)

# BGR skin tones (light to dark) and hair colours; clothes get uniform random BGR colours (trousers darker).
SKIN_TONES = np.array([[189, 214, 255], [160, 190, 236], [128, 170, 224], [99, 134, 198], [60, 94, 141], [40, 62, 95]],
                      dtype=np.float32)
HAIR_COLOURS = np.array([[20, 20, 25], [30, 45, 70], [40, 80, 120], [90, 160, 200], [160, 160, 160]], dtype=np.float32)


@dataclass(frozen=True)
class SplitSpec:
    """
    Everything that defines one generated split; the generated files are a pure function of it.

    Attributes:
        num_images: images in the split.
        seed: image i is drawn from np.random.default_rng([seed, i]) alone, so images are independent and a split
            can be generated in any order or in parallel with identical bytes.
        persons_per_image: (lo, hi) inclusive; N ~ uniform integer in it. (n, n) fixes the density.
        image_size: (H, W).
        min_height: smallest annotated person height in px (CrowdHuman-like sets start near 20-50 px).
        max_height_frac: largest person height as a fraction of H.
        group_size: (lo, hi) persons per group; groups stand together, so they occlude each other.
        group_spread: std of a member's x offset from its group centre, in units of the group's person width
            (0.41 h); below ~1 neighbours overlap heavily.
        occluders_per_image: (lo, hi) non-person occluders (cars, poles, crates, bushes).
        clutter_per_image: (lo, hi) background clutter shapes.
        far_crowd_prob: probability that an image holds a far crowd too small to annotate (a "mask" ignore box).
        min_visible_fraction: persons less visible than this (but with some visible pixel) get extra.ignore = 1.
        jpeg_quality: OpenCV JPEG quality (0-100).
        max_pair_iou: a placed person whose full box has IoU above this with an earlier placed (kept) person is not
            drawn (greedy, in placement order): 0.3 gives a sparse set with no overlapping pair; 1.0 (default) keeps
            everyone. The random draws do not depend on it, so it only removes persons from the same scene.
    """

    num_images: int = 800
    seed: int = 0
    persons_per_image: tuple[int, int] = (5, 25)
    image_size: tuple[int, int] = (320, 320)
    min_height: float = 20.0
    max_height_frac: float = 0.85
    group_size: tuple[int, int] = (1, 6)
    group_spread: float = 0.8
    occluders_per_image: tuple[int, int] = (1, 4)
    clutter_per_image: tuple[int, int] = (4, 12)
    far_crowd_prob: float = 0.4
    min_visible_fraction: float = 0.05
    jpeg_quality: int = 90
    max_pair_iou: float = 1.0

    def __post_init__(self):
        for message in self.problems():
            raise ValueError(message)

    def problems(self) -> list[str]:
        """What is out of range, each as "<field> (<command-line flag>) ..."; empty when the spec can be drawn."""
        def is_int(value) -> bool:  # int or numpy integer, not bool
            return isinstance(value, numbers.Integral) and not isinstance(value, bool)

        def int_range(value, lo=0, hi=None) -> bool:
            return (isinstance(value, (tuple, list)) and len(value) == 2 and all(is_int(v) for v in value)
                    and lo <= value[0] <= value[1] and (hi is None or value[1] <= hi))

        out = []
        if not is_int(self.num_images) or not 1 <= self.num_images <= MAX_IMAGES:
            out.append(f"num_images (--num-images) must be in [1, {MAX_IMAGES}], got {self.num_images!r}")
        if not is_int(self.seed) or self.seed < 0:
            out.append(f"seed (--seed) must be a non-negative integer, got {self.seed!r}")
        if not int_range(self.persons_per_image, 0, MAX_PERSONS):
            out.append(f"persons_per_image (--persons-per-image) must be LO HI with 0 <= LO <= HI <= {MAX_PERSONS}, "
                       f"got {self.persons_per_image!r}")
        if not (0 < self.min_height and 0 < self.max_height_frac <= 1):
            out.append(f"min_height must be > 0 and max_height_frac in (0, 1], got {self.min_height!r}, "
                       f"{self.max_height_frac!r}")
        elif not (isinstance(self.image_size, (tuple, list)) and len(self.image_size) == 2
                  and all(is_int(v) for v in self.image_size)):
            out.append(f"image_size (--size) must be two integers H W, got {self.image_size!r}")
        else:
            min_h = math.ceil(self.min_height / self.max_height_frac)
            H, W = self.image_size
            if not (min_h <= H <= MAX_SIDE and 1 <= W <= MAX_SIDE):
                out.append(f"image_size (--size) must have {min_h} <= H <= {MAX_SIDE} and 1 <= W <= {MAX_SIDE}, got "
                           f"{H} x {W} (persons are {self.min_height:g} px to {self.max_height_frac:g} H tall)")
        if not int_range(self.group_size, 1):
            out.append(f"group_size must be LO HI with 1 <= LO <= HI, got {self.group_size!r}")
        for name in ("occluders_per_image", "clutter_per_image"):
            if not int_range(getattr(self, name)):
                out.append(f"{name} must be LO HI with 0 <= LO <= HI, got {getattr(self, name)!r}")
        for name in ("far_crowd_prob", "min_visible_fraction", "max_pair_iou"):
            if not 0 <= getattr(self, name) <= 1:
                out.append(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        if not self.group_spread >= 0:
            out.append(f"group_spread must be >= 0, got {self.group_spread!r}")
        if not (is_int(self.jpeg_quality) and 0 <= self.jpeg_quality <= 100):
            out.append(f"jpeg_quality must be an integer in [0, 100], got {self.jpeg_quality!r}")
        return out

    def to_json(self) -> dict:
        """The spec as a JSON-able dict (tuples become lists), as stored in a split's meta file."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


# Appearance difficulty, a knob of its own (separate from crowd density): what besides persons is in the picture.
# "hard" is the default SplitSpec; "easy" keeps the articulated people, their poses, textures and mutual occlusion,
# and the background gradient and buildings, but drops non-person occluders and the far crowd and draws little clutter.
APPEARANCE: dict[str, dict] = {
    "hard": dict(occluders_per_image=(1, 4), clutter_per_image=(4, 12), far_crowd_prob=0.4),
    "easy": dict(occluders_per_image=(0, 0), clutter_per_image=(0, 3), far_crowd_prob=0.0),
}

# The CPU crowd benchmark's sets (benchmarks/crowd_quality.py): 160 x 160 px images (the input size, no resizing),
# persons 36-112 px tall (0.22-0.7 H: every person spans at least 4 cells of the finest FPN level), easy appearance,
# so that what makes a set hard is the crowd alone. Crowd statistics of every set (persons and heavily overlapping
# pairs per image, NMS headroom) are measured by benchmarks/crowd_stats.py and listed in benchmarks/RESULTS.md.
_CPU_SETS = dict(image_size=(160, 160), min_height=36.0, max_height_frac=0.7, **APPEARANCE["easy"])

# Presets: name -> {split: SplitSpec}. Files live in <root>/synthetic_crowd/<preset>/; dataset names by
# `synthetic_dataset_name`. Seeds differ between every split so that no two splits share an image.
PRESETS: dict[str, dict[str, SplitSpec]] = {
    # The main job's set: learnable by a tiny model on CPU in minutes, but crowded (5-25 persons, groups of 1-6;
    # about 13 valid persons per image, a third of them with vbox area / fbox area < 0.65).
    "default": {
        "train": SplitSpec(num_images=800, seed=0, persons_per_image=(5, 25)),
        "val": SplitSpec(num_images=150, seed=1, persons_per_image=(5, 25)),
    },
    # Validation at fixed densities for the crowd benchmark (issue 6): same generator and image size as "default";
    # only N changes. Groups of 3-8 at 0.7 person-widths and heights up to 0.6 H keep the crowd in view: of N placed,
    # about 0.96 N / 0.94 N / 0.85 N are annotated as valid (measured over 40 images; the rest are hidden or ignore),
    # and 21 % / 24 % / 41 % of those have vbox area / fbox area < 0.65 (CityPersons' "heavy" range).
    "d5": {"val": SplitSpec(num_images=150, seed=105, persons_per_image=(5, 5), group_size=(3, 8),
                            group_spread=0.7, max_height_frac=0.6)},
    "d20": {"val": SplitSpec(num_images=150, seed=120, persons_per_image=(20, 20), group_size=(3, 8),
                             group_spread=0.7, max_height_frac=0.6)},
    "d50": {"val": SplitSpec(num_images=150, seed=150, persons_per_image=(50, 50), group_size=(3, 8),
                             group_spread=0.7, max_height_frac=0.6)},
    # Harder training/validation for longer schedules: denser, tighter groups (45 % of valid persons below 0.65).
    # CPU benchmark: one training set spanning the densities (1-18 persons, groups of 1-8, overlapping), and three test
    # sets: "sparse" (3-5 persons, no pair with full-box IoU > 0.3), "medium" (6-10 persons in groups of 2-4) and
    # "crowd" (9-12 persons in tight groups of 4-9: more pairs with IoU > 0.5 per image than CrowdHuman's 2.4).
    "cpu": {
        "train": SplitSpec(num_images=1200, seed=300, persons_per_image=(1, 18), group_size=(1, 8), group_spread=0.7,
                           **_CPU_SETS),
        "sparse": SplitSpec(num_images=200, seed=301, persons_per_image=(3, 5), group_size=(1, 1), group_spread=0.7,
                            max_pair_iou=0.3, **_CPU_SETS),
        "medium": SplitSpec(num_images=200, seed=302, persons_per_image=(6, 10), group_size=(2, 4), group_spread=0.9,
                            **_CPU_SETS),
        "crowd": SplitSpec(num_images=200, seed=303, persons_per_image=(9, 12), group_size=(4, 9), group_spread=0.55,
                           **_CPU_SETS),
    },
    "dense": {
        "train": SplitSpec(num_images=1000, seed=200, persons_per_image=(20, 60), group_size=(3, 10),
                           group_spread=0.7, max_height_frac=0.7),
        "val": SplitSpec(num_images=200, seed=201, persons_per_image=(20, 60), group_size=(3, 10),
                         group_spread=0.7, max_height_frac=0.7),
    },
}


def synthetic_dataset_name(preset: str, split: str, prefix: str = "synthetic_crowd") -> str:
    """
    Registered name of a preset split: default -> `synthetic_crowd_{split}`; density presets "d<N>" ->
    `synthetic_crowd_{split}_d<N>` (e.g. synthetic_crowd_val_d20); any other -> `synthetic_crowd_{preset}_{split}`.
    """
    if preset == "default":
        return f"{prefix}_{split}"
    if preset[:1] == "d" and preset[1:].isdigit():
        return f"{prefix}_{split}_{preset}"
    return f"{prefix}_{preset}_{split}"


# ----------------------------------------------------------------------------------------------------------------------
# Sprites: one object drawn on its own tight canvas, pasted into the image by the painter's algorithm.
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class Sprite:
    """
    One object on its own canvas. `parts` (h_s, w_s) uint8: 0 = empty, k > 0 = part k, coloured by
    `colour` (h_s, w_s, 3) uint8 BGR. (x0, y0) = image position of the canvas's top-left pixel (may be outside).
    """

    parts: np.ndarray
    colour: np.ndarray
    x0: int
    y0: int


def crop_to_content(canvas: np.ndarray, x0: int, y0: int) -> tuple[np.ndarray, int, int]:
    """
    Crop a (h, w) part map to the tight box of its non-zero pixels.

    Returns:
        (cropped (h_s, w_s) view, x0', y0') with the offsets moved by the crop; a 1x1 zero map for an empty canvas.
    """
    rows, cols = np.flatnonzero(canvas.any(axis=1)), np.flatnonzero(canvas.any(axis=0))
    if rows.size == 0:
        return canvas[:1, :1] * 0, x0, y0
    return canvas[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1], x0 + int(cols[0]), y0 + int(rows[0])


def paint_palette(parts: np.ndarray, palette: np.ndarray, texture: np.ndarray | None = None,
                  textured: Sequence[int] = ()) -> np.ndarray:
    """
    Colour a part map: pixel colour = palette[part], times (1 + texture) on the `textured` parts.

    Args:
        parts: (h_s, w_s) uint8 part ids.
        palette: (P, 3) float32 BGR, P > parts.max().
        texture: (h_s, w_s) float32 relative brightness change, or None.
    Returns:
        (h_s, w_s, 3) uint8 BGR.
    """
    colour = palette[parts]
    if texture is not None and len(textured):
        is_textured = np.zeros(256, np.float32)
        is_textured[list(textured)] = 1.0
        colour *= (1.0 + texture * is_textured[parts])[..., None]
    return np.clip(colour, 0, 255).astype(np.uint8)


def paste_sprite(image: np.ndarray, label_map: np.ndarray, sprite: Sprite, label: int) -> None:
    """
    Paint `sprite` over `image` (H, W, 3) uint8 and write `label` into `label_map` (H, W) int16 where it is opaque.
    Parts outside the image are cut off here (the sprite keeps them, so the full box stays unclipped).
    """
    H, W = label_map.shape
    h, w = sprite.parts.shape
    ix0, iy0 = max(sprite.x0, 0), max(sprite.y0, 0)
    ix1, iy1 = min(sprite.x0 + w, W), min(sprite.y0 + h, H)
    if ix0 >= ix1 or iy0 >= iy1:
        return
    sx0, sy0 = ix0 - sprite.x0, iy0 - sprite.y0
    sl_sprite = (slice(sy0, sy0 + iy1 - iy0), slice(sx0, sx0 + ix1 - ix0))
    opaque = sprite.parts[sl_sprite] > 0
    np.copyto(image[iy0:iy1, ix0:ix1], sprite.colour[sl_sprite], where=opaque[..., None])
    np.copyto(label_map[iy0:iy1, ix0:ix1], np.int16(label), where=opaque)


def tight_box(mask: np.ndarray, x0: int = 0, y0: int = 0) -> list[int] | None:
    """
    Pixel-inclusive tight box of a (h, w) boolean mask, shifted by (x0, y0).

    Returns:
        [x, y, w, h] ints (XYWH_ABS), or None when the mask is empty.
    """
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return [x0 + int(cols[0]), y0 + int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)]


# ----------------------------------------------------------------------------------------------------------------------
# People
# ----------------------------------------------------------------------------------------------------------------------
def sample_pose(rng: np.random.Generator) -> dict[str, float]:
    """
    Joint angles (radians, 0 = hanging straight down, positive = towards +x) of a walking/standing person.
    Legs stride in opposite directions, arms swing against the legs; sometimes one arm is raised.
    """
    u = rng.random(12)  # one draw for everything: this runs for every person, so Python overhead counts
    stride = 1.2 * u[0] - 0.6
    swing = -stride * (0.4 + 0.7 * u[1])
    sign = 1.0 if stride >= 0 else -1.0
    thigh_l, thigh_r = stride + 0.1 * (u[2] - 0.5), -stride + 0.1 * (u[3] - 0.5)
    arm_l, arm_r = swing + 0.1 + 0.3 * u[4], -swing - 0.1 - 0.3 * u[5]
    pose = {
        "thigh_l": thigh_l, "thigh_r": thigh_r, "arm_l": arm_l, "arm_r": arm_r, "lean": 0.1 * (u[6] - 0.5),
        # knee bend on the trailing leg, elbow bend forward: both towards the walking direction
        "shin_l": thigh_l - 0.5 * u[7] * sign, "shin_r": thigh_r - 0.2 * u[8] * sign,
        "fore_l": arm_l + 0.7 * u[9], "fore_r": arm_r - 0.7 * u[10],
    }
    if u[11] < 0.12:  # a raised arm (waving, phone): upper arm sideways-up, forearm up
        side, up = ("l", 1.0) if u[11] < 0.06 else ("r", -1.0)
        pose[f"arm_{side}"] = up * (1.8 + 0.8 * u[1])
        pose[f"fore_{side}"] = up * (2.6 + 0.5 * u[9])
    return pose


def sample_person_palette(rng: np.random.Generator) -> np.ndarray:
    """
    Colours of one person's parts.

    Returns:
        (11, 3) float32 BGR indexed by part id (row 0 unused): skin on head/hands (and forearms for short sleeves,
        shins for shorts), random shirt and (darker) trousers, dark shoes, hair from HAIR_COLOURS.
    """
    u = rng.random(16)  # one draw for everything: this runs for every person, so Python overhead counts
    shirt, trousers = 20 + 225 * u[0:3], 15 + 160 * u[3:6]
    skin = SKIN_TONES[int(u[6] * len(SKIN_TONES))] * (0.85 + 0.25 * u[7])
    palette = np.empty((11, 3), np.float32)
    palette[[0, PART_HEAD, PART_HAND]] = skin
    palette[PART_NECK] = skin * 0.9
    palette[PART_HAIR] = HAIR_COLOURS[int(u[8] * len(HAIR_COLOURS))]
    palette[[PART_TORSO, PART_UPPER_ARM]] = shirt
    palette[PART_FOREARM] = skin if u[9] < 0.3 else shirt
    palette[PART_THIGH] = trousers
    palette[PART_SHIN] = skin if u[10] < 0.15 else trousers
    palette[PART_SHOE] = 10 + 80 * u[11:14]
    return palette


def limb_end(start: tuple[float, float], length: float, angle: float) -> tuple[float, float]:
    """End point of a limb of `length` px hanging from `start` (x, y) at `angle` (0 = straight down, + = towards +x)."""
    return start[0] + length * math.sin(angle), start[1] + length * math.cos(angle)


def draw_person_parts(h: float, pose: dict[str, float], build: float) -> tuple[np.ndarray, int, int]:
    """
    Draw an articulated person of nominal height `h` px on a part-id canvas.

    Proportions (fractions of h, adult pedestrian): head radius 0.062, shoulders at 0.19 with half-width
    0.11·build, hips at 0.52, thigh 0.245, shin 0.235, upper arm 0.17, forearm 0.16. Limbs are thick lines (OpenCV
    draws round caps, which make the joints). Drawn back to front: far arm and leg, torso, near arm and leg, head.

    Returns:
        (parts (h_s, w_s) uint8 cropped to the silhouette, x0, y0): the crop's top-left in a frame whose origin is
        the point between the feet on the ground line (so the sprite is placed by its foot point).
    """
    pad = int(math.ceil(0.6 * h)) + 4  # room for a sideways arm (<= 0.44 h) or a stride (<= 0.35 h) on each side
    head_room = int(math.ceil(0.2 * h)) + 4  # a raised hand reaches up to 0.12 h above the head
    canvas = np.zeros((head_room + int(math.ceil(1.1 * h)) + 4, 2 * pad), np.uint8)
    cx, top = pad + h * math.sin(pose["lean"]) * 0.5, float(head_room)
    th = lambda frac: max(1, int(round(frac * h * build)))  # noqa: E731  limb thickness in px
    pt = lambda p: (int(p[0] + 0.5), int(p[1] + 0.5))  # noqa: E731  canvas coordinates are positive
    neck, hip_y = (cx, top + 0.15 * h), top + 0.52 * h
    sh_l, sh_r = (cx - 0.11 * h * build, top + 0.19 * h), (cx + 0.11 * h * build, top + 0.19 * h)
    hip_l, hip_r = (cx - 0.06 * h * build, hip_y), (cx + 0.06 * h * build, hip_y)

    def leg(hip, side):  # thigh, shin, shoe from the hip; returns the foot point
        knee = limb_end(hip, 0.245 * h, pose[f"thigh_{side}"])
        foot = limb_end(knee, 0.235 * h, pose[f"shin_{side}"])
        cv2.line(canvas, pt(hip), pt(knee), PART_THIGH, th(0.075))
        cv2.line(canvas, pt(knee), pt(foot), PART_SHIN, th(0.06))
        cv2.line(canvas, pt(foot), pt((foot[0] + 0.045 * h, foot[1])), PART_SHOE, th(0.04))
        return foot

    def arm(shoulder, side):  # upper arm, forearm, hand from the shoulder
        elbow = limb_end(shoulder, 0.17 * h, pose[f"arm_{side}"])
        wrist = limb_end(elbow, 0.16 * h, pose[f"fore_{side}"])
        cv2.line(canvas, pt(shoulder), pt(elbow), PART_UPPER_ARM, th(0.05))
        cv2.line(canvas, pt(elbow), pt(wrist), PART_FOREARM, th(0.045))
        cv2.circle(canvas, pt(wrist), th(0.025), PART_HAND, -1)

    arm(sh_r, "r")
    feet = [leg(hip_r, "r")]
    torso = np.array([pt((sh_l[0] - 0.02 * h, sh_l[1] - 0.02 * h)), pt((sh_r[0] + 0.02 * h, sh_r[1] - 0.02 * h)),
                      pt((hip_r[0] + 0.04 * h * build, hip_y)), pt((hip_l[0] - 0.04 * h * build, hip_y))], np.int32)
    cv2.fillConvexPoly(canvas, torso, PART_TORSO)
    cv2.line(canvas, pt(neck), pt((cx, sh_l[1])), PART_NECK, th(0.05))
    feet.append(leg(hip_l, "l"))
    arm(sh_l, "l")
    head = (cx + 0.01 * h, top + 0.062 * h)
    cv2.circle(canvas, pt(head), max(1, int(round(0.062 * h))), PART_HEAD, -1)
    cv2.ellipse(canvas, pt((head[0], head[1] - 0.012 * h)), (max(1, int(round(0.064 * h))),
                max(1, int(round(0.05 * h)))), 0, 180, 360, PART_HAIR, -1)
    ground = (0.5 * (feet[0][0] + feet[1][0]), max(feet[0][1], feet[1][1]))
    parts, x0, y0 = crop_to_content(canvas, 0, 0)
    return parts, x0 - int(round(ground[0])), y0 - int(round(ground[1]))


def clothing_texture(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """
    A relative brightness pattern for clothes: plain, horizontal stripes, checks or blotchy noise, plus side shading.

    Returns:
        (h_s, w_s) float32 in about [-0.45, 0.45].
    """
    hs, ws = shape
    ys, xs = np.arange(hs, dtype=np.float32)[:, None], np.arange(ws, dtype=np.float32)[None, :]
    kind = rng.integers(4)
    period = rng.uniform(3.0, 9.0)
    if kind == 1:
        tex = 0.3 * np.sign(np.sin(2 * np.pi * ys / period)) + np.zeros_like(xs)
    elif kind == 2:
        tex = 0.25 * np.sign(np.sin(2 * np.pi * ys / period) * np.sin(2 * np.pi * xs / period))
    elif kind == 3:
        low = rng.normal(0, 0.25, (4, 4)).astype(np.float32)
        tex = cv2.resize(low, (ws, hs), interpolation=cv2.INTER_LINEAR)
    else:
        tex = np.zeros((hs, ws), np.float32)
    shading = -0.15 * np.abs(xs / max(ws - 1, 1) * 2 - 1)  # darker at the silhouette's sides: a rounded look
    return (tex + shading + np.zeros_like(ys)).astype(np.float32)


def render_person(rng: np.random.Generator, height: float, foot_x: float, foot_y: float) -> Sprite:
    """
    One person sprite: pose, build, colours and clothing texture drawn from `rng`.

    Args:
        height: nominal height h in px (the drawn silhouette is within a few % of it: strides lift the feet).
        foot_x, foot_y: image position of the point between the feet on the ground.
    """
    pose = sample_pose(rng)
    build = rng.uniform(0.85, 1.2)
    parts, x0, y0 = draw_person_parts(height, pose, build)
    if rng.random() < 0.5:  # face the other way
        parts, x0 = parts[:, ::-1].copy(), -(x0 + parts.shape[1] - 1)
    palette = sample_person_palette(rng)
    texture = clothing_texture(rng, parts.shape) if height >= 30 else None  # below 30 px it would not show
    colour = paint_palette(parts, palette, texture, TEXTURED_PARTS)
    return Sprite(parts, colour, int(round(foot_x)) + x0, int(round(foot_y)) + y0)


# ----------------------------------------------------------------------------------------------------------------------
# Scene layout: ground plane, groups, occluders, background
# ----------------------------------------------------------------------------------------------------------------------
def ground_scale(spec: SplitSpec, horizon: float) -> float:
    """Person height in px per px of foot position below the horizon; the tallest person stands at 1.05 H."""
    H = spec.image_size[0]
    return spec.max_height_frac * H / (1.05 * H - horizon)


def sample_person_layout(rng: np.random.Generator, n: int, spec: SplitSpec,
                         horizon: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Place N persons in groups on a ground plane: a group gets a depth (its person height, log-uniform in
    [min_height, max_height], so small far people are common) and an x centre; members vary height by ~12 % and
    stand `group_spread` person-widths apart (std), so they occlude each other. Feet lie on the ground line of their
    height (perspective), jittered by 3 % of h.

    Returns:
        heights (N,), foot_x (N,), foot_y (N,) float64 px.
    """
    H, W = spec.image_size
    lo, hi = math.log(spec.min_height), math.log(spec.max_height_frac * H)
    heights, xs = [], []
    while len(heights) < n:
        size = min(int(rng.integers(spec.group_size[0], spec.group_size[1] + 1)), n - len(heights))
        h_group = math.exp(rng.uniform(lo, hi))
        x_group = rng.uniform(-0.05 * W, 1.05 * W)
        heights.extend(h_group * np.exp(rng.normal(0, 0.12, size)))
        xs.extend(x_group + rng.normal(0, spec.group_spread * 0.41 * h_group, size))
    heights = np.clip(np.array(heights), spec.min_height, spec.max_height_frac * H)
    foot_y = horizon + heights / ground_scale(spec, horizon) + rng.normal(0, 0.03, n) * heights
    return heights, np.array(xs, dtype=np.float64), foot_y


def render_occluder(rng: np.random.Generator, ref_height: float, foot_x: float, foot_y: float) -> Sprite:
    """
    A non-person occluder standing at (foot_x, foot_y), sized relative to a person of `ref_height` at that depth:
    a car (body, cabin with windows, wheels), a pole (up to the top of the image), a crate/bin, or a bush.
    """
    r = ref_height
    kind = rng.choice(4, p=[0.35, 0.25, 0.2, 0.2])
    body = rng.uniform(30, 230, 3).astype(np.float32)
    if kind == 0:  # car: parts 1 body, 2 windows, 3 wheels
        w, h = rng.uniform(1.6, 2.4) * r, rng.uniform(0.45, 0.6) * r
        canvas = np.zeros((int(h) + 4, int(w) + 4), np.uint8)
        cv2.rectangle(canvas, (0, int(0.4 * h)), (int(w), int(0.85 * h)), 1, -1)
        cabin = np.array([[0.2 * w, 0.4 * h], [0.3 * w, 0], [0.7 * w, 0], [0.85 * w, 0.4 * h]], np.int32)
        cv2.fillConvexPoly(canvas, cabin, 1)
        cv2.fillConvexPoly(canvas, ((cabin - [0.5 * w, 0.2 * h]) * 0.8 + [0.5 * w, 0.22 * h]).astype(np.int32), 2)
        for wx in (0.22 * w, 0.78 * w):
            cv2.circle(canvas, (int(wx), int(0.85 * h)), max(1, int(0.14 * h)), 3, -1)
        palette = np.array([[0, 0, 0], body, [200, 180, 150], [25, 25, 25]], np.float32)
    elif kind == 1:  # pole / tree trunk, from the ground to above the image top
        w, h = max(2.0, rng.uniform(0.05, 0.12) * r), foot_y + 10
        canvas = np.ones((int(h), int(w)), np.uint8)
        palette = np.array([[0, 0, 0], body * 0.5 + 60], np.float32)
    elif kind == 2:  # crate / bin
        w, h = rng.uniform(0.3, 0.7) * r, rng.uniform(0.25, 0.55) * r
        canvas = np.ones((max(2, int(h)), max(2, int(w))), np.uint8)
        cv2.rectangle(canvas, (0, 0), (canvas.shape[1] - 1, max(1, canvas.shape[0] // 6)), 2, -1)
        palette = np.array([[0, 0, 0], body, body * 0.6], np.float32)
    else:  # bush: overlapping ellipses
        w, h = rng.uniform(0.6, 1.4) * r, rng.uniform(0.3, 0.6) * r
        canvas = np.zeros((int(h) + 2, int(w) + 2), np.uint8)
        for _ in range(5):
            c = (int(rng.uniform(0.2, 0.8) * w), int(rng.uniform(0.4, 0.8) * h))
            axes = (max(1, int(rng.uniform(0.15, 0.3) * w)), max(1, int(rng.uniform(0.3, 0.5) * h)))
            cv2.ellipse(canvas, c, axes, 0, 0, 360, 1, -1)
        palette = np.array([[0, 0, 0], [rng.uniform(20, 70), rng.uniform(90, 170), rng.uniform(20, 80)]], np.float32)
    parts, x0, y0 = crop_to_content(canvas, 0, 0)
    tex = cv2.resize(rng.normal(0, 0.15, (3, 3)).astype(np.float32), parts.shape[::-1])
    colour = paint_palette(parts, palette, tex, (1,))
    return Sprite(parts, colour, int(round(foot_x - parts.shape[1] / 2)) + x0, int(round(foot_y)) - parts.shape[0] + y0)


def render_background(rng: np.random.Generator, spec: SplitSpec, horizon: float) -> np.ndarray:
    """
    Sky/wall gradient above the horizon, ground gradient below, buildings with windows on the horizon and smooth
    texture, drawn at half resolution and upscaled (it is all smooth or blocky, and this halves the cost), then
    clutter shapes at full resolution (circles, bars, lines; some tall and thin, as hard negatives).

    Returns:
        (H, W, 3) uint8 BGR.
    """
    H, W = spec.image_size
    h, w, horizon_h = (H + 1) // 2, (W + 1) // 2, horizon / 2
    top, mid, ground, far = rng.uniform(60, 250, (4, 3)).astype(np.float32)
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    rows = np.where(t < horizon_h / h, top + (mid - top) * t / (horizon_h / h),
                    far + (ground - far) * ((t - horizon_h / h) / (1 - horizon_h / h)))
    small = cv2.resize(rows[:, None, :].astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST)  # rows -> hxw
    x = rng.uniform(-0.1 * w, 0.2 * w)
    while x < w:  # a skyline of buildings standing on the horizon
        bw, bh = rng.uniform(0.1, 0.35) * w, rng.uniform(0.05, 0.9) * horizon_h
        draw_building(small, int(x), int(horizon_h - bh), int(x + bw), int(horizon_h), rng.uniform(50, 220, 3))
        x += bw + rng.uniform(0, 0.1) * w
    small += cv2.resize(rng.normal(0, 12, (6, 6, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    image = cv2.resize(np.clip(small, 0, 255).astype(np.uint8), (W, H), interpolation=cv2.INTER_LINEAR)
    for _ in range(int(rng.integers(spec.clutter_per_image[0], spec.clutter_per_image[1] + 1))):
        draw_clutter_shape(rng, image)
    return image


def draw_building(image: np.ndarray, x0: int, y0: int, x1: int, y1: int, colour: np.ndarray) -> None:
    """
    A building front [x0, x1) x [y0, y1) of `colour` with a grid of 2x3 px windows every 4x5 px (4x6 every 8x10
    after the background's 2x upscale), on a (h, w, 3) float32 image, in place (windows by a row mask x column mask:
    one numpy write instead of a cv2 call per window).
    """
    H, W = image.shape[:2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    if cx0 >= cx1 or cy0 >= cy1:
        return
    region = image[cy0:cy1, cx0:cx1]
    region[:] = colour
    ys, xs = np.arange(cy0, cy1) - y0, np.arange(cx0, cx1) - x0
    rows = (ys >= 2) & (ys < y1 - y0 - 3) & ((ys - 2) % 5 < 3)
    cols = (xs >= 2) & (xs < x1 - x0 - 2) & ((xs - 2) % 4 < 2)
    region[rows[:, None] & cols[None, :]] = colour * 0.5


def draw_clutter_shape(rng: np.random.Generator, image: np.ndarray) -> None:
    """Draw one random circle, rectangle, line, or tall thin bar on a (H, W, 3) uint8 image, in place."""
    H, W = image.shape[:2]
    colour = rng.uniform(0, 255, 3).tolist()
    x, y = int(rng.uniform(0, W)), int(rng.uniform(0, H))
    size = int(rng.uniform(0.02, 0.15) * min(H, W)) + 1
    kind = rng.integers(4)
    if kind == 0:
        cv2.circle(image, (x, y), size, colour, -1)
    elif kind == 1:
        cv2.rectangle(image, (x, y), (x + size, y + int(size * rng.uniform(0.3, 1.5))), colour, -1)
    elif kind == 2:
        cv2.line(image, (x, y), (x + int(rng.normal(0, 2 * size)), y + int(rng.normal(0, 2 * size))), colour,
                 int(rng.integers(1, 4)))
    else:
        cv2.rectangle(image, (x, y), (x + max(2, size // 5), y + 3 * size), colour, -1)


def render_far_crowd(rng: np.random.Generator, spec: SplitSpec, horizon: float) -> Sprite:
    """
    A crowd of 8-30 people standing just below the horizon, 6 px to just under `min_height` tall: too small to
    annotate one by one, so it becomes one "mask" (ignore) box. At this size a person is a head, a body and two legs,
    so they are drawn straight onto one shared sprite (one paste instead of 8-30).

    Returns:
        one sprite (part 1 = any far person), drawn far to near.
    """
    W = spec.image_size[1]
    n = int(rng.integers(8, 31))
    h_hi = max(6.5, spec.min_height * 0.8)
    heights = np.sort(rng.uniform(6.0, h_hi, n))
    cx, spread = rng.uniform(0.15 * W, 0.85 * W), rng.uniform(0.05, 0.15) * W
    xs = cx + rng.uniform(-spread, spread, n)
    ys = horizon + heights / ground_scale(spec, horizon) + rng.normal(0, 1.0, n)
    skins = SKIN_TONES[rng.integers(len(SKIN_TONES), size=n)].tolist()
    clothes, strides = rng.uniform(20, 235, (n, 2, 3)).tolist(), rng.uniform(-0.15, 0.15, n)
    x0, y0 = int(xs.min() - h_hi), int((ys - heights).min() - 3)
    shape = (int(ys.max()) + 3 - y0, int(xs.max() + h_hi) + 1 - x0)
    colour, parts = np.zeros(shape + (3,), np.uint8), np.zeros(shape, np.uint8)
    for h, x, y, skin, (shirt, trousers), s in zip(heights, xs - x0, ys - y0, skins, clothes, strides):
        pt = lambda dx, dy: (int(x + dx * h + 0.5), int(y - dy * h + 0.5))  # noqa: E731  (dx, dy) in units of h
        for canvas, c_head, c_body, c_legs in ((colour, skin, shirt, trousers), (parts, 1, 1, 1)):
            cv2.line(canvas, pt(-s, 0), pt(0, 0.48), c_legs, max(1, int(0.08 * h + 0.5)))
            cv2.line(canvas, pt(s, 0), pt(0, 0.48), c_legs, max(1, int(0.08 * h + 0.5)))
            cv2.line(canvas, pt(0, 0.5), pt(0, 0.8), c_body, max(1, int(0.2 * h + 0.5)))
            cv2.circle(canvas, pt(0, 0.92), max(1, int(0.075 * h + 0.5)), c_head, -1)
    cropped, cx0, cy0 = crop_to_content(parts, x0, y0)
    colour = colour[cy0 - y0:cy0 - y0 + cropped.shape[0], cx0 - x0:cx0 - x0 + cropped.shape[1]]
    return Sprite(cropped, colour, cx0, cy0)


# ----------------------------------------------------------------------------------------------------------------------
# One image: render, then read the annotations off the label map
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class RenderedImage:
    """
    One drawn image and what is needed to annotate it.

    Attributes:
        image: (H, W, 3) uint8 BGR.
        label_map: (H, W) int16: person index 0..N-1 that painted the pixel last, or LABEL_BACKGROUND /
            LABEL_OCCLUDER / LABEL_FAR_CROWD.
        persons: N person sprites; person i painted label i (its full silhouette, also where it is hidden).
        far_crowd_box: [x, y, w, h] of the far crowd clipped to the image, or None.
    """

    image: np.ndarray
    label_map: np.ndarray
    persons: list[Sprite]
    far_crowd_box: list[int] | None


def render_synthetic_image(spec: SplitSpec, index: int) -> RenderedImage:
    """
    Draw image `index` of a split from np.random.default_rng([spec.seed, index]) alone.

    Objects (persons, occluders, the far crowd) are sorted by foot position, far (small y) to near, and pasted in that
    order, so nearer objects hide farther ones and the label map keeps who is visible where. A mild blur and sensor
    noise are applied to the image only (the label map stays exact).
    """
    rng = np.random.default_rng([spec.seed, index])
    H, W = spec.image_size
    horizon = rng.uniform(0.15, 0.4) * H
    image = render_background(rng, spec, horizon)
    label_map = np.full((H, W), LABEL_BACKGROUND, np.int16)
    n = int(rng.integers(spec.persons_per_image[0], spec.persons_per_image[1] + 1))
    heights, foot_x, foot_y = sample_person_layout(rng, n, spec, horizon)
    foot_x = np.clip(foot_x, 0, W - 1)  # keep each person's centre in view: at most half of it is cut off
    persons = [render_person(rng, h, x, y) for h, x, y in zip(heights, foot_x, foot_y)]
    if spec.max_pair_iou < 1.0:
        keep = sparse_subset([sprite_box(p) for p in persons], spec.max_pair_iou)
        persons, foot_y = [persons[i] for i in keep], foot_y[keep]
    scene = [(float(y), LABEL_PERSON_BASE + i, s) for i, (y, s) in enumerate(zip(foot_y, persons))]
    scale = ground_scale(spec, horizon)
    for _ in range(int(rng.integers(spec.occluders_per_image[0], spec.occluders_per_image[1] + 1))):
        ref_h = math.exp(rng.uniform(math.log(spec.min_height), math.log(spec.max_height_frac * H)))
        y = horizon + ref_h / scale
        scene.append((y, LABEL_OCCLUDER, render_occluder(rng, ref_h, rng.uniform(0, W), y)))
    far_crowd_box = None
    if rng.random() < spec.far_crowd_prob:
        far_crowd = render_far_crowd(rng, spec, horizon)
        scene.append((-1.0, LABEL_FAR_CROWD, far_crowd))  # behind everything else
        far_crowd_box = union_box_in_image([sprite_box(far_crowd)], H, W)
    for _, label, sprite in sorted(scene, key=lambda item: item[0]):  # stable: ties keep placement order
        paste_sprite(image, label_map, sprite, label)
    image = cv2.GaussianBlur(image, (3, 3), 0.6)
    noise = rng.standard_normal((H, W, 1), dtype=np.float32) * 3.0  # sensor noise (luminance)
    image = np.clip(image + noise, 0, 255).astype(np.uint8)
    return RenderedImage(image, label_map, persons, far_crowd_box)


def sprite_box(sprite: Sprite) -> list[int]:
    """[x, y, w, h] of a sprite's canvas; sprites are cropped to their content, so this is its tight full box."""
    return [sprite.x0, sprite.y0, sprite.parts.shape[1], sprite.parts.shape[0]]


def sparse_subset(boxes: Sequence[Sequence[int]], max_iou: float) -> np.ndarray:
    """
    Indices of the boxes ([x, y, w, h]) kept when each is dropped if its IoU with an already kept one exceeds
    max_iou, in the given order (greedy NMS with the placement order as the score). A few lines of numpy rather than
    torchvision.ops.nms: the generator is a pure-data command and imports no torch.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    area = b[:, 2] * b[:, 3]
    keep: list[int] = []
    for i in range(len(b)):
        k = np.asarray(keep, dtype=np.int64)
        iw = np.clip(np.minimum(x1[i], x1[k]) - np.maximum(x0[i], x0[k]), 0, None)
        ih = np.clip(np.minimum(y1[i], y1[k]) - np.maximum(y0[i], y0[k]), 0, None)
        inter = iw * ih
        if not (inter / (area[i] + area[k] - inter) > max_iou).any():
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def union_box_in_image(boxes: Sequence[Sequence[int]], H: int, W: int) -> list[int] | None:
    """Union of [x, y, w, h] boxes, clipped to the (H, W) image; None when nothing of it is inside."""
    b = np.asarray(boxes, dtype=np.int64)
    x0, y0 = max(int(b[:, 0].min()), 0), max(int(b[:, 1].min()), 0)
    x1, y1 = min(int((b[:, 0] + b[:, 2]).max()), W), min(int((b[:, 1] + b[:, 3]).max()), H)
    return [x0, y0, x1 - x0, y1 - y0] if x1 > x0 and y1 > y0 else None


def person_visibility(label_map: np.ndarray, sprite: Sprite, label: int) -> tuple[np.ndarray, int, int]:
    """
    Which of a person's silhouette pixels survive in the image.

    Returns:
        (visible (h_s, w_s) bool over the person's sprite canvas, x0, y0) with (x0, y0) the canvas position; pixels
        of the canvas outside the image are False.
    """
    H, W = label_map.shape
    h, w = sprite.parts.shape
    visible = np.zeros((h, w), bool)
    ix0, iy0, ix1, iy1 = max(sprite.x0, 0), max(sprite.y0, 0), min(sprite.x0 + w, W), min(sprite.y0 + h, H)
    if ix0 < ix1 and iy0 < iy1:
        sx0, sy0 = ix0 - sprite.x0, iy0 - sprite.y0
        visible[sy0:sy0 + iy1 - iy0, sx0:sx0 + ix1 - ix0] = label_map[iy0:iy1, ix0:ix1] == label
    return visible, sprite.x0, sprite.y0


def annotate_person(rendered: RenderedImage, i: int, box_id: int, spec: SplitSpec) -> dict | None:
    """
    The CrowdHuman gtbox of person i (see the module docstring for the rules), or None if no pixel of it is visible.
    """
    sprite = rendered.persons[i]
    silhouette = sprite.parts > 0
    head = IS_HEAD_PART[sprite.parts]
    visible, x0, y0 = person_visibility(rendered.label_map, sprite, LABEL_PERSON_BASE + i)
    vbox = tight_box(visible, x0, y0)
    if vbox is None:
        return None
    vis_fraction = visible.sum() / silhouette.sum()
    head_vis = (visible & head).sum() / max(head.sum(), 1)
    return {
        "fbox": sprite_box(sprite),
        "tag": "person",
        "hbox": tight_box(head, x0, y0) or sprite_box(sprite)[:2] + [1, 1],
        "extra": {"box_id": box_id, "occ": int(vis_fraction < 0.95),
                  "ignore": int(vis_fraction < spec.min_visible_fraction)},
        "vbox": vbox,
        "head_attr": {"ignore": 0, "occ": int(head_vis < 0.5), "unsure": 0},
    }


def annotate_image(rendered: RenderedImage, image_id: str, spec: SplitSpec) -> dict:
    """
    The .odgt record of one rendered image: {"ID": image_id, "gtboxes": [persons far to near..., mask box]}.
    """
    gtboxes = []
    for i in range(len(rendered.persons)):
        box = annotate_person(rendered, i, len(gtboxes), spec)
        if box is not None:
            gtboxes.append(box)
    if rendered.far_crowd_box is not None:
        region = rendered.far_crowd_box
        gtboxes.append({"fbox": region, "tag": "mask", "hbox": region, "extra": {"box_id": len(gtboxes), "occ": 0,
                        "ignore": 1}, "vbox": region, "head_attr": {}})
    return {"ID": image_id, "gtboxes": gtboxes}


# ----------------------------------------------------------------------------------------------------------------------
# Writing a split; generation on first use
# ----------------------------------------------------------------------------------------------------------------------
def _render_and_encode(job: tuple[SplitSpec, int, str]) -> tuple[str, bytes, str]:
    """Worker: (spec, index, image_id) -> (image_id, JPEG bytes, odgt line). Top-level so a Pool can pickle it."""
    spec, index, image_id = job
    rendered = render_synthetic_image(spec, index)
    ok, jpeg = cv2.imencode(".jpg", rendered.image, [cv2.IMWRITE_JPEG_QUALITY, spec.jpeg_quality])
    if not ok:
        raise RuntimeError(f"OpenCV could not encode synthetic image {image_id} as JPEG")
    return image_id, jpeg.tobytes(), json.dumps(annotate_image(rendered, image_id, spec))


def _meta_path(out_dir: str, split: str) -> str:
    return os.path.join(out_dir, f"annotation_{split}.meta.json")


def _expected_meta(spec: SplitSpec, id_prefix: str) -> dict:
    return {"generator_version": GENERATOR_VERSION, "id_prefix": id_prefix, "spec": spec.to_json()}


def generate_synthetic_crowd(out_dir: str, split: str = "train", spec: SplitSpec | None = None, *,
                             id_prefix: str | None = None, workers: int = 1) -> str:
    """
    Write one split in CrowdHuman layout: <out_dir>/Images/<ID>.jpg and <out_dir>/annotation_<split>.odgt.

    The .odgt is written to a temporary file and renamed into place after all images, then a small
    `annotation_<split>.meta.json` (generator version + spec) marks the split as complete (every file through
    pedet.utils.file_io; temporary files of a generation that was killed are removed first). Output bytes depend only
    on `spec` and `id_prefix` (not on `workers`).

    Args:
        spec: what to draw; SplitSpec() when None.
        id_prefix: image IDs are f"{id_prefix}{index:06d}"; default f"{split}_".
        workers: processes to render with (1 = this process).
    Returns:
        path of the .odgt file.
    """
    if not isinstance(split, str) or not SPLIT_NAME.fullmatch(split):  # as the command's --split check
        # before: "" wrote annotation_.odgt, "a/b" annotation_a/b.odgt in a new folder, "../x" outside out_dir
        raise ValueError(f"split must be a name of letters, digits, '_' or '-' (it names files), got {split!r}")
    if spec is not None and not isinstance(spec, SplitSpec):  # a dict: "'dict' object has no attribute 'num_images'"
        raise TypeError(f"spec must be a SplitSpec (or None for the default), got {type(spec).__name__}")
    spec = spec or SplitSpec()
    id_prefix = f"{split}_" if id_prefix is None else id_prefix
    image_dir = os.path.join(out_dir, "Images")
    odgt_file = os.path.join(out_dir, f"annotation_{split}.odgt")
    foreign = _foreign_image_id(odgt_file, id_prefix, _meta_path(out_dir, split))
    if foreign is not None:  # e.g. --out datasets/CrowdHuman: the real annotations would be replaced without a word
        raise FileExistsError(f"'{odgt_file}' exists and was not written by the synthetic generator (its first image "
                              f"is {foreign!r}, not '{id_prefix}000000'); choose another folder or remove the file")
    os.makedirs(image_dir, exist_ok=True)
    remove_stale_temporaries(out_dir)  # leftovers of a generation that was killed
    remove_stale_temporaries(image_dir)
    with contextlib.suppress(FileNotFoundError):
        os.remove(_meta_path(out_dir, split))  # the split is incomplete until the meta file is back
    jobs = [(spec, i, f"{id_prefix}{i:06d}") for i in range(spec.num_images)]
    with atomic_open(odgt_file, "w") as odgt, _map_jobs(_render_and_encode, jobs, workers) as results:
        for image_id, jpeg, line in results:
            # no fsync per image (7.8 ms each on ext4, +8 s per 1000 images): the split counts as complete only
            # when the fsync'd meta file below exists, and an incomplete split is generated again; the folder's stale
            # temporaries were removed above, once (not one folder listing per image)
            atomic_write(os.path.join(image_dir, f"{image_id}.jpg"), jpeg, fsync=False, remove_stale=False)
            odgt.write(line + "\n")
    _remove_surplus_images(image_dir, id_prefix, spec.num_images)
    atomic_write_json(_meta_path(out_dir, split), _expected_meta(spec, id_prefix), indent=1)
    return odgt_file


def _remove_surplus_images(image_dir: str, id_prefix: str, num_images: int) -> None:
    """
    Remove the images f"{id_prefix}{i:06d}.jpg" with i >= num_images: left by an earlier generation of this split
    with more images, they are in no annotation file but would still be found in Images/ (e.g. by a folder-based
    demo or a count of the files). Only names this split's generator writes are touched; other files stay.
    """
    pattern = re.compile(re.escape(id_prefix) + r"(\d{6,})\.jpg")
    removed = 0
    for name in os.listdir(image_dir):
        m = pattern.fullmatch(name)
        if m and int(m.group(1)) >= num_images and name == f"{id_prefix}{int(m.group(1)):06d}.jpg":
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(image_dir, name))
                removed += 1
    if removed:
        logger.info(f"{image_dir}: removed {removed} image(s) of an earlier, larger generation of this split")


def _foreign_image_id(odgt_file: str, id_prefix: str, meta_file: str) -> str | None:
    """
    The first image ID of an existing `odgt_file` that the generator did not write, else None (no file, an empty one,
    or one of ours: regenerating it is safe). Ours: its meta file names a generator version (any version, any
    prefix), or its IDs are f"{id_prefix}{i:06d}" (a generation killed after the meta file was removed).
    """
    try:
        with open(meta_file) as f:
            if "generator_version" in json.load(f):
                return None
    except (OSError, ValueError, TypeError):
        pass
    try:
        with open(odgt_file, "rb") as f:
            # the first non-blank line, as the loaders skip blank lines: a real file that starts with an empty line
            # (or CRLF) was taken for an empty one, hence ours, and replaced without a word
            first = b""
            while not first:
                line = f.readline(1 << 20)
                if not line:
                    break
                first = line.strip()
    except FileNotFoundError:
        return None
    if not first:  # no file content but blank lines
        return None
    try:
        image_id = json.loads(first).get("ID")
    except (ValueError, AttributeError, RecursionError):
        return first[:40].decode("utf-8", "replace") + "..."
    ours = isinstance(image_id, str) and image_id.startswith(id_prefix) and image_id[len(id_prefix):].isdigit()
    return None if ours else str(image_id)


@contextlib.contextmanager
def _map_jobs(fn, jobs: list, workers: int) -> Iterator[Iterator]:
    """
    Ordered map of fn over jobs, in this process (workers <= 1) or a process pool. The pool forks where the platform
    can (a spawned worker would re-import pedet.data, hence Detectron2 and torch: seconds per worker); the rendering
    uses numpy/OpenCV only, never torch, so forking a process that has torch loaded is safe here.
    """
    workers = min(workers, len(jobs))  # never more processes than images
    if workers <= 1:
        yield map(fn, jobs)
        return
    import multiprocessing

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(workers, initializer=_worker_signals) as pool:
        yield pool.imap(fn, jobs, chunksize=8)


def _worker_signals() -> None:
    """A rendering worker leaves Ctrl-C to the main process (which ends the pool) and dies quietly on SIGTERM, which
    the pool sends when it ends: a forked worker inherited the command's handlers (pedet.utils.cli.interruptible),
    and each printed a traceback at the end of every run with --workers, and at Ctrl-C (sent to the whole group)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _split_is_current(out_dir: str, split: str, spec: SplitSpec, id_prefix: str) -> bool:
    """True if the split's .odgt exists and its meta file says it was generated from exactly this spec."""
    if not os.path.isfile(os.path.join(out_dir, f"annotation_{split}.odgt")):
        return False
    try:
        with open(_meta_path(out_dir, split)) as f:
            return json.load(f) == _expected_meta(spec, id_prefix)
    except (FileNotFoundError, json.JSONDecodeError):
        return False


@contextlib.contextmanager
def _exclusive_lock(lock_file: str) -> Iterator[None]:
    """
    An fcntl.flock exclusive lock on `lock_file` (created if needed), held for the `with` block. If another process
    holds it (a second generation into the same folder), one warning says what is awaited before the wait.
    """
    with open(lock_file, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # before: a second run waited in silence, as if hung
            logger.warning(f"{os.path.dirname(lock_file) or '.'}: another generation into this folder is running; "
                           "waiting for it to end")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_synthetic_crowd(root: str, preset: str = "default", split: str = "train",
                           presets: dict[str, dict[str, SplitSpec]] | None = None, *, workers: int = 1,
                           force: bool = False) -> tuple[str, str]:
    """
    Make sure <root>/synthetic_crowd/<preset>/ holds `split` as the preset defines it; generate it if not.

    Safe when several processes ask at once (e.g. Detectron2 `launch` with N workers): generation runs under an
    exclusive file lock, and every process re-checks the completion marker after taking the lock, so the split is
    generated once and nobody reads a half-written one. A split written by another generator version or spec is
    regenerated.

    Args:
        workers: processes to render with when it generates.
        force: regenerate even if the split is current.
    Returns:
        (odgt file, image root).
    """
    presets = presets or PRESETS
    if preset not in presets or split not in presets[preset]:  # before: a bare KeyError: 'test'
        raise KeyError(f"synthetic crowd: no split {split!r} in preset {preset!r}; presets and their splits: "
                       + "; ".join(f"{name}: {', '.join(splits)}" for name, splits in presets.items()))
    spec = presets[preset][split]
    out_dir = os.path.join(root, "synthetic_crowd", preset)
    id_prefix = f"{preset}_{split}_"
    result = os.path.join(out_dir, f"annotation_{split}.odgt"), os.path.join(out_dir, "Images")
    if not force and _split_is_current(out_dir, split, spec, id_prefix):
        return result
    os.makedirs(out_dir, exist_ok=True)
    with _exclusive_lock(os.path.join(out_dir, ".generate.lock")):
        if force or not _split_is_current(out_dir, split, spec, id_prefix):
            logger.info(f"Generating synthetic crowd set '{preset}/{split}' ({spec.num_images} images) in {out_dir}")
            generate_synthetic_crowd(out_dir, split, spec, id_prefix=id_prefix, workers=workers)
    return result


# ----------------------------------------------------------------------------------------------------------------------
# Detectron2 registration
# ----------------------------------------------------------------------------------------------------------------------
def load_synthetic_crowd(root: str, preset: str, split: str,
                         presets: dict[str, dict[str, SplitSpec]] | None = None) -> list[dict]:
    """
    Generate the split if needed, then load it through the real CrowdHuman loader.

    Returns:
        list of Detectron2 dataset dicts (see pedet.data.crowdhuman.load_crowdhuman_odgt).
    """
    odgt_file, image_root = ensure_synthetic_crowd(root, preset, split, presets)
    dicts = load_crowdhuman_odgt(odgt_file, image_root)
    expected = (presets or PRESETS)[preset][split].num_images
    if len(dicts) != expected:  # the meta file alone says "current": lines removed or added since went unnoticed
        raise DatasetFormatError(
            f"{odgt_file}: {len(dicts)} image(s), but the split '{preset}/{split}' has {expected}; the file was "
            "changed after it was generated: remove it to generate the split again")
    return dicts


def register_synthetic_crowd(root: str | None = None, presets: dict[str, dict[str, SplitSpec]] | None = None,
                             prefix: str = "synthetic_crowd") -> list[str]:
    """
    Register every split of every preset in DatasetCatalog/MetadataCatalog. Touches no file: a split is generated
    when `DatasetCatalog.get(name)` first runs (see ensure_synthetic_crowd).

    Metadata: thing_classes=["person"], evaluator_type="crowdhuman", gt_file (the .odgt), image_root,
    persons_per_image (lo, hi) and preset.

    Args:
        root: datasets root; pedet.data.common.datasets_root() ($DETECTRON2_DATASETS or ./datasets) when None.
        presets: name -> {split: SplitSpec}; PRESETS when None.
        prefix: first part of the dataset names (see synthetic_dataset_name).
    Returns:
        the registered names.
    """
    import functools

    root = datasets_root() if root is None else root
    check_path_arguments(f"{prefix}_*", root=root)
    presets = PRESETS if presets is None else presets
    names = []
    for preset, splits in presets.items():
        for split, spec in splits.items():
            name = synthetic_dataset_name(preset, split, prefix)
            out_dir = os.path.join(root, "synthetic_crowd", preset)
            register_dataset(
                name, functools.partial(load_synthetic_crowd, root, preset, split, presets),
                thing_classes=["person"], evaluator_type="crowdhuman",
                gt_file=os.path.join(out_dir, f"annotation_{split}.odgt"), image_root=os.path.join(out_dir, "Images"),
                persons_per_image=tuple(spec.persons_per_image), preset=preset,
            )
            names.append(name)
    return names


# ----------------------------------------------------------------------------------------------------------------------
# Preview picture and command line
# ----------------------------------------------------------------------------------------------------------------------
def draw_preview(odgt_file: str, image_root: str, out_png: str, num_images: int = 6, cols: int = 3,
                 max_colours: int = 256) -> str:
    """
    Draw the first `num_images` images of an .odgt with their boxes: full box green, visible box red (dashed), head
    box yellow, ignore boxes ("mask" tag or extra.ignore = 1) grey and hatched. Reads the files as written, so it
    shows what a loader sees. The PNG is palette-quantised to `max_colours` to stay small.

    Returns:
        out_png.
    """
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle
    from PIL import Image

    with open(odgt_file) as f:
        records = [json.loads(line) for line, _ in zip(f, range(num_images))]
    rows = math.ceil(len(records) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.3 * rows + 0.5), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, rec in zip(axes.ravel(), records):
        ax.imshow(cv2.imread(os.path.join(image_root, f"{rec['ID']}.jpg"))[:, :, ::-1])
        persons = 0
        for box in rec["gtboxes"]:
            if box["tag"] != "person" or box["extra"].get("ignore", 0):
                ax.add_patch(Rectangle(box["fbox"][:2], *box["fbox"][2:], fill=False, ec="0.7", hatch="///", lw=1))
                continue
            persons += 1
            ax.add_patch(Rectangle(box["fbox"][:2], *box["fbox"][2:], fill=False, ec="lime", lw=1))
            ax.add_patch(Rectangle(box["vbox"][:2], *box["vbox"][2:], fill=False, ec="red", lw=1, ls="--"))
            ax.add_patch(Rectangle(box["hbox"][:2], *box["hbox"][2:], fill=False, ec="yellow", lw=0.8))
        ax.set_title(f"{rec['ID']}: {persons} persons", fontsize=8)
    fig.legend(handles=[Patch(fill=False, ec=c, ls=ls, hatch=h, label=lab) for c, ls, h, lab in [
        ("lime", "-", None, "full box (fbox)"), ("red", "--", None, "visible box (vbox)"),
        ("yellow", "-", None, "head box (hbox)"), ("0.7", "-", "///", "ignore (mask / extra.ignore)")]],
        loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1), h_pad=1.5)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    with atomic_open(out_png, "wb") as f:
        Image.open(buf).convert("RGB").quantize(max_colours).save(f, format="PNG", optimize=True)
    return out_png


def build_arg_parser() -> argparse.ArgumentParser:
    """The command line of `python -m pedet.data.synthetic` (see --help)."""
    parser = argparse.ArgumentParser(
        prog="python -m pedet.data.synthetic",
        description="Generate the synthetic crowd data set (CrowdHuman format: annotation_<split>.odgt + Images/).",
        epilog="Examples:\n"
               "  python -m pedet.data.synthetic                      # all splits of preset 'default' into "
               "$DETECTRON2_DATASETS/synthetic_crowd/default\n"
               "  python -m pedet.data.synthetic --preset d50 --preview d50.png\n"
               "  python -m pedet.data.synthetic --out /tmp/synth --split train --num-images 100 --seed 3 "
               "--persons-per-image 30 60 --size 480 640",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="default", choices=sorted(PRESETS), help="preset to start from")
    parser.add_argument("--split", action="append",
                        help="split(s) to write (repeatable); default: all splits of the preset, or 'train' with --out")
    parser.add_argument("--root", default=None, help="datasets root (default: $DETECTRON2_DATASETS or ./datasets); "
                        "preset splits go to <root>/synthetic_crowd/<preset>/")
    parser.add_argument("--out", default=None, help="write to this folder instead, with the overrides below")
    parser.add_argument("--num-images", type=int, help="images per split (override)")
    parser.add_argument("--seed", type=int, help="seed (override)")
    parser.add_argument("--persons-per-image", type=int, nargs="+", metavar="N",
                        help="one number (fixed) or LO HI (inclusive range) (override)")
    parser.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="image height and width (override)")
    parser.add_argument("--workers", type=int, default=1, help="processes for rendering (default 1)")
    parser.add_argument("--force", action="store_true", help="regenerate preset splits even if they are current")
    parser.add_argument("--preview", metavar="PNG", help="also draw the first images of the (first) split with boxes")
    parser.add_argument("--preview-images", type=int, default=6, help="images in the preview (default 6)")
    parser.add_argument("--list-presets", action="store_true", help="print the presets and exit")
    return parser


def spec_with_overrides(spec: SplitSpec, args: argparse.Namespace) -> SplitSpec:
    """
    Apply the command-line overrides (--num-images, --seed, --persons-per-image, --size) to a spec.

    Raises ValueError naming the flag when a value is out of range (SplitSpec's checks).
    """
    changes = {}
    if args.num_images is not None:
        changes["num_images"] = args.num_images
    if args.seed is not None:
        changes["seed"] = args.seed
    if args.persons_per_image:
        lo, hi = args.persons_per_image[0], args.persons_per_image[-1]
        if len(args.persons_per_image) > 2:
            raise ValueError(f"--persons-per-image takes N or LO HI, got {args.persons_per_image}")
        changes["persons_per_image"] = (lo, hi)
    if args.size:
        changes["image_size"] = tuple(args.size)
    return dataclasses.replace(spec, **changes)


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """parser.error (one line, exit status 2) for arguments that no spec check covers."""
    if not 1 <= args.workers <= MAX_WORKERS:
        parser.error(f"--workers must be in [1, {MAX_WORKERS}], got {args.workers}")
    for flag, value in (("--out", args.out), ("--root", args.root), ("--preview", args.preview)):
        if value is not None and not value.strip():
            parser.error(f"{flag} must not be empty")
    if not 1 <= args.preview_images <= 100:
        parser.error(f"--preview-images must be in [1, 100], got {args.preview_images}")
    for flag, given in (("--root", args.root is not None), ("--force", args.force)):
        if args.out and given:  # before: ignored without a word (--out is always written, and is the folder)
            parser.error(f"{flag} applies to preset splits (written under <root>/synthetic_crowd/<preset>/), not to "
                         "a split written to --out")
    if args.split and len(set(args.split)) != len(args.split):  # before: the split was rendered twice
        parser.error(f"--split names a split twice: {' '.join(args.split)}")
    for split in args.split or []:
        if not SPLIT_NAME.fullmatch(split):
            parser.error(f"--split must be a name of letters, digits, '_' or '-' (it names files), got {split!r}")
    for flag, folder in (("--out", args.out), ("--root", args.root)):
        if folder is not None and os.path.exists(folder) and not os.path.isdir(folder):
            parser.error(f"{flag} '{folder}' exists and is not a folder")
    for flag, path in (("--out", args.out), ("--root", args.root), ("--preview", args.preview)):
        blocking = path is not None and file_in_the_way(os.path.join(path, "x") if flag != "--preview" else path)
        if blocking:  # found before rendering, not when the first file (or the preview, after the split) is written
            parser.error(f"{flag} '{path}': '{blocking}' is a file, not a folder")
        too_long = path is not None and name_too_long(path)
        if too_long:
            parser.error(f"{flag}: {too_long}")
        loop = path is not None and symlink_loop(path)
        if loop:  # before: "[Errno 40] Too many levels of symbolic links" (--out) or the link replaced (--preview)
            parser.error(f"{flag}: {loop}")
    if args.preview is not None and os.path.isdir(args.preview):
        parser.error(f"--preview '{args.preview}' is a folder; give the PNG file to write")
    # a folder where a split's file goes, or a file where Images/ goes: before, "[Errno 21] Is a directory" once the
    # whole split was rendered, or "[Errno 17] File exists"
    out_dir = args.out or os.path.join(datasets_root() if args.root is None else args.root, "synthetic_crowd",
                                       args.preset)
    for split in [] if args.list_presets else _splits(args):
        for name in (f"annotation_{split}.odgt", f"annotation_{split}.meta.json"):
            if os.path.isdir(os.path.join(out_dir, name)):
                parser.error(f"'{os.path.join(out_dir, name)}' is a folder; the split's file of that name is written "
                             "there: move it away")
    images = os.path.join(out_dir, "Images")
    if not args.list_presets and os.path.lexists(images) and not os.path.isdir(images):
        parser.error(f"'{images}' is a file; the images are written into a folder of that name: move it away")
    if args.preview is not None and not args.preview.lower().endswith(".png"):
        parser.error(f"--preview writes a PNG file; give a name ending in .png, got {args.preview!r}")
    if args.preview is not None and not args.list_presets:
        # the PNG is written last, through a symbolic link to its target: before, a link named *.png to a split's
        # .odgt (or to one of its images) replaced the split just generated, which its meta file still calls complete
        target = os.path.realpath(args.preview)
        split_files = [os.path.realpath(os.path.join(out_dir, f"annotation_{split}{ext}"))
                       for split in _splits(args) for ext in (".odgt", ".meta.json")]
        real_images = os.path.join(os.path.realpath(images), "")
        if target in split_files or (target.startswith(real_images) and target.lower().endswith(".jpg")):
            parser.error(f"--preview '{args.preview}' is (a link to) {target}, a file of the split it draws; give "
                         "the PNG another path")


SPLIT_NAME = re.compile(r"[A-Za-z0-9_-]+")
MAX_WORKERS = 256  # rendering processes; more than the cores only adds memory


@data_command
def main(argv: Sequence[str] | None = None) -> int:
    """
    Command line: generate preset splits in the standard layout (or a custom split with --out), then a preview.
    Bad arguments exit with status 2 and one line (argparse); a file that cannot be written with status 1.
    """
    parser = build_arg_parser()
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        specs = {split: spec_with_overrides(_base_spec(args.preset, split), args) for split in _splits(args)}
    except ValueError as e:
        parser.error(str(e))
    if not args.out and not args.list_presets:  # preset splits: found before any split is rendered, not between two
        for split, spec in specs.items():
            if split not in PRESETS[args.preset]:
                parser.error(f"preset '{args.preset}' has splits {', '.join(PRESETS[args.preset])}, not '{split}'; "
                             "write other splits with --out DIR")
            if spec != PRESETS[args.preset][split]:
                parser.error("--num-images, --seed, --persons-per-image and --size change a preset's data; write "
                             "such a split elsewhere with --out DIR")
    first_with_seed = {}
    for split, spec in specs.items():  # the same seed draws the same images: a "test" split that is the train split
        if spec.seed in first_with_seed:
            parser.error(f"--split {first_with_seed[spec.seed]} and --split {split} would hold the same images (both "
                         f"drawn with seed {spec.seed}); write each split in its own run with its own --seed")
        first_with_seed[spec.seed] = split
    for split in specs:
        if split not in PRESETS[args.preset] and args.seed is None:
            first = next(iter(PRESETS[args.preset]))
            logger.warning(f"split '{split}' is not a split of preset '{args.preset}' "
                           f"({', '.join(PRESETS[args.preset])}): it starts from '{first}' with its seed "
                           f"{PRESETS[args.preset][first].seed}, so with the same settings its images are those of "
                           f"'{first}'; give --seed for other images")
    try:
        return _run(args)
    except OSError as e:  # Python's "[Errno N] ..." prefix tells a user nothing
        print(f"error: {describe_os_error(e)}", file=sys.stderr)
        return 1


def _base_spec(preset: str, split: str) -> SplitSpec:
    """The preset's spec of `split`; a split name the preset does not have (with --out) starts from its first split."""
    return PRESETS[preset].get(split, next(iter(PRESETS[preset].values())))


def _splits(args: argparse.Namespace) -> list[str]:
    return args.split or (["train"] if args.out else list(PRESETS[args.preset]))


def _run(args: argparse.Namespace) -> int:
    if args.list_presets:
        for preset, splits in PRESETS.items():
            for split, spec in splits.items():
                print(f"{synthetic_dataset_name(preset, split):32s} {preset}/{split}: {spec}")
        return 0
    splits = _splits(args)
    written = []
    for split in splits:
        spec = spec_with_overrides(_base_spec(args.preset, split), args)
        if args.out:
            # one generator at a time per folder (as ensure_synthetic_crowd for the presets): two runs into one --out
            # gave an .odgt of one seed over a mix of both runs' images, without a word; now the last one wins whole
            os.makedirs(args.out, exist_ok=True)
            with _exclusive_lock(os.path.join(args.out, ".generate.lock")):
                odgt = generate_synthetic_crowd(args.out, split, spec, workers=args.workers)
            written.append((odgt, os.path.join(args.out, "Images")))
        else:
            root = datasets_root() if args.root is None else args.root
            written.append(ensure_synthetic_crowd(root, args.preset, split, workers=args.workers, force=args.force))
        print(f"{split}: {written[-1][0]}")
    if args.preview:
        print(f"preview: {draw_preview(*written[0], args.preview, args.preview_images)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
