"""The official client (wandb 0.31.0) against the server's Stop button.

Prints `RUN <id>`, then waits on stdin for the test to press Stop. Then it asks the server
the way wandb's launch agent does (`RunStoppedStatus`, through `LaunchApi`) and prints the
answer, and goes on logging until wandb-core, which learns of the stop from a file_stream
answer, interrupts it: prints `INTERRUPTED`.

Usage: python stop_run.py PROJECT
"""

import sys
import time

import wandb
from wandb.sdk.launch.api import LaunchApi
from wandb.sdk.lib import run_stopping

# How often the run asks wandb-core whether it was stopped: 15 s by default, a module
# constant the client's own tests patch the same way.
run_stopping._POLL_INTERVAL = 0.5

project = sys.argv[1]
run = wandb.init(
    project=project,
    settings=wandb.Settings(x_file_stream_transmit_interval=0.5, console="off"),
)
api = LaunchApi()
print("BEFORE", api.check_stop_requested(project, run.entity, run.id), flush=True)
print("RUN", run.id, flush=True)
sys.stdin.readline()
print("AFTER", api.check_stop_requested(project, run.entity, run.id), flush=True)
try:
    for i in range(600):
        run.log({"x": i})
        time.sleep(0.1)
    print("NOT STOPPED", flush=True)
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
