#!/usr/bin/env python3
"""cpp-native against the same release's Python eager forward, over the worker
protocol both consumers speak (run by scripts/bench; see there for usage).

For each release and each spec of scripts/bench_specs.toml: make the fixture
(`xcompat fixtures --specs-file ...`), start a fresh worker per consumer
(`xcompat worker --release V` and `xcompat worker --consumer cpp-native`),
send each one warm-up `evaluate`, then `--rounds` measured ones of `--repeats`
forward passes each, the two workers taking turns, and read:
  latency   the median over rounds of each reply's `latency_ms` (the median of
            its repeats; both workers time the model's forward pass only,
            nothing of loading, input conversion or comparison)
  peak RSS  VmHWM of the worker process (/proc/<pid>/status) after the runs
  verdict   the cell verdict, which must pass (IDENTICAL or CLOSE)
Prints a Markdown table; with --record writes it, the command and the date
into docs/BENCHMARKS.md (replacing this section if present).
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTION = "## cpp-native vs Python eager"


def fixtures(xcompat, specs_file, release):
    out = subprocess.run([xcompat, "fixtures", "--json", "--specs-file", specs_file, "--release", release],
                         check=True, capture_output=True, text=True).stdout
    rows = json.loads(out)["fixtures"]
    bad = [r for r in rows if r["state"] != "fixture"]
    if bad:
        sys.exit(f"bench_native: no fixture for {bad[0]['spec']} {release}: {bad[0]['reason']}")
    return rows


class Worker:
    def __init__(self, argv, label):
        self.label = label
        self.stderr = open(os.devnull, "w")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        hello = json.loads(self.proc.stdout.readline() or "{}")
        if not hello.get("ready"):
            sys.exit(f"bench_native: {label} did not start: {hello.get('error', 'no hello')}")
        self.hello = hello
        self.next_id = 1

    def request(self, req):
        req = dict(req, id=self.next_id)
        self.next_id += 1
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            sys.exit(f"bench_native: {self.label} died")
        reply = json.loads(line)
        if not reply.get("ok"):
            sys.exit(f"bench_native: {self.label}: {reply.get('error')}")
        return reply

    def peak_rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            m = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M)
        return int(m.group(1)) / 1024

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.stderr.close()


def evaluate_request(fixture, tolerance):
    meta = json.load(open(os.path.join(fixture["dir"], "meta.json")))
    return {"op": "evaluate", "spec": meta["spec"], "fixture_dir": fixture["dir"], "checkpoint": "model.safetensors",
            "tolerance": tolerance}


def measure_pair(workers, fixture, tolerance, repeats, rounds):
    """Both consumers on one fixture: fresh workers, one warm-up request each,
    then `rounds` measured requests taken in turns, so that both see the same
    background load."""
    req = evaluate_request(fixture, tolerance)
    started = {name: Worker(argv, name) for name, argv in workers}
    replies = {name: [] for name in started}
    try:
        for w in started.values():
            w.request(dict(req, repeats=2))  # warm-up: first-call allocations, lazy init
        for _ in range(rounds):
            for name, w in started.items():
                replies[name].append(w.request(dict(req, repeats=repeats)))
        rss = {name: w.peak_rss_mib() for name, w in started.items()}
    finally:
        for w in started.values():
            w.close()
    out = {}
    for name, rs in replies.items():
        verdicts = {r["verdict"] for r in rs}
        if not verdicts <= {"IDENTICAL", "CLOSE"}:
            sys.exit(f"bench_native: {name} on {fixture['spec']}: {verdicts}")
        out[name] = {"latency_ms": statistics.median(r["latency_ms"] for r in rs), "rounds_ms": [r["latency_ms"] for r in rs],
                     "peak_rss_mib": rss[name], "verdict": "/".join(sorted(verdicts))}
    return out


def shape_of(spec):
    l = spec["layers"]
    return f"dim {l['dim']}, depth {l['depth']}, heads {l['heads']}, seq {spec['seq_len']}, batch {spec['batch']}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--xcompat", required=True, help="the xcompat binary")
    ap.add_argument("--release", action="append", help="release(s) to compare with (default 2.31.10)")
    ap.add_argument("--specs-file", default=os.path.join(ROOT, "scripts", "bench_specs.toml"))
    ap.add_argument("--repeats", type=int, default=20, help="forward passes per measured request (>= 10)")
    ap.add_argument("--rounds", type=int, default=5, help="measured requests per worker, in turns")
    ap.add_argument("--record", action="store_true", help="write the table into docs/BENCHMARKS.md")
    ap.add_argument("--command", default="scripts/bench_native.py", help="the command line to record")
    args = ap.parse_args()
    if args.repeats < 10:
        sys.exit("bench_native: --repeats must be at least 10")
    releases = args.release or ["2.31.10"]
    tolerance = {"rtol": 1.3e-6, "atol": 1e-5, "nmse": 1e-9}

    load_before = os.getloadavg()[0]
    rows = []
    for release in releases:
        for fx in fixtures(args.xcompat, args.specs_file, release):
            spec = json.load(open(os.path.join(fx["dir"], "meta.json")))["spec"]
            m = measure_pair([("python", [args.xcompat, "worker", "--release", release]),
                              ("cpp-native", [args.xcompat, "worker", "--consumer", "cpp-native"])],
                             fx, tolerance, args.repeats, args.rounds)
            py, cpp = m["python"], m["cpp-native"]
            row = {"release": release, "spec": fx["spec"], "shape": shape_of(spec), "python": py, "native": cpp,
                   "speedup": py["latency_ms"] / cpp["latency_ms"]}
            rows.append(row)
            print(f"{fx['spec']:12} {release:8} python {py['latency_ms']:9.3f} ms {py['peak_rss_mib']:7.1f} MiB | "
                  f"cpp-native {cpp['latency_ms']:9.3f} ms {cpp['peak_rss_mib']:7.1f} MiB ({cpp['verdict']}) | "
                  f"python / cpp-native {row['speedup']:.2f}x", file=sys.stderr, flush=True)

    table = ["| spec | shape | release | Python eager (median) | cpp-native (median) | Python / cpp-native | "
             "peak RSS Python | peak RSS cpp-native | cpp-native verdict |",
             "|---|---|---|--:|--:|--:|--:|--:|---|"]
    for r in rows:
        table.append(f"| {r['spec']} | {r['shape']} | {r['release']} | {r['python']['latency_ms']:.3f} ms | "
                     f"{r['native']['latency_ms']:.3f} ms | {r['speedup']:.2f}x | {r['python']['peak_rss_mib']:.0f} MiB | "
                     f"{r['native']['peak_rss_mib']:.0f} MiB | {r['native']['verdict']} |")
    print("\n".join(table))
    print(json.dumps(rows, indent=1), file=open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "xcompat-bench-native.json"), "w"))

    load_after = os.getloadavg()[0]
    if args.record:
        record(args, table, load_before, load_after)


def record(args, table, load_before, load_after):
    doc = os.path.join(ROOT, "docs", "BENCHMARKS.md")
    text = open(doc).read() if os.path.exists(doc) else "# Benchmarks\n"
    cpus = os.cpu_count()
    torch_version = "?"
    try:
        torch_version = subprocess.run([args.xcompat, "worker", "--consumer", "cpp-native"], input="", capture_output=True,
                                       text=True, timeout=60).stdout.splitlines()[0]
        torch_version = json.loads(torch_version).get("torch", "?")
    except Exception:
        pass
    section = "\n".join([
        SECTION, "",
        f"`{args.command}`, {datetime.date.today().isoformat()}, on {platform.node()} ({cpus} cores, "
        f"{platform.processor() or platform.machine()}; torch {torch_version}; one thread per worker; 1-minute load "
        f"average {load_before:.1f} before, {load_after:.1f} after: a shared machine, so latencies carry that noise).", "",
        *table, "",
        f"Latency: the median over {args.rounds} `evaluate` requests of each reply's `latency_ms`, itself the median of "
        f"{args.repeats} forward passes, after one warm-up request; the two workers run side by side and take turns, "
        "request by request, so both see the same background load; both time the model's forward pass only "
        "(Python: `xcompat_driver.forward` under `torch.no_grad()`; cpp-native: `NativeModel::forward` under "
        "`torch::NoGradGuard`). Peak RSS: VmHWM of a fresh worker per (spec, consumer), after loading the checkpoint and "
        "running every request. The Python worker's figure includes the embedded interpreter and the imported release.",
        ""])
    start = text.find(SECTION)
    if start >= 0:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    open(doc, "w").write(text)
    print(f"bench_native: wrote {doc}", file=sys.stderr)


if __name__ == "__main__":
    main()
