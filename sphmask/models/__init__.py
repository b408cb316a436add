"""The Spherical Mask network, its training losses and its inference (docs/model.md)."""
from sphmask.models.build import build_model, check_config, load_checked_config
from sphmask.models.settings import InferenceSettings, InstanceHeadSettings, LossSettings
from sphmask.models.spherical_mask import BACKBONE_MODULES, SphericalMask

__all__ = ["BACKBONE_MODULES", "InferenceSettings", "InstanceHeadSettings", "LossSettings", "SphericalMask",
           "build_model", "check_config", "load_checked_config"]
