import os

# grpcio's C core logs every refused handshake to stderr; the tests provoke many on purpose.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

pytest_plugins = ["pytester", "_hypothesis_pytestplugin"]
