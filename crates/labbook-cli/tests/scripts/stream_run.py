"""The official client (wandb 0.31.0) streaming rows online until told to stop, for the
kill -9 test of `labbook serve`: its retries (made short here) carry it over each restart.

Prints `RUN <id>`, logs {"x": 0, 1, 2, ...} until a line arrives on stdin, finishes the
run and prints `LOGGED <rows>`.

The transmit interval is 1 s: wandb 0.31 reads a shorter one as unset and streams every
15 s (seen here with 0.2 and 0.5).

Usage: python stream_run.py PROJECT
"""

import sys
import threading
import time

import wandb

project = sys.argv[1]
run = wandb.init(
    project=project,
    settings=wandb.Settings(
        console="off",
        x_file_stream_transmit_interval=1.0,
        x_file_stream_retry_wait_min_seconds=0.1,
        x_file_stream_retry_wait_max_seconds=0.5,
        x_file_stream_retry_max=1000,
        x_graphql_retry_wait_min_seconds=0.1,
        x_graphql_retry_wait_max_seconds=0.5,
        x_graphql_retry_max=1000,
        x_file_transfer_retry_wait_min_seconds=0.1,
        x_file_transfer_retry_wait_max_seconds=0.5,
        x_file_transfer_retry_max=1000,
    ),
)
print("RUN", run.id, flush=True)
done = threading.Event()


def wait_for_stop():
    sys.stdin.readline()
    done.set()


threading.Thread(target=wait_for_stop, daemon=True).start()
rows = 0
while not done.is_set():
    run.log({"x": rows})
    rows += 1
    time.sleep(0.01)
run.finish()
print("LOGGED", rows, flush=True)
