"""Markdown rendering of an ``edge bench`` result."""

from __future__ import annotations

from typing import Any


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def to_markdown(result: dict[str, Any]) -> str:
    """Stage table, then throughput, resources, bare invokes and the overhead ratio."""
    machine = result["machine"]
    lines = [
        f"# edge bench: {result['source']}",
        "",
        f"{result['frames']} frames, {machine['cores']} x {machine['cpu']} ({machine['arch']}), "
        f"Python {machine['python']}, {machine['runtime']}, detector threads "
        f"{result['threads']['detector']}, classifier invokes per face "
        f"{result['classifier_invokes_per_face']}, load average {machine['loadavg_before'][0]} -> "
        f"{machine['loadavg_after'][0]}",
        "",
        "| stage | per | n | p50 ms | p95 ms | mean ms |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in result["stages"].items():
        lines.append(
            f"| {name} | {s['per']} | {s['n']} | {_ms(s['p50_ms'])} | {_ms(s['p95_ms'])} "
            f"| {_ms(s['mean_ms'])} |"
        )
    det, cls = result["invoke"]["detector"], result["invoke"]["classifier"]
    lines += [
        "",
        "| metric | value |",
        "|---|---|",
        f"| frames/s (capture + pipeline) | {result['fps']} |",
        f"| CPU s per frame | {result['cpu_s_per_frame']} |",
        f"| CPU s per s of video at {result['source_fps']} frames/s "
        f"| {result['cpu_s_per_video_s']} |",
        f"| peak RSS MB | {result['rss_mb']} |",
        f"| faces per frame (tracked) | {result['faces_per_frame']} |",
        f"| faces classified per frame | {result['classified_per_frame']} |",
        f"| frames with detection | {result['detect_share']} |",
        f"| detector bare invoke p50 / p95 ms (x{result['invocations_per_frame']} per frame) "
        f"| {_ms(det['p50_ms'])} / {_ms(det['p95_ms'])} |",
        f"| classifier bare invoke p50 / p95 ms (per face pass, batched) "
        f"| {_ms(cls['p50_ms'])} / {_ms(cls['p95_ms'])} |",
        f"| model ms per frame (mean) | {result['model_ms_per_frame']} |",
        f"| overhead_ratio (median per frame) | {result['overhead_ratio']} |",
        f"| overhead ratio of means | {result['overhead_ratio_of_means']} |",
    ]
    if result["realtime"] is not None:
        lines.append(f"| paced to real time: CPU s per s | {result['realtime']['cpu_s_per_s']} |")
    return "\n".join(lines) + "\n"
