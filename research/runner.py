"""Executing one research run: fetch → parse → match → score → propose → apply, recorded on its row.

Sync (a Celery task, a worker thread or a management command runs it), with its own HTTP client. The
pure steps live in research.evaluation, research.scoring and research.ranking; this module does the I/O
around them and keeps the run row current (progress, per-source outcome, names, diff, what revert needs).

Never fatal for the run: a source that cannot be fetched or parsed (an HTML error page, a 404, a missing
column, an empty list, a changed schema, a timeout) is reported on the run and on its source row, and
contributes nothing. Without a parsed model catalogue no name can be matched, so no ranking is touched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from providers.catalogue import FoundModel
from research.evaluation import (
    GatewayModel,
    Scored,
    propose_role,
    score_models,
)
from research.fetch import Fetcher, FetchError
from research.inventory import apply_catalogue_guard, gateway_models, provider_catalogues
from research.models import ResearchRun, ResearchSource
from research.ranking import RankingEntry as ProposedEntry
from research.ranking import diff_rankings
from research.reviews import aliases_record
from research.selectors import reviewed_aliases, source_urls, sources_enabled, weights_current, weights_document
from research.sources import CATALOGUE_KINDS, EXTRA_DOCUMENTS, PARSERS, CatalogueEntry, MetricRecord
from research.sources.records import SourceFormatError
from routing.discovery import models_create_discovered
from routing.models import Model, Provider, Role
from routing.services import RankingSpec, config_bulk_edit, ranking_read, ranking_replace

logger = logging.getLogger(__name__)

TOP_SCORES_KEPT = 8  # per role, the best-scored models explained on the run row


@dataclass
class SourceOutcome:
    name: str
    kind: str
    url: str
    status: str = "ok"  # ok | failed
    records: int = 0
    malformed: int = 0
    ignored: int = 0
    error: str = ""
    elapsed_ms: int = 0
    sha256: str = ""
    overridden: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ReadSources:
    outcomes: list[SourceOutcome] = field(default_factory=list)
    leaderboards: dict[str, list[MetricRecord]] = field(default_factory=dict)
    catalogue: list[CatalogueEntry] = field(default_factory=list)
    catalogue_ok: bool = False
    digests: dict[str, str] = field(default_factory=dict)


class Progress:
    """Writes the run's stage and percentage as it goes (the status endpoint and the command show them)."""

    def __init__(self, run: ResearchRun, echo: Callable[[str], None] | None = None) -> None:
        self.run, self.echo, self.lines = run, echo, []

    def __call__(self, percent: int, stage: str) -> None:
        now = timezone.now()
        self.lines.append(f"{now:%H:%M:%S} {percent:3d}% {stage}")
        ResearchRun.objects.filter(pk=self.run.pk).update(
            progress=percent, stage=stage[:300], heartbeat_at=now, log="\n".join(self.lines)
        )
        self.run.progress, self.run.stage = percent, stage
        if self.echo:
            self.echo(f"[{percent:3d}%] {stage}")


def execute(run: ResearchRun, *, echo: Callable[[str], None] | None = None,
            transport: httpx.BaseTransport | None = None) -> ResearchRun:
    """Run `run` (queued, holding the lock) to the end; the row says how it went. Never raises for a bad
    source; any other failure marks the run failed (nothing half-applied: the writes are one transaction)."""
    progress = Progress(run, echo)
    worker = f"{socket.gethostname()}:{os.getpid()} {threading.current_thread().name}"
    ResearchRun.objects.filter(pk=run.pk).update(
        status=ResearchRun.Status.RUNNING, started_at=timezone.now(), worker=worker[:200]
    )
    try:
        _execute(run, progress, transport)
    except Exception as exc:  # the run row must end, whatever broke
        logger.exception("research run %s failed", run.pk)
        progress(run.progress, f"failed: {type(exc).__name__}: {exc}")
        ResearchRun.objects.filter(pk=run.pk).update(
            status=ResearchRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:4000],
            finished_at=timezone.now(), active=None,
        )
    run.refresh_from_db()
    return run


