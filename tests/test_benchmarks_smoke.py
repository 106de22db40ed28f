"""The benchmark's building blocks run on tiny inputs (issues 7 and 15). Timings are never asserted, only that each
block measures something, adds up and reports it; the comparison tools are not run here."""

from __future__ import annotations

import json
import math
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benchmarks import sslyze_scan, testssl_scan
from benchmarks.endpoints import ClientCertificate, ClientFiles, client_files
from benchmarks.forward_cost import measure_forward_cost
from benchmarks.machine import _blocked_plugins, machine_info
from benchmarks.phases import PHASES, measure_phases, split
from benchmarks.process import TIMED_OUT, SandboxError, SeparateSandbox, judge_pytest, run_timed
from benchmarks.records import (
    Benchmark,
    Paired,
    Phase,
    PhaseSplit,
    ProcessRun,
    Series,
    SetupState,
    Timing,
    ToolScan,
    ToolSetup,
    time_runs,
)
from benchmarks.report import (
    OURS_SANDBOX,
    OURS_SEPARATE,
    SSLYZE,
    first_probe,
    judge_targets,
    knative_key,
    median_run,
    phase_runs,
    render_table,
    replicas_key,
    to_json,
)
from benchmarks.run import parse_args
from benchmarks.variants import variant_scenario
from probes import pki
from probes.catalog import ENDPOINT_IDS

SSLYZE_JSON = {
    "server_scan_results": [{
        "scan_status": "COMPLETED",
        "connectivity_error_trace": None,
        "scan_result": {
            "certificate_info": {"status": "COMPLETED"},
            "tls_1_3_cipher_suites": {"status": "COMPLETED"},
            "heartbleed": {"status": "ERROR"},
            "session_resumption": {"status": "NOT_SCHEDULED"},
        },
    }],
}


def test_time_runs_keeps_every_sample_and_the_last_result():
    timing, result = time_runs(lambda: "done", 3)
    assert len(timing.samples) == 3 and result == "done"
    assert timing.best <= timing.median
    with pytest.raises(ValueError):
        time_runs(lambda: None, 0)


def test_forward_cost_measures_latency_and_throughput_through_the_emulated_api_server():
    cost = measure_forward_cost(opens=2, mebibytes=1)
    assert cost.opens == 2 and cost.mebibytes == 1
    assert len(cost.open_latency.samples) == 2 and len(cost.first_byte.samples) == 2
    assert cost.upload_mib_s > 0 and cost.download_mib_s > 0


def test_scale_variants_add_knative_hosts_or_replicas_to_the_conformant_scenario():
    knative = variant_scenario("knative-3")
    assert knative.objects.knative_services == ("svc-0001", "svc-0002", "svc-0003")
    replicas = variant_scenario("replicas-4")
    assert all(replicas.server(e).replicas == 4 for e in ENDPOINT_IDS)
    for wrong in ("replicas-0", "knative", "hosts-3"):
        with pytest.raises(ValueError, match="knative-N or replicas-N"):
            variant_scenario(wrong)


def test_machine_info_names_the_cpu_python_and_openssl():
    machine = machine_info()
    assert machine.cores >= 1 and machine.python.count(".") == 2
    assert "OpenSSL" in machine.openssl_python and machine.cpu


def test_plugins_the_project_turns_off_are_not_counted_as_loaded(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.pytest.ini_options]\naddopts = "-q -p no:cacheprovider -p no:hypothesispytest -p xdist"\n')
    assert _blocked_plugins(pyproject) == {"cacheprovider", "hypothesispytest"}
    assert _blocked_plugins(tmp_path / "missing.toml") == set()


def test_client_files_are_private_and_gone_after_the_scan():
    issued = pki.CertificateAuthority.self_signed(key_type="ecdsa").issue(["flow"], key_type="ecdsa")
    client = ClientCertificate(issued.chain_pem, issued.key, "default/direktiv-cert-flow")
    assert "PRIVATE KEY" not in repr(client)
    with client_files(client) as files:
        assert files.key.read_bytes() == issued.key.bytes()
        assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
        assert stat.S_IMODE(files.key.parent.stat().st_mode) == 0o700
        directory = files.key.parent
    assert not directory.exists()
    with client_files(None) as nothing:
        assert nothing is None


