"""Colorization metrics per image and averaged over a set (:mod:`.image`), and the same computed a strip of rows at
a time for big photos (:mod:`.strips`)."""

from colorization.metrics.image import (
    IMAGE_METRIC_KEYS,
    METRIC_KEYS,
    ColorizationMetrics,
    ab_auc,
    colorfulness,
    colorfulness_from_moments,
    gaussian_window,
    image_metrics,
    psnr,
    ssim,
    write_image_metrics,
)

__all__ = [
    "IMAGE_METRIC_KEYS",
    "METRIC_KEYS",
    "ColorizationMetrics",
    "ab_auc",
    "colorfulness",
    "colorfulness_from_moments",
    "gaussian_window",
    "image_metrics",
    "psnr",
    "ssim",
    "write_image_metrics",
]
