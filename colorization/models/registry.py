"""Model registry, like timm's: register a factory under a name, build it by name from a config."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

ModelFactory = Callable[..., nn.Module]
_REGISTRY: dict[str, ModelFactory] = {}


def register_model(name: str) -> Callable[[ModelFactory], ModelFactory]:
    """Decorator: `@register_model('unet')` makes `create_model('unet', out_channels, **kw)` call the factory."""

    def decorator(factory: ModelFactory) -> ModelFactory:
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise ValueError(f"A model named {name!r} is already registered.")
        _REGISTRY[name] = factory
        return factory

    return decorator


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_REGISTRY)


def create_model(name: str, out_channels: int, output_stride: int = 1, **kwargs) -> nn.Module:
    """Build a registered model: L `[B,1,H,W]` in [-1,1] -> `[B,out_channels,ceil(H/s),ceil(W/s)]`, s =
    `output_stride`.

    `out_channels` is 2 for regression losses and 313 for the classification loss; any value works.
    `output_stride` (a power of two) is the loss's head resolution: 1 (full size) for regression, 4 for the
    classification loss; every model builds its head at that stride or coarser (then upsampled to it).
    Raises ValueError naming the choices for an unknown name.
    """
    if name not in _REGISTRY:
        raise ValueError(f"Unknown model {name!r}; choose one of: {', '.join(list_models())}.")
    return _REGISTRY[name](out_channels=out_channels, output_stride=output_stride, **kwargs)
