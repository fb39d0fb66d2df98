"""Tests of opl.assigner: POTO (Hungarian / argmax), One-to-M rules, DeFCN aux, FCOS rule (docs/methods.md §1.3-4)."""
import math

import pytest
import torch

from opl.assigner import (
    defcn_aux_assign,
    fcos_assign,
    hungarian_m_assign,
    inside_box_prior,
    pairs_to_matched,
    poto_argmax,
    poto_hungarian,
    poto_hungarian_full,
    quality_score,
    topm_assign,
)


def grid_centers(h: int, w: int, stride: float):
    """Location centres ((j + 0.5) s, (i + 0.5) s) of one level, row-major; and their strides."""
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    centers = torch.stack([(xs.reshape(-1) + 0.5) * stride, (ys.reshape(-1) + 0.5) * stride], dim=1).float()
    return centers, torch.full((h * w,), float(stride))


def test_quality_score_hand_value():
    # 0.5^0.2 * 0.25^0.8 = 2^-0.2 * 2^-1.6 = 2^-1.8
    q = quality_score(torch.tensor([[0.5]]), torch.tensor([[0.25]]), alpha=0.8)
    assert q.item() == pytest.approx(2 ** -1.8, rel=1e-6)


def test_inside_box_prior_radius_zero_and_radius():
    centers = torch.tensor([[4.0, 4.0], [12.0, 4.0], [20.0, 20.0]])
    strides = torch.tensor([8.0, 8.0, 8.0])
    # box [0, 0, 8, 8] holds (4, 4) only; box [0, 0, 40, 40] holds all three
    prior = inside_box_prior(centers, strides, torch.tensor([[0.0, 0, 8, 8], [0, 0, 40, 40]]))
    assert prior.tolist() == [[True, False, False], [True, True, True]]
    # radius 1 around the centre (20, 20) of the big box: |dx|, |dy| < 8 -> only (20, 20)
    prior_r = inside_box_prior(centers, strides, torch.tensor([[0.0, 0, 40, 40]]), radius=1.0)
    assert prior_r.tolist() == [[False, False, True]]


def test_poto_one_positive_per_gt():
    centers, strides = grid_centers(8, 8, 8.0)  # 64 locations on a 64 x 64 image
    gt = torch.tensor([[0.0, 0, 24, 40], [16, 8, 48, 40], [30, 30, 64, 64]])  # overlapping boxes
    prior = inside_box_prior(centers, strides, gt)
    quality = torch.rand(3, 64)
    for matcher in (poto_hungarian, poto_argmax):
        gt_idx, loc_idx = matcher(quality, prior)
        matched = pairs_to_matched(gt_idx, loc_idx, 64)
        counts = torch.bincount(matched[matched >= 0], minlength=3)
        if matcher is poto_hungarian:
            assert counts.tolist() == [1, 1, 1]  # exactly one positive per GT
        assert counts.max() <= 1 and prior[gt_idx, loc_idx].all()


@pytest.mark.parametrize("seed", range(8))
def test_reduced_hungarian_equals_full_hungarian(seed):
    g = torch.Generator().manual_seed(seed)
    num_gt, num_loc = 7, 80
    prior = torch.rand(num_gt, num_loc, generator=g) < 0.15
    prior[:, 60:] = False  # >= G locations outside every box, as in real images
    quality = torch.rand(num_gt, num_loc, generator=g)
    red = poto_hungarian(quality, prior)
    full = poto_hungarian_full(quality, prior)
    pairs = lambda m: sorted(zip(m[0].tolist(), m[1].tolist()))  # noqa: E731
    assert pairs(red) == pairs(full)
    assert quality[red].sum().item() == pytest.approx(quality[full].sum().item())


def test_poto_out_of_box_match_is_dropped():
    # Both GTs have only location 0 inside their box; Q(g0, 0) = 0.9 > Q(g1, 0) = 0.5 -> g1 cannot be matched inside
    prior = torch.tensor([[True, False, False], [True, False, False]])
    quality = torch.tensor([[0.9, 0.1, 0.1], [0.5, 0.1, 0.1]])
    kept_full = poto_hungarian_full(quality, prior, drop_out_of_box=False)
    assert len(kept_full[0]) == 2  # DeFCN keeps g1 at an outside location (Q = -1)
    for fn in (poto_hungarian_full, poto_hungarian, poto_argmax):
        gt_idx, loc_idx = fn(quality, prior, drop_out_of_box=True)
        assert gt_idx.tolist() == [0] and loc_idx.tolist() == [0]


