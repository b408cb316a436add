# %% [markdown]
# # Segmenting a point cloud from Python
#
# A notebook in script form (run it with `python docs/examples/segment_api.py [OUT_DIR]` from the
# checkout, or open it in an editor that understands `# %%` cells). It segments one of the bundled
# demo rooms with the bundled demo model (docs/demo_model.md), first as arrays, then as a file.
# The API is described in docs/segment.md.

# %%
import os
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import sphmask  # noqa: E402
from sphmask.io import extract_scene_archive, read_ply  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="segment_api_")
# The demo rooms ship as one archive; unpack it into a folder that is deleted when the script ends.
SCENES = tempfile.TemporaryDirectory(prefix="demo_scenes_")
extract_scene_archive(os.path.join(ROOT, "demo", "scenes.tar.xz"), SCENES.name)
ROOM = os.path.join(SCENES.name, "scans", "synth1001_00", "synth1001_00_vh_clean_2.ply")

# %% [markdown]
# ## The three lines
# The config comes from the checkpoint (sphmask training stores it; an official checkpoint needs
# `config="configs/scannetv2/spherical_mask.yaml"`). `device="auto"` picks CUDA when there is one.

# %%
seg = sphmask.Segmenter.from_checkpoint(os.path.join(ROOT, "demo", "spherical_mask_small.pth"), config=None,
                                        device="auto")
room = read_ply(ROOM)
points, colors = room.xyz, room.rgb           # float64 (N, 3) metres; colours 0..255 (N, 3)
result = seg(points, colors)
print(f"{result.num_points} points, {len(result.instances)} instances on {seg.device}")

# %% [markdown]
# ## What comes back
# `result.instances` is best score first; each is `{mask, label, label_id, score}` with a boolean
# mask over the input points (built when read: `inst.indices` is the cheap form).

# %%
for inst in result.instances[:8]:
    print(f"{inst['label']:>14s}  score {inst['score']:.3f}  {int(inst['mask'].sum()):6d} points")
confident = result.above(0.3)
print(f"{len(confident.instances)} instances score at least 0.3")
print("semantic classes per point:", np.bincount(result.semantic).nonzero()[0].tolist())
print("seconds per stage:", {k: round(v, 2) for k, v in result.timing.items()})

# %% [markdown]
# ## Writing the results
# The same files tools/segment.py writes: the NPZ (masks as point indices) and a PLY coloured by
# instance, each written atomically.

# %%
confident.to_npz(os.path.join(OUT, "room_instances.npz"))
confident.to_ply(os.path.join(OUT, "room_instances.ply"))
print("wrote", sorted(os.listdir(OUT)))

# %% [markdown]
# ## Torch tensors, meshes, files
# Tensors work as they are (on any device) and give the same instances as the arrays. With the
# mesh's faces the superpoints follow the mesh (ScanNet's segmentation), which is what reading the
# PLY file does.

# %%
def signature(res):
    return [(i.num_points, i["label_id"], round(i["score"], 5)) for i in res.instances]


again = seg(torch.from_numpy(points), torch.from_numpy(colors))
assert signature(again) == signature(result)
as_mesh = seg(points, colors, faces=room.faces)
from_file = seg.segment_file(ROOM)
assert signature(from_file) == signature(as_mesh)
print(f"tensors: same instances; mesh: {len(as_mesh.instances)} instances, the same from the file")
