"""What the machine can run: device selection, CPU features, and the training precision.

It imports nothing from the package but the error type and the recurrent module types, so that
inference, training and the benchmarks ask the same questions the same way.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
from dataclasses import dataclass

import torch
from torch import nn

from .config import PRECISIONS
from .errors import LstmlmError
from .model import RECURRENT

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# CPU features that decide how fast the float kinds run (names as /proc/cpuinfo spells them).
REPORTED_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
# oneDNN computes bfloat16 natively only with these; elsewhere it is emulated (about 100x
# slower than float32 on an AVX2 CPU) or refused (no bf16 LSTM primitive without AVX-512).
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def select_device(name: str) -> torch.device:
    """`auto` picks CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise LstmlmError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


def cpuinfo_field(*names: str) -> str | None:
    """The value of the first /proc/cpuinfo line starting with one of `names` (None where
    there is no such file or line)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(names):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_flags() -> set[str]:
    """The CPU's feature flags (x86 "flags", Arm "Features"; an empty set where unknown)."""
    return set((cpuinfo_field("flags", "Features") or "").split())


def cpu_model() -> str:
    """The CPU's model name, as /proc/cpuinfo (or the platform module) gives it."""
    return (cpuinfo_field("model name") or platform.processor() or platform.machine()
            or "unknown CPU")


def cpu_generation() -> str:
    """The x86 CPU's family and model numbers ("family 6, model 207"; empty where unknown):
    a virtual machine may name two generations of one vendor alike ("Intel(R) Xeon(R)
    Processor"), and their speeds differ."""
    family, model = cpuinfo_field("cpu family"), cpuinfo_field("model\t")
    return f"family {family}, model {model}" if family and model else ""