def test_poto_no_gt_and_no_location_in_box():
    empty = poto_hungarian(torch.zeros(0, 5), torch.zeros(0, 5, dtype=torch.bool))
    assert empty[0].numel() == 0
    # a box smaller than the stride holds no location: unmatched, no crash
    none_inside = poto_hungarian(torch.rand(2, 5), torch.zeros(2, 5, dtype=torch.bool))
    assert none_inside[0].numel() == 0


def test_poto_argmax_conflict_goes_to_higher_quality():
    prior = torch.ones(2, 3, dtype=torch.bool)
    # both GTs' best location is 1; g1 has the higher Q there (0.8 > 0.7) and keeps it; g0 stays unmatched
    quality = torch.tensor([[0.1, 0.7, 0.6], [0.2, 0.8, 0.3]])
    gt_idx, loc_idx = poto_argmax(quality, prior)
    assert gt_idx.tolist() == [1] and loc_idx.tolist() == [1]


def test_topm_counts_no_sharing_and_tiny_box_gets_fewer():
    centers, strides = grid_centers(8, 8, 8.0)
    gt = torch.tensor([[0.0, 0, 40, 40], [16, 16, 64, 64], [49, 1, 55, 15]])  # last box holds 2 locations (x=52)
    prior = inside_box_prior(centers, strides, gt)
    assert prior[2].sum() == 2  # centres (52, 4) and (52, 12)
    matched = topm_assign(torch.rand(3, 64), prior, m=9)
    counts = torch.bincount(matched[matched >= 0], minlength=3)
    assert (counts <= 9).all()
    assert counts[2] == 2  # tiny box: fewer than M
    assert prior[matched[matched >= 0], (matched >= 0).nonzero().squeeze(1)].all()  # positives inside own box
    # matched is one GT per location, so no location is shared by construction; check conflicts went to max Q
    quality = torch.tensor([[0.9, 0.2], [0.5, 0.8]])
    both = torch.ones(2, 2, dtype=torch.bool)
    # M = 2: both GTs want both locations; loc 0 -> g0 (0.9 > 0.5), loc 1 -> g1 (0.8 > 0.2)
    assert topm_assign(quality, both, m=2).tolist() == [0, 1]


def test_topm_takes_highest_quality():
    quality = torch.tensor([[0.1, 0.9, 0.5, 0.7]])
    prior = torch.tensor([[True, True, True, False]])  # 0.7 is outside the box
    # top-2 inside: 0.9 (loc 1) and 0.5 (loc 2)
    assert topm_assign(quality, prior, m=2).tolist() == [-1, 0, 0, -1]


def test_hungarian_m_gives_exactly_m_distinct_locations():
    centers, strides = grid_centers(8, 8, 8.0)
    gt = torch.tensor([[0.0, 0, 40, 40], [16, 16, 64, 64]])
    prior = inside_box_prior(centers, strides, gt)
    matched = hungarian_m_assign(torch.rand(2, 64), prior, m=4)
    assert torch.bincount(matched[matched >= 0], minlength=2).tolist() == [4, 4]


def test_defcn_aux_mean_plus_std_threshold():
    # one level of 4 locations, top-k = 4: Q = [0.1, 0.2, 0.3, 0.8]; mean = 0.35,
    # std (unbiased) = sqrt(((.25)^2 + (.15)^2 + (.05)^2 + (.45)^2) / 3) = sqrt(0.29 / 3) = 0.3109 -> thr = 0.6609
    quality = torch.tensor([[0.1, 0.2, 0.3, 0.8]])
    prior = torch.ones(1, 4, dtype=torch.bool)
    assert math.isclose(0.35 + math.sqrt(0.29 / 3), 0.6609, abs_tol=1e-4)
    assert defcn_aux_assign(quality, prior, [4], topk=4).tolist() == [-1, -1, -1, 0]
    # top-k = 2 per level over two levels of 2: candidates are all 4 again -> same answer
    assert defcn_aux_assign(quality, prior, [2, 2], topk=2).tolist() == [-1, -1, -1, 0]


def test_fcos_assign_scale_ranges_and_smallest_box():
    # one location per level at (100, 100), strides 8 and 16: ranges (0, 64) and (64, inf) (two levels: open ends)
    centers = torch.tensor([[100.0, 100.0], [100.0, 100.0]])
    strides = torch.tensor([8.0, 16.0])
    small = [90.0, 90.0, 110.0, 110.0]  # max ltrb 10 -> level 0
    big = [0.0, 0.0, 200.0, 200.0]  # max ltrb 100 -> level 1 (and centre within 1.5 * 16 of (100, 100))
    matched = fcos_assign(centers, strides, [1, 1], torch.tensor([big, small]), radius=1.5)
    assert matched.tolist() == [1, 0]
