#!/usr/bin/env python3
"""The C++ consumers against the same release's Python eager forward, over the
worker protocol they all speak (run by scripts/bench; see there for usage).

For each release and each spec of scripts/bench_specs.toml: make the fixture
(`xcompat fixtures --specs-file ...`) and the release's deployment artifacts
(a sweep with --consumer cpp-torchscript,cpp-export, which leaves them with
the fixture), start a fresh worker per consumer (`xcompat worker --release V`,
`xcompat worker --consumer cpp-native | cpp-torchscript | cpp-export`), send
each one warm-up `evaluate`, then `--rounds` measured ones of `--repeats`
forward passes each, the workers taking turns, and read:
  latency   the median over rounds of each reply's `latency_ms` (the median of
            its repeats; both workers time the model's forward pass only,
            nothing of loading, input conversion or comparison)
  peak RSS  VmHWM of the worker process (/proc/<pid>/status) after the runs
  verdict   the cell verdict, which must pass (IDENTICAL or CLOSE)
Then cached decoding: fresh Python and cpp-native workers take turns on
`decode_parity` over the last --decode-steps positions; tokens per second is
batch / the median single-token call (the prompt's call excluded).
Prints Markdown tables; with --record writes it, the command and the date
into docs/BENCHMARKS.md (replacing this section if present).
"""

import argparse
import datetime
import glob
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTION = "## C++ consumers vs Python eager"
OLD_SECTIONS = ["## cpp-native vs Python eager"]
DEPLOY = ["cpp-torchscript", "cpp-export"]


def fixtures(xcompat, specs_file, release):
    out = subprocess.run([xcompat, "fixtures", "--json", "--specs-file", specs_file, "--release", release, "--dtype", "float32"],
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


def artifacts(xcompat, specs_file, release, spec):
    """{consumer: artifact dir}: the release's TorchScript and AOTInductor
    exports of the fixture, made by a sweep of the deployment consumers."""
    db = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"xcompat-bench-deploy-{os.getpid()}.db")
    subprocess.run([xcompat, "sweep", "--no-progress", "--specs-file", specs_file, "--release", release, "--spec", spec,
                    "--dtype", "float32", "--consumer", ",".join(DEPLOY), "--db", db],
                   check=False, capture_output=True, text=True)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)


def artifact_dir(fixture_dir, consumer):
    kind = {"cpp-torchscript": "torchscript", "cpp-export": "aoti"}[consumer]
    found = []
    for d in glob.glob(os.path.join(fixture_dir, f"deploy-{kind}-*")):
        rec = os.path.join(d, "export.json")
        if os.path.exists(rec) and json.load(open(rec)).get("status") == "ok":
            found.append((os.path.getmtime(rec), d))
    if not found:
        sys.exit(f"bench_native: no {consumer} artifact in {fixture_dir}")
    return max(found)[1]


def pins_tolerance():
    """tolerance(spec, consumer): matrix/pins.toml's float32 policy with its
    overrides, as the sweep applies them (Pins::tolerance_for)."""
    pins = tomllib.load(open(os.path.join(ROOT, "matrix", "pins.toml"), "rb"))
    base = {k: pins["tolerance"]["float32"][k] for k in ("rtol", "atol", "nmse")}

    def tolerance(spec, consumer):
        for wanted in (spec, "*"):
            for o in pins.get("override", []):
                if o["spec"] == wanted and o["consumer"] == consumer and o.get("dtype", "float32") == "float32":
                    return {k: o[k] for k in ("rtol", "atol", "nmse")}
        return base
    return tolerance


def evaluate_request(fixture, tolerance, consumer="python"):
    meta = json.load(open(os.path.join(fixture["dir"], "meta.json")))
    req = {"op": "evaluate", "spec": meta["spec"], "fixture_dir": fixture["dir"], "checkpoint": "model.safetensors",
           "tolerance": tolerance(fixture["spec"], consumer)}
    if consumer in DEPLOY:
        req["artifact_dir"] = artifact_dir(fixture["dir"], consumer)
    return req


