"""The consumer module's adjustments to daphne's WebSocket layer (autobahn)."""

from __future__ import annotations

import txaio


def test_autobahn_formats_its_per_connection_debug_line_only_when_it_is_written() -> None:
    import daphne.server  # noqa: F401 (the adjustments apply inside a daphne process)

    txaio.use_twisted()
    from autobahn.websocket import protocol

    from stations.protocol.consumer import _autobahn_debug_line_on_demand

    _autobahn_debug_line_on_demand()  # what importing the module does inside daphne
    config_log = [("openHandshakeTimeout", 5, "WebSocketServerFactory")]
    assert protocol.pformat(config_log) == ""  # info level: the line is dropped, nothing formatted
    assert protocol.pformat({"a": 1}) == "{'a': 1}"  # dicts (timings, transport details) unchanged
    level = txaio.get_global_log_level()
    txaio.set_global_log_level("debug")
    try:
        assert "openHandshakeTimeout" in protocol.pformat(config_log)
    finally:
        txaio.set_global_log_level(level)