def test_sslyze_command_and_its_json_verdict():
    files = ClientFiles(Path("/private/tls.crt"), Path("/private/tls.key"))
    command = sslyze_scan.sslyze_command("sslyze", ("127.0.0.1", 4443), "direktiv-flow-hl.default", files)
    assert command[-1] == "127.0.0.1:4443"
    assert command[command.index("--sni") + 1] == "direktiv-flow-hl.default"
    assert command[command.index("--key") + 1] == "/private/tls.key"
    completed, detail = sslyze_scan.read_scan_json(json.dumps(SSLYZE_JSON))
    assert completed and detail == "2 of 3 scan commands completed (heartbleed errored)"
    unreachable = {"server_scan_results": [{"scan_status": "ERROR_NO_CONNECTIVITY",
                                            "connectivity_error_trace": "Traceback\nConnection refused"}]}
    assert sslyze_scan.read_scan_json(json.dumps(unreachable)) == (
        False, "sslyze could not scan: ERROR_NO_CONNECTIVITY (Connection refused)")
    assert sslyze_scan.read_scan_json("not json")[0] is False


def test_testssl_command_sends_the_name_as_sni_to_the_forwarded_address():
    command = testssl_scan.testssl_command("testssl", ("127.0.0.1", 4443), "direktiv-api-service.default")
    assert command[-1] == "direktiv-api-service.default:4443"
    assert command[command.index("--ip") + 1] == "127.0.0.1"
    assert command[command.index("--nodns") + 1] == "none"


def test_a_tool_that_cannot_be_installed_is_reported_not_raised(tmp_path):
    setup = sslyze_scan.ensure_sslyze(tmp_path / "venv", install=False)
    assert setup.state is SetupState.MISSING and "installing was turned off" in setup.reason
    scan = sslyze_scan.scan_endpoint(setup, "api", ("127.0.0.1", 1), "api")
    assert scan.seconds is None and scan.completed is None and "turned off" in scan.detail
    assert testssl_scan.ensure_testssl(install=False).state in (SetupState.READY, SetupState.MISSING)


def test_options():
    args = parse_args(["--runs", "2", "--hosts", "none", "--replicas", "3", "--tool-endpoint", "ui", "--testssl"])
    assert (args.runs, args.hosts, args.replicas, args.tool_endpoint, args.testssl) == (2, 0, 3, "ui", True)
    defaults = parse_args([])
    assert (defaults.runs, defaults.warmup, defaults.hosts, defaults.replicas, defaults.testssl) == (5, 1, 1000, 20, False)
    with pytest.raises(SystemExit):
        parse_args(["--runs", "0"])


def test_run_py_starts_as_a_script_path():
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and "--runs N" in done.stdout


# -- whole processes ---------------------------------------------------------------------------------------------


def test_run_timed_reports_wall_cpu_exit_status_and_output():
    burn = "import sys, time\nend = time.process_time() + 0.2\nwhile time.process_time() < end: pass\n" \
           "print('out'); print('err', file=sys.stderr); sys.exit(3)"
    done = run_timed([sys.executable, "-c", burn], timeout=60)
    assert done.exit_code == 3 and not done.timed_out
    assert done.stdout.strip() == "out" and done.stderr.strip() == "err"
    assert done.user + done.sys >= 0.15 and done.wall >= done.user  # the child's own CPU, from wait4
    run = done.process_run(lambda d: (d.exit_code == 0, f"exit status {d.exit_code}"))
    assert run == ProcessRun(done.wall, done.user, done.sys, 3, False, "exit status 3")


def test_run_timed_kills_the_whole_session_at_the_deadline():
    child = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); " \
            "time.sleep(60)"
    done = run_timed([sys.executable, "-c", child], timeout=0.5)
    assert done.timed_out and done.exit_code == TIMED_OUT and done.wall < 30
    assert judge_pytest(done)[0] is False


def test_judge_pytest_reads_the_last_line():
    def finished(code, out, err=""):
        return run_timed([sys.executable, "-c", f"import sys; print({out!r}); print({err!r}, file=sys.stderr); "
                                                 f"sys.exit({code})"], timeout=60)
    assert judge_pytest(finished(0, "...\n===== 142 passed in 1.05s =====")) == (True, "142 passed in 1.05s")
    completed, summary = judge_pytest(finished(1, "== 1 failed, 141 passed in 1.2s =="))
    assert not completed and summary == "exit status 1: 1 failed, 141 passed in 1.2s"
    assert judge_pytest(finished(4, "", "ERROR: --direktiv-sandbox nope: no such scenario")) == (
        False, "exit status 4: ERROR: --direktiv-sandbox nope: no such scenario")


_SERVING = textwrap.dedent("""
    import signal, sys, time
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    print("sandbox 'fake' is up")
    print("kubeconfig: /tmp/fake.kubeconfig")
    print("check it with: direktiv-tls-conformance --kubeconfig /tmp/fake.kubeconfig "
          "--direktiv-ca-key-secret cert-manager/direktiv-ca",
          flush=True)
    while True:
        time.sleep(0.1)
""")


