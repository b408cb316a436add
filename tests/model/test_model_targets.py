"""Training targets and the RPM margin loss against brute-force references written here."""
import math

import pytest
import torch
import torch.nn.functional as F

from sphmask.models.criterion import rpm_margin_loss
from sphmask.models.targets import EMPTY_RAY, compact_instances, instance_table, superpoint_targets


def _sector(v):
    """Sector of a direction by spec §4.2-4.3 (float64): h = min(floor(theta/36), 4), w likewise."""
    x, y, z = (float(c) for c in v)
    theta = math.degrees(math.atan2(math.hypot(x, y), z))
    phi = math.degrees(math.atan2(y, x)) + 180.0
    return min(int(theta // 36), 4) * 5 + min(int(phi // 72), 4)


def _scene(seed=0):
    g = torch.Generator().manual_seed(seed)
    xyz = torch.rand(120, 3, generator=g) * 2
    scene = torch.cat([torch.zeros(70, dtype=torch.long), torch.ones(50, dtype=torch.long)])
    raw_inst = torch.full((120,), -100)
    raw_inst[5:30], raw_inst[40:60], raw_inst[80:110] = 11, 4, 30
    sem = torch.randint(0, 2, (120,), generator=g)
    sem[5:30], sem[40:60], sem[80:110] = 3, 2, 1  # instance 30 has the stuff class 1 -> no valid class
    sem[40] = -100  # the first voxel of instance 4 is unlabelled -> its class is -100
    return xyz, scene, raw_inst, sem


def test_compact_instances_keeps_id_order():
    assert compact_instances(torch.tensor([11, -100, 4, 30, 4])).tolist() == [1, -1, 0, 2, 0]


def test_instance_table_matches_brute_force():
    xyz, scene, raw, sem = _scene()
    inst = compact_instances(raw)
    t = instance_table(xyz, inst, sem, scene, 3, label_shift=2, n_azimuth=5, n_polar=5)
    assert t.cls.tolist() == [-100, 1, -100] and t.scene.tolist() == [0, 0, 1]
    for k in range(3):
        pts = xyz[inst == k].double()
        c = pts.mean(0)
        torch.testing.assert_close(t.rays[k, 25:].double(), c, atol=1e-6, rtol=0)
        torch.testing.assert_close(t.box[k].double(), torch.cat([pts.min(0).values, pts.max(0).values]))
        rays = [EMPTY_RAY] * 25
        for p in pts:
            s = _sector(p - c)
            rays[s] = max(rays[s], float((p - c).norm()))
        torch.testing.assert_close(t.rays[k, :25].double(), torch.tensor(rays, dtype=torch.float64), atol=1e-5, rtol=0)
        sel = inst == k
        torch.testing.assert_close(t.centroid_offset[sel].double(), c - xyz[sel].double(), atol=1e-6, rtol=0)
        torch.testing.assert_close(t.corners_offset[sel, 3:].double(), pts.max(0).values - xyz[sel].double())
    assert (t.centroid_offset[inst < 0] == -100).all() and (t.corners_offset[inst < 0] == -100).all()


def test_superpoint_targets_half_majority_and_invalid_classes():
    xyz, scene, raw, sem = _scene()
    inst = compact_instances(raw)
    t = instance_table(xyz, inst, sem, scene, 3, 2, 5, 5)
    t.cls[0] = 0  # make instance 4 (compact 0) valid again to see two GT in scene 0
    vsp = torch.arange(120) // 4  # 30 superpoints of 4 voxels, scene 0: 0..17 (last one mixes)
    vsp[68:70] = 17
    vsp[70:] = 18 + (torch.arange(50) // 5)
    voxel_offsets = torch.tensor([0, 70, 120])
    sp_offsets = torch.tensor([0, 18, 28])
    out = superpoint_targets(t, inst, vsp, voxel_offsets, sp_offsets)
    assert out[1] is None  # scene 1 holds only the stuff-class instance
    gt = out[0]
    assert gt.cls.tolist() == [0, 1] and gt.mask.shape == (2, 18)
    for row, k in enumerate((0, 1)):
        for s in range(18):
            sel = vsp[:70] == s
            frac = (inst[:70][sel] == k).float().mean().item()
            assert gt.mask[row, s].item() == float(frac >= 0.5), (k, s, frac)
    torch.testing.assert_close(gt.rays, t.rays[:2])


def _margin_reference(rpm, target, rays, sp_xyz):
    """Element-wise construction of the official FP/TP/FN soft-margin terms (float64)."""
    zs, ys, where = [], [], []
    for i in range(rpm.shape[0]):
        union = (target[i] > 0) | (rpm[i] >= 0)
        c = sp_xyz[union].double().mean(0) if union.any() else torch.zeros(3, dtype=torch.float64)
        for s in range(sp_xyz.shape[0]):
            x, t = float(rpm[i, s]), float(target[i, s])
            v = sp_xyz[s].double() - c
            m = float(v.norm()) - 2 * x
            rho = float(rays[i, _sector(v)])
            if x >= 0 and t == 0:
                zs.append(rho - m), ys.append(-1.0), where.append((i, s))
            elif x >= 0 and t == 1:
                zs.append(-m), ys.append(1.0), where.append((i, s))
            elif x < 0 and t == 1:
                zs.append(rho - m), ys.append(1.0), where.append((i, s))
    return torch.tensor(zs, dtype=torch.float64, requires_grad=True), torch.tensor(ys, dtype=torch.float64), where


def test_rpm_margin_loss_value_and_gradient_match_reference():
    g = torch.Generator().manual_seed(7)
    sp_xyz = torch.rand(30, 3, generator=g) * 2
    rpm = (torch.randn(4, 30, generator=g) * 0.3).requires_grad_(True)
    target = (torch.rand(4, 30, generator=g) > 0.5).float()
    rays = torch.rand(4, 25, generator=g) + 0.2
    loss = rpm_margin_loss(rpm, target, rays, sp_xyz, 5, 5)
    z, y, where = _margin_reference(rpm.detach(), target, rays, sp_xyz)
    ref = F.soft_margin_loss(torch.tanh(z), y)
    assert abs(loss.item() - ref.item()) < 1e-5
    loss.backward()
    ref.backward()
    expected = torch.zeros(4, 30, dtype=torch.float64)
    for (i, s), gz in zip(where, z.grad):
        expected[i, s] = gz  # dz/drpm = +1: the migrated radius moves by -1 per unit of rpm in gradient
    torch.testing.assert_close(rpm.grad.double(), expected, atol=1e-6, rtol=1e-4)


def test_rpm_margin_loss_is_zero_without_true_positives():
    rpm = torch.tensor([[0.5, 0.2, -0.3]], requires_grad=True)
    target = torch.tensor([[0.0, 0.0, 1.0]])  # FP and FN only
    loss = rpm_margin_loss(rpm, target, torch.ones(1, 25), torch.rand(3, 3), 5, 5)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(rpm.grad, torch.zeros_like(rpm))


def test_rpm_margin_loss_rays_receive_no_gradient():
    rays = torch.rand(2, 25, requires_grad=True)
    rpm = torch.tensor([[0.5, 0.2, -0.3], [0.1, -0.2, 0.3]], requires_grad=True)
    target = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    rpm_margin_loss(rpm, target, rays, torch.rand(3, 3), 5, 5).backward()
    assert rays.grad is None and rpm.grad.abs().sum() > 0


@pytest.mark.parametrize("n_queries", [1, 3])
def test_rpm_margin_loss_with_empty_masks_is_zero(n_queries):
    rpm = torch.full((n_queries, 4), -1.0, requires_grad=True)
    target = torch.zeros(n_queries, 4)
    assert rpm_margin_loss(rpm, target, torch.ones(n_queries, 25), torch.rand(4, 3), 5, 5).item() == 0.0
