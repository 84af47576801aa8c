"""XLA's CPU settings for the lab's loops, put into XLA_FLAGS before TensorFlow first compiles.

XLA's CPU compiler runs a while loop as ONE native kernel only while one iteration moves fewer bytes
than `xla_cpu_small_while_loop_byte_threshold` (about 1 KB by default); above it, every fused kernel
of an optimizer step is launched on its own, at 0.15 to 0.4 us each. The lab's steps are tiny (a
1-4-1 net on a batch of 32, or 64 seeds of a 1-1-1 net on a batch of 1), so that launch cost is most
of a step. Raising the threshold to 1 MB runs them as one kernel: measured on the 2-core machine, the
posted sine-relu run 0.25 -> 0.12 s warm, 64 parabola seeds about 4 -> 1 us per step inside the
loop; wide or full-batch steps (over 1 MB an iteration) are unchanged. YNN fusions are switched off
with it: a loop collapsed into one kernel cannot hold them ("Fusion kind not implemented on CPU"),
and on these nets they bring nothing (the 512 x 512 matmul rate is the same with and without).

`TINYNET_XLA_TUNING=0` leaves XLA_FLAGS alone; flags the user set are kept and win.
"""

from __future__ import annotations

import os

TUNING = {
    "--xla_backend_extra_options": "xla_cpu_small_while_loop_byte_threshold=1048576",
    "--xla_cpu_experimental_ynn_fusion_type": "",
}


def tune(environ=os.environ) -> str:
    """Add the lab's XLA CPU options to XLA_FLAGS (unless turned off or already set); return XLA_FLAGS."""
    flags = environ.get("XLA_FLAGS", "")
    if environ.get("TINYNET_XLA_TUNING", "1").strip().lower() in ("0", "false", "no", "off"):
        return flags
    extra = [f"{name}={value}" for name, value in TUNING.items() if name not in flags]
    if extra:
        environ["XLA_FLAGS"] = " ".join([flags, *extra]).strip()
    return environ.get("XLA_FLAGS", "")
