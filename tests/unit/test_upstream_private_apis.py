"""The private Lightning, Hydra, Ray-launcher and torch APIs the project relies on, pinned.

Each of these is a name with a leading underscore (or a module under ``_internal``) that an upgrade may change
without notice. Checked against lightning 2.6.6, hydra-core 1.3.8, hydra-ray-launcher 1.2.2 and torch 2.14.1: when
an upgrade breaks one, this file fails first, naming the project file that needs a look, instead of a sweep failing
somewhere deep.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

# (module, attribute path, the project file that uses it)
PRIVATE_APIS = [
    ("lightning.fabric.strategies.launchers.subprocess_script", "_basic_subprocess_cmd",
     "colorization/distributed/launcher.py"),
    ("lightning.fabric.utilities.distributed", "_set_num_threads_if_needed", "colorization/distributed/launcher.py"),
    ("lightning.pytorch.strategies.launchers.subprocess_script", "_SubprocessScriptLauncher._call_children_scripts",
     "colorization/distributed/launcher.py"),
    ("lightning.pytorch.strategies.launchers.subprocess_script",
     "_SubprocessScriptLauncher._check_can_spawn_children", "colorization/distributed/launcher.py"),
    ("lightning.pytorch.strategies", "DDPStrategy._configure_launcher", "colorization/distributed/strategy.py"),
    ("torch.distributed.distributed_c10d", "_abort_process_group", "colorization/distributed/strategy.py"),
    ("lightning.pytorch.loggers.csv_logs", "ExperimentWriter._check_log_dir_exists",
     "colorization/training/csv_logger.py"),
    ("lightning.pytorch.trainer.connectors.checkpoint_connector", "_CheckpointConnector._hpc_resume_path",
     "colorization/training/resume.py"),
    ("hydra._internal.core_plugins.basic_launcher", "BasicLauncher", "colorization/runs/sequential_launcher.py"),
    ("hydra_plugins.hydra_ray_launcher._launcher_util", "launch_job_on_ray", "colorization/runs/gpu_launcher.py"),
]


def _resolve(module: str, path: str) -> object:
    obj: object = importlib.import_module(module)
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize(("module", "path", "user"), PRIVATE_APIS, ids=[p for _, p, _ in PRIVATE_APIS])
def test_private_api_is_still_there(module, path, user):
    try:
        _resolve(module, path)
    except (ImportError, AttributeError) as e:
        pytest.fail(f"{module}.{path} is gone ({e}); {user} relies on it: adapt it to the new version")


def test_private_signatures_the_project_calls():
    """The arguments the project passes; a renamed or removed parameter fails here."""
    from hydra_plugins.hydra_ray_launcher._launcher_util import launch_job_on_ray
    from lightning.fabric.strategies.launchers.subprocess_script import _basic_subprocess_cmd
    from lightning.fabric.utilities.distributed import _set_num_threads_if_needed
    from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

    assert list(inspect.signature(_basic_subprocess_cmd).parameters) == []
    assert "num_processes" in inspect.signature(_set_num_threads_if_needed).parameters
    assert list(inspect.signature(_SubprocessScriptLauncher.__init__).parameters)[1:4] == [
        "cluster_environment", "num_processes", "num_nodes"]
    assert list(inspect.signature(launch_job_on_ray).parameters) == [
        "hydra_context", "ray_remote", "sweep_config", "task_function", "singleton_state"]


def test_hpc_resume_path_is_an_attribute_of_the_trainers_connector():
    import lightning as L

    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu")
    assert hasattr(trainer._checkpoint_connector, "_hpc_resume_path")


def test_the_csv_writer_keeps_the_attributes_the_resumable_logger_sets(tmp_path):
    from lightning.pytorch.loggers import CSVLogger

    logger = CSVLogger(tmp_path)
    for name in ("_experiment", "_fs", "root_dir", "log_dir"):
        assert hasattr(logger, name), f"CSVLogger.{name}: colorization/training/csv_logger.py sets or reads it"