def test_a_separate_sandbox_is_read_from_its_lines_and_stopped_with_sigint():
    with SeparateSandbox([sys.executable, "-c", _SERVING], start_timeout=30) as sandbox:
        assert sandbox.kubeconfig == Path("/tmp/fake.kubeconfig")
        assert sandbox.pytest_args == ["suites/", "--kubeconfig", "/tmp/fake.kubeconfig",
                                       "--direktiv-ca-key-secret", "cert-manager/direktiv-ca"]
        assert sandbox.started_in is not None
    assert sandbox.stop() == 0  # it exited on SIGINT, and stopping again is harmless


def test_a_separate_sandbox_that_does_not_come_up_is_an_error_and_is_ended():
    with pytest.raises(SandboxError, match="exited with status 2 before it was up: boom"):
        SeparateSandbox([sys.executable, "-c", "print('boom'); raise SystemExit(2)"], start_timeout=30).start()
    silent = SeparateSandbox([sys.executable, "-c", "import time; time.sleep(60)"], start_timeout=0.5)
    with pytest.raises(SandboxError, match="printed no kubeconfig within"):
        silent.start()
    assert silent.stop() in (-signal.SIGINT, -signal.SIGKILL, 1)  # ended, not left behind


# -- phases ------------------------------------------------------------------------------------------------------


def test_the_phases_cover_the_whole_run_and_a_missing_moment_gets_no_time():
    marks = {"started": 10.02, "pytest_ready": 10.2, "configured": 10.5, "collected": 10.6, "last_test": 11.5,
             "reported": 11.6, "returned": 11.7}  # no "gathered": no evidence was gathered
    phases = split(10.0, 12.0, marks)
    assert [p.name for p in phases] == [name for name, _, _ in PHASES]
    assert math.isclose(sum(p.seconds for p in phases), 2.0)
    assert dict((p.name, round(p.seconds, 3)) for p in phases)["gathering (first test's set-up to evidence)"] == 0.0
    assert phases[-1].seconds == pytest.approx(0.4)  # reported -> exited


def test_an_instrumented_run_of_a_plain_test_directory(tmp_path):
    (tmp_path / "test_one.py").write_text("def test_one():\n    assert True\n")
    found = measure_phases("plain", "a plain test", [str(tmp_path), "-q", "-p", "no:cacheprovider"],
                           cwd=Path(__file__).resolve().parent.parent)
    assert found.exit_code == 0 and found.summary.startswith("1 passed")
    assert math.isclose(sum(p.seconds for p in found.phases), found.wall)
    assert all(p.seconds >= 0 for p in found.phases)
    assert found.first_probe is None and found.first_forward is None  # nothing was probed


# -- targets, table and JSON -------------------------------------------------------------------------------------


def _run(wall: float, completed: bool = True) -> ProcessRun:
    return ProcessRun(wall, wall * 0.6, wall * 0.1, 0 if completed else 1, completed,
                      "142 passed in 1.00s" if completed else "exit status 1: 1 failed")


def _series(key: str, *walls: float, failed: int | None = None) -> Series:
    return Series(key, key.replace("-", " "), f"pytest {key}",
                  tuple(_run(w, completed=i != failed) for i, w in enumerate(walls)))


def _phase_split(key: str, first_probe: float | None, wall: float = 2.0) -> PhaseSplit:
    phases = tuple(Phase(name, wall / len(PHASES)) for name, _, _ in PHASES)
    return PhaseSplit(key, key, wall, phases, first_probe, first_probe, 0, "142 passed in 1.00s")


def _paired(**changes) -> Paired:
    series = {
        OURS_SANDBOX: _series(OURS_SANDBOX, 2.0, 2.2, 1.8),
        OURS_SEPARATE: _series(OURS_SEPARATE, 1.6, 1.8, 1.7),
        SSLYZE: _series(SSLYZE, 2.0, 2.0, 1.0),
        replicas_key(20): _series(replicas_key(20), 12.0, 14.0, 6.8),
        knative_key(1000): _series(knative_key(1000), 6.0, 7.0, 4.0),
    }
    series.update(changes)
    return Paired(3, tuple(series.values()))


def test_paired_ratios_are_round_by_round_and_need_completed_runs():
    paired = _paired()
    assert paired.ratios(OURS_SEPARATE, SSLYZE) == pytest.approx((0.8, 0.9, 1.7))
    assert paired.ratio(OURS_SEPARATE, SSLYZE).median == pytest.approx(0.9)
    broken = _paired(**{SSLYZE: _series(SSLYZE, 2.0, 2.0, 1.0, failed=1)})
    assert broken.ratios(OURS_SEPARATE, SSLYZE)[1] is None and broken.ratio(OURS_SEPARATE, SSLYZE) is None
    assert paired.ratios("nothing", SSLYZE) == () and paired.ratio("nothing", SSLYZE) is None
    series = paired.get(OURS_SANDBOX)
    assert series.wall.median == 2.0 and (series.wall.best, series.wall.worst) == (1.8, 2.2)
    assert series.cpu.median == pytest.approx(2.0 * 0.7) and series.completed


