"""sphere_coords, rays_from_masks, assemble_masks against the official tensor formulation.

The references below restate the official code (model_utils.py:cartesian_to_spherical,
find_sector_, divide_with_angle_vectorize*, mask2ray; spherical_mask.py:mask_assembly) in plain
float32 PyTorch, in its operation order, building the [Q, S, ...] intermediates it builds.

One deliberate difference: square roots. The official numbers come from CUDA, whose sqrtf is
correctly rounded; torch's CPU sqrt (MKL VML) is not (about 0.7% of float32 results are 1 ulp
off), so the reference takes the float64 root of the float32 value and rounds it, which is the
correctly rounded float32 root.
"""
import math

import pytest
import torch

from sphmask.ops import assemble_masks, rays_from_masks, sphere_coords
from tests.conftest import num_threads, requires_cuda


# ----------------------------------------------------------------------------- references
def sqrt_rn(x):
    """Correctly rounded float32 square root (as CUDA's sqrtf)."""
    return torch.sqrt(x.double()).float()


def ref_spherical(points, centers):
    """Official cartesian_to_spherical + rad2deg + 180: (radius, polar deg, azimuth deg), [Q, S]."""
    v = points[None, :, :] - centers[:, None, :]
    xy = v[:, :, 0] ** 2 + v[:, :, 1] ** 2
    radius = sqrt_rn(xy + v[:, :, 2] ** 2)
    polar = torch.rad2deg(torch.atan2(sqrt_rn(xy), v[:, :, 2]))
    azimuth = torch.rad2deg(torch.atan2(v[:, :, 1], v[:, :, 0]))
    azimuth += 180
    return radius, polar, azimuth


def ref_bins(angle, full_turn, n):
    """Official find_sector_: subtract every reference, negatives -> unit + 1, / unit, arg-min."""
    refs = torch.arange(0, full_turn, int(full_turn / n), device=angle.device)
    unit = full_turn / n
    diff = angle[:, :, None].repeat(1, 1, len(refs)) - refs[None, None, :]
    diff[diff < 0] = unit + 1
    diff = diff / unit
    return torch.min(diff, 2).indices, len(refs)


def ref_sphere_coords(points, centers, n_azimuth=5, n_polar=5):
    radius, polar, azimuth = ref_spherical(points, centers)
    h, _ = ref_bins(polar, 180, n_polar)
    w, num_w = ref_bins(azimuth, 360, n_azimuth)
    return radius, h * num_w + w


def ref_rays(points, centers, masks, empty, n_azimuth=5, n_polar=5):
    """Scatter each point's radius into its sector column of a [Q, S, K] bag filled with `empty`
    (unmasked points write `empty`), then max over points."""
    radius, sector = ref_sphere_coords(points, centers, n_azimuth, n_polar)
    q, s = masks.shape
    k = n_azimuth * n_polar
    if s == 0:
        return torch.full((q, k), empty, device=points.device)
    bag = torch.full((q, s, k), empty, device=points.device)
    bag.scatter_(2, sector[:, :, None], torch.where(masks, radius, empty)[:, :, None])
    return bag.max(1).values


def ref_mask2ray(points, masks):
    """Official mask2ray: centre = mean of masked points (0 if none), radius 0 outside the mask, bag
    of 0.01, max over points, clamp to [0.01, 10]. Returns (rays [Q, 25], centres [Q, 3])."""
    counts = masks.sum(1, keepdim=True).float()
    sums = masks.float() @ points
    centers = torch.where(counts > 0, sums / counts.clamp(min=1), torch.zeros(()))
    radius, sector = ref_sphere_coords(points, centers)
    radius = torch.where(masks, radius, torch.zeros(()))
    bag = torch.full((masks.shape[0], masks.shape[1], 25), 1e-2)
    bag.scatter_(2, sector[:, :, None], radius[:, :, None])
    return torch.clamp(bag.max(1).values, 1e-2, 10), centers


