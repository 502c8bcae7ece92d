"""Convergence as a property: a hypothesis state machine that edits git and CXone, injects
transient faults and runs plan / apply (fresh or saved plans, with and without self-heal)
against the emulator on a real port, checking after every step that

- the tenant never holds two connectors of one name;
- no write carries a field the run did not plan and show: the audit log's `fields` of each
  write, and what actually changed on the tenant, against the plan the `confirm` hook saw
  (and, without self-heal, only the changes `select` chose);
- an out-of-band edit survives unless a run that showed that field wrote it; one made while
  the apply waits for confirmation survives that run;
- after a clean apply (no concurrent edit, no fault) the next plan changes nothing it
  applied and the next apply makes 0 writes; drift reports nothing for a connector unless
  CXone was edited since cxrecon last applied it; every pending / drift / conflict tag
  agrees with a model of what was last applied;
- every 2xx write has exactly one successful audit record with that status (the POST/PATCH
  counts of /_emulator/stats against the audit log), and no secret value reaches the audit
  log or a saved plan;
- under the example's cxrecon.yaml (policies.py: ignoreDifferences on some fields of some
  connectors, `management: observe` on others), an ignored field of an existing connector
  and an observed connector are never written: not in an audit record, not on the tenant.

test_found_bugs.py keeps a minimal regression test of each product bug the machine ran
into (all fixed: the machine makes no allowance for them).
"""

from __future__ import annotations

import asyncio
import copy
import random
import ssl
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import yaml
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from reconciler.apply.actor import Actor
from reconciler.apply.audit import AuditLog
from reconciler.apply.calltrace import TracingStats
from reconciler.apply.results import ConnectorResult, Outcome
from reconciler.config.settings import ConnectionSettings
from reconciler.cxone.client import CxoneClient
from reconciler.cxone.retry import RetryPolicy
from reconciler.emulator.control import EmulatorControlError
from reconciler.errors import CxreconError
from reconciler.facade import (
    ApplyHooks,
    ApplyOptions,
    ApplyRun,
    Approval,
    PlanRun,
    apply_desired,
    check_drift,
    load_desired,
    make_plan,
    open_project,
    secrets_for,
)
from reconciler.load.secret_lookup import SecretLookup
from reconciler.plan import saved as saved_plans
from reconciler.plan.changes import Action, ConnectorChange, Plan
from reconciler.plan.diff import Origin, diff_essences
from reconciler.testing import RunningEmulator

from .policies import ProjectPolicies, project_policies
from .support import (
    NAMES,
    Edit,
    Parts,
    audit_records,
    base_doc,
    covers,
    cxone_edits,
    cxone_patch,
    edit_git,
    essence_of_public,
    field_edits,
    git_edits,
    is_owned_label_path,
    ok_writes,
    recreated,
    secret_variable,
    shown_paths,
    successful_writes,
    tenant_rows,
    value_at,
    writes,
)

#: The emulator's token lifetime (EmulatorConfig default): the clock moves past it to expire
#: the token a run holds.
TOKEN_TTL_S: Final = 3600
#: Fault kinds a "rate" fault draws from (`slow` answers after the emulator's slow_ms).
FAULT_KIND_SETS: Final = (
    ("503",),
    ("500", "502", "503"),
    ("429",),
    ("reset",),
    ("drop",),
    ("500", "502", "503", "429", "reset", "drop", "slow"),
)


@dataclass
class Harness:
    """What outlives one example: the emulator and a folder for the examples' projects;
    `seen` counts what the machine exercised (printed by the test)."""

    emulator: RunningEmulator
    workdir: Path
    examples: int = 0
    seen: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Fault:
    """Transient trouble for the next run only: a seeded fault rate, or a token that
    expires between the plan and the writes."""

    kind: str
    rate: float = 0.0
    kinds: tuple[str, ...] = ()
    seed: int = 0


@dataclass(frozen=True)
class Concurrent:
    """Someone edits CXone while the apply is at its confirmation: `edits` on the
    `target`-th connector the plan writes, or (no edits) creates a connector the plan is
    about to create."""

    target: int
    edits: tuple[Edit, ...]


@dataclass(frozen=True)
class Tracked:
    """An out-of-band value that must stay until a run that showed its path writes it."""

    path: str
    value: Any
    run: int | None  # the run it raced (made during its confirmation), else None


@dataclass
class RunBox:
    """What the hooks saw during one apply."""

    shown: Plan | None = None
    reviewed: bool = False
    selected: frozenset[str] | None = None
    before: dict[str, dict[str, Any]] | None = None
    raced: set[str] = field(default_factory=set)  # connector names edited concurrently
    made_in_ui: set[str] = field(default_factory=set)  # planned creates made in the UI first


