"""Logging for workflow steps: everything a step says, and its traceback, goes to the rule's log;
its warnings also go to stderr, which Snakemake shows on the console."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path


def _console_handler() -> logging.Handler:
    """WARNING records to stderr (errors reach the console as the step's traceback already)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.addFilter(lambda record: record.levelno < logging.ERROR)
    handler.setFormatter(logging.Formatter("twasnet %(levelname)s: %(message)s"))
    return handler


def run_logged(log_path: str, stage: Callable[..., None], **kwargs) -> None:
    """Run ``stage(**kwargs)`` with the ``twasnet`` logger writing to ``log_path`` (and its
    warnings to stderr); an exception is written to the log (with its traceback) and re-raised,
    so Snakemake marks the job failed."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    console = _console_handler()
    logger = logging.getLogger("twasnet")
    logger.addHandler(handler)
    logger.addHandler(console)
    logger.setLevel(logging.INFO)
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").addHandler(handler)
    try:
        stage(**kwargs)
    except Exception:
        logger.exception("%s failed", stage.__name__)
        raise
    finally:
        for added in (handler, console):
            logger.removeHandler(added)
            added.close()
        logging.getLogger("py.warnings").removeHandler(handler)
