"""The checkout's top-level conftest: registers the plugin (probes.plugin) where the package is not installed, so
that a plain checkout runs ``pytest suites/``. Installed, the plugin comes from its ``pytest11`` entry point under
the name below, and this registers nothing (nor where ``-p no:direktiv_tls_conformance`` blocks it)."""

PLUGIN_NAME = "direktiv_tls_conformance"  # the entry point's name in pyproject.toml


def pytest_addoption(parser, pluginmanager):
    if pluginmanager.has_plugin(PLUGIN_NAME) or pluginmanager.is_blocked(PLUGIN_NAME):
        return
    import probes.plugin

    pluginmanager.register(probes.plugin, PLUGIN_NAME)
