"""`python tests/support/clocked.py MODULE ARGS...`: run ``python -m MODULE ARGS...`` with the
clock moved by ``$TESTS_CLOCK_OFFSET_S`` seconds in the ``$TESTS_CLOCK_TZ`` time zone (see
`tests.support.clock`). A script rather than a module so that it needs nothing from `tests/`."""

from __future__ import annotations

import os
import runpy
import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import time_machine

if __name__ == "__main__":
    offset = float(os.environ["TESTS_CLOCK_OFFSET_S"])
    zone = ZoneInfo(os.environ.get("TESTS_CLOCK_TZ", "UTC"))
    time_machine.travel(datetime.fromtimestamp(time.time() + offset, zone), tick=True).start()
    module, *args = sys.argv[1:]
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
