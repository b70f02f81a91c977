"""Monthly research: where benchmark data comes from, how names map to models, the weights, and each run.

Rows here are edited in the admin; writes go through research/services.py (runs), research/reviews.py
(the name review queue), research/weights.py (weights ↔ YAML) and research/setup.py (shipped defaults).
"""

from __future__ import annotations

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from research.sources import CATALOGUE_KINDS, PARSERS, WEIGHT_FAMILIES
from routing.models import Model, RoleName

source_name = RegexValidator(r"^[a-z0-9][a-z0-9_]*$", "Lower-case letters, digits and '_' only, e.g. aider.")
parameter_name = RegexValidator(
    r"^(half_life_days|coverage_exponent|cost\.(input_share|floor_per_million|ceiling_per_million)"
    r"|profiles\.[a-z0-9][a-z0-9_-]*)$",
    "One of half_life_days, coverage_exponent, cost.input_share, cost.floor_per_million, "
    "cost.ceiling_per_million, or profiles.<profile> (that profile's cost multiplier).",
)

KIND_LABELS = {
    "openrouter": "OpenRouter model catalogue (/api/v1/models)",
    "openrouter_benchmarks": "Artificial Analysis indices in the OpenRouter catalogue",
    "aider": "Aider polyglot leaderboard (YAML)",
    "lmarena": "LMArena text ratings per category (JSON)",
    "lmarena_style_control": "LMArena text ratings, style control (JSON)",
    "livebench": "LiveBench table (CSV) + categories (JSON)",
    "swebench": "SWE-bench leaderboards (JSON)",
    "arena_hard": "Arena-Hard-Auto leaderboard (CSV)",
    "open_llm": "Open LLM Leaderboard rows (JSON)",
}


class ResearchSource(models.Model):
    """One published file research reads: a leaderboard or a model catalogue."""

    class Status(models.TextChoices):
        NEVER = "", "never fetched"
        OK = "ok"
        FAILED = "failed"

    name = models.CharField(
        max_length=64, unique=True, validators=[source_name],
        help_text="Short name; RESEARCH_<NAME>_URL in the environment overrides the URL below.",
    )
    kind = models.CharField(
        max_length=32, choices=[(kind, KIND_LABELS.get(kind, kind)) for kind in PARSERS],
        help_text="The published format, which decides the parser.",
    )
    url = models.URLField(max_length=500, help_text="The published file (or a mirror of it).")
    documents = models.JSONField(
        default=dict, blank=True,
        help_text='Further files the format needs, by name: LiveBench needs {"categories": "https://…"}. '
        "RESEARCH_<NAME>_<DOCUMENT>_URL overrides one.",
    )
    enabled = models.BooleanField(default=True)
    notes = models.TextField(blank=True)
    last_fetched_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEVER, blank=True)
    last_error = models.TextField(blank=True)
    last_records = models.PositiveIntegerField(default=0, help_text="Records (or catalogue models) last parsed.")
    last_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_catalogue(self) -> bool:
        return self.kind in CATALOGUE_KINDS


