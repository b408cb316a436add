"""Spherical ops: sphmask's fused kernels against the official tensor formulation in plain PyTorch.

For Q = 256 query centres and S points (each size in ``sizes`` is S), two cases:

* ``sphere_coords``: radius and sector of every (query, point) pair;
* ``assemble_masks``: radius, sector, ray gather and the migrated comparison (spec §5.2).

The alternative restates the official code's tensor pipeline (``cartesian_to_spherical``,
``find_sector_``, ``mask_assembly``): ``[Q, S, 3]`` offsets, ``[Q, S]`` radius and angles, a
``[Q, S, R]`` difference to every reference angle and its arg-min, then gather and compare. It
leaves out the ``[Q, S, 25]`` float ``points_bag`` that the official ``find_sector_`` also
allocates and the assembly never reads (another 6.4 GB at S = 250k), so the official code costs
more memory than this baseline.
"""
import torch

from _common import indoor_scene, row

GROUP = "sphere"
NUM_QUERIES = 256
ALT = "plain PyTorch (official formulation)"


def _bins(angle, full_turn, n):
    refs = torch.arange(0, full_turn, int(full_turn / n), device=angle.device)
    unit = full_turn / n
    diff = angle[:, :, None] - refs[None, None, :]
    diff[diff < 0] = unit + 1
    return torch.min(diff / unit, 2).indices


def torch_sphere_coords(points, centers, n_azimuth=5, n_polar=5):
    """Official tensor formulation of (radius, sector), ``[Q, S]`` each."""
    v = points[None, :, :] - centers[:, None, :]
    xy = v[:, :, 0] ** 2 + v[:, :, 1] ** 2
    radius = torch.sqrt(xy + v[:, :, 2] ** 2)
    polar = torch.rad2deg(torch.atan2(torch.sqrt(xy), v[:, :, 2]))
    azimuth = torch.rad2deg(torch.atan2(v[:, :, 1], v[:, :, 0])) + 180
    return radius, _bins(polar, 180, n_polar) * n_azimuth + _bins(azimuth, 360, n_azimuth)


def torch_assemble_masks(points, centers, rays, migration):
    """Official mask assembly after the clamp: ``ray - ((r - rpm) - rpm) >= 0``, ``[Q, S]`` bool."""
    radius, sector = torch_sphere_coords(points, centers)
    return (rays.gather(1, sector) - ((radius - migration) - migration)) >= 0


def _inputs(num_points, seed=0):
    xyz, _ = indoor_scene(num_points, seed)
    points = torch.from_numpy(xyz)
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(num_points, generator=g)[:NUM_QUERIES]
    centers = points[pick] + 0.05 * torch.randn(len(pick), 3, generator=g)
    rays = 0.01 + 2.0 * torch.rand(len(pick), 25, generator=g)
    migration = 0.1 * torch.randn(len(pick), num_points, generator=g)
    return points, centers, rays, migration


def run(sizes, repeats):
    from sphmask.ops import assemble_masks, sphere_coords

    rows = []
    for num_points in sizes:
        points, centers, rays, migration = _inputs(num_points)
        q = len(centers)

        case = f"sphere_coords Q={q} S={num_points}"
        rows.append(row(GROUP, case, "sphmask", lambda: sphere_coords(points, centers), repeats, memory=True))
        rows.append(row(GROUP, case, ALT, lambda: torch_sphere_coords(points, centers), repeats, memory=True))

        case = f"assemble_masks Q={q} S={num_points}"
        ours = assemble_masks(points, centers, rays, migration)
        theirs = torch_assemble_masks(points, centers, rays, migration)
        agree = f"masks differ in {int((ours != theirs).sum())} of {ours.numel()} entries"
        del ours, theirs
        rows.append(row(GROUP, case, "sphmask", lambda: assemble_masks(points, centers, rays, migration),
                        repeats, memory=True))
        rows.append(row(GROUP, case, ALT, lambda: torch_assemble_masks(points, centers, rays, migration),
                        repeats, memory=True, note=agree))
    return rows