faults: Final = st.one_of(
    st.builds(
        Fault,
        st.just("rate"),
        st.sampled_from([0.1, 0.2, 0.3]),
        st.sampled_from(FAULT_KIND_SETS),
        st.integers(0, 2**16),
    ),
    st.builds(Fault, st.just("token")),
)
concurrents: Final = st.builds(
    Concurrent,
    st.integers(0, 3),
    st.one_of(st.just(()), st.lists(field_edits, min_size=1, max_size=3).map(tuple)),
)


@dataclass(frozen=True)
class ApplyStep:
    """One apply: `self_heal` False is the controller without --self-heal (only changes
    from git are written); `saved` plans first and applies the saved, verified plan."""

    self_heal: bool
    saved: bool
    prune: bool
    parallelism: int
    concurrent: Concurrent | None


applies: Final = st.builds(
    ApplyStep,
    self_heal=st.booleans(),
    saved=st.booleans(),
    prune=st.sampled_from([False, False, True]),
    parallelism=st.sampled_from([1, 4]),
    concurrent=st.one_of(st.none(), concurrents),
)
CXONE_OPS: Final = ("edit", "edit", "edit", "delete", "re-create")


class ConvergenceMachine(RuleBasedStateMachine):
    def __init__(self, harness: Harness) -> None:
        super().__init__()
        self.h = harness
        harness.examples += 1
        self.root = harness.workdir / f"example-{harness.examples}"
        self.connectors = self.root / "connectors"
        self.connectors.mkdir(parents=True)
        self.audit_path = self.root / ".cxrecon" / "audit.jsonl"
        self.control = harness.emulator.control
        self.db_path = harness.emulator.db_path
        self.control.reset(tokens=True)
        self.git: dict[str, dict[str, Any]] = {}
        self.environ = {secret_variable(n): f"{n.lower()}-key-1" for n in NAMES}
        self.secret_values = set(self.environ.values())
        self.tenant: dict[str, dict[str, Any]] = {}
        self.admin_headers: dict[str, str] | None = None
        #: Out-of-band values by (connector id, essence path).
        self.tracked: dict[tuple[str, Parts], Tracked] = {}
        #: Names edited in CXone since cxrecon last applied them: only these may drift.
        self.dirty: set[str] = set()
        #: The model of the applied-digest label: by connector id, the essence of the git
        #: state cxrecon last applied to it completely (unknown ids are not judged).
        self.applied: dict[str, dict[str, Any]] = {}
        self.pending_fault: Fault | None = None
        self.runs = 0
        self.drops = 0  # dropped writes so far: each may be an audited write with no 2xx
        #: What this example's cxrecon.yaml leaves to CXone (drawn by `leave_to_cxone`).
        self.policies = ProjectPolicies()

    @initialize(policies=project_policies)
    def leave_to_cxone(self, policies: ProjectPolicies) -> None:
        """The project's ignoreDifferences and managementPolicies, fixed per example."""
        self.policies = policies
        config = policies.config()
        if config:
            text = yaml.safe_dump(config, sort_keys=False)
            (self.root / "cxrecon.yaml").write_text(text, encoding="utf-8")
        for name in sorted(policies.observed):
            # Observed: declared in git, made by hand in CXone before, and never written.
            doc = base_doc(name, "ACTIVE")
            self._write(name, doc)
            body = copy.deepcopy(doc)
            body["description"] = "made by hand before cxrecon"
            body["authentication"]["credentials"] = {"apiKey": "typed-in-the-ui"}
            self.control.seed(body)
        self.h.seen["examples with ignore rules"] += bool(policies.ignored and policies.ignored_on)
        self.h.seen["examples with observed connectors"] += bool(policies.observed)

    # --- git ---------------------------------------------------------------------------

    def _write(self, name: str, doc: dict[str, Any]) -> None:
        self.git[name] = doc
        path = self.connectors / f"{name.lower()}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")

    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        """One thing happens: a commit, a change in the CXone UI, trouble for the next run,
        a plan or an apply. (One rule with weights rather than a rule each: hypothesis
        switches whole rules off per example, which starves short runs of the mix.)"""
        kinds = ["git", "git", "git", "apply", "apply", "apply", "plan"]
        if self.tenant:
            kinds += ["cxone", "cxone", "cxone"]
        if self._left_to_cxone():
            kinds += ["cxone-ignored", "cxone-ignored"]
        if self.pending_fault is None:
            kinds.append("fault")
        kind = data.draw(st.sampled_from(kinds), label="step")
        if kind == "git":
            self.git_commit(data)
        elif kind == "cxone":
            self.cxone_change(data, data.draw(st.sampled_from(CXONE_OPS), label="op"))
        elif kind == "cxone-ignored":
            self.cxone_ignored(data)
        elif kind == "fault":
            self.inject_fault(data.draw(faults, label="fault"))
        elif kind == "plan":
            self.plan(data.draw(st.booleans(), label="prune"))
        else:
            self.apply(data.draw(applies, label="apply"))

    def git_commit(self, data: st.DataObject) -> None:
        """A commit: add, edit, move (ACTIVE/INACTIVE) or remove a connector file, or a
        rotated secret value behind a `${env:}` reference."""
        ops = []
        if self.git:
            ops += ["edit", "edit", "lifecycle", "remove"]
        if len(self.git) < len(NAMES):
            ops += ["add", "add"]
        ops.append("rotate")
        op = data.draw(st.sampled_from(ops), label="commit")
        self.h.seen[f"git {op}"] += 1
        if op == "add":
            name = data.draw(st.sampled_from([n for n in NAMES if n not in self.git]), label="name")
            state = data.draw(st.sampled_from(["ACTIVE", "ACTIVE", "INACTIVE", "DRAFT"]))
            doc = base_doc(name, state)
            for edit in data.draw(st.lists(git_edits, max_size=2), label="edits"):
                doc = edit_git(doc, edit)
            self._write(name, doc)
            return
        if op == "rotate":
            name = data.draw(st.sampled_from(NAMES), label="name")
            variable = secret_variable(name)
            generation = int(self.environ[variable].rsplit("-", 1)[1]) + 1
            self.environ[variable] = f"{name.lower()}-key-{generation}"
            self.secret_values.add(self.environ[variable])
            return
        name = data.draw(st.sampled_from(sorted(self.git)), label="name")
        if op == "remove":
            (self.connectors / f"{name.lower()}.yaml").unlink()
            del self.git[name]
        elif op == "lifecycle":
            state = data.draw(st.sampled_from(["ACTIVE", "INACTIVE"]), label="lifecycleStatus")
            self._write(name, {**self.git[name], "lifecycleStatus": state})
        else:
            doc = self.git[name]
            for edit in data.draw(st.lists(git_edits, min_size=1, max_size=3), label="edits"):
                doc = edit_git(doc, edit)
            self._write(name, doc)

    # --- CXone, out of band ------------------------------------------------------------

    def _pick(self, data: st.DataObject) -> tuple[str, dict[str, Any]]:
        ordered = sorted(self.tenant.values(), key=lambda c: (c["name"], c["id"]))
        public = data.draw(st.sampled_from(ordered), label="connector")
        return str(public["id"]), public

    def _track(
        self, cid: str, before: dict[str, Any] | None, after: dict[str, Any], run: int | None
    ) -> None:
        """Remember what an out-of-band change set, path by path."""
        if before is None:
            return
        now = essence_of_public(after)
        for change in diff_essences(essence_of_public(before), now):
            for key in [k for k in self.tracked if k[0] == cid and _overlap(k[1], change.parts)]:
                del self.tracked[key]
            value = value_at(now.doc, change.parts)
            self.tracked[(cid, change.parts)] = Tracked(change.path, value, run)

    def _forget(self, cid: str) -> None:
        for key in [k for k in self.tracked if k[0] == cid]:
            del self.tracked[key]

    def _cx_edit(self, cid: str, public: dict[str, Any], edit: Edit, run: int | None) -> bool:
        patch = cxone_patch(edit, public)
        if patch is None:
            return False
        try:
            after = self.control.edit(cid, patch)
        except EmulatorControlError as exc:  # e.g. a rename onto a taken name: 409
            note(f"edit refused: {exc}")
            self.h.seen[f"cxone edit refused {edit.kind}"] += 1
            return False
        self._track(cid, public, after, run)
        self.dirty.update({public["name"], after["name"]})
        if edit.kind == "owned_label" and edit.key != "managed-by":
            self.applied.pop(cid, None)  # the digest label itself was changed
        self.h.seen[f"cxone edit {edit.kind}"] += 1
        return True

    def cxone_change(self, data: st.DataObject, op: str) -> None:
        """Someone in the CXone UI edits any field of a connector, deletes it, or deletes
        and re-creates it under the same name (with or without cxrecon's labels)."""
        cid, public = self._pick(data)
        self.h.seen["cxone change (attempted)"] += 1
        if op == "edit":
            self._cx_edit(cid, public, data.draw(cxone_edits, label="edit"), None)
            return
        self.control.delete(cid)
        self._forget(cid)
        self.dirty.add(public["name"])
        self.h.seen[f"cxone {op}"] += 1
        applied = self.applied.pop(cid, None)
        if op == "re-create":
            keep_labels = data.draw(st.booleans(), label="keep_labels")
            description = data.draw(st.sampled_from([None, "re-created by hand"]))
            again = self.control.seed(recreated(public, keep_labels, description))
            self._track(str(again["id"]), public, again, None)
            if keep_labels and applied is not None:
                self.applied[str(again["id"])] = applied

    def _left_to_cxone(self) -> list[dict[str, Any]]:
        """Connectors in CXone with a field this project leaves to CXone."""
        if not self.policies.ui_edits():
            return []
        ours = [c for c in self.tenant.values() if c["name"] in self.policies.ignored_on]
        return sorted(ours, key=lambda c: (c["name"], c["id"]))

    def cxone_ignored(self, data: st.DataObject) -> None:
        """Someone in the CXone UI changes a field the project leaves to them: no run may
        write it back (the tracked value must stay)."""
        public = data.draw(st.sampled_from(self._left_to_cxone()), label="connector")
        edit = data.draw(st.sampled_from(self.policies.ui_edits()), label="ignored edit")
        if self._cx_edit(str(public["id"]), public, edit, None):
            self.h.seen["cxone edit of an ignored field"] += 1

    # --- faults ------------------------------------------------------------------------

    def inject_fault(self, fault: Fault) -> None:
        self.pending_fault = fault
        self.h.seen[f"fault {fault.kind}"] += 1

    def _arm(self, fault: Fault | None) -> None:
        if fault is not None and fault.kind == "rate":
            self.control.faults(faultRate=fault.rate, faultKinds=list(fault.kinds), seed=fault.seed)

    def _disarm(self, fault: Fault | None) -> None:
        if fault is not None and fault.kind == "rate":
            # Setting the seed again also ends a 429 burst that is under way.
            self.control.faults(faultRate=0.0, seed=fault.seed)
            self.drops = int(self.control.stats()["faults"].get("drop", 0))

    # --- runs ----------------------------------------------------------------------------

    def _client(self, parallelism: int) -> CxoneClient:
        """The product's client, with short retry waits. The transport is the one httpx
        would build, minus loading the system CA bundle for every client (~0.1 s each; the
        emulator speaks plain HTTP on loopback)."""
        settings = ConnectionSettings.for_emulator(self.h.emulator.base_url)
        retry = RetryPolicy(base=0.01, cap=0.05, rng=random.Random(7))
        pool = httpx.Limits(
            max_connections=parallelism + 1, max_keepalive_connections=parallelism + 1
        )
        transport = httpx.AsyncHTTPTransport(verify=_PLAIN_TLS, limits=pool)
        return CxoneClient(
            settings,
            parallelism=parallelism,
            retry=retry,
            transport=transport,
            stats=TracingStats(),  # as `cxrecon apply` does: audit records get status, attempts
        )

    def _secrets(self, audit: AuditLog | None = None) -> SecretLookup:
        return secrets_for(open_project(self.root), environ=self.environ, audit=audit)

    async def _plan(self, prune: bool) -> PlanRun:
        project = open_project(self.root)
        async with self._client(4) as client:
            return await make_plan(project, client, prune=prune, secrets=self._secrets())

    def plan(self, prune: bool) -> None:
        fault, self.pending_fault = self.pending_fault, None
        writes_before, records_before = self._write_figures()
        self._arm(fault)
        try:
            planned = asyncio.run(self._plan(prune))
            self._check_origins(planned.plan)
            note(f"plan: {planned.plan.summary_text}")
            self.h.seen["plan"] += 1
        except CxreconError as exc:
            if fault is None:
                raise
            note(f"plan failed under {fault}: {exc}")
            self.h.seen["plan failed under faults"] += 1
        finally:
            self._disarm(fault)
        assert self._write_figures() == (writes_before, records_before), "a plan wrote"

    def _write_figures(self) -> tuple[int, int]:
        return ok_writes(self.control.stats()), len(audit_records(self.audit_path))

    def apply(self, step: ApplyStep) -> None:
        fault, self.pending_fault = self.pending_fault, None
        parallelism = step.parallelism
        if fault is not None and fault.kind == "rate":
            parallelism = 1  # one request at a time: the seeded faults hit the same requests
        box, results, _ = self._apply(
            step.self_heal, step.saved, step.prune, parallelism, step.concurrent, fault
        )
        if fault is None and not box.raced and box.shown is not None:
            self._check_converged(box, results, step.self_heal, step.prune)

    def _apply(
        self,
        self_heal: bool,
        saved: bool,
        prune: bool,
        parallelism: int,
        concurrent: Concurrent | None,
        fault: Fault | None,
    ) -> tuple[RunBox, tuple[ConnectorResult, ...], list[dict[str, Any]]]:
        self.runs += 1
        run = self.runs
        box = RunBox()
        run_ids: list[str] = []
        reviewed: list[Plan] = []
        ok_before = ok_writes(self.control.stats())
        drops_before = self.drops

        def confirm(plan: Plan, approval: Approval) -> None:
            box.shown, box.reviewed = plan, approval.reviewed
            if self_heal:  # no select hook: everything planned is written
                box.selected = frozenset(c.name for c in plan.changes)
            if fault is not None and fault.kind == "token":
                self.control.advance_clock(TOKEN_TTL_S + 1)
            if concurrent is not None:
                self._race(plan, concurrent, run, box)
            box.before = tenant_rows(self.db_path)

        def without_self_heal(plan: Plan) -> Sequence[ConnectorChange]:
            # The controller without --self-heal: only what comes from git is written.
            picked = [c for c in plan.changes if c.origin in (None, Origin.PENDING)]
            box.selected = frozenset(c.name for c in picked)
            return picked

        hooks = ApplyHooks(confirm=confirm, select=None if self_heal else without_self_heal)

        async def go() -> ApplyRun:
            project = open_project(self.root)
            loaded = load_desired(project)
            with AuditLog(self.audit_path, actor=Actor("property-test"), environment=None) as audit:
                run_ids.append(audit.run_id)
                secrets = secrets_for(project, environ=self.environ, audit=audit)
                async with self._client(parallelism) as client:
                    pinned = None
                    if saved:
                        planned = await make_plan(
                            project, client, loaded=loaded, secrets=secrets, prune=prune
                        )
                        reviewed.append(planned.plan)
                        path = self.root / "plans" / f"run-{run}.json"
                        saved_plans.write(planned.plan, path)
                        pinned = saved_plans.read(path)
                    return await apply_desired(
                        project,
                        client,
                        loaded,
                        secrets=secrets,
                        saved=pinned,
                        options=ApplyOptions(prune=prune, parallelism=parallelism),
                        audit=audit,
                        hooks=hooks,
                    )

        self._arm(fault)
        results: tuple[ConnectorResult, ...] = ()
        try:
            outcome = asyncio.run(go())
            results = outcome.report.results
            self.h.seen[
                "apply" + (" saved" if saved else "") + (" self-heal" if self_heal else "")
            ] += 1
        except CxreconError as exc:
            if fault is None:
                raise
            note(f"apply failed under {fault}: {exc}")
            self.h.seen["apply failed under faults"] += 1
        finally:
            self._disarm(fault)
        records = [r for r in audit_records(self.audit_path) if r["runId"] in run_ids]
        note(
            f"run {run} (self_heal={self_heal}, saved={saved}, prune={prune}, fault={fault}, "
            f"raced={sorted(box.raced)}): "
            + (box.shown.summary_text if box.shown else "no plan")
            + " → "
            + ", ".join(f"{r.name}: {r.outcome.value} {r.reason or ''}" for r in results)
        )
        for r in results:
            self.h.seen[f"result {r.outcome.value}"] += 1
            if r.replans:
                self.h.seen["re-planned after a conflict"] += 1
            assert not (r.reason or "").startswith("internal error"), r.reason

        self._check_accounting(ok_before, records, self.drops - drops_before)
        if box.shown is None:
            assert not [r for r in records if r["action"] in _WRITE_VERBS], "wrote without a plan"
            return box, results, records
        if saved and reviewed and box.reviewed:
            assert _outline(box.shown) == _outline(reviewed[0]), "applied plan ≠ reviewed plan"
        self._check_origins(box.shown)
        selected = box.selected if box.selected is not None else frozenset()
        self._check_audit_fields(box.shown, selected, records)
        self._check_effects(box, selected, run)
        if fault is None:
            self._check_no_spurious_failure(box, results)
        shown = {c.name: c for c in box.shown.changes}
        for r in results:
            orphan = r.name in shown and shown[r.name].orphaned
            # A pruned orphan's deactivation stamps no applied-digest (it has no git state):
            # whatever was edited in CXone before is still there to be reported.
            settled = r.outcome in (Outcome.APPLIED, Outcome.UNCHANGED)
            if settled and r.name not in box.raced and not orphan:
                self.dirty.discard(r.name)
            if r.connector_id is None or r.outcome in (Outcome.UNCHANGED, Outcome.SKIPPED):
                continue
            change = shown.get(r.name)
            essence = change.desired_essence if change is not None else None
            if r.outcome is Outcome.APPLIED and essence is not None:
                self.applied[r.connector_id] = copy.deepcopy(dict(essence.doc))
            else:  # failed part-way, or a pruned orphan: not modelled
                self.applied.pop(r.connector_id, None)
        return box, results, records

    def _race(self, plan: Plan, concurrent: Concurrent, run: int, box: RunBox) -> None:
        """The concurrent edit, made while the apply waits for its confirmation."""
        rows = tenant_rows(self.db_path)
        if not concurrent.edits:
            creates = [c for c in plan.changes if c.action is Action.CREATE and c.desired]
            if not creates:
                return
            change = creates[concurrent.target % len(creates)]
            assert change.desired is not None
            body = change.desired.spec.to_api()
            body["lifecycleStatus"] = "DRAFT"
            body["description"] = "created in the UI meanwhile"
            body["authentication"]["credentials"] = {"apiKey": "typed-in-the-ui"}
            try:
                self.control.seed(body)
            except EmulatorControlError as exc:
                note(f"concurrent create refused: {exc}")
                return
            box.raced.add(change.name)
            box.made_in_ui.add(change.name)
            self.dirty.add(change.name)
            self.h.seen["concurrent create"] += 1
            return
        targets = [c for c in plan.changes if writes(c) and c.remote and c.remote.id in rows]
        if not targets:
            return
        change = targets[concurrent.target % len(targets)]
        assert change.remote is not None
        public = rows[change.remote.id]
        for edit in concurrent.edits:
            if self._cx_edit(change.remote.id, public, edit, run):
                box.raced.update({public["name"], change.name})
                self.h.seen["concurrent edit"] += 1
                public = tenant_rows(self.db_path)[change.remote.id]

    # --- checks ------------------------------------------------------------------------

    def _check_accounting(self, ok_before: int, records: list[dict[str, Any]], slack: int) -> None:
        """Each 2xx write has exactly one successful audit record carrying that 2xx status.
        `slack` successes may have none: a create whose answer was dropped, found again by
        name (and the known bug above)."""
        written = ok_writes(self.control.stats()) - ok_before
        successes = [r for r in records if r["action"] in _WRITE_VERBS and r["result"] == "success"]
        proven = [r for r in successes if 200 <= (r["httpStatus"] or 0) < 300]
        shown = [(r["connector"], r["action"], r["result"], r["httpStatus"]) for r in records]
        assert len(proven) == written, f"{written} writes answered 2xx; audit: {shown}"
        assert len(successes) - len(proven) <= slack, f"successes without a 2xx: {shown}"

    def _check_audit_fields(
        self, plan: Plan, selected: frozenset[str], records: list[dict[str, Any]]
    ) -> None:
        """Every write record names only fields the shown plan changes for that connector."""
        by_name = {c.name: c for c in plan.changes}
        for record in records:
            if record["action"] not in _WRITE_VERBS:
                continue
            name = record["connector"]
            change = by_name.get(name)
            assert change is not None, f"{name} written, not in the plan"
            assert writes(change), f"{name} written, planned as {change.action.value}"
            assert name in selected, f"{name} written but not selected for this run"
            assert name not in self.policies.observed, f"{name} is observed, yet written"
            if change.action is Action.CREATE:
                continue  # a create shows every field it sets
            ignored = [p for p in record["fields"] if self.policies.ignores(name, p)]
            assert not ignored, f"{name}: the {record['action']} wrote ignored {ignored}"
            shown = shown_paths(change)
            for path in record["fields"]:
                assert is_owned_label_path(path) or covers(shown, path), (
                    f"{name}: the {record['action']} wrote {path}, the plan showed {sorted(shown)}"
                )

    def _check_effects(self, box: RunBox, selected: frozenset[str], run: int) -> None:
        """What changed on the tenant during the run (after any concurrent edit) is covered
        by the shown plan; tracked out-of-band values stay unless shown and written."""
        assert box.shown is not None
        assert box.before is not None
        before, after = box.before, tenant_rows(self.db_path)
        by_id = {c.remote.id: c for c in box.shown.changes if c.remote is not None}
        creates = {c.name: c for c in box.shown.changes if c.action is Action.CREATE}
        assert set(before) <= set(after), "a connector disappeared during an apply"
        for cid, now in after.items():
            was = before.get(cid)
            change = by_id.get(cid) or creates.get(now["name"])
            if was is None:
                assert now["name"] not in self.policies.observed, f"{now['name']} observed"
                assert now["name"] in creates, f"{now['name']} ({cid}) created, not planned"
                assert now["name"] in selected, f"{now['name']} created, not selected"
                continue
            assert was["name"] == now["name"], f"{cid} renamed by apply"
            assert now["name"] not in self.policies.observed or was == now, (
                f"{now['name']} is observed, yet the apply changed it"
            )
            if change is None or change.action is not Action.CREATE:
                old, new = essence_of_public(was).doc, essence_of_public(now).doc
                moved = self.policies.changed(now["name"], dict(old), dict(new))
                assert not moved, f"{now['name']}: the apply wrote ignored {moved}"
                self.h.seen["ignored fields kept"] += bool(self.policies.paths(now["name"]))
            changed = diff_essences(essence_of_public(was), essence_of_public(now))
            if not changed:
                continue
            what = f"{now['name']}: {[c.path for c in changed]} changed"
            assert change is not None, f"{what}, not in the plan"
            assert writes(change), f"{what}, planned as {change.action.value}"
            assert change.name in selected, f"{what}, not selected"
            if change.action is Action.CREATE:
                continue  # a create raced by a connector made in the UI (see report)
            shown = shown_paths(change)
            for c in changed:
                assert covers(shown, c.path), (
                    f"{now['name']}: apply changed {c.path} ({c.before!r} → {c.after!r}); "
                    f"the plan showed {sorted(shown)}"
                )
        for (cid, parts), tracked in list(self.tracked.items()):
            now_public = after.get(cid)
            assert now_public is not None
            value = value_at(essence_of_public(now_public).doc, parts)
            if value == tracked.value:
                continue
            change = by_id.get(cid)
            allowed = (
                tracked.run != run
                and change is not None
                and writes(change)
                and change.name in selected
                and covers(shown_paths(change), tracked.path)
            )
            assert allowed, (
                f"{now_public['name']}: the out-of-band {tracked.path}={tracked.value!r} was "
                f"overwritten with {value!r} by a run that did not show it"
            )
            del self.tracked[(cid, parts)]
            self.h.seen["drift reverted (shown)"] += 1

    def _check_no_spurious_failure(self, box: RunBox, results: Sequence[ConnectorResult]) -> None:
        """Without faults a connector fails only when the plan said it cannot be done, or
        when someone edited it during the run."""
        assert box.shown is not None
        errors = {c.name for c in box.shown.changes if c.action is Action.ERROR}
        for r in results:
            if r.outcome is not Outcome.FAILED or r.name in errors or r.name in box.raced:
                continue
            raise AssertionError(f"{r.name} failed in a fault-free run: {r.reason}")

    def _check_converged(
        self, box: RunBox, results: Sequence[ConnectorResult], self_heal: bool, prune: bool
    ) -> None:
        """After a clean apply: the next plan changes nothing that was applied, and the next
        apply writes nothing."""
        fresh = asyncio.run(self._plan(prune)).plan
        self._check_origins(fresh)
        done = {r.name for r in results if r.outcome in (Outcome.APPLIED, Outcome.UNCHANGED)}
        failed = {r.name for r in results if r.outcome is Outcome.FAILED}
        for change in fresh.changes:
            if change.name in done and change.name not in self.policies.observed:
                assert change.action in (Action.NOOP, Action.ORPHAN), (
                    f"{change.name} was applied, yet the next plan says {change.action.value}: "
                    f"{[(f.path, f.before, f.after) for f in change.fields]}"
                )
            if self_heal and change.action.writes:
                assert change.name in failed, f"{change.name} left unapplied: {change.action}"
        _, again, records = self._apply(self_heal, False, prune, 1, None, None)
        written = [
            (r["connector"], r["action"], r["fields"])
            for r in records
            if r["action"] in _WRITE_VERBS
        ]
        assert not written, f"the apply after a clean apply wrote {written}"
        assert not [r for r in again if r.outcome is Outcome.APPLIED]
        self.h.seen["converged"] += 1

    def _check_origins(self, plan: Plan) -> None:
        """Each field's pending / drift / conflict tag, judged against the model of what
        was last applied: changed in git since → pending, in CXone → drift, both → conflict."""
        for change in plan.changes:
            remote, want = change.remote, change.desired_essence
            skipped = (Action.ADOPT, Action.ERROR, Action.OBSERVE)  # observe: all is drift
            if remote is None or want is None or change.action in skipped:
                continue
            model = self.applied.get(remote.id)
            if model is None:
                continue
            # Fields left to CXone are out of what the tags judge, on every side.
            model = self.policies.strip(change.name, model)
            git = self.policies.strip(change.name, want.doc)
            cx = self.policies.strip(change.name, remote.essence.doc)
            for f in change.fields:
                in_git, in_cx = (
                    git[f.section] != model[f.section],
                    cx[f.section] != model[f.section],
                )
                expected = (
                    Origin.CONFLICT
                    if in_git and in_cx
                    else Origin.PENDING
                    if in_git
                    else Origin.DRIFT
                    if in_cx
                    else Origin.UNKNOWN
                )
                assert f.origin is expected, (
                    f"{change.name}: {f.path} is tagged {f.origin}, expected {expected} "
                    f"(git {'changed' if in_git else 'unchanged'}, CXone "
                    f"{'changed' if in_cx else 'unchanged'} since the last apply)"
                )
        self.h.seen["plans judged"] += 1

    # --- invariants after every step -------------------------------------------------

    @invariant()
    def tenant_holds(self) -> None:
        listed = _list_connectors(self)
        names = [c["name"] for c in listed]
        assert len(names) == len(set(names)), f"duplicate connector names: {sorted(names)}"
        self.tenant = {str(c["id"]): c for c in listed}
        for (cid, parts), tracked in self.tracked.items():
            public = self.tenant.get(cid)
            assert public is not None, f"{cid} vanished"
            value = value_at(essence_of_public(public).doc, parts)
            assert value == tracked.value, f"{public['name']}: {tracked.path} is {value!r}"

    @invariant()
    def writes_are_audited(self) -> None:
        written = ok_writes(self.control.stats())
        audited = successful_writes(audit_records(self.audit_path))
        slack = self.drops
        assert written <= audited <= written + slack, (written, audited, slack)
        # ...and neither the audit log nor a saved plan ever holds a secret value.
        files = [self.audit_path, *sorted((self.root / "plans").glob("*.json"))]
        for path in files:
            text = path.read_text(encoding="utf-8") if path.exists() else ""
            leaked = sorted(v for v in self.secret_values if v in text)
            assert not leaked, f"{path.name} holds secret values {leaked}"

    @invariant()
    def drift_only_where_cxone_was_edited(self) -> None:
        async def drift() -> set[str]:
            project = open_project(self.root)
            async with self._client(4) as client:
                report, run = await check_drift(project, client)
            self._check_origins(run.plan)
            return {c.name for c in report.connectors}

        drifted = asyncio.run(drift())
        # An observed connector's differences are all drift, git's changes included.
        unexplained = drifted - self.dirty - self.policies.observed
        assert not unexplained, f"drift on {sorted(unexplained)}, never edited in CXone"


