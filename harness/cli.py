"""The ``floodmark`` command: ``run``, ``shrink``, ``check``, ``report``, ``serve``, ``certify``,
``clean``.

Exit codes: 0 valid, 1 invalid, 2 unknown or error (bad options and config files
included, always before any container starts), 128+N when stopped by signal N.

Examples::

    floodmark run                                    # replog, 3 nodes, 3 keys, 30 s
    floodmark run --nodes 5 --keys 4 --time-limit 60 --rate 300 --seed 7
    floodmark run --config floodmark.yaml --set min.insync.replicas=1
    floodmark run --system kafka --kafka-version 4.1.1 --nemesis partition,kill
    floodmark run --system kafka --kafka-dist ~/kafka/core/build/distributions/kafka_2.13-4.2.0.tgz
    floodmark check store/latest --json
    floodmark report store/latest                    # re-render report.html and junit.xml
    floodmark serve                                  # the store on http://127.0.0.1:8080/
    floodmark run --replay store/replog-log/latest    # the same faults at the same times
    floodmark shrink store/replog-log/latest --budget 20m   # a minimal failing schedule
    floodmark certify smoke                          # a suite of scenarios, one verdict
    floodmark list faults                            # a registry: faults, checkers, systems, suites
    floodmark clean                                  # remove everything labelled floodmark.run
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text

from checkers.cli import check_command
from compose.docker_cluster import docker_client
from compose.kafka.releases import DEFAULT_VERSION
from compose.resources import engine_runs, reap_orphans, remove_labelled
from harness.catalogue import CATALOGUE, TABLES
from harness.certify import SuiteInterrupted, run_suite, suite_verdict
from harness.cli_config import QUIET_ON_CONSOLE, config_from
from harness.cli_shrink import shrink_command
from harness.contract.config import ConfigError, TestConfig, parse_assignments
from harness.contract.layout import CERTIFICATE
from harness.merge import MergeRefused, merge_dirs
from harness.progress import Ui
from harness.run import run
from harness.shard import Shard, plan_of, shard_suite
from harness.store import versions
from harness.suite import SuiteError, load_suite
from reports.cli import report_command, serve_command

_err = Console(stderr=True, highlight=False, markup=False)
"""Everything printed here is text, never console markup: a node name, a fault's reason,
an error from the system under test or a path may hold ``[/x]`` (markup would end the
command in a traceback). Styles go through ``style=`` or `rich.text.Text`."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """floodmark: Jepsen-style chaos tests for replicated logs."""


@cli.command("run")
@click.option("--system", help="System under test (replog; kafka when installed).")
@click.option("--workload", help="Workload (default: log).")
@click.option("--name", help="Test name: store/<name>/... (default <system>-<workload>).")
@click.option("--nodes", type=int, help="Brokers, 1..9 (default 3).")
@click.option("--keys", type=int, help="Keys (partitions), default 3.")
@click.option("--replication-factor", type=int, help="Replicas per key (default min(3, nodes)).")
@click.option("--time-limit", type=float, help="Seconds of load (default 30).")
@click.option("--concurrency", type=int, help="Client processes (default 10).")
@click.option("--rate", type=float, help="Client ops per second in total (default 150).")
@click.option("--seed", type=int, help="Seed of every random choice (default: random).")
@click.option(
    "--profile",
    help="System profile (default: the system's own): replog kafka-0.11, kafka-0.10; "
    "kafka safe, unclean, fsync.",
)
@click.option(
    "--kafka-version",
    metavar="VERSION",
    help=f"Kafka release under test, --system kafka only (default {DEFAULT_VERSION}; "
    "`floodmark list kafka-releases`).",
)
@click.option(
    "--kafka-dist",
    metavar="PATH",
    help="Your own Kafka build instead of a release: a distribution .tgz, or a directory "
    "with libs/*.jar (--system kafka only).",
)
@click.option(
    "--set", "settings", multiple=True, metavar="KEY=VALUE", help="A system setting (repeat)."
)
@click.option(
    "--env", "env", multiple=True, metavar="KEY=VALUE", help="Env var for every node (repeat)."
)
@click.option("--nemesis", help="Comma-separated fault packages (see the fault registry).")
@click.option("--nemesis-interval", type=float, help="Mean seconds between fault actions.")
@click.option(
    "--nemesis-option",
    "nemesis_options",
    multiple=True,
    metavar="NAME=V1,V2",
    help="Restrict a fault package's targets, e.g. kill_targets=leader,all (repeat).",
)
@click.option("--store", help="Store directory (default ./store).")
@click.option("--recovery-timeout", type=float, help="Seconds to wait for recovery (60).")
@click.option("--final-read-timeout", type=float, help="Seconds per final read (30).")
@click.option("--monitor-interval", type=float, help="Seconds between replica samples (0.5).")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="YAML or TOML file with any of these settings; options given here win.",
)
@click.option(
    "--replay",
    metavar="RUN_DIR|SCHEDULE",
    help="Rerun exactly the fault ops a run executed (a run directory) or a schedule file "
    "lists (`floodmark shrink` writes one), at their times; config and seed from the run, "
    "any option here overrides.",
)
@click.option("--quiet", is_flag=True, help="Only errors and the verdict.")
def run_cmd(config_file: str | None, quiet: bool, **options: Any) -> None:
    """Start a cluster, run the workload (and faults), check the history."""
    t0 = time.monotonic() - _process_age()
    _logging()
    config = _config(config_file, options)

    try:
        code = run(config, Ui(console=_err, quiet=quiet), t0=t0)
    except ConfigError as e:
        raise click.UsageError(str(e)) from None
    except RuntimeError as e:
        _err.print(f"error: {e}", style="red")
        sys.exit(2)
    sys.exit(code)


def _config(config_file: str | None, options: dict[str, Any]) -> TestConfig:
    """Defaults < config file < options; every problem at once as a usage error (exit 2)."""
    try:
        return config_from(config_file, options)
    except ConfigError as e:
        raise click.UsageError(str(e)) from None


cli.add_command(shrink_command)


@cli.command("check")
@click.argument("path", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print results.json on stdout.")
def check_cmd(path: str, as_json: bool) -> None:
    """Check a run directory or a history.jsonl offline; writes results.json."""
    sys.exit(check_command(path, as_json))


@cli.command("report")
@click.argument("path", type=click.Path())
def report_cmd(path: str) -> None:
    """Re-render report.html and junit.xml of a run directory (or a lone history.jsonl)."""
    sys.exit(report_command(path))


@cli.command("serve")
@click.option("--store", default="store", show_default=True, help="Store directory.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
def serve_cmd(store: str, port: int) -> None:
    """Serve the store (index, reports, logs) on 127.0.0.1 only."""
    sys.exit(serve_command(store, port))


class _CertifyGroup(click.Group):
    """``certify SUITE ...`` runs a suite (the ``suite`` subcommand); ``certify merge
    DIR...`` joins shards. Anything that is not a subcommand's name is a suite."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = ["suite", *args]
        return super().parse_args(ctx, args)


