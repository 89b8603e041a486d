"""Logging for workflow steps: everything a step says, and its traceback, goes to the rule's log."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path


def run_logged(log_path: str, stage: Callable[..., None], **kwargs) -> None:
    """Run ``stage(**kwargs)`` with the ``twasnet`` logger writing to ``log_path``; an exception is
    written to the log (with its traceback) and re-raised, so Snakemake marks the job failed."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("twasnet")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").addHandler(handler)
    try:
        stage(**kwargs)
    except Exception:
        logger.exception("%s failed", stage.__name__)
        raise
    finally:
        handler.close()
