"""The leak campaign's script: every command and failure path in the order a team meets them
(first apply, rotation, drift, adoption, controller, CI helpers, mistakes and outages)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx

from reconciler.cxone.retry import RetryPolicy
from reconciler.emulator.config import EmulatorConfig
from reconciler.secret import is_secret_field
from reconciler.testing import start_emulator

from .campaign import (
    BASIC_TAIL,
    CLIENT_ID,
    JSON_TAIL,
    POLL,
    SALESFORCE,
    USERNAME,
    Campaign,
    base_env,
    emulator_clients,
    github_env,
    install_fake_gh,
    make_canaries,
    scrape_controller,
    serve_emulator,
    write_project,
)
from .indiscreet import IndiscreetServer

LITERAL_CONNECTOR = """name: Literal-Secrets
lifecycleStatus: DRAFT
connectorType: CUSTOM
endpointUrl: https://crm.example/api
authentication:
  type: OAUTH2
  credentials:
    tokenEndpoint: https://crm.example/oauth/token
    clientId: literal-client
    clientSecret: {secret}
    token: {token}
    privateKey: "{key}"
mappings:
  - cxoneField: contact.external_id
    crmField: id
    direction: INBOUND
labels:
  team: support
"""


def run(root: Path) -> Campaign:
    canaries = make_canaries()
    config = EmulatorConfig(
        clients=emulator_clients(canaries),
        users={USERNAME: canaries["cxone-password"]},
        sync_step_s=0.01,
    )
    emulator = start_emulator(root / "emulator.sqlite", config)
    campaign = Campaign(root=root, canaries=canaries, emulator=emulator)
    try:
        campaign.project.mkdir()
        write_project(campaign, campaign.project, emulator.base_url)
        install_fake_gh(root / "bin")
        campaign.env = base_env(campaign, root / "bin")
        first_apply(campaign)
        rotation(campaign)
        drift_and_adoption(campaign)
        controller(campaign)
        controller_pull(campaign)
        github_helpers(campaign)
        wrong_credentials_and_outages(campaign)
        indiscreet_server(campaign)
        literal_secrets(campaign)
        embedded_emulator(campaign)
        standalone_emulator(campaign)
        for route in ("stats", "faults"):
            campaign.scraped[f"emulator /_emulator/{route}"] = emulator.control.admin(
                "GET", route
            ).text
    finally:
        emulator.stop()
    return campaign


def first_apply(c: Campaign) -> None:
    gha = github_env(c, "event_pull_request.json", "pull_request")
    c.cx("validate", "validate", expect=0)
    c.cx("validate json", "validate", "--format", "json", "--strict", expect=0, env=gha)
    c.cx(
        "apply, a secret missing",
        *("apply", "-e", "emu", "--auto-approve", "--audit-log", "audit/missing.jsonl"),
        expect=1,
        env={"SUPPORT_DESK_API_KEY": None},
    )
    c.cx("plan text", "plan", "-e", "emu", expect=0, env=gha)
    c.cx("plan json", "plan", "--format", "json", "--out", "plans/first.json", expect=0)
    md = c.cx(
        "plan markdown",
        *("plan", "--format", "markdown", "--out", "plans/md.json", "--detailed-exitcode"),
        expect=2,
        env=gha,
    )
    (c.project / "plan.md").write_text(md.stdout, encoding="utf-8")
    c.cx(
        "apply saved plan, sync, json metrics",
        *("apply", "--plan", "plans/first.json", "--auto-approve", "--sync", *POLL),
        *("--audit-log", "audit/apply.jsonl", "--metrics-file", "metrics/apply.prom"),
        *("--metrics-format", "json"),
        expect=0,
        env=gha,
    )
    c.cx(
        "apply again, text metrics",
        *("apply", "--auto-approve", "--audit-log", "audit/apply.jsonl"),
        *("--metrics-file", "metrics/again.prom", "--metrics-format", "text"),
        expect=0,
    )


def rotation(c: Campaign) -> None:
    rotated = {"SALESFORCE_CLIENT_SECRET": c.canaries["salesforce-rotated"]}
    password_grant = {
        **rotated,
        "CXONE_GRANT": "password",
        "CXONE_USERNAME": USERNAME,
        "CXONE_PASSWORD": c.canaries["cxone-password"],
        "CXONE_TOKEN_BODY": "json",
    }
    c.cx("plan rotated, password grant", "plan", "-e", "emu", expect=0, env=password_grant)
    c.cx(
        "plan rotated json",
        *("plan", "--format", "json", "--out", "plans/rotated.json"),
        expect=0,
        env=rotated,
    )
    # The first PATCH times out (its answer comes after the client gave up): the retry
    # path re-reads, re-plans and records it, with the rotated value in the request.
    c.emulator.control.faults(slowMs=1500, next=[{"kind": "slow", "method": "PATCH"}])
    c.cx(
        "apply rotated, a write timing out",
        *("apply", "--plan", "plans/rotated.json", "--auto-approve", "--sync", *POLL),
        *("--audit-log", "audit/apply.jsonl", "--metrics-file", "metrics/rotated.prom"),
        expect=0,
        env={**rotated, "CXONE_TIMEOUT": "0.5"},
    )
    c.env.update(rotated)


def drift_and_adoption(c: Campaign) -> None:
    ids = remote_ids(c)
    c.emulator.control.edit(
        ids["Legacy-Ticketing-Sync"],
        {
            "description": "edited in the CXone UI",
            "authentication": {
                "type": "BASIC",
                "credentials": {
                    "username": "someone-else@acme.example",
                    "password": c.canaries["out-of-band-password"],
                },
            },
        },
    )
    c.emulator.control.edit(ids[SALESFORCE], {"syncSettings": {"batchSize": 250}})
    gha = github_env(c, "event_schedule.json", "schedule")
    c.cx("drift text", "drift", expect=2)
    c.cx("drift json", "drift", "--format", "json", expect=2)
    md = c.cx("drift markdown", "drift", "--format", "markdown", expect=2, env=gha)
    (c.project / "drift.md").write_text(md.stdout, encoding="utf-8")
    c.cx("drift write-back", "drift", "--write-back", expect=0)
    c.cx("dump", "dump", "--out", str(c.root / "dumped"), expect=0)
    c.cx("sync", "sync", SALESFORCE, *POLL, "--audit-log", "audit/sync.jsonl", expect=0)


def controller(c: Campaign) -> None:
    common = ("--repo", str(c.project), "--no-pull", "--audit-log", "audit/controller.jsonl")
    c.cx("reconcile once", "reconcile", *common, "--once", "--listen", "off", expect=0)
    # A new secret to write, and a 500 on that write.
    env = dict(c.env, SUPPORT_DESK_API_KEY=c.canaries.make("support-desk-api-key-2"))
    c.emulator.control.faults(next=[{"kind": "500", "method": "PATCH"}])
    serve = ("--interval", "1h", "--log-level", "debug")
    scrape_controller(c, "reconcile, served", *common, *serve, env=env)
    # Every create refused with the credentials quoted back: /status lists each error.
    with IndiscreetServer(c.canaries["access-token"]) as server:
        env = dict(env, CXONE_BASE_URL=server.base_url("reject-credentials"))
        scrape_controller(c, "reconcile, served, writes refused", *common, *serve, env=env)


def controller_pull(c: Campaign) -> None:
    """A checkout whose remote URL carries a token, and a pull that fails."""
    checkout = c.root / "checkout"
    checkout.mkdir()
    write_project(c, checkout, c.emulator.base_url)
    (checkout / ".gitignore").write_text(".secrets/\naudit/\n", encoding="utf-8")
    remote = f"https://cxrecon:{c.canaries.make('git-remote-token')}@127.0.0.1:9/acme/cx.git"
    for args in (
        ("init", "-q", "-b", "main"),
        ("add", "."),
        ("-c", "user.name=ci", "-c", "user.email=ci@example.invalid", "commit", "-qm", "c"),
        ("remote", "add", "origin", remote),
        ("config", "branch.main.remote", "origin"),
        ("config", "branch.main.merge", "refs/heads/main"),
    ):
        subprocess.run(("git", *args), cwd=checkout, check=True, capture_output=True)
    c.secret_sources.add(checkout / ".git" / "config")  # where the user put the token
    c.cx(
        "reconcile once, pull failing",
        *("reconcile", "--repo", str(checkout), "--once", "--listen", "off", "--dry-run"),
        *("--audit-log", "audit/pull.jsonl", "--log-level", "debug"),
        expect=1,  # a cycle whose pull failed is partial: --once exits 1
        cwd=checkout,
        env={"GIT_TERMINAL_PROMPT": "0"},
    )


def github_helpers(c: Campaign) -> None:
    pull = github_env(c, "event_pull_request.json", "pull_request")
    c.cx(
        "github plan-comment",
        *("github", "plan-comment", "-e", "emu", "--exit-code", "2"),
        *("--plan-markdown", "plan.md", "--artifact", "plan-emu"),
        expect=0,
        env=pull,
    )
    scheduled = github_env(c, "event_schedule.json", "schedule")
    c.cx(
        "github drift-issue",
        *("github", "drift-issue", "-e", "emu", "--exit-code", "2"),
        *("--drift-markdown", "drift.md"),
        expect=0,
        env=scheduled,
    )
    push = github_env(c, "event_push.json", "push")
    c.cx(
        "github apply-summary",
        *("github", "apply-summary", "-e", "emu", "--exit-code", "0"),
        *("--audit-log", "audit/apply.jsonl", "--artifact", "audit-emu"),
        expect=0,
        env=push,
    )


def wrong_credentials_and_outages(c: Campaign) -> None:
    c.cx(
        "plan, wrong client secret (401)",
        *("plan", "-e", "emu"),
        expect=1,
        env={"CXONE_CLIENT_SECRET": c.canaries["wrong-client-secret"]},
    )
    c.cx(
        "plan, wrong password grant",
        *("plan", "-e", "emu"),
        expect=1,
        env={
            "CXONE_GRANT": "password",
            "CXONE_USERNAME": USERNAME,
            "CXONE_PASSWORD": c.canaries["wrong-client-secret"],
        },
    )
    # Reads retry a 500, so it takes one per attempt (RetryPolicy's default 6) to fail.
    attempts = RetryPolicy().max_attempts
    c.emulator.control.faults(next=[{"kind": "500", "method": "GET"}] * attempts)
    c.cx("plan, server 500", "plan", "-e", "emu", expect=1)
    c.emulator.control.faults(slowMs=3000, next=[{"kind": "slow", "path": "*/sync"}])
    c.cx(
        "sync, timeout",
        *("sync", SALESFORCE, *POLL, "--audit-log", "audit/sync.jsonl"),
        expect=1,
        env={"CXONE_TIMEOUT": "0.3"},
    )
    c.emulator.control.faults(slowMs=1000, next=[{"kind": "slow", "path": "*/oauth/token"}])
    c.cx("plan, token timeout", "plan", "-e", "emu", expect=0, env={"CXONE_TIMEOUT": "0.3"})


def indiscreet_server(c: Campaign) -> None:
    listing = unmasked(c, remote_items(c))
    with IndiscreetServer(c.canaries["access-token"], listing) as server:
        unmasked_reads = {"CXONE_BASE_URL": server.base_url("unmasked-read")}
        for label, args, expect in (
            ("plan", ("plan",), 0),
            ("plan json", ("plan", "--format", "json", "--out", "plans/unmasked.json"), 0),
            ("plan markdown", ("plan", "--format", "markdown"), 0),
            ("drift", ("drift",), 0),
            ("drift json", ("drift", "--format", "json"), 0),
            ("drift markdown", ("drift", "--format", "markdown"), 0),
            ("dump", ("dump", "--out", str(c.root / "dumped-unmasked")), 0),
        ):
            c.cx(f"{label}, reads not masked", *args, expect=expect, env=unmasked_reads)
        fresh = {"SUPPORT_DESK_API_KEY": c.canaries["support-desk-api-key"]}
        gha = github_env(c, "event_push.json", "push")
        for mode, command, expect in (
            ("refuse-token", "plan", 1),
            ("list-500", "plan", 1),
            ("create-500", "apply", 1),
            ("create-text", "apply", 1),
            ("reject-credentials", "apply", 1),
        ):
            extra = ("--auto-approve", "--audit-log", f"audit/{mode}.jsonl")
            c.cx(
                f"{command} against a server that quotes secrets ({mode})",
                *(command, "-e", "emu", *(extra if command == "apply" else ())),
                expect=expect,
                env={**fresh, **gha, "CXONE_BASE_URL": server.base_url(mode)},
            )
        c.cx(
            "plan, password grant refused with quotes",
            *("plan", "-e", "emu"),
            expect=1,
            env={
                "CXONE_BASE_URL": server.base_url("refuse-token"),
                "CXONE_GRANT": "password",
                "CXONE_USERNAME": USERNAME,
                "CXONE_PASSWORD": c.canaries["cxone-password"],
            },
        )


def literal_secrets(c: Campaign) -> None:
    """A secret pasted into a connector file, and one into a `vars:` value of cxrecon.yaml."""
    where = c.root / "literal"
    where.mkdir()
    write_project(c, where, c.emulator.base_url)
    literal = where / "connectors" / "literal.yaml"
    literal.write_text(
        LITERAL_CONNECTOR.format(
            secret=c.canaries["literal-client-secret"],
            token=c.canaries["literal-token"],
            key=c.canaries["literal-private-key"],
        ),
        encoding="utf-8",
    )
    c.secret_sources.add(literal)
    gha = github_env(c, "event_pull_request.json", "pull_request")
    c.cx("validate literal", "validate", expect=1, cwd=where, env=gha)
    c.cx("validate literal json", "validate", "--format", "json", expect=1, cwd=where)
    c.cx("plan literal", "plan", "-e", "emu", expect=1, cwd=where, env=gha)
    c.cx("apply literal", "apply", "--auto-approve", expect=1, cwd=where)

    in_vars = c.root / "literal-var"
    in_vars.mkdir()
    write_project(c, in_vars, c.emulator.base_url)
    project = in_vars / "cxrecon.yaml"
    var = f"      crm_password: {c.canaries['literal-var']}\n"
    text = project.read_text(encoding="utf-8").replace("    vars:\n", "    vars:\n" + var)
    project.write_text(text, encoding="utf-8")
    c.secret_sources.add(project)
    c.cx("validate literal var", "validate", expect=1, cwd=in_vars, env=gha)
    c.cx("plan literal var", "plan", "-e", "emu", "--format", "json", expect=1, cwd=in_vars)


def embedded_emulator(c: Campaign) -> None:
    where = c.root / "embedded"
    where.mkdir()
    write_project(c, where, "http://127.0.0.1:8787/api/v2")
    c.cx("apply --emulator", "apply", "--emulator", "--auto-approve", expect=0, cwd=where)
    c.cx("drift --emulator", "drift", "--emulator", expect=0, cwd=where)


def remote_items(c: Campaign) -> list[dict[str, Any]]:
    response = httpx.get(
        c.emulator.base_url + "/crm/connectors",
        params={"top": 100},
        headers=c.emulator.control.auth_headers(),
    )
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def remote_ids(c: Campaign) -> dict[str, str]:
    return {item["name"]: item["id"] for item in remote_items(c)}


def unmasked(c: Campaign, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tenant as a server that forgets to mask write-only values would return it."""
    value = c.canaries.make("server-returned-secret", JSON_TAIL)
    for item in items:
        credentials = item["authentication"]["credentials"]
        for key in credentials:
            if is_secret_field(key):
                credentials[key] = value
    return items


def standalone_emulator(c: Campaign) -> None:
    """`cxrecon emulator serve` given its client secret by environment, a user's password."""
    where = c.root / "served"
    where.mkdir()
    write_project(c, where, "http://127.0.0.1:9/api/v2")
    secret = c.canaries.make("served-client-secret", BASIC_TAIL)
    password = c.canaries.make("served-password", JSON_TAIL)
    served = serve_emulator(
        c,
        where / "served.sqlite",
        *("--client-id", CLIENT_ID, "--user", f"{USERNAME}:{password}", "--sync-step", "0"),
        env=dict(c.env, CXRECON_EMULATOR_CLIENT_SECRET=secret),
    )
    try:
        target = {"CXONE_BASE_URL": served.base_url, "CXONE_CLIENT_SECRET": secret}
        c.cx("apply against emulator serve", "apply", "--auto-approve", expect=0, cwd=where,
             env=target)  # fmt: skip
        password_grant = {
            **target,
            "CXONE_GRANT": "password",
            "CXONE_USERNAME": USERNAME,
            "CXONE_PASSWORD": password,
        }
        c.cx("plan against emulator serve, password grant", "plan", expect=0, cwd=where,
             env=password_grant)  # fmt: skip
    finally:
        served.stop()
