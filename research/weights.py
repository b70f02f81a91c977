"""Role weights in the database ↔ the weights file (config/research_weights.yaml).

The database is what runs use (admin: Research › Role weights, Scoring parameters); the file is the
shipped default and the place to keep them in version control. Import replaces every row in one
transaction after validating the whole file; export writes the same format back, keeping the file's
leading comment block, so `export` then `import` changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from django.db import transaction

from research.models import RoleWeight, ScoringParameter
from research.scoring import DEFAULT_WEIGHTS_PATH, ResearchWeights, dump_weights, load_weights, weights_to_dict
from research.selectors import weights_current


def weights_import(*, text: str) -> ResearchWeights:
    """Make the weights in `text` the database's. Raises WeightsError (nothing changed) for a bad file."""
    weights = load_weights(text)
    document = weights_to_dict(weights)
    parameters = {
        "half_life_days": document["half_life_days"],
        "coverage_exponent": document["coverage_exponent"],
        **{f"cost.{name}": value for name, value in document["cost"].items()},
        **{f"profiles.{name}": value for name, value in document["profiles"].items()},
    }
    with transaction.atomic():
        RoleWeight.objects.all().delete()
        ScoringParameter.objects.all().delete()
        RoleWeight.objects.bulk_create(
            RoleWeight(role=role, family=family, weight=weight)
            for role, families in document["roles"].items()
            for family, weight in families.items()
        )
        ScoringParameter.objects.bulk_create(ScoringParameter(name=n, value=v) for n, v in parameters.items())
    return weights


def weights_import_file(path: Path | str = DEFAULT_WEIGHTS_PATH) -> ResearchWeights:
    return weights_import(text=Path(path).read_text(encoding="utf-8"))


def weights_export() -> str:
    """The database's weights as weights-file YAML, headed by the shipped file's comments."""
    weights, _ = weights_current()
    return _header() + dump_weights(weights)


def weights_export_file(path: Path | str = DEFAULT_WEIGHTS_PATH) -> Path:
    text = weights_export()  # read before the file is replaced: its comments are the header
    target = Path(path)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(target)
    return target


def _header() -> str:
    try:
        lines = DEFAULT_WEIGHTS_PATH.read_text(encoding="utf-8").splitlines(keepends=True)
    except OSError:
        return ""
    header = []
    for line in lines:
        if not line.startswith("#"):
            break
        header.append(line)
    return "".join(header)
