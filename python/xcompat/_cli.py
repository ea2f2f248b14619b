"""The `xcompat` command of the pip package: the C++ executable shipped in
the package (xcompat/bin/xcompat), run in place of this process."""
import os
import sys


def main() -> None:
    exe = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "xcompat")
    if not os.path.exists(exe):
        sys.exit("xcompat: the command line is not part of this build of the package (bin/xcompat is missing)")
    os.execv(exe, [exe, *sys.argv[1:]])


if __name__ == "__main__":
    main()
