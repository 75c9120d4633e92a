#!/usr/bin/env python3
"""What simulated pods cost: start a `cceone-kubesim` binary, create a Deployment of N replicas
(1,000 by default) and report the process's resident memory and CPU time, read from /proc, at
rest, once every replica is available, and over a minute of steady state with them running.

    kubesim/bench/cost.py --bin target/release/cceone-kubesim [--replicas 1000] [--steady 60]

Prints one JSON object; compare two binaries by running it once with each."""

import argparse
import json
import os
import subprocess
import tempfile
import time


def usage(pid):
    """(RSS in MiB, user+system CPU seconds) of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
    return round(rss, 1), round(cpu, 2)


DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: cost
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: cost
  template:
    metadata:
      labels:
        app: cost
    spec:
      containers:
      - name: app
        image: nginx:1.25
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--replicas", type=int, default=1000)
    ap.add_argument("--steady", type=int, default=60, help="seconds of steady state measured")
    ap.add_argument("--timeout", type=int, default=600)
    args = ap.parse_args()
    nodes = args.replicas // 100 + 1
    with tempfile.TemporaryDirectory() as tmp:
        kc = os.path.join(tmp, "kc")
        sim = subprocess.Popen(
            [args.bin, "--listen", "127.0.0.1:0", "--data-dir", os.path.join(tmp, "data"),
             "--kubeconfig-out", kc, "--nodes", str(nodes)],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "log"), "w"))
        try:
            deadline = time.time() + 30
            while not os.path.exists(kc):
                if time.time() > deadline or sim.poll() is not None:
                    raise SystemExit("the simulator did not start")
                time.sleep(0.1)
            kubectl = ["kubectl", "--kubeconfig", kc]
            time.sleep(3)
            rest = usage(sim.pid)
            started = time.time()
            subprocess.run(kubectl + ["apply", "-f", "-"], check=True, stdout=subprocess.DEVNULL,
                           input=DEPLOYMENT.format(replicas=args.replicas).encode())
            while True:
                out = subprocess.run(
                    kubectl + ["get", "deploy", "cost", "-o", "jsonpath={.status.availableReplicas}"],
                    capture_output=True, text=True).stdout
                if out.strip() == str(args.replicas):
                    break
                if time.time() - started > args.timeout:
                    raise SystemExit(f"only {out!r} of {args.replicas} available")
                time.sleep(1)
            rolled = usage(sim.pid)
            took = round(time.time() - started, 1)
            time.sleep(args.steady)
            steady = usage(sim.pid)
            print(json.dumps({
                "replicas": args.replicas,
                "nodes": nodes,
                "at_rest": {"rss_mib": rest[0], "cpu_s": rest[1]},
                "all_available": {"rss_mib": rolled[0], "cpu_s": rolled[1], "after_s": took},
                "rollout_cpu_s": round(rolled[1] - rest[1], 2),
                "rss_added_mib": round(rolled[0] - rest[0], 1),
                f"steady_cpu_s_per_{args.steady}s": round(steady[1] - rolled[1], 2),
                "steady_rss_mib": steady[0],
            }))
        finally:
            sim.terminate()
            sim.wait()


if __name__ == "__main__":
    main()
