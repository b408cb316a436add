"""Read back what sphmask.viz.write_viewer put into a page: its metadata and decoded arrays."""
import base64
import json
import re
import zlib

import numpy as np


def read_page(path: str) -> dict:
    """``{"meta": dict, "arrays": {name: ndarray}, "html": str}`` of a viewer page."""
    html = open(path, encoding="utf-8").read()
    meta = json.loads(re.search(r'<script type="application/json" id="sphmask-meta">(.*?)</script>', html, re.S)
                      .group(1))
    arrays = {}
    for name, spec in meta["arrays"].items():
        text = re.search(f'<script type="application/octet-stream" id="{spec["element"]}">(.*?)</script>', html,
                         re.S).group(1)
        dtype = np.dtype(spec["dtype"]).newbyteorder("<")
        arrays[name] = np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=dtype)
        assert arrays[name].size == spec["length"], name
    return {"meta": meta, "arrays": arrays, "html": html}
