"""Model registry: `create_model(name, out_channels, **kw)` builds vanilla | resnet | encoder_decoder | unet.

Every model is a :class:`ColorizationNet`: it maps L `[B,1,H,W]` in [-1,1] to a raw head `[B,out_channels,H/s,W/s]`
(s = `output_stride`, the loss's: 1 = the input size; any size: the input is padded to the encoder stride and
the output cropped back, sizes rounded up), and exposes
`encoder`, `decoder`, `head`, `encoder_parameters()` / `decoder_parameters()` for discriminative learning rates,
and `set_encoder_frozen`. An architecture is named after its decoder and takes the encoder as an argument, as in
segmentation_models_pytorch: `create_model('unet', 2, encoder='tf_efficientnet_lite0')`.
"""

from . import encoder_decoder, unet, vanilla  # noqa: F401  (registers the models)
from .base import ColorizationNet, set_encoder_frozen
from .config import model_from_config, model_kwargs
from .encoder_decoder import EncoderDecoder
from .encoders import create_encoder
from .registry import create_model, list_models, register_model
from .timm_net import TimmEncoderNet
from .unet import UNet
from .vanilla import VanillaCNN
from .weights import (
    EFFICIENTNET_LITE0_PACKAGE,
    WeightsUnavailableError,
    fold_input_conv,
    load_efficientnet_lite0_package_state_dict,
    load_encoder_weights,
    load_state_dict_file,
)

__all__ = [
    "EFFICIENTNET_LITE0_PACKAGE",
    "ColorizationNet",
    "EncoderDecoder",
    "TimmEncoderNet",
    "UNet",
    "VanillaCNN",
    "WeightsUnavailableError",
    "create_encoder",
    "create_model",
    "fold_input_conv",
    "list_models",
    "load_efficientnet_lite0_package_state_dict",
    "load_encoder_weights",
    "load_state_dict_file",
    "model_from_config",
    "model_kwargs",
    "register_model",
    "set_encoder_frozen",
]

