"""The named presets: the published recipes (Zaremba et al.'s small, medium and large, AWD-LSTM,
the cookbook's and the PyTorch tutorial's) and lstmlm's own budgeted ones, each as the flat
fields it sets on top of the defaults."""

from __future__ import annotations

from .config import Config, from_flat
from .errors import LstmlmError

MEDIUM = dict(init_scale=0.05, learning_rate=1.0, max_grad_norm=5, num_layers=2, num_steps=35,
              hidden_size=650, max_epoch=6, max_max_epoch=39, dropout=0.5, lr_decay=0.8,
              batch_size=20)
LARGE = dict(init_scale=0.04, learning_rate=1.0, max_grad_norm=10, num_layers=2, num_steps=35,
             hidden_size=1500, max_epoch=14, max_max_epoch=55, dropout=0.65, lr_decay=1 / 1.15,
             batch_size=20)

# The preset whose model a time budget sizes (budget_hidden_sizes), named where a fixed recipe
# does not fit a budget.
BUDGETED_PRESET = "cpu-fast"

PRESETS: dict[str, dict] = {
    "small": dict(init_scale=0.1, learning_rate=1.0, max_grad_norm=5, num_layers=2, num_steps=20,
                  hidden_size=200, max_epoch=4, max_max_epoch=13, dropout=0.0, lr_decay=0.5,
                  batch_size=20),
    "medium": MEDIUM,
    "large": LARGE,
    # Zaremba's medium and large with the decoder tied to the embedding.
    "medium-tied": dict(MEDIUM, tie_weights=True, precision="auto"),
    "large-tied": dict(LARGE, tie_weights=True, precision="auto"),
    # AWD-LSTM's PTB model as its paper and repository document it (Merity, Keskar & Socher
    # 2017: 3 layers, 400/1150, the dropouts below, NT-ASGD at lr 30, 500 epochs; 57.3 test
    # with its fine-tuning stage, 58.8 without).
    "awd": dict(num_layers=3, embedding_size=400, hidden_size=1150, tie_weights=True,
                variational_dropout=True, input_dropout=0.4, hidden_dropout=0.25,
                output_dropout=0.4, embedding_dropout=0.1, weight_drop=0.5,
                ar_alpha=2.0, tar_beta=1.0, weight_decay=1.2e-6, init_method="awd",
                init_scale=0.1, optimizer="ntasgd", nonmono=5, learning_rate=30.0,
                loss_average="token", max_grad_norm=0.25, max_epoch=1, max_max_epoch=500,
                lr_decay=1.0, num_steps=70, variable_length=True, batch_size=20,
                eval_batch_size=1, precision="auto"),
    # The best configuration found for PTB on 2 CPU cores in 2 hours (docs/benchmarks.md): a
    # tied two-layer LSTM with the AWD-LSTM regularisers, bf16, and a cosine schedule. Its
    # dropouts are tuned for 34 epochs of 512 units; the short ones for 10 epochs of 400.
    # Budgets too short for 10 epochs train one-cycle Adam instead, which won at 2.5 and 6.
    # SGD holds its peak rate until the last third of the run, which won at 30 minutes.
    "cpu-fast": dict(hidden_size=512, num_layers=2, num_steps=35, batch_size=20,
                     tie_weights=True, variational_dropout=True, dropout=0.35,
                     hidden_dropout=0.2, embedding_dropout=0.1, weight_drop=0.2,
                     ar_alpha=2.0, tar_beta=1.0, weight_decay=1.2e-6, init_scale=0.1,
                     optimizer="sgd", learning_rate=30.0, loss_average="token",
                     max_grad_norm=0.25, lr_schedule="cosine", warmup_epochs=0.5,
                     anneal_share=0.34, max_epoch=1, max_max_epoch=34, lr_decay=1.0,
                     variable_length=True, precision="auto", time_budget=7200.0,
                     budget_hidden_sizes=(512, 400, 320, 256), budget_min_epochs=10,
                     budget_adaptive_cutoffs=(2000,), budget_onecycle_epochs=10,
                     budget_onecycle_lr=0.008,
                     budget_short_regularisation=dict(dropout=0.25, hidden_dropout=0.1,
                                                      weight_drop=0.1, embedding_dropout=0.05)),
    # WikiText-103 on one GPU in 12 hours, the budget of Merity et al. (2018), whose 4-layer
    # QRNN reached 33.0 test: their recipe on three LSTM layers over a 400-wide embedding, the
    # adaptive softmax at Grave et al.'s cutoffs, Adam with a cosine schedule, and light
    # dropout (103M words overfit little). The budget measures the device and takes the
    # widest of 2048/1536/1024 that fits 8 epochs (an estimate, see docs/benchmarks.md).
    "wt103": dict(data="wikitext-103", num_layers=3, embedding_size=400, hidden_size=2048,
                  softmax="adaptive", adaptive_cutoffs=(20000, 40000, 200000),
                  adaptive_div_value=4.0, dropout=0.1, variational_dropout=True,
                  init_method="awd", init_scale=0.1, optimizer="adam", learning_rate=1e-3,
                  loss_average="token", max_grad_norm=0.25, lr_schedule="cosine",
                  warmup_epochs=0.1, max_epoch=1, max_max_epoch=14, lr_decay=1.0,
                  num_steps=100, variable_length=True, batch_size=60, eval_batch_size=1,
                  precision="auto", time_budget=12 * 3600.0,
                  budget_hidden_sizes=(2048, 1536, 1024), budget_min_epochs=8),
    # The TensorFlow machine-learning cookbook's word-level Shakespeare model.
    "shakespeare": dict(data="shakespeare", clean_text=True, min_freq=6, vocab_size=100000,
                        hidden_size=128, embedding_size=128, num_layers=1, batch_size=100,
                        num_steps=50, optimizer="adam", learning_rate=0.001, lr_decay=1.0,
                        loss_average="token", max_grad_norm=4.5, max_epoch=10, max_max_epoch=10,
                        dropout=0.0, init_scale=0.1, checkpoint_every=500, sample_every=50,
                        sample_primes=("thou art more", "to be or not to", "wherefore art thou"),
                        sample_strategy="greedy"),
    # The PyTorch RNNLM tutorial (pytorch-tutorial's language_model).
    "tutorial": dict(hidden_size=1024, embedding_size=128, num_layers=1, batch_size=20,
                     num_steps=30, optimizer="adam", learning_rate=0.002, lr_decay=1.0,
                     loss_average="token", max_grad_norm=0.5, max_epoch=5, max_max_epoch=5,
                     dropout=0.0, init_scale=0.1, vocab_size=10000, sample_words=1000,
                     sample_start="random", sample_allow_unk=True),
    "test": dict(init_scale=0.1, learning_rate=1.0, max_grad_norm=1, num_layers=1, num_steps=2,
                 hidden_size=2, max_epoch=1, max_max_epoch=1, dropout=0.0, lr_decay=0.5,
                 batch_size=20),
}


def get_preset(name: str) -> Config:
    """The Config of a named preset; unknown names raise LstmlmError listing the known ones."""
    if name not in PRESETS:
        raise LstmlmError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})")
    return from_flat(dict(PRESETS[name], preset=name))