class ModelAlias(models.Model):
    """What one published name means: a catalogue identity, or (reviewed, empty identity) no model we know.

    Every name a run sees gets a row, with the matcher's verdict. Only reviewed rows steer the matcher;
    unreviewed unmatched or ambiguous ones form the review queue. Rows without a source are the
    gateway's own model rows (their upstream names), matched to identities the same way.
    """

    class Status(models.TextChoices):
        MATCHED = "matched"
        UNMATCHED = "unmatched"
        AMBIGUOUS = "ambiguous"

    source = models.ForeignKey(
        ResearchSource, null=True, blank=True, on_delete=models.CASCADE, related_name="aliases",
        help_text="Empty: a gateway model row's upstream name.",
    )
    published_name = models.CharField(max_length=300)
    identity = models.CharField(
        max_length=200, blank=True,
        help_text="The catalogue model this name is (OpenRouter canonical slug or id). "
        "Empty on a reviewed row: not a model in the catalogue.",
    )
    reviewed = models.BooleanField(
        default=False, help_text="Reviewed rows are used as they are; the matcher decides the others each run."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNMATCHED)
    candidates = models.JSONField(default=list, blank=True, help_text="Catalogue models the name could be.")
    reason = models.TextField(blank=True, help_text="Why the matcher decided as it did.")
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["source__name", "published_name"]
        # Not the routing app's "model aliases" (names clients send): names leaderboards publish.
        verbose_name = "published model name"
        constraints = [
            models.UniqueConstraint(
                fields=["source", "published_name"], condition=Q(source__isnull=False), name="unique_source_alias"
            ),
            models.UniqueConstraint(
                fields=["published_name"], condition=Q(source__isnull=True), name="unique_gateway_alias"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source.name if self.source_id else 'gateway'}: {self.published_name}"


class NameReview(ModelAlias):
    """The review queue: names the matcher could not place, or could place more than one way."""

    class Meta:
        proxy = True
        verbose_name = "name to review"
        verbose_name_plural = "names to review"


class RoleWeight(models.Model):
    """How much a metric family counts in a role's score (config/research_weights.yaml `roles`)."""

    role = models.CharField(max_length=32, choices=RoleName.choices)
    family = models.CharField(max_length=32, choices=[(family, family) for family in WEIGHT_FAMILIES])
    weight = models.FloatField(validators=[MinValueValidator(0.0)])
    history = HistoricalRecords()  # who changed a weight and when; reverted from the admin's history page

    class Meta:
        ordering = ["role", "family"]
        constraints = [models.UniqueConstraint(fields=["role", "family"], name="unique_role_family_weight")]

    def __str__(self) -> str:
        return f"{self.role}: {self.family} ×{self.weight:g}"


class ScoringParameter(models.Model):
    """The rest of the weights file, by its dotted path: recency half-life, coverage, cost scale, profiles."""

    name = models.CharField(max_length=64, unique=True, validators=[parameter_name])
    value = models.FloatField(validators=[MinValueValidator(0.0)])
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} = {self.value:g}"


class ResearchRun(models.Model):
    """One run: what it read, what it matched, what it changed, and what a revert restores."""

    class Mode(models.TextChoices):
        TRIGGER = "trigger", "trigger (new data only)"
        FORCE_REFRESH = "force_refresh", "force refresh (re-fetch, re-evaluate all)"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.TRIGGER)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # True while queued or running, NULL after: the unique index lets one run at a time hold it, in every
    # process on the database (research/services.py `research_trigger`).
    active = models.BooleanField(null=True, unique=True, editable=False)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    stage = models.CharField(max_length=300, blank=True)
    triggered_by = models.CharField(max_length=200, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="Where the run executed.")
    celery_task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    sources = models.JSONField(default=list, blank=True, help_text="Per source: status, records, errors.")
    matched_count = models.PositiveIntegerField(default=0)
    unmatched_count = models.PositiveIntegerField(default=0)
    ambiguous_count = models.PositiveIntegerField(default=0)
    names = models.JSONField(default=dict, blank=True, help_text="Unmatched and ambiguous names per source.")
    changes = models.JSONField(default=dict, blank=True, help_text="Per role: the ranking changes made.")
    previous_rankings = models.JSONField(default=dict, blank=True, help_text="Per changed role: what revert restores.")
    new_rankings = models.JSONField(default=dict, blank=True, help_text="Per changed role: what the run wrote.")
    scores = models.JSONField(default=dict, blank=True, help_text="Per role: the best-scored models, explained.")
    catalogue = models.JSONField(default=dict, blank=True, help_text="Model rows added, updated, held for review.")
    fingerprint = models.CharField(max_length=64, blank=True, help_text="Digest of every input the run read.")
    summary = models.TextField(blank=True)
    error = models.TextField(blank=True)
    log = models.TextField(blank=True)
    reverted_at = models.DateTimeField(null=True, blank=True)
    reverted_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.status})"

    @property
    def changed_roles(self) -> list[str]:
        return sorted(self.changes)


class CatalogueChange(models.Model):
    """A provider catalogue's price or context window that differs by more than ×10: held, not applied."""

    class Field(models.TextChoices):
        CONTEXT_WINDOW = "context_window", "context window"
        INPUT_PRICE = "input_price_per_mtok", "input $/1M tokens"
        OUTPUT_PRICE = "output_price_per_mtok", "output $/1M tokens"

    class Status(models.TextChoices):
        HELD = "held", "held for review"
        APPLIED = "applied"
        REJECTED = "rejected"

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="+")
    field = models.CharField(max_length=32, choices=Field.choices)
    current_value = models.CharField(max_length=64)
    proposed_value = models.CharField(max_length=64)
    source = models.CharField(max_length=200)
    run = models.ForeignKey(ResearchRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.HELD)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "held catalogue change"

    def __str__(self) -> str:
        return f"{self.model}: {self.field} {self.current_value} → {self.proposed_value}"
