"""A worker process for the kill test: ``main_sync`` with the test module, configured by
WUYE_* environment variables (same database, Redis and queue as the test)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from worker_support import TESTMOD

from wuye.settings import Settings
from wuye.workers import main_sync

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    main_sync(Settings(), modules=(TESTMOD,))