def _execute(run: ResearchRun, progress: Progress, transport: httpx.BaseTransport | None) -> None:
    today = timezone.now().date()
    force = run.mode == ResearchRun.Mode.FORCE_REFRESH
    weights, weights_origin = weights_current()
    progress(2, f"weights from {weights_origin}")
    read = read_sources(progress, today=today, force=force, transport=transport)
    run.sources = [outcome.as_dict() for outcome in read.outcomes]
    failed = [o.name for o in read.outcomes if o.status != "ok"]
    ResearchRun.objects.filter(pk=run.pk).update(sources=run.sources)

    if read.outcomes and len(failed) == len(read.outcomes):
        message = f"No source could be read ({', '.join(failed)}); no ranking was changed."
        progress(100, message)
        ResearchRun.objects.filter(pk=run.pk).update(
            status=ResearchRun.Status.FAILED, error=message, summary=message, finished_at=timezone.now(), active=None
        )
        return
    if not read.catalogue_ok:
        _finish(run, progress, summary="No model catalogue could be read: names cannot be matched, so no "
                f"ranking was changed. Failed sources: {', '.join(failed) or 'none enabled'}.")
        return

    progress(55, "reading the configured providers' model lists")
    providers = provider_catalogues(run) if settings.RESEARCH_PROVIDER_CATALOGUES else {}
    models = gateway_models(providers)
    fingerprint = _fingerprint(read, models)
    previous = ResearchRun.objects.filter(status=ResearchRun.Status.SUCCEEDED).exclude(fingerprint="").first()
    if not force and previous is not None and previous.fingerprint == fingerprint:
        run.fingerprint = fingerprint
        _finish(run, progress, summary=f"Nothing new since run {previous.pk} (same data, weights, aliases and "
                "models): rankings left as they are. Force refresh re-evaluates anyway.")
        return

    progress(60, f"matching names and scoring {len(models)} models")
    roles = list(Role.objects.order_by("name").values_list("name", flat=True))
    profile = settings.RESEARCH_PROFILE
    if profile not in weights.profiles:
        raise ValueError(f"RESEARCH_PROFILE {profile!r} is not a profile of the weights ({sorted(weights.profiles)})")
    scored = score_models(
        leaderboards=read.leaderboards, catalogue=read.catalogue, aliases=reviewed_aliases(),
        models=list(models.values()), weights=weights, roles=roles, profile=profile, today=today,
    )
    sources = {s.name: s for s in ResearchSource.objects.all()}
    counts = aliases_record(verdicts=scored.verdicts, sources=sources)
    names = _names_report(scored)

    progress(80, "proposing rankings")
    applied = apply_rankings(run, scored, roles, providers)
    progress(90, "checking catalogue prices and context windows")
    catalogue_report = apply_catalogue_guard(run, providers)
    catalogue_report["rows_added"] = applied.pop("rows_added")

    changed = sorted(applied["changes"])
    parts = [f"{len(changed)} role(s) changed" + (f": {', '.join(changed)}" if changed else "")]
    parts.append(f"names matched {counts['matched']}, unmatched {counts['unmatched']}, "
                 f"ambiguous {counts['ambiguous']}")
    if failed:
        parts.append(f"skipped sources: {', '.join(failed)}")
    if catalogue_report["held"]:
        parts.append(f"{len(catalogue_report['held'])} catalogue change(s) held for review")
    # What the next trigger compares with: the inputs as this run leaves them (with the rows it added).
    run.fingerprint = _fingerprint(read, gateway_models(providers))
    ResearchRun.objects.filter(pk=run.pk).update(
        matched_count=counts["matched"], unmatched_count=counts["unmatched"],
        ambiguous_count=counts["ambiguous"], names=names, scores=_scores_report(scored),
        catalogue=catalogue_report,
    )
    _finish(run, progress, summary="; ".join(parts) + ".")


def _finish(run: ResearchRun, progress: Progress, *, summary: str) -> None:
    progress(100, "done")
    ResearchRun.objects.filter(pk=run.pk).update(
        status=ResearchRun.Status.SUCCEEDED, summary=summary, finished_at=timezone.now(), active=None,
        fingerprint=run.fingerprint,
    )


# ---- sources ------------------------------------------------------------------------------------------


