"""XLA's CPU settings for the lab's loops, put into XLA_FLAGS before TensorFlow first compiles.

XLA's CPU compiler runs a while loop as ONE native kernel only while one iteration moves fewer bytes
than `xla_cpu_small_while_loop_byte_threshold` (about 1 KB by default); above it, every fused kernel
of an optimizer step is launched on its own, at 0.15 to 0.4 us each. The lab's steps are tiny (a
1-4-1 net on a batch of 32, or 64 seeds of a 1-1-1 net on a batch of 1), so that launch cost is most
of a step. At 64 KB they run as one kernel: measured on the 2-core machine, the posted sine-relu run
0.26 -> 0.13 s warm, 100 epochs of 64 parabola seeds 0.35 -> 0.27 s. Wider steps (the posted
sine-relu fix's 32 x 32 layers, noisy-sine's 4000 x 128 full batch) move more than 64 KB an
iteration and compile as before. A 1 MB threshold collapses those too, and then they are slower
(the sine-relu fix 0.44 -> 0.78 s for 100 epochs) and need YNN fusions switched off (a collapsed
loop cannot hold them: "Fusion kind not implemented on CPU"), so 64 KB it is.

`TINYNET_XLA_TUNING=0` leaves XLA_FLAGS alone; flags the user set are kept and win.
"""

from __future__ import annotations

import os

TUNING = {"--xla_backend_extra_options": "xla_cpu_small_while_loop_byte_threshold=65536"}


def tune(environ=os.environ) -> str:
    """Add the lab's XLA CPU options to XLA_FLAGS (unless turned off or already set); return XLA_FLAGS."""
    flags = environ.get("XLA_FLAGS", "")
    if environ.get("TINYNET_XLA_TUNING", "1").strip().lower() in ("0", "false", "no", "off"):
        return flags
    extra = [f"{name}={value}" for name, value in TUNING.items() if name not in flags]
    if extra:
        environ["XLA_FLAGS"] = " ".join([flags, *extra]).strip()
    return environ.get("XLA_FLAGS", "")
