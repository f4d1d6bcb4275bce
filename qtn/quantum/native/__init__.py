"""Native (C++) XLA:CPU kernels: :mod:`.build` compiles and caches them on first use,
:mod:`.qnn` is the paper's per-token QNN."""
