"""Device and precision choice. The CPU's capabilities are faked where a test must not depend on
which machine it lands on; checks of the real kernels are skipped, with the reason, where the
hardware lacks them."""

import json

import pytest
import torch

from lstmlm import LstmlmError, apply_overrides, cli, hardware, train

CPU = torch.device("cpu")


def fake_cpu(monkeypatch, flags: set[str], bf16_runs: bool) -> None:
    """Make this CPU look like one with `flags` whose bf16 kernels do (or do not) run."""
    monkeypatch.setattr(hardware, "cpu_flags", lambda: flags)
    failure = None if bf16_runs else "could not create a primitive descriptor for the LSTM"
    monkeypatch.setattr(hardware, "autocast_runs", lambda device, dtype, cell: failure)


def test_auto_picks_bf16_only_where_the_cpu_runs_it_natively(monkeypatch):
    fake_cpu(monkeypatch, {"avx2", "avx512f", "avx512_bf16"}, bf16_runs=True)
    choice = hardware.resolve_precision("auto", CPU)
    assert choice.precision == "bf16" and "avx512_bf16" in choice.reason
    fake_cpu(monkeypatch, {"avx2", "amx_bf16"}, bf16_runs=True)
    assert hardware.resolve_precision("auto", CPU).precision == "bf16"
    fake_cpu(monkeypatch, {"avx2", "fma"}, bf16_runs=True)  # emulated: runs, but ~100x slower
    choice = hardware.resolve_precision("auto", CPU)
    assert choice.precision == "fp32" and "emulated" in choice.reason
    fake_cpu(monkeypatch, {"avx512_bf16"}, bf16_runs=False)  # flag present, kernel missing
    choice = hardware.resolve_precision("auto", CPU)
    assert choice.precision == "fp32" and "does not run here" in choice.reason


def test_explicit_bf16_that_cannot_run_is_an_error(monkeypatch):
    fake_cpu(monkeypatch, {"avx2"}, bf16_runs=False)
    with pytest.raises(LstmlmError, match="precision bf16 does not run on this cpu"):
        hardware.resolve_precision("bf16", CPU)
    fake_cpu(monkeypatch, {"avx2"}, bf16_runs=True)
    assert "slow" in hardware.resolve_precision("bf16", CPU).reason
    assert hardware.resolve_precision("fp32", CPU).precision == "fp32"


def test_fp16_needs_cuda_and_unknown_precisions_are_refused():
    with pytest.raises(LstmlmError, match="fp16 needs a CUDA device"):
        hardware.resolve_precision("fp16", CPU)
    with pytest.raises(LstmlmError, match="precision must be one of auto, fp32, bf16, fp16"):
        hardware.resolve_precision("fp8", CPU)


def test_the_probe_reports_a_kernel_failure_as_one_line(monkeypatch):
    def failing_lstm(*args, **kwargs):
        raise RuntimeError("could not create a primitive descriptor. Run workload with "
                           "ONEDNN_VERBOSE=all\nmore detail")

    class Working(torch.nn.Linear):
        def forward(self, inputs):
            return super().forward(inputs), None

    monkeypatch.setitem(hardware.RECURRENT, "lstm", failing_lstm)
    assert hardware.autocast_runs(CPU, torch.bfloat16, "lstm") == \
        "could not create a primitive descriptor"
    monkeypatch.setitem(hardware.RECURRENT, "gru", lambda size, hidden, layers, **kwargs:
                        Working(size, hidden))
    assert hardware.autocast_runs(CPU, torch.bfloat16, "gru") is None


def test_a_run_records_the_precision_it_used_and_why(tmp_path, tiny_config, monkeypatch):
    fake_cpu(monkeypatch, {"avx2"}, bf16_runs=False)
    lines = []
    result = train(apply_overrides(tiny_config, {"precision": "auto", "max_max_epoch": 1}),
                   runs_dir=tmp_path, echo=lines.append)
    # The request stays as asked; the plan holds what auto resolved to.
    assert json.loads((result.run_dir / "config.json").read_text())["run"]["precision"] == "auto"
    assert json.loads((result.run_dir / "plan.json").read_text())["plans"][0]["precision"] == \
        "fp32"
    assert result.plan.precision == "fp32"
    assert lines[1].startswith("precision fp32 (auto: this CPU has no avx512_bf16")


def test_unrunnable_bf16_fails_before_a_run_directory_exists(tmp_path, tiny_config, monkeypatch,
                                                             capsys):
    fake_cpu(monkeypatch, {"avx2"}, bf16_runs=False)
    with pytest.raises(LstmlmError, match="precision bf16 does not run"):
        train(apply_overrides(tiny_config, {"precision": "bf16"}), runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()
    status = cli.main(["train", "--data", tiny_config.data.corpus, "--set", "precision=bf16",
                       "--runs-dir", str(tmp_path / "runs")])
    stderr = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(stderr) == 1
    assert stderr[0].startswith("lstmlm: error: precision bf16 does not run on this cpu")
    assert not (tmp_path / "runs").exists()


def test_resume_keeps_the_saved_precision_and_refuses_it_where_it_cannot_run(
        tmp_path, tiny_config, monkeypatch):
    fake_cpu(monkeypatch, {"avx512_bf16"}, bf16_runs=True)
    # The fake says bf16 runs, but the real kernels may not exist here: train in fp32 and mark
    # the saved plan as a bf16 machine would have written it.
    result = train(apply_overrides(tiny_config, {"max_max_epoch": 1}), runs_dir=tmp_path,
                   echo=None)
    plan_path = result.run_dir / "plan.json"
    plans = json.loads(plan_path.read_text())
    plans["plans"][0]["precision"] = "bf16"
    plan_path.write_text(json.dumps(plans))
    fake_cpu(monkeypatch, {"avx2"}, bf16_runs=False)
    with pytest.raises(LstmlmError, match="precision bf16 does not run"):
        train(resume=result.run_dir, resume_changes={"max_max_epoch": 2}, echo=None)
    # The refused resume recorded no plan of its own.
    assert json.loads(plan_path.read_text()) == plans


def test_machine_description_names_the_cpu_flags_that_matter(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"sse2", "avx2", "fma", "avx512_bf16"})
    assert "[avx2 fma avx512_bf16]" in hardware.describe_machine()
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"sse2"})
    assert "[none of avx2/" in hardware.describe_machine()


