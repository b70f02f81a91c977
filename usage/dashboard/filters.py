"""What a dashboard request asks for: a UTC date range and dimension filters, parsed once, checked strictly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Q
from django.utils import timezone

DEFAULT_DAYS = 30
MAX_DAYS = 400
# Dimension filters: query parameter -> column (the same name on usage rows and on the roll-up).
DIMENSIONS = {
    "model": "model",
    "provider": "provider",
    "role": "role",
    "key": "api_key_prefix",
    "profile": "profile",
    "role_source": "role_source",
    "status_class": "status_class",
}


class FilterError(ValueError):
    """A bad query parameter; `field` names it (the view answers 400 with it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class DashboardFilters:
    since: date  # first day, inclusive (UTC)
    until: date  # last day, inclusive (UTC)
    dimensions: dict[str, str] = field(default_factory=dict)  # column -> value

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time(), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """Exclusive: midnight after the last day."""
        return datetime.combine(self.until + timedelta(days=1), time(), tzinfo=UTC)

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1

    def rollup_q(self) -> Q:
        """On the hourly roll-up."""
        return Q(hour__gte=self.start, hour__lt=self.end, **self.dimensions)

    def daily_q(self) -> Q:
        """On the daily roll-up (the range is whole UTC days, so it holds the same requests)."""
        return Q(day__gte=self.since, day__lte=self.until, **self.dimensions)

    def raw_q(self, start: datetime | None = None) -> Q:
        """The same rows on the raw table (status class as a status-code range; role source only if recorded)."""
        from usage.models import UsageRecord

        q = Q(created_at__gte=start or self.start, created_at__lt=self.end)
        recorded = {field.name for field in UsageRecord._meta.get_fields()}
        for column, value in self.dimensions.items():
            if column not in recorded and column != "status_class":  # role_source before rows carried it
                q &= Q() if value == "" else Q(pk__in=[])
            elif column == "status_class":
                hundreds = int(value[0])
                q &= Q(status_code__gte=hundreds * 100, status_code__lt=hundreds * 100 + 100)
            else:
                q &= Q(**{column: value})
        return q

    def as_dict(self) -> dict:
        names = {column: name for name, column in DIMENSIONS.items()}
        return {"since": self.since.isoformat(), "until": self.until.isoformat(),
                **{names[column]: value for column, value in self.dimensions.items()}}


def parse_filters(params: Mapping[str, str], *, today: date | None = None) -> DashboardFilters:
    """`since`/`until` as YYYY-MM-DD (UTC days, both inclusive; default: the last 30 days) and any of
    model, provider, role, key, profile, role_source, status_class. Raises FilterError."""
    today = today or timezone.now().astimezone(UTC).date()
    until = _day(params, "until") or today
    since = _day(params, "since") or until - timedelta(days=DEFAULT_DAYS - 1)
    if since > until:
        raise FilterError("since", f"since ({since}) is after until ({until})")
    if (until - since).days + 1 > MAX_DAYS:
        raise FilterError("since", f"the range may span at most {MAX_DAYS} days")
    dimensions = {}
    for name, column in DIMENSIONS.items():
        value = params.get(name)
        if value is None or value == "":
            continue
        if len(value) > 200:
            raise FilterError(name, f"{name} is longer than 200 characters")
        if name == "status_class" and not (len(value) == 3 and value[0] in "12345" and value[1:] == "xx"):
            raise FilterError(name, "status_class must be one of 1xx, 2xx, 3xx, 4xx, 5xx")
        dimensions[column] = "" if value == "(none)" else value
    return DashboardFilters(since=since, until=until, dimensions=dimensions)


def _day(params: Mapping[str, str], name: str) -> date | None:
    value = params.get(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FilterError(name, f"{name} must be a date as YYYY-MM-DD, not {value[:40]!r}") from None
