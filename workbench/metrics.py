"""Prometheus metrics of the workbench (hardship_workbench_*): counters of what happened, gauges read from the database."""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from sqlalchemy.orm import Session, sessionmaker

from workbench import labels, stats
from workbench.timeutil import today_cst, utcnow

log = logging.getLogger(__name__)


class DatabaseCollector:
    """Reads the figures at scrape time, so they are right after a restart and across several processes."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable = utcnow) -> None:
        self.sessions = sessions
        self.clock = clock

    def describe(self):  # noqa: ANN201 - no samples at registration time
        return []

    def collect(self):  # noqa: ANN201
        try:
            with self.sessions() as session:
                figures = stats.figures(session, today_cst(self.clock()))
        except Exception:  # noqa: BLE001 - a scrape never fails because the database blinked
            log.exception("metrics: cannot read the database")
            return
        open_alerts = GaugeMetricFamily("hardship_workbench_open_alerts", "Open alerts (new or confirmed) by kind and level",
                                        labels=["kind", "level"])
        for kind in labels.KINDS:
            for level in labels.LEVELS:
                open_alerts.add_metric([kind, str(level)], figures.open_alerts.get((kind, level), 0))
        yield open_alerts
        tasks = GaugeMetricFamily("hardship_workbench_tasks", "Visit tasks by status", labels=["status"])
        for status in labels.TASK_STATUSES:
            tasks.add_metric([status], figures.tasks.get(status, 0))
        yield tasks
        yield GaugeMetricFamily("hardship_workbench_overdue_tasks", "Visit tasks past their due date and not done",
                                value=figures.overdue)
        buckets, running = [], 0
        ordered = sorted(figures.visit_seconds)
        for bound in stats.VISIT_BUCKETS:
            while running < len(ordered) and ordered[running] <= bound:
                running += 1
            buckets.append((str(float(bound)), running))
        buckets.append(("+Inf", len(ordered)))
        histogram = HistogramMetricFamily("hardship_workbench_alert_to_visit_seconds",
                                          "Time from an alert's arrival to the recorded visit")
        histogram.add_metric([], buckets, sum_value=sum(ordered))
        yield histogram
        ratio = GaugeMetricFamily("hardship_workbench_confirmed_on_visit_ratio",
                                  "Share of visited alerts that the visit confirmed (precision), by kind", labels=["kind"])
        visits = GaugeMetricFamily("hardship_workbench_visits", "Visited alerts by kind and result",
                                   labels=["kind", "result"])
        for kind, (confirmed, total) in sorted(figures.visits_by_kind.items()):
            ratio.add_metric([kind], confirmed / total if total else 0.0)
            visits.add_metric([kind, "confirmed"], confirmed)
            visits.add_metric([kind, "refuted"], total - confirmed)
        yield ratio
        yield visits
        # 走访确认率 by level and by the learned model's score band: are high scores really confirmed more often?
        with self.sessions() as session:
            confirmation = stats.visit_confirmation(session)
        by_group = GaugeMetricFamily("hardship_workbench_visits_by_group",
                                     "Visited alerts by level or model score band, and result", labels=["group", "key", "result"])
        for group in ("level", "score_band"):
            for key, confirmed, total in confirmation[group]:
                by_group.add_metric([group, key, "confirmed"], confirmed)
                by_group.add_metric([group, key, "refuted"], total - confirmed)
        yield by_group


class Metrics:
    """One registry per app, so tests can build many apps in one process."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable = utcnow) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(DatabaseCollector(sessions, clock))
        self.alerts_ingested = Counter("hardship_workbench_alerts_ingested", "Alerts read from hardship.alerts",
                                       ["result"], registry=self.registry)  # created / updated / unchanged / rejected
        self.decisions = Counter("hardship_workbench_decisions", "Triage decisions and visit results",
                                 ["decision"], registry=self.registry)
        self.outcomes_published = Counter("hardship_workbench_outcomes_published", "Outcomes sent to hardship.outcomes",
                                          registry=self.registry)
        self.reveals = Counter("hardship_workbench_reveals", "Reveals of unmasked personal data", registry=self.registry)
        self.logins = Counter("hardship_workbench_logins", "Sign-ins", ["result"], registry=self.registry)
        self.requests = Counter("hardship_workbench_http_requests", "HTTP requests by route group and status class",
                                ["group", "status"], registry=self.registry)