@cli.group("certify", cls=_CertifyGroup)
def certify_cmd() -> None:
    """Certification: `certify SUITE` runs a suite (see `certify suite -h`);
    `certify merge DIR...` joins the outputs of its shards into one certificate."""


@certify_cmd.command("suite")
@click.argument("suite")
@click.option("--store", default="store", show_default=True, help="Store directory.")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a run setting in every scenario, e.g. time_limit=20 (repeat).",
)
@click.option("--dry-run", is_flag=True, help="List the scenarios and stop.")
@click.option(
    "--jobs",
    type=click.IntRange(1, 32),
    default=1,
    show_default=True,
    help="Scenarios at once on this Docker engine (each in its own process).",
)
@click.option(
    "--shard",
    "shard_spec",
    metavar="I/N",
    help="Run only shard I of N (a fixed split of the scenarios); join with certify merge.",
)
def certify_suite_cmd(
    suite: str,
    store: str,
    overrides: tuple[str, ...],
    dry_run: bool,
    jobs: int,
    shard_spec: str | None,
) -> None:
    """Run a certification SUITE (smoke, nightly, release, self-test, or a suite file).

    Writes certificate.html, summary.json and junit.xml under store/certify/; exits 0
    when every scenario is as expected, 1 when any is invalid, 2 when any is unknown
    (liveness problems, runs that could not finish)."""

    _logging()
    try:
        options: dict[str, Any] = dict(parse_assignments(overrides, "--set"))
        loaded = load_suite(suite, CATALOGUE, {**options, "store": store})
        shard = Shard.parse(shard_spec) if shard_spec else None
    except (SuiteError, ConfigError) as e:
        raise click.UsageError(str(e)) from None
    plan = plan_of(loaded, options, versions()["floodmark"], shard)
    part = shard_suite(loaded, shard)
    if shard is not None:
        _err.print(f"shard {shard}: {len(part.scenarios)} of {len(loaded.scenarios)} scenarios")
    for sc in part.scenarios:
        _err.print(f"  {sc.name}: {sc.config.command()}", soft_wrap=True, markup=False)
    if dry_run:
        sys.exit(0)
    _reap_orphans_first()

    try:
        out, results = run_suite(
            part,
            Path(store),
            lambda config: run(config, Ui(console=_err, quiet=True)),
            progress=lambda m: _err.print(m, markup=False),
            plan=plan,
            jobs=jobs,
            console=_err,
        )
    except SuiteInterrupted as e:
        _err.print(str(e), style="red")
        sys.exit(e.exit_code)
    if shard is not None and not part.scenarios:
        _err.print(f"shard {shard}: nothing to run ({out})")
        sys.exit(0)
    verdict = suite_verdict(results)
    where = f" (shard {shard})" if shard else ""
    _err.print(f"suite {loaded.name}{where}: {verdict.value.upper()} → {out / CERTIFICATE}")
    sys.exit(verdict.exit_code)


