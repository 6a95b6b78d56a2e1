"""The service's own housekeeping: systemd notify and watchdog, the state directory and its
lock, the persisted pause switch, and the telemetry sampler."""