def ref_assemble(points, centers, rays, rpm):
    """Official mask_assembly after the clamp: r -= rpm (find_sector's migration), then
    ray - (r - rpm) >= 0."""
    radius, sector = ref_sphere_coords(points, centers)
    radius = radius - rpm
    ray = rays.gather(1, sector)
    migrated = radius - rpm
    return (ray - migrated) >= 0


def random_scene(q, s, scale=2.0):
    points = (torch.rand(s, 3) - 0.5) * 2 * scale
    centers = (torch.rand(q, 3) - 0.5) * 2 * scale
    return points, centers


def float_neighbours(x: float, n: int) -> torch.Tensor:
    """The 2n+1 consecutive float32 values centred on float32(x)."""
    bits = torch.tensor([x], dtype=torch.float32).view(torch.int32)
    return (bits + torch.arange(-n, n + 1, dtype=torch.int32)).view(torch.float32)


SIZES = [(1, 1), (3, 17), (16, 500), (40, 2000)]

SPEC_TABLE = [  # spec §4.3 / App. C.1: v, r, sector
    ((1, 0, 0), 1.0, 12),
    ((-1, 0, 0), 1.0, 14),
    ((-1, -0.0, 0), 1.0, 10),
    ((0, 1, 0), 1.0, 13),
    ((0, -1, 0), 1.0, 11),
    ((0, 0, 1), 1.0, 2),
    ((0, 0, -1), 1.0, 22),
    ((1, 1, 1), math.sqrt(3), 8),
    ((0.3, -0.2, 0.5), 0.616, 2),
    ((-0.4, 0.1, -0.2), 0.458, 19),
    ((0, 0, 0), 0.0, 2),
]


# ----------------------------------------------------------------------------- sphere_coords
@pytest.mark.parametrize("q,s", SIZES)
def test_sphere_coords_matches_official_formulation(q, s):
    points, centers = random_scene(q, s)
    radius, sector = sphere_coords(points, centers)
    ref_r, ref_s = ref_sphere_coords(points, centers)
    assert radius.dtype == torch.float32 and sector.dtype == torch.int64
    assert torch.equal(radius, ref_r)
    assert torch.equal(sector, ref_s)


@pytest.mark.parametrize("n_azimuth,n_polar", [(4, 3), (8, 6), (1, 1), (12, 9)])
def test_sphere_coords_other_grids_match_official_formulation(n_azimuth, n_polar):
    points, centers = random_scene(5, 300)
    _, sector = sphere_coords(points, centers, n_azimuth, n_polar)
    _, ref_s = ref_sphere_coords(points, centers, n_azimuth, n_polar)
    assert torch.equal(sector, ref_s)
    assert int(sector.max()) < n_azimuth * n_polar


def test_sphere_coords_spec_table():
    v = torch.tensor([row[0] for row in SPEC_TABLE], dtype=torch.float32)
    radius, sector = sphere_coords(v, torch.zeros(1, 3))
    assert sector[0].tolist() == [row[2] for row in SPEC_TABLE]
    torch.testing.assert_close(radius[0], torch.tensor([row[1] for row in SPEC_TABLE]), atol=5e-4, rtol=0)


def test_sphere_coords_point_at_centre_is_radius_zero_sector_of_theta0_phi180():
    c = torch.tensor([[0.25, -1.5, 3.0]])
    for n_azimuth, expected in ((5, 2), (6, 3), (8, 4)):
        radius, sector = sphere_coords(c.clone(), c, n_azimuth, 5)
        assert radius.item() == 0.0 and sector.item() == expected


def test_sphere_coords_zero_y_at_180_degrees_follows_sign_of_zero():
    # phi = atan2(+-0, x<0) = +-pi: +0.0 lands in the last azimuth bin, -0.0 in the first.
    points = torch.tensor([[-1.0, 0.0, 0.3], [-1.0, -0.0, 0.3], [-2.0, 0.0, -1.0], [-2.0, -0.0, -1.0]])
    _, sector = sphere_coords(points, torch.zeros(1, 3))
    assert (sector[0] % 5).tolist() == [4, 0, 4, 0]
    assert torch.equal(sector, ref_sphere_coords(points, torch.zeros(1, 3))[1])


