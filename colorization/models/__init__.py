"""Model registry: `create_model(name, out_channels, **kw)` builds vanilla | resnet | unet.

Every model maps L `[B,1,H,W]` in [-1,1] to `[B,out_channels,H,W]` at the input size (any size: the input is
padded to the encoder stride and the output cropped back), and exposes `encoder`, `decoder`, `head`,
`encoder_parameters()` / `decoder_parameters()` for discriminative learning rates, and `set_encoder_frozen`.
"""

from . import resnet, unet, vanilla  # noqa: F401  (registers the models)
from .blocks import EncoderDecoder, set_encoder_frozen
from .encoders import (
    EFFICIENTNET_LITE0_PACKAGE,
    WeightsUnavailableError,
    create_encoder,
    fold_input_conv,
    load_efficientnet_lite0_package_state_dict,
    load_encoder_weights,
    load_state_dict_file,
)
from .registry import create_model, list_models, register_model

__all__ = [
    "EFFICIENTNET_LITE0_PACKAGE",
    "EncoderDecoder",
    "WeightsUnavailableError",
    "create_encoder",
    "create_model",
    "fold_input_conv",
    "list_models",
    "load_efficientnet_lite0_package_state_dict",
    "load_encoder_weights",
    "load_state_dict_file",
    "register_model",
    "set_encoder_frozen",
]
