"""The serving engine (networks, gallery and scorer loaded once per process) and its JSON answers."""