def test_every_target_is_met_missed_or_not_measured():
    targets = judge_targets(_paired(), (_phase_split(OURS_SANDBOX, 0.9), _phase_split(OURS_SEPARATE, 0.5)))
    assert [t.met for t in targets] == [False, True, False, True, False, False]
    assert targets[0].measured == "1.10x [1.00x - 1.80x]" and targets[4].measured == "6.00 s [4.00 s - 7.00 s]"
    assert targets[5].measured == "7.50x [4.00x - 7.78x]"
    nothing = judge_targets(None, ())
    assert [t.met for t in nothing] == [None] * 6 and {t.measured for t in nothing} == {"not measured"}
    failed = judge_targets(_paired(**{knative_key(1000): _series(knative_key(1000), 6.0, 7.0, 4.0, failed=0)}), ())
    assert failed[4].met is None


def test_first_probe_is_the_median_over_the_instrumented_runs_and_the_table_shows_the_median_run():
    runs = (_phase_split(OURS_SEPARATE, 0.7, wall=2.4), _phase_split(OURS_SEPARATE, 0.5, wall=1.8),
            _phase_split(OURS_SEPARATE, 0.55, wall=2.0), _phase_split(knative_key(1000), 0.8, wall=6.0))
    grouped = phase_runs(runs)
    assert list(grouped) == [OURS_SEPARATE, knative_key(1000)] and len(grouped[OURS_SEPARATE]) == 3
    assert median_run(grouped[OURS_SEPARATE]).wall == 2.0 and median_run(grouped[OURS_SEPARATE][:2]).wall == 1.8
    assert first_probe(grouped[OURS_SEPARATE]).median == 0.55
    assert first_probe([_phase_split(OURS_SEPARATE, None)]) is None and first_probe([]) is None
    target = judge_targets(None, runs)[3]
    assert (target.measured, target.met) == ("550 ms [500 ms - 700 ms]", True)
    text = "\n".join(render_table(_bench(None, runs)))
    assert "first probe 550 ms [500 ms - 700 ms] over 3 runs" in text
    assert "    2.000" in text and "    6.000" in text  # the median run's wall, and the single scale run's


def _bench(paired: Paired | None, phases=()) -> Benchmark:
    return Benchmark(machine=machine_info(), command="python -m benchmarks.run", scenario="conformant",
                     endpoints=ENDPOINT_IDS, paired=paired, phases=tuple(phases), forward=None,
                     tools=(ToolSetup("sslyze", SetupState.READY, version="6.3.1"),),
                     scans=(ToolScan("testssl.sh", "api", 61.0, True, False, "completed (exit status 0)",
                                     _run(61.0)),),
                     targets=judge_targets(paired, tuple(phases)))


def test_table_and_json_carry_the_paired_runs_phases_and_targets():
    phases = (_phase_split(OURS_SANDBOX, 0.9), _phase_split(OURS_SEPARATE, None))
    bench = _bench(_paired(), phases)
    text = "\n".join(render_table(bench))
    assert "2.00 s [1.80 s - 2.20 s]" in text and "3/3" in text
    assert "ours-separate / sslyze-api" in text and "0.80x 0.90x 1.70x  ->  median 0.90x [0.80x - 1.70x]" in text
    assert "interpreter start-up" in text and "first probe sent" in text and "MISSED" in text
    assert "testssl.sh on api (one run, unpaired): 61.00 s" in text
    data = json.loads(json.dumps(to_json(bench)))
    series = {s["key"]: s for s in data["paired"]["series"]}
    assert series[OURS_SANDBOX]["wall"] == {"median": 2.0, "min": 1.8, "max": 2.2, "samples": [2.0, 2.2, 1.8]}
    assert series[SSLYZE]["runs"][0]["user"] == pytest.approx(1.2) and series[SSLYZE]["completed"]
    ratios = {(r["run"], r["over"]): r for r in data["paired"]["ratios"]}
    assert ratios[(OURS_SEPARATE, SSLYZE)]["summary"]["median"] == pytest.approx(0.9)
    assert ratios[(replicas_key(20), OURS_SEPARATE)]["per_round"][0] == pytest.approx(7.5)
    assert data["phases"][1]["first_probe"] is None and len(data["phases"][0]["phases"]) == len(PHASES)
    assert data["targets"][0]["met"] is False and data["table"] == render_table(bench)


def test_a_benchmark_without_paired_runs_still_renders():
    bench = _bench(None)
    assert "not measured" in "\n".join(render_table(bench))
    assert json.loads(json.dumps(to_json(bench)))["paired"] is None
