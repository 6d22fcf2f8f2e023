"""Trial bootstrap for a PaddleSeg checkout's own tools/train.py:

    python -m paddle_autotune_plugins.adapters.paddleseg.run CHECKOUT/tools/train.py --config trial.yml ...

tools/train.py imports ``paddleseg`` without putting its checkout on the path (PaddleSeg's install guide
has users run ``pip install -e .``). The trial puts the checkout right after the script's own folder, as
the editable install would, so the checkout's tools/train.py trains with the checkout's paddleseg even
where another one (the PyPI wheel) is installed; then the plugin's hooks are installed and the script runs
as ``__main__``, exactly as ``python tools/train.py ...`` would.
"""
import os
import runpy
import sys


def checkout_of(script):
    """The checkout folder of a tools/train.py, or None when its parent holds no paddleseg package."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(script)))
    return root if os.path.isdir(os.path.join(root, "paddleseg")) else None


def main():
    script, args = sys.argv[1], sys.argv[2:]
    from paddle_autotune_plugins.adapters.paddleseg import hooks  # absolute: launch may run this as a file

    hooks.install()
    sys.argv = [script] + args
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    root = checkout_of(script)
    if root and root not in sys.path:
        sys.path.insert(1, root)
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
