"""The libraries' known-harmless messages are silenced by their text; anything else of theirs still shows."""

from __future__ import annotations

import logging
import warnings

from colorization.integrations.known_noise import silence_known_noise


def test_known_warnings_are_silenced_and_others_still_show():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_known_noise()
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", FutureWarning, stacklevel=1)
        warnings.warn("The `srun` command is available on your system but is not used. HINT: ...", UserWarning,
                      stacklevel=1)
        warnings.warn("something new in Lightning", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something new in Lightning"]


def test_the_litlogger_tip_is_dropped_and_other_info_kept(caplog, monkeypatch):
    silence_known_noise()
    lightning_log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    # Earlier in-process runs (Hydra's logging config, Lightning) may have disabled or detached this logger.
    monkeypatch.setattr(lightning_log, "disabled", False)
    monkeypatch.setattr(lightning_log, "propagate", True)
    with caplog.at_level(logging.INFO, logger=lightning_log.name):
        lightning_log.info("💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger]")
        lightning_log.info("GPU available: False, used: False")
    assert caplog.messages == ["GPU available: False, used: False"]
