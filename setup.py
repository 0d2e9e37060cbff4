"""Build the project's C extensions in place: `python setup.py build_ext --inplace`.

The app is not installed as a package; `scripts/bootstrap` (run by `make install`) builds these
next to their Python modules. Each one is optional at run time: without it, the pure-Python
path it speeds up is used instead (see docs/media.md).
"""

from setuptools import Extension, setup

CFLAGS = ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"]

setup(
    name="classe-virtuelle-native",
    version="0",
    py_modules=[],
    ext_modules=[
        # the forwarder's per-subscriber loop: rewrite, retransmission buffer, SRTP, sendto
        Extension("media_server._fastpath", ["media_server/_fastpath.c"], extra_compile_args=CFLAGS),
        Extension("bench.media._genfast", ["bench/media/_genfast.c"], extra_compile_args=CFLAGS),
    ],
)