#: Never used for a handshake (the emulator is plain HTTP); built once.
_PLAIN_TLS: Final = ssl.create_default_context(purpose=ssl.Purpose.SERVER_AUTH, cafile=None)
_WRITE_VERBS: Final = frozenset({"create", "update", "adopt", "activate", "deactivate"})


def _overlap(a: Parts, b: Parts) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _outline(plan: Plan) -> list[tuple[str, str, tuple[str, ...]]]:
    """The changes a plan shows (a verified saved plan leaves out the unchanged ones)."""
    return [(c.name, c.action.value, tuple(sorted(shown_paths(c)))) for c in plan.changed()]


def _list_connectors(machine: ConvergenceMachine) -> list[dict[str, Any]]:
    """Every connector through the emulator's API (paged), with one token per example
    (a new one when the machine moved the clock past it)."""
    control = machine.control
    items: list[dict[str, Any]] = []
    skip = 0
    while True:
        fresh = machine.admin_headers is None
        if machine.admin_headers is None:
            machine.admin_headers = control.auth_headers()
        response = control._http.get(
            "/api/v2/crm/connectors",
            params={"skip": skip, "top": 100},
            headers=machine.admin_headers,
        )
        if response.status_code == 401 and not fresh:
            machine.admin_headers = None
            continue
        response.raise_for_status()
        page = response.json()
        items.extend(page["items"])
        skip += 100
        if skip >= page["totalRecords"]:
            return items