@certify_cmd.command("merge")
@click.argument("dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option(
    "--store",
    default="store",
    show_default=True,
    help="The merged files go to STORE/certify/<suite>/<stamp>-merged/ (unless --out).",
)
@click.option("--out", type=click.Path(file_okay=False), help="Write the merged files here.")
def certify_merge_cmd(dirs: tuple[str, ...], store: str, out: str | None) -> None:
    """Join shards' outputs (certify output directories, or stores holding them) into one
    certificate.html, summary.json and junit.xml with the suite's verdict.

    Exits 0, 1 or 2 like certify (missing or duplicated scenarios make it unknown, an
    invalid one invalid); 2 with nothing written when the shards are of different
    suites, options, splits or floodmark versions."""
    try:
        merged = merge_dirs([Path(d) for d in dirs], Path(store), Path(out) if out else None)
    except MergeRefused as e:
        _err.print(f"merge refused: {e}", markup=False, soft_wrap=True)
        sys.exit(2)
    s = merged.summary
    for m in s["merged_from"]:
        _err.print(f"  shard {m['shard']}: {m['scenarios_run']} scenarios, {m['verdict']} "
                   f"({m['path']})", markup=False)  # fmt: skip
    for key in ("missing_shards", "missing", "duplicated", "unplanned"):
        if s[key]:
            _err.print(f"  {key.replace('_', ' ')}: {', '.join(s[key])}", markup=False)
    _err.print(
        f"suite {s['suite']} (merged, {s['scenarios_run']} of {s['scenarios_planned']} "
        f"scenarios): {merged.verdict.value.upper()} → {merged.out / CERTIFICATE}",
        markup=False,
    )
    sys.exit(merged.verdict.exit_code)


def _reap_orphans_first() -> None:
    """Before a suite: remove what runs killed without teardown left, and say so."""
    try:
        client = docker_client()
    except RuntimeError:
        return  # the first run says what is wrong with the engine
    for r in reap_orphans(client):
        _err.print(r.summary(), markup=False)