def test_sphere_coords_zero_y_from_equal_coordinates_is_positive_zero():
    # v_y = p_y - c_y = +0.0 when they are equal, whatever their sign: last azimuth bin.
    points = torch.tensor([[-1.0, -0.75, 0.2]])
    centers = torch.tensor([[0.0, -0.75, 0.0]])
    _, sector = sphere_coords(points, centers)
    assert sector.item() % 5 == 4


def test_sphere_coords_negative_zero_coordinates_match_official_formulation():
    z = [0.0, -0.0]
    points = torch.tensor([[a, b, c] for a in z for b in z for c in z] + [[-0.0, 1.0, -0.0], [1.0, -0.0, -0.0]])
    radius, sector = sphere_coords(points, torch.zeros(1, 3))
    ref_r, ref_s = ref_sphere_coords(points, torch.zeros(1, 3))
    assert torch.equal(radius, ref_r) and torch.equal(sector, ref_s)
    assert sector[0, 7].item() == 20  # v = (-0, -0, -0): theta = atan2(+0, -0) = 180, phi = -180 + 180


@pytest.mark.parametrize("edge", [36, 72, 108, 144])
def test_sphere_coords_polar_bin_edges(edge):
    # Points whose polar angle lands exactly on an edge belong to the upper bin, their float
    # neighbours just below to the lower one, exactly as in the official arg-min.
    t = math.radians(edge)
    x = float_neighbours(math.sin(t), 400)
    points = torch.stack([x, torch.zeros_like(x), torch.full_like(x, math.cos(t))], 1)
    _, polar, _ = ref_spherical(points, torch.zeros(1, 3))
    on_edge = polar[0] == edge
    below = polar[0] < edge
    assert on_edge.any() and below.any()
    _, sector = sphere_coords(points, torch.zeros(1, 3))
    h = sector[0] // 5
    assert (h[on_edge] == edge // 36).all()
    assert (h[below] == edge // 36 - 1).all()
    assert torch.equal(sector, ref_sphere_coords(points, torch.zeros(1, 3))[1])


@pytest.mark.parametrize("edge", [72, 144, 216, 288])
def test_sphere_coords_azimuth_bin_edges(edge):
    p = math.radians(edge - 180)
    y = float_neighbours(math.sin(p), 400)
    points = torch.stack([torch.full_like(y, math.cos(p)), y, torch.full_like(y, 0.1)], 1)
    _, _, azimuth = ref_spherical(points, torch.zeros(1, 3))
    on_edge = azimuth[0] == edge
    below = azimuth[0] < edge
    assert on_edge.any() and below.any()
    _, sector = sphere_coords(points, torch.zeros(1, 3))
    w = sector[0] % 5
    assert (w[on_edge] == edge // 72).all()
    assert (w[below] == edge // 72 - 1).all()
    assert torch.equal(sector, ref_sphere_coords(points, torch.zeros(1, 3))[1])


def test_sphere_coords_angles_just_around_bin_edges_match_official_formulation():
    # Directions within 0.05 degrees of the polar and azimuth edges, on both sides: the kernel
    # decides most bins from a cheap angle estimate and must agree with the official sequence.
    n = 4000
    polar = torch.tensor([36.0, 72.0, 108.0, 144.0]).repeat(n // 4) + (torch.rand(n) - 0.5) * 0.1
    azimuth = torch.tensor([72.0, 144.0, 216.0, 288.0])[torch.randint(0, 4, (n,))] + (torch.rand(n) - 0.5) * 0.1
    t, p = torch.deg2rad(polar.double()), torch.deg2rad(azimuth.double() - 180)
    points = torch.stack([t.sin() * p.cos(), t.sin() * p.sin(), t.cos()], 1).float() * 3
    centers = torch.tensor([[0.0, 0.0, 0.0], [1e-3, -2e-3, 0.0]])
    assert torch.equal(sphere_coords(points, centers)[1], ref_sphere_coords(points, centers)[1])


def test_sphere_coords_axis_directions_on_bin_edges():
    # phi = 0 (+x ... -y side), +-90, and theta = 0/90/180 hit exact references.
    points = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 2.0],
                           [0.0, 0.0, -2.0], [3.0, 0.0, 3.0], [0.0, -3.0, -3.0]])
    for grid in ((4, 2), (4, 4), (6, 6), (5, 5)):
        assert torch.equal(sphere_coords(points, torch.zeros(1, 3), *grid)[1],
                           ref_sphere_coords(points, torch.zeros(1, 3), *grid)[1])


def test_sphere_coords_same_with_1_and_2_threads():
    points, centers = random_scene(33, 1500)
    with num_threads(1):
        a = sphere_coords(points, centers)
    with num_threads(2):
        b = sphere_coords(points, centers)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("q,s", [(0, 10), (4, 0), (0, 0)])
def test_sphere_coords_empty_inputs(q, s):
    points, centers = random_scene(q, s)
    radius, sector = sphere_coords(points, centers)
    assert radius.shape == (q, s) and sector.shape == (q, s) and sector.dtype == torch.int64


# ----------------------------------------------------------------------------- rays_from_masks
@pytest.mark.parametrize("q,s", SIZES)
@pytest.mark.parametrize("density", [0.05, 0.5])
def test_rays_from_masks_matches_official_formulation(q, s, density):
    points, centers = random_scene(q, s)
    masks = torch.rand(q, s) < density
    rays = rays_from_masks(points, centers, masks)
    assert rays.shape == (q, 25) and rays.dtype == torch.float32
    assert torch.equal(rays, ref_rays(points, centers, masks, 1e-6))


def test_rays_from_masks_other_grid_matches_official_formulation():
    points, centers = random_scene(6, 800)
    masks = torch.rand(6, 800) < 0.3
    rays = rays_from_masks(points, centers, masks, n_azimuth=8, n_polar=4, empty_value=0.5)
    assert torch.equal(rays, ref_rays(points, centers, masks, 0.5, 8, 4))


def test_rays_from_masks_is_mask2ray_with_empty_value_001_and_clamp():
    points, _ = random_scene(0, 600)
    masks = torch.rand(10, 600) < 0.2
    masks[3] = False  # empty mask: centre 0, every ray 0.01
    ref, centers = ref_mask2ray(points, masks)
    rays = rays_from_masks(points, centers, masks, empty_value=0.01).clamp(max=10)
    assert torch.equal(rays, ref)


def test_rays_from_masks_is_ground_truth_rays_of_an_instance():
    # get_sph_gt: only the instance's points, centred on their mean, bag of 1e-6 (spec §4.4).
    points, _ = random_scene(0, 300)
    inst = points[:120]
    centroid = inst.mean(0, keepdim=True)
    radius, sector = ref_sphere_coords(inst, centroid)
    bag = torch.full((120, 25), 1e-6)
    bag[torch.arange(120), sector[0]] = radius[0]
    ref = bag.max(0).values
    masks = torch.zeros(1, 300, dtype=torch.bool)
    masks[0, :120] = True
    assert torch.equal(rays_from_masks(points, centroid, masks)[0], ref)


def test_rays_from_masks_empty_mask_gives_empty_value_everywhere():
    points, centers = random_scene(3, 50)
    rays = rays_from_masks(points, centers, torch.zeros(3, 50, dtype=torch.bool), empty_value=0.25)
    assert torch.equal(rays, torch.full((3, 25), 0.25))


def test_rays_from_masks_all_true_is_furthest_point_per_sector():
    points, centers = random_scene(2, 400)
    rays = rays_from_masks(points, centers, torch.ones(2, 400, dtype=torch.bool), empty_value=0.0)
    radius, sector = sphere_coords(points, centers)
    for q in range(2):
        for k in range(25):
            sel = radius[q][sector[q] == k]
            assert rays[q, k].item() == (sel.max().item() if sel.numel() else 0.0)


def test_rays_from_masks_floor_applies_when_every_point_shares_a_sector():
    # A one-voxel instance centred on itself: radius 0 in sector 2. The official scatter leaves
    # that sector at 0 (no other point writes the floor there); we always apply the floor.
    p = torch.tensor([[1.0, 2.0, 3.0]])
    rays = rays_from_masks(p, p.clone(), torch.ones(1, 1, dtype=torch.bool))
    assert torch.equal(rays, torch.full((1, 25), 1e-6))


def test_rays_from_masks_negative_empty_value_keeps_empty_sectors():
    points, centers = random_scene(2, 30)
    masks = torch.rand(2, 30) < 0.3
    rays = rays_from_masks(points, centers, masks, empty_value=-1.0)
    assert torch.equal(rays, ref_rays(points, centers, masks, -1.0))


def test_rays_from_masks_same_with_1_and_2_threads():
    points, centers = random_scene(33, 1500)
    masks = torch.rand(33, 1500) < 0.4
    with num_threads(1):
        a = rays_from_masks(points, centers, masks)
    with num_threads(2):
        b = rays_from_masks(points, centers, masks)
    assert torch.equal(a, b)


@pytest.mark.parametrize("q,s", [(0, 10), (4, 0), (0, 0)])
def test_rays_from_masks_empty_inputs(q, s):
    points, centers = random_scene(q, s)
    rays = rays_from_masks(points, centers, torch.ones(q, s, dtype=torch.bool), empty_value=0.5)
    assert torch.equal(rays, torch.full((q, 25), 0.5))


# ----------------------------------------------------------------------------- assemble_masks
def random_assembly(q, s):
    points, centers = random_scene(q, s)
    rays = torch.rand(q, 25) * 2.5
    rpm = torch.randn(q, s) * 0.3
    return points, centers, rays, rpm


@pytest.mark.parametrize("q,s", SIZES)
def test_assemble_masks_matches_official_formulation(q, s):
    points, centers, rays, rpm = random_assembly(q, s)
    masks = assemble_masks(points, centers, rays, rpm)
    assert masks.dtype == torch.bool and masks.shape == (q, s)
    assert torch.equal(masks, ref_assemble(points, centers, rays, rpm))


def test_assemble_masks_double_subtraction_rounding_matches_official():
    # Where r - 2x rounds above the official (r - x) - x, a ray equal to the official migrated
    # radius keeps the point inside only with the official rounding order.
    points, centers = random_scene(8, 3000)
    radius, sector = ref_sphere_coords(points, centers)
    rpm = torch.rand(8, 3000) * 0.7
    official = (radius - rpm) - rpm
    differs = (radius - 2 * rpm) > official
    rays = torch.full((8, 25), -5.0)
    chosen = torch.zeros(8, 3000, dtype=torch.bool)
    for q in range(8):
        for k in range(25):
            idx = ((sector[q] == k) & differs[q]).nonzero()
            if len(idx):
                s = idx[0, 0]
                rays[q, k] = official[q, s]
                chosen[q, s] = True
    assert chosen.sum() > 50
    masks = assemble_masks(points, centers, rays, rpm)
    assert masks[chosen].all()
    assert torch.equal(masks, ref_assemble(points, centers, rays, rpm))


def test_assemble_masks_comparison_is_non_strict():
    points, centers = random_scene(3, 200)
    radius, sector = ref_sphere_coords(points, centers)
    rays = torch.zeros(3, 25).scatter_reduce(1, sector, radius, "amax", include_self=False)
    masks = assemble_masks(points, centers, rays, torch.zeros(3, 200))
    assert masks.all()  # the furthest point of each sector sits exactly on its ray


def test_assemble_masks_large_positive_migration_puts_everything_inside():
    points, centers, rays, _ = random_assembly(4, 300)
    assert assemble_masks(points, centers, rays, torch.full((4, 300), 100.0)).all()


def test_assemble_masks_large_negative_migration_puts_everything_outside():
    points, centers, rays, _ = random_assembly(4, 300)
    assert not assemble_masks(points, centers, rays, torch.full((4, 300), -100.0)).any()


def test_assemble_masks_scale_one_subtracts_migration_once():
    points, centers, rays, rpm = random_assembly(5, 700)
    radius, sector = ref_sphere_coords(points, centers)
    ref = rays.gather(1, sector) >= radius - rpm
    assert torch.equal(assemble_masks(points, centers, rays, rpm, migration_scale=1.0), ref)


def test_assemble_masks_other_grid_matches_sector_of_sphere_coords():
    points, centers = random_scene(4, 500)
    rays = torch.rand(4, 24) * 2
    rpm = torch.randn(4, 500) * 0.2
    radius, sector = sphere_coords(points, centers, 6, 4)
    ref = (rays.gather(1, sector) - ((radius - rpm) - rpm)) >= 0
    assert torch.equal(assemble_masks(points, centers, rays, rpm, n_azimuth=6, n_polar=4), ref)


def test_assemble_masks_same_with_1_and_2_threads():
    points, centers, rays, rpm = random_assembly(33, 1500)
    with num_threads(1):
        a = assemble_masks(points, centers, rays, rpm)
    with num_threads(2):
        b = assemble_masks(points, centers, rays, rpm)
    assert torch.equal(a, b)


@pytest.mark.parametrize("q,s", [(0, 10), (4, 0), (0, 0)])
def test_assemble_masks_empty_inputs(q, s):
    points, centers, rays, rpm = random_assembly(q, s)
    masks = assemble_masks(points, centers, rays, rpm)
    assert masks.shape == (q, s) and masks.dtype == torch.bool


def test_inputs_requiring_grad_are_detached():
    points, centers, rays, rpm = (t.requires_grad_() for t in random_assembly(3, 40))
    radius, _ = sphere_coords(points, centers)
    rays_out = rays_from_masks(points, centers, torch.ones(3, 40, dtype=torch.bool))
    masks = assemble_masks(points, centers, rays, rpm)
    assert not (radius.requires_grad or rays_out.requires_grad or masks.requires_grad)
    assert torch.equal(masks, ref_assemble(points.detach(), centers.detach(), rays.detach(), rpm.detach()))


# ----------------------------------------------------------------------------- bad inputs
def test_float64_points_raise_type_error_naming_points():
    with pytest.raises(TypeError, match=r"points must have dtype float32 \(float16/bfloat16 are cast to it\), got float64"):
        sphere_coords(torch.zeros(4, 3, dtype=torch.float64), torch.zeros(1, 3))


def test_int_centers_raise_type_error_naming_centers():
    with pytest.raises(TypeError, match="centers must have dtype float32"):
        rays_from_masks(torch.zeros(4, 3), torch.zeros(1, 3, dtype=torch.int64), torch.ones(1, 4, dtype=torch.bool))


def test_wrong_points_shape_raises_value_error():
    with pytest.raises(ValueError, match=r"points must have shape \[\*, 3\], got \[4, 2\]"):
        sphere_coords(torch.zeros(4, 2), torch.zeros(1, 3))


def test_non_bool_masks_raise_type_error():
    with pytest.raises(TypeError, match="masks must have dtype bool, got float32"):
        rays_from_masks(torch.zeros(4, 3), torch.zeros(2, 3), torch.ones(2, 4))


def test_wrong_masks_shape_raises_value_error():
    with pytest.raises(ValueError, match=r"masks must have shape \[2, 4\], got \[4, 2\]"):
        rays_from_masks(torch.zeros(4, 3), torch.zeros(2, 3), torch.ones(4, 2, dtype=torch.bool))


def test_rays_with_wrong_sector_count_raise_value_error():
    with pytest.raises(ValueError, match=r"rays must have shape \[2, 25\], got \[2, 28\]"):
        assemble_masks(torch.zeros(4, 3), torch.zeros(2, 3), torch.ones(2, 28), torch.zeros(2, 4))


def test_wrong_migration_shape_raises_value_error():
    with pytest.raises(ValueError, match=r"migration must have shape \[2, 4\], got \[4, 2\]"):
        assemble_masks(torch.zeros(4, 3), torch.zeros(2, 3), torch.ones(2, 25), torch.zeros(4, 2))


def test_float64_migration_raises_type_error():
    with pytest.raises(TypeError, match="migration must have dtype float32"):
        assemble_masks(torch.zeros(4, 3), torch.zeros(2, 3), torch.ones(2, 25), torch.zeros(2, 4, dtype=torch.float64))


@pytest.mark.parametrize("name", ["points", "centers"])
def test_nan_coordinates_raise_value_error(name):
    args = {"points": torch.zeros(4, 3), "centers": torch.zeros(2, 3)}
    args[name][1, 2] = math.nan
    with pytest.raises(ValueError, match=f"{name} contains NaN or inf"):
        sphere_coords(**args)


def test_inf_migration_raises_value_error():
    rpm = torch.zeros(2, 4)
    rpm[1, 0] = math.inf
    with pytest.raises(ValueError, match="migration contains NaN or inf"):
        assemble_masks(torch.zeros(4, 3), torch.zeros(2, 3), torch.ones(2, 25), rpm)


def test_nan_rays_raise_value_error():
    rays = torch.ones(2, 25)
    rays[0, 3] = math.nan
    with pytest.raises(ValueError, match="rays contains NaN or inf"):
        assemble_masks(torch.zeros(4, 3), torch.zeros(2, 3), rays, torch.zeros(2, 4))


@pytest.mark.parametrize("n_azimuth,n_polar,name", [(7, 5, "n_azimuth"), (0, 5, "n_azimuth"), (5, 7, "n_polar"),
                                                    (5, 360, "n_polar"), (720, 5, "n_azimuth")])
def test_grid_not_dividing_the_circle_raises_value_error(n_azimuth, n_polar, name):
    with pytest.raises(ValueError, match=f"{name} must be a positive divisor"):
        sphere_coords(torch.zeros(4, 3), torch.zeros(1, 3), n_azimuth, n_polar)


def test_non_int_grid_raises_type_error():
    with pytest.raises(TypeError, match="n_polar must be an int, got float"):
        rays_from_masks(torch.zeros(4, 3), torch.zeros(1, 3), torch.ones(1, 4, dtype=torch.bool), 5, 5.0)


def test_nan_empty_value_raises_value_error():
    with pytest.raises(ValueError, match="empty_value must be finite"):
        rays_from_masks(torch.zeros(4, 3), torch.zeros(1, 3), torch.ones(1, 4, dtype=torch.bool), empty_value=math.nan)


def test_non_number_migration_scale_raises_type_error():
    with pytest.raises(TypeError, match="migration_scale must be a float, got str"):
        assemble_masks(torch.zeros(4, 3), torch.zeros(1, 3), torch.ones(1, 25), torch.zeros(1, 4), "2")


def test_tensors_on_different_devices_raise_value_error():
    with pytest.raises(ValueError, match="same device"):
        sphere_coords(torch.zeros(4, 3), torch.zeros(1, 3, device="meta"))


def test_kernel_rejects_bad_grid_when_called_directly():
    with pytest.raises(RuntimeError, match="n_azimuth must be a divisor of 360"):
        torch.ops.sphmask.sphere_coords(torch.zeros(4, 3), torch.zeros(1, 3), 7, 5)


# ----------------------------------------------------------------------------- CUDA
@requires_cuda
def test_cuda_sphere_coords_matches_official_formulation_on_cuda():
    points, centers = (t.to("cuda") for t in random_scene(50, 20000))
    radius, sector = sphere_coords(points, centers)
    ref_r, ref_s = ref_sphere_coords(points, centers)
    assert torch.equal(radius, ref_r) and torch.equal(sector, ref_s)


@requires_cuda
def test_cuda_rays_from_masks_matches_official_formulation_on_cuda():
    points, centers = (t.to("cuda") for t in random_scene(40, 20000))
    masks = torch.rand(40, 20000, device="cuda") < 0.3
    rays = rays_from_masks(points, centers, masks)
    assert torch.equal(rays, ref_rays(points, centers, masks, 1e-6))


@requires_cuda
def test_cuda_assemble_masks_matches_official_formulation_on_cuda():
    points, centers, rays, rpm = (t.to("cuda") for t in random_assembly(50, 20000))
    masks = assemble_masks(points, centers, rays, rpm)
    assert torch.equal(masks, ref_assemble(points, centers, rays, rpm))