def describe_machine() -> str:
    """One line naming the CPU (with its generation), its relevant flags, cores, torch and the
    GPU (if any)."""
    flags = cpu_flags()
    present = [flag for flag in REPORTED_FLAGS if flag in flags] or ["none of " + "/".join(REPORTED_FLAGS)]
    gpu = (f"GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "no GPU")
    generation = cpu_generation()
    name = f"{cpu_model()} ({generation})" if generation else cpu_model()
    return (f"{name} [{' '.join(present)}], {os.cpu_count()} cores, "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads), {gpu}")


def description_parts(description: str) -> tuple[str, set[str], str | None]:
    """A `describe_machine` line's CPU name, its reported flags and its GPU (None for none)."""
    gpu = re.search(r"GPU (.+)$", description)
    flags = re.search(r"\[(.*?)\]", description)
    return (description.split(" [")[0], set(flags.group(1).split()) if flags else set(),
            gpu.group(1) if gpu and not description.endswith("no GPU") else None)


def short_machine_name(description: str) -> str:
    """A `describe_machine` line as a table's cell: "Xeon model 167, AMX-BF16, 2 cores",
    "EPYC, AVX2, 2 cores", "NVIDIA H200 GPU". The float instructions named are the best the
    CPU has of AMX-BF16, AVX512-BF16 and AVX2."""
    cpu, flags, gpu = description_parts(description)
    if gpu:
        return f"{gpu} GPU"
    vendor = next((name for name in ("Xeon", "EPYC", "Ryzen", "Core") if name in cpu),
                  re.sub(r"\s*\(.*", "", cpu))
    model = re.search(r"model (\d+)", cpu)
    instructions = next((name for flag, name in (("amx_bf16", "AMX-BF16"),
                                                 ("avx512_bf16", "AVX512-BF16"),
                                                 ("avx2", "AVX2")) if flag in flags), None)
    cores = re.search(r"(\d+) cores", description)
    return ", ".join(part for part in (vendor + (f" model {model.group(1)}" if model else ""),
                                       instructions,
                                       f"{cores.group(1)} cores" if cores else None) if part)


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision a run trains in, and why it was chosen."""

    precision: str  # fp32, bf16 or fp16: never auto
    reason: str


def native_bf16(device: torch.device) -> tuple[bool, str]:
    """Whether `device` computes bfloat16 in hardware, with the reason in words."""
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        if major >= 8:
            return True, f"{torch.cuda.get_device_name(device)} (compute {major}.{minor}) has bf16 tensor cores"
        return False, (f"{torch.cuda.get_device_name(device)} (compute {major}.{minor}) has no "
                       f"bf16 tensor cores")
    found = sorted(cpu_flags() & set(NATIVE_BF16_FLAGS))
    if found:
        return True, f"this CPU has {'/'.join(found)}"
    return False, "this CPU has no avx512_bf16 or amx_bf16, so bf16 would be emulated"


def autocast_runs(device: torch.device, dtype: torch.dtype, cell: str) -> str | None:
    """Run a tiny forward and backward of the model's recurrent module type and decoder under
    autocast; None if they run, else the error's first line. Catches kernels the hardware lacks
    (oneDNN has no bf16 LSTM without AVX-512) before a run depends on them."""
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            recurrent = RECURRENT[cell](4, 4, 1, batch_first=True).to(device)
            decoder = nn.Linear(4, 3).to(device)
            with torch.autocast(device.type, dtype=dtype):
                output, _ = recurrent(torch.randn(2, 3, 4, device=device))
                logits = decoder(output)
            logits.float().sum().backward()
    except RuntimeError as error:
        # oneDNN appends advice on verbose logging after the first sentence.
        return str(error).strip().split(". ")[0].splitlines()[0] or type(error).__name__
    return None


def resolve_precision(requested: str, device: torch.device, cell: str = "lstm") -> PrecisionChoice:
    """The precision to train in on `device`: `auto` picks bf16 where it runs natively and fp32
    elsewhere; an explicit choice the hardware cannot run raises LstmlmError."""
    if requested not in PRECISIONS:
        raise LstmlmError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if requested == "fp32":
        return PrecisionChoice("fp32", "as configured")
    if requested == "fp16":
        if device.type != "cuda":
            raise LstmlmError("precision fp16 needs a CUDA device (float16 autocast with a "
                              "gradient scaler); on the CPU use fp32, bf16 or auto")
        failure = autocast_runs(device, torch.float16, cell)
        if failure:
            raise LstmlmError(f"precision fp16 does not run on {device}: {failure}")
        return PrecisionChoice("fp16", "as configured")
    native, why = native_bf16(device)
    if requested == "auto" and not native:
        return PrecisionChoice("fp32", f"auto: {why}")
    failure = autocast_runs(device, torch.bfloat16, cell)
    if failure:
        if requested == "auto":
            return PrecisionChoice("fp32", f"auto: bf16 {cell} does not run here ({failure})")
        raise LstmlmError(f"precision bf16 does not run on this {device.type} ({why}): {failure}; "
                          f"use precision=fp32 or auto")
    if requested == "auto":
        return PrecisionChoice("bf16", f"auto: {why}")
    if not native:
        return PrecisionChoice("bf16", f"as configured, though {why}: expect it to be slow")
    return PrecisionChoice("bf16", f"as configured; {why}")


def autocast(device_type: str, precision: str):
    """The autocast context of `precision` on `device_type` (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=AUTOCAST_DTYPES[precision])


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that a clock read after it is meaningful."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# glibc's mallopt parameters: the size from which a block gets its own mapping, and the free
# memory at the top of the heap above which it is given back to the system.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
KEPT_MEMORY_BYTES = 1 << 30
GIVEN_BACK_BYTES = 1 << 22


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed blocks of up to KEPT_MEMORY_BYTES for reuse instead of
    giving them back to the system; False where the C library is not glibc.

    A training window allocates and frees the same large buffers each time (a window's logits
    and their gradient, tens of MB). By default glibc maps each anew and unmaps it when freed,
    so every window faults in and zeroes fresh pages; kept, the buffers are reused."""
    return _malloc_thresholds(KEPT_MEMORY_BYTES)


def give_back_freed_memory() -> bool:
    """Let glibc's malloc map every block above GIVEN_BACK_BYTES on its own and give it back to
    the system when freed; False where the C library is not glibc.

    By default glibc raises that threshold to the largest block freed, and then serves the
    blocks of a scoring loop (a few MB of logits each) from its heap, where the small results
    allocated between them keep the freed space from being returned: over a long file the
    process grows to several times a batch's memory."""
    return _malloc_thresholds(GIVEN_BACK_BYTES)


def _malloc_thresholds(bytes_: int) -> bool:
    """Set glibc's mmap and trim thresholds (fixing them: no longer adjusted as blocks are
    freed); False where the C library is not glibc."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    import ctypes

    libc = ctypes.CDLL(None)
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, bytes_)
                and libc.mallopt(_M_TRIM_THRESHOLD, bytes_))