@cli.command("list")
@click.argument("registry", type=click.Choice(sorted(TABLES)))
@click.option("--markdown", is_flag=True, help="Print a Markdown table (as in the README).")
def list_cmd(registry: str, markdown: bool) -> None:
    """Print a registry: fault packages and their options, checkers and the anomalies they
    report, systems and their profiles, or the built-in suites."""
    table = TABLES[registry]()
    if markdown:
        click.echo(table.markdown(), nl=False)
        return
    out = Table(title=table.title, show_lines=True)
    for column in table.columns:
        out.add_column(column)
    for row in table.rows:
        out.add_row(*(Text(cell.replace("`", "")) for cell in row))  # data, never markup
    Console(highlight=False).print(out)


@cli.command("clean")
@click.option("--run", "run_id", help="Only this run id, whoever owns it.")
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Everything labelled floodmark.run: live runs, other hosts' and unowned included.",
)
def clean_cmd(run_id: str | None, everything: bool) -> None:
    """Remove the containers, networks and volumes of runs whose owner is gone (images stay).

    A run's owner is the process that started it (labels floodmark.owner.*: host, pid,
    start time). Live runs, runs started on other hosts and resources without owner
    labels (an older floodmark) stay, unless --all."""
    _logging()
    if run_id and everything:
        raise click.UsageError("--run and --all: give one of them")
    try:
        client = docker_client()
    except RuntimeError as e:
        _err.print(f"error: {e}", style="red")
        sys.exit(2)
    if run_id or everything:
        removed = remove_labelled(client, run_id)
        _err.print(
            f"removed {removed['containers']} containers, {removed['networks']} networks, "
            f"{removed['volumes']} volumes"
        )
        return
    reaped = reap_orphans(client)
    for r in [*reaped, *engine_runs(client)]:
        _err.print(r.summary(), markup=False)
    if not reaped:
        _err.print("no run whose owner is gone; nothing removed")


def _process_age() -> float:
    """Seconds since this process started (so timings count from `floodmark run` itself,
    interpreter start and imports included); 0 where /proc is not available."""
    import os

    try:
        stat = Path("/proc/self/stat").read_text()
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))


def _logging() -> None:
    root = logging.getLogger("floodmark")
    if not root.handlers:
        handler = RichHandler(console=_err, show_path=False, level=logging.WARNING)
        handler.addFilter(lambda record: not record.name.startswith(QUIET_ON_CONSOLE))
        root.addHandler(handler)
        root.setLevel(logging.INFO)


def _main() -> int:
    """Run the command line; its exit code. Exit 1 means one thing only, a proven safety
    anomaly: click's own failures (a usage error, an abort) and anything a command raised
    are reported in one line, never a traceback, and exit 2 (130 for Ctrl-C)."""
    try:
        rv = cli.main(prog_name="floodmark", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
            return 2
        return e.code if isinstance(e.code, int) else 0
    except (click.exceptions.Abort, KeyboardInterrupt):
        print("floodmark: interrupted", file=sys.stderr)
        return 130
    except click.ClickException as e:
        e.show()
        return e.exit_code if e.exit_code not in (0, 1) else 2
    except Exception as e:  # noqa: BLE001 - the promise: a message and exit 2, never a traceback
        print(f"floodmark: failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 2


def main() -> NoReturn:
    """The console script. Exits with the command's code without waiting for threads or
    finalizers a client library may have left blocked.

    By the time a command returns, teardown is done, the history is closed and results
    are written. A thread or destructor still blocked inside a native client (librdkafka
    closing towards brokers that are gone) would make the interpreter wait forever at
    exit (seen once on Kafka under heavy load); a harness that hangs after its verdict
    fails a CI job for nothing. Non-daemon threads still alive are named in the log."""
    code = _main()
    stuck = [t.name for t in threading.enumerate() if t.is_alive() and not t.daemon]
    stuck.remove(threading.current_thread().name)
    if stuck:
        logging.getLogger("floodmark").warning("exiting with threads still alive: %s", stuck)
    logging.shutdown()
    _save_coverage()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _save_coverage() -> None:
    """``os._exit`` skips atexit, where coverage saves its data: when this process is
    measured (the test suite runs ``floodmark`` under coverage), save it here."""
    measured = sys.modules.get("coverage")
    current = getattr(getattr(measured, "Coverage", None), "current", None)
    cov = current() if callable(current) else None
    if cov is not None:
        cov.stop()
        cov.save()


if __name__ == "__main__":
    main()
