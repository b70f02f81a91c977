"""Providers, models, role rankings and profiles: the routing configuration operators edit in the admin.

Secrets never live here: a provider row names the environment variable that holds its key.
"""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

env_var_name = RegexValidator(r"^[A-Z_][A-Z0-9_]*$", "Use an environment variable name, e.g. NANOGPT_API_KEY.")
provider_name = RegexValidator(r"^[a-z0-9][a-z0-9_-]*$", "Lower-case letters, digits, '-' and '_' only.")
tier_list = RegexValidator(
    r"^(free|paid|enterprise)(,(free|paid|enterprise))*$",
    "A comma-separated list of tiers in order of preference, e.g. free,paid,enterprise.",
)


class RoleName(models.TextChoices):
    ARCHITECT = "architect"
    IMPLEMENTATION = "implementation"
    CODE_REVIEW = "code_review"
    DEBUGGING = "debugging"
    TESTING = "testing"
    DOCUMENTATION = "documentation"
    RESEARCH = "research"
    GENERAL = "general"


class Provider(models.Model):
    class Kind(models.TextChoices):
        OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible"
        ANTHROPIC = "anthropic", "Anthropic Messages API"
        VERTEX = "vertex", "Google Vertex AI"
        GEMINI = "gemini", "Google Gemini API"
        OLLAMA = "ollama", "Ollama native API"

    class Tier(models.TextChoices):
        FREE = "free"
        PAID = "paid"
        ENTERPRISE = "enterprise"

    name = models.CharField(
        max_length=64,
        unique=True,
        validators=[provider_name],
        help_text="Short lower-case name; also the prefix of pattern routes such as 'nanogpt/<model>'. "
        "The environment variables <NAME>_BASE_URL and <NAME>_API_KEY override this row.",
    )
    kind = models.CharField(max_length=32, choices=Kind.choices, default=Kind.OPENAI_COMPATIBLE)
    base_url = models.URLField(max_length=500, help_text="API root, e.g. https://nano-gpt.com/api/v1")
    api_key_env = models.CharField(
        "API key variable",
        max_length=128,
        blank=True,
        validators=[env_var_name],
        help_text="Name of the environment variable holding the key (never the key itself). "
        "Leave empty for providers that need no key, such as a local Ollama.",
    )
    timeout_seconds = models.FloatField(
        default=120.0, help_text="Longest wait for the next byte from this provider before giving up."
    )
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.PAID)
    monthly_token_quota = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Tokens this provider serves per calendar month (UTC), e.g. a free tier's allowance. A request "
        "the rest of the month's quota cannot cover goes to the next candidate. Empty: no quota (for 'nanogpt': "
        "NANOGPT_MONTHLY_QUOTA).",
    )
    enabled = models.BooleanField(default=True)
    notes = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Model(models.Model):
    class Kind(models.TextChoices):
        CHAT = "chat", "chat (/v1/chat/completions, /v1/responses, /v1/messages)"
        EMBEDDING = "embedding", "embedding (/v1/embeddings)"

    public_id = models.CharField(
        max_length=200, unique=True, help_text="What clients send as 'model' and what /v1/models lists."
    )
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="models")
    upstream_name = models.CharField(max_length=200, help_text="The model name the provider expects.")
    kind = models.CharField(
        max_length=16, choices=Kind.choices, default=Kind.CHAT,
        help_text="Which endpoints it serves: an embedding model answers only /v1/embeddings, and only it does.",
    )
    context_window = models.PositiveIntegerField(default=0, help_text="Tokens; 0 when unknown.")
    input_price_per_mtok = models.DecimalField(
        "input $/1M tokens", max_digits=12, decimal_places=6, default=0
    )
    output_price_per_mtok = models.DecimalField(
        "output $/1M tokens", max_digits=12, decimal_places=6, default=0
    )
    cached_input_price_per_mtok = models.DecimalField(
        "cached input $/1M tokens", max_digits=12, decimal_places=6, null=True, blank=True,
        help_text="Prompt tokens read from the provider's cache. Empty: the input price.",
    )
    cache_write_price_per_mtok = models.DecimalField(
        "cache write $/1M tokens", max_digits=12, decimal_places=6, null=True, blank=True,
        help_text="Prompt tokens written to the provider's cache (Anthropic). Empty: 1.25 x the input price "
        "(Anthropic's 5-minute cache writes).",
    )
    supports_tools = models.BooleanField(default=True)
    supports_vision = models.BooleanField(default=False)
    supports_json = models.BooleanField(default=True)
    enabled = models.BooleanField(default=True)
    fallbacks = models.ManyToManyField(
        "self", through="ModelFallback", symmetrical=False, related_name="fallback_for", blank=True
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["public_id"]

    def __str__(self) -> str:
        return self.public_id


class ModelFallback(models.Model):
    """An ordered fallback tried when a model asked for by name fails before any byte was sent."""

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="fallback_links")
    fallback = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)
    history = HistoricalRecords()

    class Meta:
        ordering = ["model", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["model", "fallback"], name="unique_model_fallback")]

    def __str__(self) -> str:
        return f"{self.model} → {self.fallback}"