def test_machine_description_tells_two_generations_of_one_cpu_name_apart(monkeypatch, tmp_path):
    cpuinfo = ("processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: {}\n"
               "model name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu avx2 fma\n")
    descriptions = []
    for model in (167, 207):
        (tmp_path / "cpuinfo").write_text(cpuinfo.format(model))
        monkeypatch.setattr(hardware, "open", lambda *args, **kwargs: open(tmp_path / "cpuinfo"),
                            raising=False)
        descriptions.append(hardware.describe_machine())
    assert descriptions[0].startswith("Intel(R) Xeon(R) Processor (family 6, model 167) [avx2 fma]")
    assert descriptions[1].startswith("Intel(R) Xeon(R) Processor (family 6, model 207) [avx2 fma]")


def bf16_unavailable_reason() -> str | None:
    failure = hardware.autocast_runs(CPU, torch.bfloat16, "lstm")
    native, why = hardware.native_bf16(CPU)
    if failure:
        return f"bf16 LSTM does not run on this CPU ({failure})"
    if not native:
        return f"bf16 would be emulated on this CPU ({why}); too slow to test here"
    return None


@pytest.mark.skipif(bf16_unavailable_reason() is not None,
                    reason=bf16_unavailable_reason() or "")
def test_bf16_training_on_a_cpu_that_runs_it(tmp_path, tiny_config):
    from lstmlm.model import RecurrentLanguageModel
    from lstmlm.training import train_step

    torch.manual_seed(0)
    model = RecurrentLanguageModel(vocab_size=20, hidden_size=8, num_layers=2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    inputs, targets = torch.randint(0, 20, (2, 4)), torch.randint(0, 20, (2, 4))
    loss, hidden = train_step(model, optimizer, inputs, targets, model.init_state(2),
                              max_grad_norm=5.0, precision="bf16")
    assert loss.dtype == torch.float32 and all(t.dtype == torch.float32 for t in hidden)
    assert all(parameter.dtype == torch.float32 for parameter in model.parameters())
    config = apply_overrides(tiny_config, {"precision": "bf16"})
    first = train(config, runs_dir=tmp_path / "first", echo=None)
    second = train(config, runs_dir=tmp_path / "second", echo=None)
    fp32 = train(tiny_config, runs_dir=tmp_path / "fp32", echo=None)
    assert first.test_perplexity == second.test_perplexity  # still deterministic
    assert first.test_perplexity == pytest.approx(fp32.test_perplexity, rel=0.05)
    assert first.test_perplexity != fp32.test_perplexity


@pytest.mark.gpu
@pytest.mark.parametrize("softmax", ["full", "adaptive"])
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_training_on_cuda_in_each_precision(tmp_path, tiny_config, precision, softmax):
    if precision == "bf16" and not hardware.native_bf16(torch.device("cuda"))[0]:
        pytest.skip("this GPU has no bf16 tensor cores")
    adaptive = ({"softmax": "adaptive", "adaptive_cutoffs": "4,10", "adaptive_div_value": 2.0}
                if softmax == "adaptive" else {})
    config = apply_overrides(tiny_config, {"device": "cuda", "precision": precision, **adaptive})
    result = train(config, runs_dir=tmp_path, echo=None)
    assert result.test_perplexity < 40
    assert json.loads((result.run_dir / "plan.json").read_text())["plans"][0]["precision"] == \
        precision


def test_glibc_keeps_freed_memory_where_it_is_the_c_library(monkeypatch):
    import platform

    kept = hardware.keep_freed_memory()
    assert kept == (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")
    monkeypatch.setattr(platform, "libc_ver", lambda: ("musl", "1.2"))
    assert hardware.keep_freed_memory() is False


@pytest.mark.parametrize("description, short", [
    ("Intel(R) Xeon(R) Processor (family 6, model 167) [avx2 fma avx512f avx512_bf16 amx_bf16 "
     "amx_tile], 2 cores, torch 2.13.0+cpu (2 threads), no GPU", "Xeon model 167, AMX-BF16, 2 cores"),
    ("AMD EPYC [avx2 fma avx512f avx512_bf16], 2 cores, torch 2.13.0+cpu (2 threads), no GPU",
     "EPYC, AVX512-BF16, 2 cores"),
    ("AMD EPYC [avx2 fma], 2 cores, torch 2.13.0+cpu (2 threads), no GPU", "EPYC, AVX2, 2 cores"),
    ("Intel(R) Xeon(R) Processor [avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile], 16 cores, "
     "torch 2.11.0+cu130 (16 threads), GPU NVIDIA H200", "NVIDIA H200 GPU"),
    ("Apple M2 [none of avx2/fma], 8 cores, torch 2.13.0 (8 threads), no GPU", "Apple M2, 8 cores"),
])
def test_a_machine_is_named_short_for_a_table(description, short):
    assert hardware.short_machine_name(description) == short
    assert hardware.short_machine_name(hardware.describe_machine())  # this machine's too