def measure_pair(workers, fixture, tolerance, repeats, rounds, request=None):
    """The consumers on one fixture: fresh workers, one warm-up request each,
    then `rounds` measured requests taken in turns, so that all see the same
    background load. `request(name)`: the request for one consumer."""
    request = request or (lambda name: evaluate_request(fixture, tolerance, name))
    reqs = {name: request(name) for name, _ in workers}
    started = {name: Worker(argv, name) for name, argv in workers}
    replies = {name: [] for name in started}
    try:
        for name, w in started.items():
            w.request(dict(reqs[name], repeats=2))  # warm-up: first-call allocations, lazy init
        for _ in range(rounds):
            for name, w in started.items():
                replies[name].append(w.request(dict(reqs[name], repeats=repeats)))
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
        if all("step_ms" in r for r in rs):  # cached decoding: single-token calls, the prompt's excluded
            out[name]["token_ms"] = statistics.median(ms for r in rs for ms in r["step_ms"][1:])
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
    ap.add_argument("--decode-steps", type=int, default=32, help="cached decoding: positions decoded per request")
    ap.add_argument("--record", action="store_true", help="write the table into docs/BENCHMARKS.md")
    ap.add_argument("--command", default="scripts/bench_native.py", help="the command line to record")
    args = ap.parse_args()
    if args.repeats < 10:
        sys.exit("bench_native: --repeats must be at least 10")
    releases = args.release or ["2.31.10"]
    tolerance = pins_tolerance()

    load_before = os.getloadavg()[0]
    rows, decode_rows = [], []
    for release in releases:
        for fx in fixtures(args.xcompat, args.specs_file, release):
            spec = json.load(open(os.path.join(fx["dir"], "meta.json")))["spec"]
            artifacts(args.xcompat, args.specs_file, release, fx["spec"])
            consumers = [("python", [args.xcompat, "worker", "--release", release])] + [
                (c, [args.xcompat, "worker", "--consumer", c]) for c in ["cpp-native"] + DEPLOY]
            m = measure_pair(consumers, fx, tolerance, args.repeats, args.rounds)
            row = {"release": release, "spec": fx["spec"], "shape": shape_of(spec), **m}
            rows.append(row)
            print(f"{fx['spec']:12} {release:8} " + " | ".join(
                f"{name} {m[name]['latency_ms']:9.3f} ms {m[name]['peak_rss_mib']:7.1f} MiB ({m[name]['verdict']})"
                for name, _ in consumers), file=sys.stderr, flush=True)

            steps = min(args.decode_steps, int(spec["seq_len"]) - 1)
            meta = json.load(open(os.path.join(fx["dir"], "meta.json")))
            decode = {"op": "decode_parity", "spec": meta["spec"], "fixture_dir": fx["dir"], "steps": steps,
                      "checkpoint": "model.safetensors", "tolerance": tolerance(fx["spec"], "decode-cache")}
            d = measure_pair([("python", [args.xcompat, "worker", "--release", release]),
                              ("cpp-native", [args.xcompat, "worker", "--consumer", "cpp-native"])],
                             fx, tolerance, 1, args.rounds, request=lambda name: decode)
            batch = int(spec["batch"])
            decode_rows.append({"release": release, "spec": fx["spec"], "shape": shape_of(spec), "steps": steps,
                                **{name: dict(v, tokens_per_s=batch * 1e3 / v["token_ms"]) for name, v in d.items()}})
            print(f"{fx['spec']:12} {release:8} cached decoding: python {decode_rows[-1]['python']['tokens_per_s']:.0f} "
                  f"tokens/s, cpp-native {decode_rows[-1]['cpp-native']['tokens_per_s']:.0f} tokens/s",
                  file=sys.stderr, flush=True)

    names = ["python", "cpp-native"] + DEPLOY
    titles = {"python": "Python eager", "cpp-native": "cpp-native", "cpp-torchscript": "cpp-torchscript",
              "cpp-export": "cpp-export (AOTInductor)"}
    table = ["| spec | shape | release | " + " | ".join(titles[n] for n in names) + " | " +
             " | ".join(f"Python / {n}" for n in names[1:]) + " | " +
             " | ".join(f"peak RSS {n}" for n in names) + " |",
             "|---|---|---|" + "--:|" * (3 * len(names) - 1)]
    for r in rows:
        table.append(f"| {r['spec']} | {r['shape']} | {r['release']} | " +
                     " | ".join(f"{r[n]['latency_ms']:.3f} ms" for n in names) + " | " +
                     " | ".join(f"{r['python']['latency_ms'] / r[n]['latency_ms']:.2f}x" for n in names[1:]) + " | " +
                     " | ".join(f"{r[n]['peak_rss_mib']:.0f} MiB" for n in names) + " |")
    table += ["", "Cached decoding (one token per call after the prompt):", "",
              "| spec | shape | release | steps | Python tokens/s | cpp-native tokens/s | cpp-native / Python | "
              "verdict Python (cached vs uncached) | verdict cpp-native (vs the release's eager) |",
              "|---|---|---|--:|--:|--:|--:|---|---|"]
    for r in decode_rows:
        table.append(f"| {r['spec']} | {r['shape']} | {r['release']} | {r['steps']} | {r['python']['tokens_per_s']:.0f} | "
                     f"{r['cpp-native']['tokens_per_s']:.0f} | "
                     f"{r['cpp-native']['tokens_per_s'] / r['python']['tokens_per_s']:.2f}x | "
                     f"{r['python']['verdict']} | {r['cpp-native']['verdict']} |")
    print("\n".join(table))
    print(json.dumps({"forward": rows, "decode": decode_rows}, indent=1),
          file=open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "xcompat-bench-native.json"), "w"))

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
        f"{args.repeats} forward passes, after one warm-up request; the four workers run side by side and take turns, "
        "request by request, so all see the same background load, the same weights and the same inputs; each times "
        "the model's forward pass only (Python: `xcompat_driver.forward` under `torch.no_grad()`; cpp-native: "
        "`NativeModel::forward` under `torch::NoGradGuard`; cpp-torchscript: the traced module's `forward`; cpp-export: "
        "`AOTIModelPackageLoader::run`, both under `c10::InferenceMode`). The artifacts are the release's own exports of "
        "the fixture (docs/DEPLOYMENT.md), made before timing. Peak RSS: VmHWM of a fresh worker per (spec, consumer), "
        "after loading and running every request. The Python worker's figure includes the embedded interpreter and the "
        "imported release. Cached decoding: fresh Python and cpp-native workers take turns on "
        f"`decode_parity` ({args.rounds} requests each); tokens per second is the batch over the median single-token "
        "call (the prompt's call excluded); the Python figure is the release's own `net(prefix, cache=cache)` as its "
        "`generate()` calls it, the cpp-native one the port's `DecodeCache`.",
        ""])
    for old in OLD_SECTIONS:  # renamed: the old section is replaced by this one
        if old in text:
            text = text.replace(old, SECTION)
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
