"""Outside services a run reports to: W&B (the one place that imports ``wandb``)."""
