"""The benchmark's building blocks run on tiny inputs (issue 7). Timings are never asserted, only that each
block measures something and reports it; the comparison tools are not run here."""

from __future__ import annotations

import json
import math
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import sslyze_scan, testssl_scan
from benchmarks.endpoints import ClientCertificate, ClientFiles, client_files
from benchmarks.forward_cost import measure_forward_cost
from benchmarks.machine import _blocked_plugins, machine_info
from benchmarks.ours import knative_scenario, measure_knative_scale
from benchmarks.records import (
    Benchmark,
    ScaleRow,
    SetupState,
    SuiteRun,
    Timing,
    ToolScan,
    ToolSetup,
    time_runs,
)
from benchmarks.report import judge_targets, ratio, render_table, to_json
from benchmarks.run import parse_args
from probes import pki

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


def test_knative_scale_gathers_one_sni_handshake_per_host_and_judges_them():
    assert knative_scenario(3).objects.knative_services == ("svc-0001", "svc-0002", "svc-0003")
    row = measure_knative_scale(3)
    assert row.hosts == 3 and row.handshakes == 3
    assert row.verdict == "pass"
    assert len(row.knative_seconds.samples) == 1


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


def _bench(scans, scale) -> Benchmark:
    suite = SuiteRun(Timing((4.0, 3.0, 5.0)), (0, 0, 0), "113 passed in 2.00s")
    gather = Timing((0.7, 0.8, 0.9))
    per = gather.median / 7
    targets = judge_targets(suite=suite, gather=gather, per_endpoint=per, scans=scans, scale=scale)
    return Benchmark(machine=machine_info(), command="python -m benchmarks.run", scenario="conformant", runs=3,
                     suite=suite, gather=gather, endpoints=("lb", "api", "ui", "ingress-grpc", "flow-grpc",
                                                            "functions-grpc", "knative"),
                     probes=70, forward=None, tools=(ToolSetup("sslyze", SetupState.READY, version="6.3.1"),),
                     scans=scans, scale=scale, targets=targets)


def test_table_and_json_carry_ratios_and_targets():
    scans = (ToolScan("sslyze", "api", 3.2, True, False, "15 scan commands completed"),
             ToolScan("sslyze", "flow-grpc", 0.5, True, True, "15 scan commands completed"))
    scale = (ScaleRow(1000, Timing((12.0,)), 1000, "pass"),)
    bench = _bench(scans, scale)
    assert math.isclose(ratio(scans[0], bench.per_endpoint), 3.2 / (0.8 / 7))
    met = {t.name: t.met for t in bench.targets}
    assert met == {"whole conformant run (wall, pytest start to exit)": False, "evidence gathering": True,
                   "N-SNI-COVERAGE evidence, 1000 knative hosts": False,
                   "each endpoint vs sslyze's default scan of it": False}
    text = "\n".join(render_table(bench))
    assert "MISSED" in text and "28.0x" in text and "(with the client certificate)" in text
    data = json.loads(json.dumps(to_json(bench)))
    assert data["suite"]["timing"]["median"] == 4.0 and data["scans"][0]["ratio"] == pytest.approx(28.0)
    assert data["tools"][0]["state"] == "ready" and data["table"]


def test_targets_not_measured_when_a_tool_is_missing():
    scans = (ToolScan("sslyze", "api", None, None, False, "sslyze is not installed"),)
    target = judge_targets(suite=None, gather=None, per_endpoint=None, scans=scans, scale=())
    assert [t.met for t in target] == [None, None, None, None]
    assert "not measured for api" in target[-1].measured


def test_options():
    args = parse_args(["--runs", "2", "--hosts", "none", "--sslyze-endpoints", "api,ui"])
    assert args.runs == 2 and args.hosts == () and args.sslyze_endpoints == ("api", "ui")
    assert parse_args([]).hosts == (10, 100, 1000)
    with pytest.raises(SystemExit):
        parse_args(["--runs", "0"])


def test_run_py_starts_as_a_script_path():
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and "--runs N" in done.stdout
