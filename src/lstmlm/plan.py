"""What a run decided from its request: the plan it trains by.

The user's Config stays as asked. Planning settles what the request leaves to the run (the
device, the precision `auto` resolves to, the corpus's absolute path) and, with a time budget,
the shape, the epochs, the schedule and the regularisation that fit, with what it measured.
A re-plan after an epoch makes a new RunPlan; the run folder's plan.json holds them all.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from .budget import Costs
from .config import Config, ModelConfig, OptimisationConfig, RegularisationConfig
from .errors import LstmlmError


@dataclass(frozen=True)
class RunPlan:
    """The values a run trains with: its data, device and precision, the model's shape, the
    regularisation and the optimisation (epochs and schedule), and, where a time budget laid
    them out, its measured costs and log lines. `after_epoch` is 0 for the plan made before
    training, N for one laid out again after epoch N."""

    data: str
    device: str
    precision: str
    model: ModelConfig
    regularisation: RegularisationConfig
    optimisation: OptimisationConfig
    after_epoch: int = 0
    costs: Costs | None = None
    notes: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: Config, **decisions) -> "RunPlan":
        """The plan that takes `config` as it asks, with `decisions` in place of its values."""
        values = dict(data=config.data.corpus, device=config.run.device,
                      precision=config.run.precision, model=config.model,
                      regularisation=config.regularisation, optimisation=config.optimisation)
        return cls(**{**values, **decisions})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "RunPlan":
        try:
            return cls(data=values["data"], device=values["device"],
                       precision=values["precision"], model=_section(ModelConfig, values["model"]),
                       regularisation=_section(RegularisationConfig, values["regularisation"]),
                       optimisation=_section(OptimisationConfig, values["optimisation"]),
                       after_epoch=int(values.get("after_epoch", 0)),
                       costs=Costs(**values["costs"]) if values.get("costs") else None,
                       notes=tuple(values.get("notes", ())))
        except (KeyError, TypeError) as error:
            raise LstmlmError(f"plan: bad entry ({error})") from None


def _section(kind: type, values: dict):
    """A config section from its JSON object (lists back to tuples)."""
    return kind(**{name: tuple(value) if isinstance(value, list) else value
                   for name, value in values.items()})


def plans_json(plans: list[RunPlan]) -> str:
    """plan.json's text: every plan of a run, the one in force last."""
    return json.dumps({"plans": [plan.to_dict() for plan in plans]}, indent=2) + "\n"


def load_plans(path: Path) -> list[RunPlan]:
    """The plans in a plan.json."""
    try:
        values = json.loads(Path(path).read_text(encoding="utf-8"))
        entries = values["plans"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise LstmlmError(f"cannot read plan {path}: {error}") from None
    if not entries:
        raise LstmlmError(f"plan {path} holds no plan")
    return [RunPlan.from_dict(entry) for entry in entries]
