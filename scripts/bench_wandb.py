"""The official client's side of scripts/bench-compare.sh: the workloads of
benches/compare.rs, run through `wandb` offline, printed as JSON lines.

usage: python bench_wandb.py [--steps N] [--paced-steps N]
"""

import argparse
import json
import os
import resource
import tempfile
import time


def percentiles(ns):
    ns = sorted(ns)
    pick = lambda q: ns[min(len(ns) - 1, int(q * len(ns)))]
    return {"p50_ns": pick(0.50), "p99_ns": pick(0.99), "p999_ns": pick(0.999), "max_ns": ns[-1]}


def cpu_seconds():
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def peak_rss_mb():
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024.0


def log10(run, i):
    x = i * 1e-3
    run.log({f"metric_{j}": x + j for j in range(10)})


def wandb_file(root):
    for dirpath, _, files in os.walk(root):
        for f in files:
            if f.endswith(".wandb"):
                return os.path.join(dirpath, f)
    raise SystemExit(f"no .wandb file under {root}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--paced-steps", type=int, default=5_000)
    args = ap.parse_args()
    os.environ["WANDB_MODE"] = "offline"
    os.environ["WANDB_SILENT"] = "true"
    os.environ["WANDB_CONSOLE"] = "off"
    import wandb

    with tempfile.TemporaryDirectory() as d:
        run = wandb.init(project="bench-compare", dir=d)
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        lat = []
        for i in range(args.steps):
            t = time.perf_counter_ns()
            log10(run, i)
            lat.append(time.perf_counter_ns() - t)
        run.finish()
        wall = time.perf_counter() - t0
        wandb.teardown()
        cpu = cpu_seconds() - cpu0
        out = {"tool": "wandb", "workload": "log10_flat", "steps": args.steps, **percentiles(lat)}
        out.update(
            steps_per_s=args.steps / wall,
            cpu_us_per_step=cpu * 1e6 / args.steps,
            peak_rss_mb=peak_rss_mb(),
            bytes_per_step=os.path.getsize(wandb_file(d)) / args.steps,
        )
        print(json.dumps(out), flush=True)

    with tempfile.TemporaryDirectory() as d:
        run = wandb.init(project="bench-compare", dir=d)
        lat, nxt = [], time.perf_counter()
        for i in range(args.paced_steps):
            while time.perf_counter() < nxt:
                time.sleep(max(0.0, nxt - time.perf_counter()))
            nxt += 0.001
            t = time.perf_counter_ns()
            log10(run, i)
            lat.append(time.perf_counter_ns() - t)
        run.finish()
        out = {"tool": "wandb", "workload": "log10_paced", "steps": args.paced_steps, "rate_per_s": 1000}
        out.update(percentiles(lat))
        print(json.dumps(out), flush=True)

    with tempfile.TemporaryDirectory() as d:
        init, finish = [], []
        for _ in range(5):
            t = time.perf_counter()
            run = wandb.init(project="bench-compare", dir=d)
            init.append(time.perf_counter() - t)
            for i in range(100):
                log10(run, i)
            t = time.perf_counter()
            run.finish()
            finish.append(time.perf_counter() - t)
        init.sort()
        finish.sort()
        print(json.dumps({"tool": "wandb", "workload": "init_finish", "runs": 5,
                          "init_median_s": init[2], "finish_median_s": finish[2]}), flush=True)


if __name__ == "__main__":
    main()
