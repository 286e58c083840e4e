"""Unit tests of the Python-side runtime, one file per module, in a plain interpreter.

Run with ``python3 -m unittest discover -s python`` (``.ci/run`` does, in Debian's
``/usr/bin/python3`` and again in the test virtual environment, which has matplotlib).
The modules are imported from disk; ``support`` hands them constants of its own.
"""
