"""A release that does not exist, with a known break: the track test's injected fault.

    python fake_release.py WHEEL_DIR SOURCE_VERSION NEW_VERSION

Rebuilds x-transformers SOURCE_VERSION's wheel (already in WHEEL_DIR, made
by scripts/wheels_from_sandboxes) as NEW_VERSION with the output head
renamed (`to_logits` -> `logits_head`): its state_dict keys differ from every
real release's, so it can neither load their checkpoints strictly nor be
read by them. `xcompat track` must report the breaks and exit 3.
"""
import os, sys, zipfile

wheels, src, new = sys.argv[1:4]
src_wheel = os.path.join(wheels, f"x_transformers-{src}-py3-none-any.whl")
out_wheel = os.path.join(wheels, f"x_transformers-{new}-py3-none-any.whl")
with zipfile.ZipFile(src_wheel) as zin, zipfile.ZipFile(out_wheel, "w", zipfile.ZIP_DEFLATED) as zout:
    for item in zin.infolist():
        data = zin.read(item.filename)
        name = item.filename.replace(f"x_transformers-{src}.dist-info", f"x_transformers-{new}.dist-info")
        if name.endswith(".py"):
            data = data.replace(b"to_logits", b"logits_head")
        if name.endswith("METADATA"):
            data = data.replace(f"Version: {src}".encode(), f"Version: {new}".encode())
        if name.endswith("RECORD"):
            data = data.replace(f"x_transformers-{src}.dist-info".encode(), f"x_transformers-{new}.dist-info".encode())
        zout.writestr(name, data)
print(out_wheel)
