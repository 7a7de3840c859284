"""The scale-out examples load as what they claim to be, and their scripts do what they say.

- ``examples/certify-sharded.yml``: a GitHub Actions workflow (jobs, steps, a matrix over
  the shards, an upload per shard, a merge job after them); the merge step's script,
  run with a stand-in ``floodmark``, fails on an invalid verdict and on a refused merge.
- ``examples/kubernetes/certify-job.yaml``: a ``batch/v1`` Indexed Job whose pods turn
  ``JOB_COMPLETION_INDEX`` into ``--shard I/N``, with a Docker engine per pod; its script,
  run with stand-ins for docker, make and floodmark, passes the shard it should, and the
  floodmark command lines of both files are accepted by the real CLI (``--dry-run``).
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from harness.cli import cli

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / "examples" / "certify-sharded.yml"
JOB = REPO / "examples" / "kubernetes" / "certify-job.yaml"


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def stub(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_workflow_is_a_github_actions_workflow_with_a_matrix_and_a_merge() -> None:
    wf = load(WORKFLOW)
    raw: dict[Any, Any] = wf
    triggers = raw.get("on", raw.get(True))  # YAML 1.1 reads a bare `on` as true
    assert isinstance(triggers, dict) and {"schedule", "workflow_dispatch"} <= set(triggers)
    jobs = wf["jobs"]
    assert set(jobs) == {"shard", "merge"}
    for job in jobs.values():
        assert job["runs-on"] and isinstance(job["steps"], list)
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step
    shard = jobs["shard"]
    shards = int(wf["env"]["SHARDS"])
    assert shard["strategy"]["matrix"]["shard"] == list(range(1, shards + 1))
    assert shard["strategy"]["fail-fast"] is False
    uploads = [s for s in shard["steps"] if str(s.get("uses", "")).startswith("actions/upload")]
    assert len(uploads) == 1 and uploads[0]["with"]["path"] == "store/"
    assert "${{ matrix.shard }}" in uploads[0]["with"]["name"] and uploads[0]["if"] == "always()"
    merge = jobs["merge"]
    assert merge["needs"] == "shard" and merge["if"] == "always()"
    downloads = [s for s in merge["steps"] if str(s.get("uses", "")).startswith("actions/down")]
    assert downloads[0]["with"]["pattern"] == "floodmark-shard-*"


def _merge_script() -> str:
    steps = load(WORKFLOW)["jobs"]["merge"]["steps"]
    (step,) = [s for s in steps if s.get("id") == "merge"]
    return str(step["run"])


@pytest.mark.parametrize(
    ("code", "writes", "expected"),
    [(0, True, 0), (1, True, 1), (2, True, 0), (2, False, 2)],
    ids=["valid", "invalid-fails", "unknown-warns", "refused-fails"],
)
def test_the_merge_step_fails_on_an_invalid_verdict(
    tmp_path: Path, code: int, writes: bool, expected: int
) -> None:
    write = "mkdir -p merged && echo '{}' > merged/summary.json\n" if writes else ""
    stub(tmp_path / ".venv" / "bin" / "floodmark", f'echo "$@" > args\n{write}exit {code}\n')
    (tmp_path / "shards" / "floodmark-shard-1").mkdir(parents=True)
    out = tmp_path / "github_output"
    proc = subprocess.run(
        ["bash", "-e", "-c", _merge_script()],
        cwd=tmp_path,
        env={**os.environ, "GITHUB_OUTPUT": str(out)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == expected, proc.stdout + proc.stderr
    assert (tmp_path / "args").read_text().split()[:3] == [
        "certify",
        "merge",
        "shards/floodmark-shard-1",
    ]
    assert out.read_text() == f"code={code}\n"
    if code == 1:
        assert "::error::certification INVALID" in proc.stdout


def test_job_is_an_indexed_kubernetes_job_with_an_engine_per_pod() -> None:
    job = load(JOB)
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    assert job["metadata"]["name"]
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] >= 1
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    containers = {c["name"]: c for c in pod["containers"]}
    for c in containers.values():
        assert c["image"] and all(
            set(m) == {"name", "mountPath"} for m in c.get("volumeMounts", [])
        )
    certify, engine = containers["certify"], containers["docker"]
    env = {e["name"]: e["value"] for e in certify["env"]}
    assert int(env["SHARDS"]) == spec["completions"]
    assert env["DOCKER_HOST"].startswith("tcp://127.0.0.1:")
    assert "dind" in engine["image"] and engine["securityContext"]["privileged"] is True
    volumes = {v["name"] for v in pod["volumes"]}
    for c in (certify, engine):
        assert {m["name"] for m in c["volumeMounts"]} <= volumes
    store_paths = [{m["mountPath"] for m in c["volumeMounts"] if m["name"] == "stores"}
                   for c in (certify, engine)]  # fmt: skip
    assert store_paths[0] == store_paths[1]  # bind mounts name the same path on both sides


@pytest.mark.parametrize(("index", "shard"), [(0, "1/4"), (3, "4/4")])
def test_job_completion_index_becomes_the_shard(tmp_path: Path, index: int, shard: str) -> None:
    job = load(JOB)
    certify = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in certify["env"]}
    bin_dir = tmp_path / "bin"
    stub(bin_dir / "docker", "exit 0\n")
    stub(bin_dir / "make", "exit 0\n")
    stub(tmp_path / ".venv" / "bin" / "floodmark", 'printf "%s\\n" "$@" > args\nexit 1\n')
    proc = subprocess.run(
        [*certify["command"], certify["args"][0]],
        cwd=tmp_path,
        env={
            **os.environ,
            **env,
            "JOB_COMPLETION_INDEX": str(index),
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr  # a shard's verdict is the merge's business
    args = (tmp_path / "args").read_text().splitlines()
    assert args[:4] == ["certify", "nightly", "--shard", shard]
    assert f"shard {shard}: exit code 1" in proc.stdout
    # the real CLI accepts that command line
    store = tmp_path / "dry"
    argv = [*args[:-1], str(store), "--dry-run"]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 0, result.output
    assert f"shard {shard}: " in result.output


def test_the_workflows_certify_command_is_accepted_by_the_cli() -> None:
    steps = load(WORKFLOW)["jobs"]["shard"]["steps"]
    (run,) = [s["run"] for s in steps if "certify" in str(s.get("run", ""))]
    line = " ".join(
        ln.strip().rstrip("\\") for ln in run.splitlines() if "floodmark" in ln or "--jobs" in ln
    )
    line = line.replace('"$SUITE"', "smoke").replace("${{ matrix.shard }}", "2")
    line = line.replace("$SHARDS", "4")
    argv = shlex.split(line)
    assert argv[0].endswith("floodmark")
    result = CliRunner().invoke(cli, [*argv[1:], "--dry-run"])
    assert result.exit_code == 0, result.output
