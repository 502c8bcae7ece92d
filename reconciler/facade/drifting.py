"""Drift through the facade (`cxrecon drift`): what changed in CXone since the last apply,
read from a one-shot plan, and adopted into the connector files (`--write-back`)."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.facade.oneshot import Planned
from reconciler.gitops.drift import DriftReport, DriftStatus, drift_of
from reconciler.gitops.writeback import WriteBackResult, write_back


def drift_report(planned: Planned) -> DriftReport:
    """What changed in CXone since cxrecon last applied each connector of `planned` (not
    what is pending in git)."""
    return drift_of(planned.run.plan)


@dataclass(frozen=True)
class Adoption:
    """Drift adopted into the connector files: what was written, what is left for a hand edit."""

    report: DriftReport
    result: WriteBackResult

    @property
    def exit_code(self) -> int:
        """1 when some connector could not be checked, 0 when every drifted field was
        adopted, 2 when some drift is left."""
        if self.report.status is DriftStatus.ERROR:
            return 1
        return 0 if self.result.complete else 2


def adopt_drift(report: DriftReport, planned: Planned) -> Adoption:
    """Write every adoptable drifted field of `report` into its file (comments and layout
    kept; every file or none, no link below the project followed)."""
    result = write_back(report, planned.run.plan, planned.env, root=planned.project.root)
    return Adoption(report, result)
