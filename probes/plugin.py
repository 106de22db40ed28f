"""The pytest plugin: command-line options, session fixtures and reporting for the conformance suite."""


def pytest_configure(config):
    config.addinivalue_line("markers", "control(id): the control of CONTROLS.md this test judges")
