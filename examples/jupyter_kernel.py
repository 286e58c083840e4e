"""What one execute costs through a Jupyter kernel, for the comparison in the README:
the round trip of ``x = 1`` and ``1 + 1`` through ipykernel, driven by jupyter_client as
a notebook front end drives it, and the kernel's start.

A round trip is the request sent until both the shell reply and the kernel's ``idle``
status for it have arrived (what a client that wants all of a cell's output must wait
for). Percentiles of 500 calls after 50 untimed ones; the start is ``start_new_kernel``
until the kernel answers, five times.

    python3 -m venv /tmp/jup && /tmp/jup/bin/pip install ipykernel jupyter_client
    /tmp/jup/bin/python -m ipykernel install --prefix /tmp/jup --name jupbench
    JUPYTER_PATH=/tmp/jup/share/jupyter /tmp/jup/bin/python examples/jupyter_kernel.py
"""

import statistics
import sys
import time

import ipykernel
import jupyter_client
from jupyter_client.manager import start_new_kernel

KERNEL = "jupbench"
WARMUP, CALLS = 50, 500


def round_trip(kc, code):
    msg_id = kc.execute(code)
    replied = idle = False
    while not idle:
        msg = kc.get_iopub_msg(timeout=10)
        idle = (
            msg["parent_header"].get("msg_id") == msg_id
            and msg["msg_type"] == "status"
            and msg["content"]["execution_state"] == "idle"
        )
    while not replied:
        reply = kc.get_shell_msg(timeout=10)
        if reply["parent_header"].get("msg_id") == msg_id:
            assert reply["content"]["status"] == "ok", reply["content"]
            replied = True


def percentile(values, q):
    values = sorted(values)
    return values[int((len(values) - 1) * q)]


def main():
    print(f"Python {sys.version.split()[0]}, ipykernel {ipykernel.__version__}, "
          f"jupyter_client {jupyter_client.__version__}")
    starts = []
    for _ in range(5):
        t = time.perf_counter()
        km, kc = start_new_kernel(kernel_name=KERNEL)
        starts.append(time.perf_counter() - t)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    print(f"kernel start: median {statistics.median(starts) * 1000:.0f} ms")
    km, kc = start_new_kernel(kernel_name=KERNEL)
    try:
        for code in ("x = 1", "1 + 1"):
            times = []
            for i in range(WARMUP + CALLS):
                t = time.perf_counter()
                round_trip(kc, code)
                if i >= WARMUP:
                    times.append((time.perf_counter() - t) * 1000)
            print(f"execute({code!r}): p50 {percentile(times, 0.5):.2f} ms, "
                  f"p90 {percentile(times, 0.9):.2f} ms, mean {statistics.fmean(times):.2f} ms")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