def read_sources(progress: Progress, *, today: date, force: bool,
                 transport: httpx.BaseTransport | None = None) -> ReadSources:
    """Fetch and parse every enabled source; a failure is recorded on the outcome and its source row."""
    read = ReadSources()
    enabled = sources_enabled()
    bodies: dict[str, bytes] = {}  # one fetch per URL per run (the catalogue and its benchmarks share one)
    with Fetcher(timeout_seconds=settings.RESEARCH_FETCH_TIMEOUT_SECONDS,
                 max_bytes=settings.RESEARCH_MAX_RESPONSE_BYTES, transport=transport, no_cache=force) as fetcher:
        for index, source in enumerate(enabled):
            progress(5 + 45 * index // max(len(enabled), 1), f"fetching {source.name}")
            urls = source_urls(source)
            outcome = SourceOutcome(source.name, source.kind, urls.url, overridden=list(urls.overridden))
            started = timezone.now()
            try:
                parsed = _fetch_and_parse(fetcher, bodies, source, urls.url, urls.documents, today, outcome)
            except (FetchError, SourceFormatError) as exc:
                outcome.status, outcome.error = "failed", str(exc)
            except Exception as exc:  # a parser bug on an unexpected body: this source only
                logger.exception("research source %s: parser failed", source.name)
                outcome.status, outcome.error = "failed", f"could not parse: {type(exc).__name__}: {exc}"
            else:
                outcome.records, outcome.malformed, outcome.ignored = (
                    len(parsed), len(parsed.malformed), len(parsed.ignored)
                )
                read.digests[source.name] = outcome.sha256
                if source.kind in CATALOGUE_KINDS:
                    read.catalogue.extend(parsed)
                    read.catalogue_ok = True
                else:
                    read.leaderboards[source.name] = list(parsed)
            outcome.elapsed_ms = int((timezone.now() - started).total_seconds() * 1000)
            read.outcomes.append(outcome)
            ResearchSource.objects.filter(pk=source.pk).update(
                last_fetched_at=timezone.now(),
                last_status=ResearchSource.Status.OK if outcome.status == "ok" else ResearchSource.Status.FAILED,
                last_error=outcome.error[:4000], last_records=outcome.records,
                **({"last_sha256": outcome.sha256} if outcome.sha256 else {}),
            )
    # Two catalogues may list the same model: the first source (by name) wins.
    seen: set[str] = set()
    read.catalogue = [e for e in read.catalogue if not (e.id in seen or seen.add(e.id))]
    return read


def _fetch_and_parse(fetcher: Fetcher, bodies: dict[str, bytes], source: ResearchSource, url: str,
                     documents: dict[str, str], today: date, outcome: SourceOutcome):
    parser = PARSERS.get(source.kind)
    if parser is None:
        raise SourceFormatError(source.name, f"no parser for kind {source.kind!r}")
    body = _get(fetcher, bodies, url)
    digest = hashlib.sha256(body)
    extra: dict[str, bytes] = {}
    for name in EXTRA_DOCUMENTS.get(source.kind, ()):
        if name not in documents:
            raise SourceFormatError(source.name, f"the {name!r} document has no URL (the source's documents)")
        extra[name] = _get(fetcher, bodies, documents[name])
        digest.update(extra[name])
    outcome.sha256 = digest.hexdigest()
    return parser(body, url=url, fetched_at=today, **extra)


def _get(fetcher: Fetcher, bodies: dict[str, bytes], url: str) -> bytes:
    if url not in bodies:
        bodies[url] = fetcher.get(url).body
    return bodies[url]


# ---- rankings -----------------------------------------------------------------------------------------


def apply_rankings(run: ResearchRun, scored: Scored, roles: list[str],
                   listed: dict[str, list[FoundModel]]) -> dict[str, Any]:
    """Propose each role's ranking and write the changed ones, with the run's record of them, in one
    transaction and one config version bump (every process's snapshot refreshes after commit)."""
    changes: dict[str, list[dict]] = {}
    before: dict[str, list[dict]] = {}
    after: dict[str, list[dict]] = {}
    rows_added: list[str] = []
    with config_bulk_edit(), transaction.atomic():
        for role in roles:
            current_specs = ranking_read(role=role)
            current = [ProposedEntry(s.model, s.kind, s.reason, s.pinned) for s in current_specs]
            proposed = propose_role(scored, role, current, margin=settings.RESEARCH_MARGIN,
                                    max_entries=settings.RESEARCH_MAX_ENTRIES)
            if proposed == current or (current and not proposed):  # never empties a ranking
                continue
            rows_added += _create_rows([e.model_id for e in proposed], scored, listed)
            ranking_replace(role=role, entries=[RankingSpec(e.model_id, e.kind, e.reason, e.pinned) for e in proposed],
                            change_reason=f"research run {run.pk}")
            changes[role] = [change.as_dict() for change in diff_rankings(current, proposed)]
            before[role] = [_spec_dict(s) for s in current_specs]
            after[role] = [_spec_dict(s) for s in ranking_read(role=role)]
        ResearchRun.objects.filter(pk=run.pk).update(changes=changes, previous_rankings=before, new_rankings=after)
    run.changes, run.previous_rankings, run.new_rankings = changes, before, after
    return {"changes": changes, "rows_added": rows_added}


def _create_rows(model_ids: list[str], scored: Scored, listed: dict[str, list[FoundModel]]) -> list[str]:
    """Disabled rows for entries a provider lists but the gateway has no row for yet (discovery's rule)."""
    added: list[str] = []
    wanted: dict[str, list[FoundModel]] = {}
    for model_id in model_ids:
        model = scored.models.get(model_id)
        if model is None or model.exists or Model.objects.filter(public_id=model_id).exists():
            continue
        found = next((m for m in listed.get(model.provider, []) if m.upstream_name == model.upstream_name), None)
        if found is not None:
            wanted.setdefault(model.provider, []).append(found)
    for provider in Provider.objects.filter(name__in=list(wanted)):
        added += models_create_discovered(provider=provider, found=wanted[provider.name])
    return added


def _spec_dict(spec: RankingSpec) -> dict[str, Any]:
    return {"model": spec.model, "kind": spec.kind, "reason": spec.reason, "pinned": spec.pinned}


def spec_from_dict(data: dict[str, Any]) -> RankingSpec:
    return RankingSpec(model=data["model"], kind=data["kind"], reason=data.get("reason", ""),
                       pinned=bool(data.get("pinned", False)))


# ---- reports ------------------------------------------------------------------------------------------


def _fingerprint(read: ReadSources, models: dict[str, GatewayModel]) -> str:
    """Digest of everything a run's result depends on; a trigger with the same one has nothing new to do."""
    document = {
        "sources": read.digests,
        "weights": weights_document(),
        "aliases": {str(k): v for k, v in reviewed_aliases().items()},
        "models": sorted((m.public_id, m.enabled, m.can_enter, m.can_stay) for m in models.values()),
        "settings": [settings.RESEARCH_PROFILE, settings.RESEARCH_MARGIN, settings.RESEARCH_MAX_ENTRIES],
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


def _names_report(scored: Scored) -> dict[str, Any]:
    report: dict[str, dict[str, list[str]]] = {}
    for verdict in scored.verdicts:
        if verdict.match.status == "matched":
            continue
        source = verdict.source or "gateway models"
        report.setdefault(source, {}).setdefault(verdict.match.status, []).append(verdict.name)
    return report


def _scores_report(scored: Scored) -> dict[str, list[dict[str, Any]]]:
    models_of: dict[str, list[str]] = {}
    for public_id, identity in scored.model_identities.items():
        models_of.setdefault(identity, []).append(public_id)
    report: dict[str, list[dict[str, Any]]] = {}
    for role, by_identity in scored.scores.items():
        best = sorted(by_identity.values(), key=lambda s: (-s.score, s.identity))[:TOP_SCORES_KEPT]
        report[role] = [
            {"identity": s.identity, "models": sorted(models_of.get(s.identity, [])), "score": round(s.score, 4),
             "coverage": round(s.coverage, 3), "explanation": s.explain(),
             "sources": sorted({f"{c.source} {c.as_of or ''} {c.url}".replace("  ", " ")
                                for f in s.families for c in f.components})}
            for s in best
        ]
    return report
