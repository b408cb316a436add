"""``build_model``: a :class:`~sphmask.models.SphericalMask` from a YAML config."""
from typing import Any, Iterable, Mapping, Optional, Union

from sphmask.config import get_section, instantiate, load_config
from sphmask.models.spherical_mask import SphericalMask


def build_model(cfg: Union[str, Mapping[str, Any]], overrides: Optional[Iterable[str]] = None) -> SphericalMask:
    """Build the model from the ``model:`` section of a config.

    Args:
        cfg: a config path (``configs/scannetv2/spherical_mask.yaml``) or an already loaded
            config mapping with a top-level ``model`` section.
        overrides: ``"model.channels=16"``-style overrides, only with a path.
    Raises:
        sphmask.config.ConfigError: unknown or missing keys, naming the section and valid keys.
    """
    if isinstance(cfg, str):
        cfg = load_config(cfg, overrides)
    elif overrides:
        raise ValueError("overrides are only applied when cfg is a path; apply them to the mapping instead")
    return instantiate(SphericalMask, get_section(cfg, "model"), "model")
