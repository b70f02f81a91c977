"""`manage.py research trigger|force-refresh|status|setup|revert RUN|export-weights|import-weights`."""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from research import services
from research.models import ResearchRun
from research.selectors import run_report, status_report
from research.setup import research_setup
from research.weights import weights_export_file, weights_import_file


class Command(BaseCommand):
    help = "Monthly model research: run it now, see its status, revert a run, set up sources and schedule."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        for name, text in (("trigger", "score new models and re-score with new data"),
                           ("force-refresh", "re-fetch everything (no caches) and re-evaluate all")):
            action = sub.add_parser(name, help=text)
            action.add_argument("--queue", action="store_true",
                                help="hand the run to the Celery worker (or this process's thread) and return")
        sub.add_parser("status", help="the run in progress and the latest run")
        revert = sub.add_parser("revert", help="restore the rankings a run changed")
        revert.add_argument("run_id", type=int)
        setup = sub.add_parser("setup", help="default sources, weights and the monthly schedule (idempotent)")
        setup.add_argument("--reset-schedule", action="store_true")
        for name in ("export-weights", "import-weights"):
            weights = sub.add_parser(name, help=f"{name.split('-')[0]} config/research_weights.yaml")
            weights.add_argument("--path", default=None)

    def handle(self, *args, action: str, **options) -> None:
        if action in ("trigger", "force-refresh"):
            self._run(ResearchRun.Mode.TRIGGER if action == "trigger" else ResearchRun.Mode.FORCE_REFRESH,
                      queue=options["queue"])
        elif action == "status":
            self.stdout.write(json.dumps(status_report(), indent=2))
        elif action == "revert":
            run = ResearchRun.objects.filter(pk=options["run_id"]).first()
            if run is None:
                raise CommandError(f"no research run {options['run_id']}")
            try:
                roles = services.run_revert(run=run, by="manage.py research revert")
            except services.RevertRefused as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"run {run.pk} reverted: {', '.join(roles)}")
        elif action == "setup":
            self.stdout.write(f"research setup: {research_setup(reset_schedule=options['reset_schedule'])}")
        elif action == "export-weights":
            path = weights_export_file(*([options["path"]] if options["path"] else []))
            self.stdout.write(f"weights written to {path}")
        elif action == "import-weights":
            weights_import_file(*([options["path"]] if options["path"] else []))
            self.stdout.write("weights imported")

    def _run(self, mode: str, *, queue: bool) -> None:
        try:
            if queue:
                run = services.run_start(mode=mode, triggered_by="manage.py research")
                self.stdout.write(f"run {run.pk} queued ({run.worker or run.celery_task_id})")
                self._follow(run.pk)
                return
            run = services.run_now(mode=mode, triggered_by="manage.py research", echo=self.stdout.write)
        except services.RunInProgress as exc:
            raise CommandError(f"research run {exc.run_id} is already in progress") from None
        self._report(run)

    def _follow(self, run_id: int) -> None:
        """Print progress of a run executing elsewhere until it ends."""
        shown = None
        while True:
            run = ResearchRun.objects.get(pk=run_id)
            if (run.progress, run.stage) != shown:
                shown = (run.progress, run.stage)
                self.stdout.write(f"[{run.progress:3d}%] {run.stage or run.status}")
            if run.status in (ResearchRun.Status.SUCCEEDED, ResearchRun.Status.FAILED):
                self._report(run)
                return
            time.sleep(0.5)

    def _report(self, run: ResearchRun) -> None:
        report = run_report(run)
        self.stdout.write(f"run {run.pk} {run.status}: {run.summary or run.error}")
        for source in report["sources"]:
            error = f" — {source['error']}" if source.get("error") else ""
            self.stdout.write(f"  {source['name']}: {source['status']}, {source['records']} records{error}")
        if run.status == ResearchRun.Status.FAILED:
            raise CommandError(run.error or "the run failed")
