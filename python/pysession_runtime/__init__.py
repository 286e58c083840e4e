"""The Python side of pysession: the code that runs inside the interpreter that hosts
the sessions, one concern per module.

The host does not import this folder: ``src/runtime.rs`` embeds each module's source in
the crate and lists them in their load order, and both backends load them from that
list as submodules of a ``pysession_runtime`` module (the embedded interpreter all but
``worker``; a subprocess session's child all of them), compiled under file names that
keep the runtime's frames out of the user's tracebacks. Right after the first module,
``config``, the host hands in the constants it defines. The unit tests (``../tests``)
import the same files from disk.
"""