class Role(models.Model):
    name = models.CharField(max_length=32, unique=True, choices=RoleName.choices)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RankingEntry(models.Model):
    class Kind(models.TextChoices):
        PRIMARY = "primary"
        FALLBACK = "fallback"
        FREE_TIER = "free_tier", "free-tier alternative"

    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="ranking")
    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="ranking_entries")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.FALLBACK)
    position = models.PositiveSmallIntegerField(default=0, help_text="Lower is tried first.")
    reason = models.TextField(blank=True)
    pinned = models.BooleanField(
        default=False, help_text="Pinned entries keep their place: monthly research never moves or replaces them."
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["role", "position", "id"]
        verbose_name_plural = "ranking entries"
        constraints = [models.UniqueConstraint(fields=["role", "model"], name="unique_role_model")]

    def __str__(self) -> str:
        return f"{self.role} #{self.position}: {self.model}"


class Profile(models.Model):
    name = models.CharField(max_length=64, unique=True, validators=[provider_name])
    description = models.TextField(blank=True)
    tiers = models.CharField(
        max_length=64,
        default="free,paid,enterprise",
        validators=[tier_list],
        help_text="Tiers this profile may use, most preferred first (personal: free first; work: enterprise).",
    )
    providers = models.ManyToManyField(
        Provider, blank=True, help_text="Restrict to these providers; leave empty to allow all."
    )
    history = HistoricalRecords(m2m_fields=[providers])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tier_order(self) -> list[str]:
        return [tier for tier in self.tiers.split(",") if tier]


class ModelAlias(models.Model):
    """Another name for what the gateway serves: an exact id or a glob, mapped to targets tried in order.

    See routing.aliases for how a request's model id is resolved through these rows.
    """

    pattern = models.CharField(
        max_length=200, help_text="The id clients send, exactly or as a glob: 'claude-opus-*', 'claude-*haiku*'."
    )
    target = models.CharField(
        max_length=200,
        help_text="A model id, 'auto', 'auto:<role>', or '<provider>/*' (the requested id on that provider).",
    )
    position = models.PositiveSmallIntegerField(
        default=0, help_text="Targets of one pattern are tried in this order; the first usable one serves."
    )
    notes = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pattern", "position", "id"]
        verbose_name_plural = "model aliases"
        constraints = [models.UniqueConstraint(fields=["pattern", "target"], name="unique_alias_target")]

    def __str__(self) -> str:
        return f"{self.pattern} → {self.target}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from routing.aliases import pattern_problem, target_problem

        problems = {}
        if problem := pattern_problem(self.pattern or ""):
            problems["pattern"] = problem
        problem = target_problem(
            self.target or "", model_ids=Model.objects.values_list("public_id", flat=True),
            provider_names=Provider.objects.values_list("name", flat=True),
            roles=Role.objects.values_list("name", flat=True),
        )
        if problem:
            problems["target"] = problem
        if self.pattern and Model.objects.filter(public_id=self.pattern).exists():
            problems["pattern"] = "a model has this id: the model always wins, so this alias would never apply"
        if problems:
            raise ValidationError(problems)
