"""A job's life (status, errors, signals), the run dir check, a stopped sweep, and the launchers (sequential, gpus)."""
