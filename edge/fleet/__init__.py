"""The server side (docs/fleet.md): collector, simulator and dashboard. The device packages
never import it (tests/test_static_checks.py); its dependencies are the ``fleet`` extra."""
