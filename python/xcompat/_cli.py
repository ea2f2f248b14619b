"""The `xcompat` command of the pip package: the C++ executable shipped in
the package (xcompat/bin/xcompat), run in place of this process; except
`check FILE --to installed`, which this environment answers (its
x-transformers and torch are release B: xcompat/_check.py)."""
import argparse
import json
import os
import sys


def _check_installed(argv) -> int:
    parser = argparse.ArgumentParser(prog="xcompat check", description=(
        "Does the x-transformers installed here compute what the release that saved FILE computed?"))
    parser.add_argument("file")
    parser.add_argument("--to", default="installed")
    parser.add_argument("--from", dest="from_")
    parser.add_argument("--key", default="")
    parser.add_argument("--spec-args", help="a JSON file: the model's arguments in the catalogue's form")
    parser.add_argument("--no-install", action="store_true", help="do not install the saving release's sandbox")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from . import XcompatError, check
    try:
        spec = json.load(open(args.spec_args)) if args.spec_args else None
        report = check(args.file, to=args.to, from_=args.from_, spec=spec, key=args.key,
                       install=not args.no_install)
    except (XcompatError, OSError, ValueError) as e:
        print(f"xcompat: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2, default=str) if args.json else report)
    return report["exit_code"]


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["check"] and ("installed" in argv or "--to=installed" in argv):
        sys.exit(_check_installed(argv[1:]))
    exe = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "xcompat")
    if not os.path.exists(exe):
        sys.exit("xcompat: the command line is not part of this build of the package (bin/xcompat is missing)")
    os.execv(exe, [exe, *argv])


if __name__ == "__main__":
    main()
