"""Machine description shared by the benchmark scripts: CPU model and the flags that decide
float speed (avx2, avx512f, avx512_bf16, amx), cores, torch and the GPU."""

from lstmlm.hardware import describe_machine


def machine() -> str:
    return describe_machine()
