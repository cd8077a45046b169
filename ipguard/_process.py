"""Settings of the `ipguard` command's own process, made before numpy is imported.

Imported first by `ipguard.cli`; a program that uses the library keeps its own.
"""

from __future__ import annotations

import os

# ipguard makes no BLAS calls, but numpy's OpenBLAS starts a thread per
# further CPU when it loads, which spins for about 0.1 s of CPU before it
# sleeps: `import numpy` took 0.10-0.12 s of CPU against 0.04-0.05 s without
# it. A cold `ipguard check`, median of 12 alternating runs: 0.121 -> 0.108 s.
# Indexing the standard library with --jobs 1, five builds each in either
# order: 3.21 -> 3.09-3.10 CPU-seconds (wall time the same within noise).
# A user's own setting is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
