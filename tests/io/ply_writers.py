"""PLY files laid out the way other writers lay them out (tests only; sphmask's own writer is
sphmask.io.write_ply). Header, then raw records, so any property type, list type and byte order
can be produced, including broken ones."""
import numpy as np

_NAMES = {"i1": "char", "u1": "uchar", "i2": "short", "u2": "ushort", "i4": "int", "u4": "uint",
          "f4": "float", "f8": "double"}


def write_raw_ply(path, vertex, faces=None, count_type="u1", index_type="i4", index_name="vertex_indices",
                  face_extra=None, endian="<", text=False, comments=()):
    """Write ``vertex`` (ordered mapping name -> 1-D array, its dtype is the PLY type) and ``faces``
    (a list of index sequences of any lengths) with the given list count / index types.

    ``face_extra``: ordered mapping name -> 1-D array of per-face scalar properties.
    """
    names = list(vertex)
    n = len(vertex[names[0]])
    fmt = "ascii" if text else ("binary_little_endian" if endian == "<" else "binary_big_endian")
    head = ["ply", f"format {fmt} 1.0", *[f"comment {c}" for c in comments], f"element vertex {n}"]
    head += [f"property {_NAMES[np.asarray(vertex[k]).dtype.str[1:]]} {k}" for k in names]
    face_extra = dict(face_extra or {})
    if faces is not None:
        head += [f"element face {len(faces)}", f"property list {_NAMES[count_type]} {_NAMES[index_type]} {index_name}"]
        head += [f"property {_NAMES[np.asarray(v).dtype.str[1:]]} {k}" for k, v in face_extra.items()]
    head.append("end_header")
    out = ("\n".join(head) + "\n").encode("ascii")
    if text:
        rows = [" ".join(repr(np.asarray(vertex[k])[i].item()) for k in names) for i in range(n)]
        for j, f in enumerate(faces or []):
            extra = [repr(np.asarray(v)[j].item()) for v in face_extra.values()]
            rows.append(" ".join([str(len(f)), *[repr(x) for x in f], *extra]))
        out += ("\n".join(rows) + "\n").encode("ascii")
    else:
        rec = np.empty(n, dtype=[(k, endian + np.asarray(vertex[k]).dtype.str[1:]) for k in names])
        for k in names:
            rec[k] = vertex[k]
        out += rec.tobytes()
        for j, f in enumerate(faces or []):
            out += np.array([len(f)], dtype=endian + count_type).tobytes()
            out += np.asarray(f).astype(endian + index_type).tobytes()
            for v in face_extra.values():
                out += np.asarray(v)[j:j + 1].astype(endian + np.asarray(v).dtype.str[1:]).tobytes()
    with open(path, "wb") as fh:
        fh.write(out)
    return path


def square(dtype="f4"):
    """Four vertices of a unit square (z = 0) and its two triangles."""
    xyz = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=dtype)
    return {"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]}, [[0, 1, 2], [0, 2, 3]]
