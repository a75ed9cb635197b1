"""LASH: multi-exit training (layer_weights, layer_lr_scales, routing_threshold) and ASHEM."""

import os

__version__ = "0.3.0"

#: The numeric code paths of the CPU libraries, pinned before any module of lash imports torch: the
#: matrix library and ATen otherwise pick their kernels by processor (vendor, AVX-512), so the same
#: run gave other bits on another CPU. AVX2 is the level every x86-64 CPU of the last decade has;
#: STRICT makes MKL's products independent of the thread count. Set a variable yourself to override
#: it; provenance records what was in effect (lash.environment.cpu_info).
PINNED_CODE_PATHS = {"MKL_CBWR": "AVX2,STRICT", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
for _variable, _value in PINNED_CODE_PATHS.items():
    os.environ.setdefault(_variable, _value)
