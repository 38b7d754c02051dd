"""The figures each reliability test measured, as JSON for the README's table.

python -m tests.reliability.figures    # the table, from the last run
"""

from __future__ import annotations

import json
from pathlib import Path

FIGURES_DIR = Path(__file__).resolve().parent / ".figures"

# scenario file, what it is, how its figure reads (format fields from the JSON)
ROWS = [
    (
        "broker_crash",
        "Broker SIGKILLed under steady load, restarted",
        "{requests_sent} requests, {requests_failed} failed; broker down "
        "{broker_down_seconds} s; recorded {recorded} = delivered {delivered} + "
        "dropped {dropped} + failed {failed_sends}; {duplicates} duplicates; "
        "last {final_batch_on_topic} after recovery all on the topic",
    ),
    (
        "broker_down",
        "Server started with Kafka down, {load_seconds} s of load",
        "{requests_sent_while_down} requests, {requests_failed} failed; worker "
        "RSS +{rss_peak_growth_mib} MiB at peak (caps allow "
        "{rss_growth_allowed_mib} MiB; {body_bytes_sent_while_down_mib} MiB of "
        "bodies sent); after restart {after_restart_on_topic}/"
        "{after_restart_sent} delivered",
    ),
    (
        "broker_silent",
        "Broker address that accepts and never answers",
        "{requests_sent} requests, {requests_failed} failed; connections opened: "
        "{connections}, bytes swallowed: {bytes_swallowed}; stopped by SIGTERM in "
        "{stop_seconds} s (exit {exit_status}); recorded {recorded} = delivered "
        "{delivered} + dropped {dropped} + failed {failed}",
    ),
    (
        "preload_workers",
        "gunicorn --preload, {workers} workers, {clients} clients",
        "{requests_sent} requests, {requests_failed} failed; recorded per "
        "worker {recorded_by_worker}; {messages_on_topic} messages on the "
        "topic, {duplicates} duplicates",
    ),
    (
        "reader_broker_restart",
        "Reader: broker restarted under it",
        "{messages_read}/{messages_read} messages read, broker down "
        "{broker_down_seconds} s, no crash",
    ),
    (
        "reader_sigkill_restart",
        "Reader: kill -9 mid-stream, restarted",
        "killed at {read_when_killed} of {messages}; after restart "
        "{read_after_restart} read, same counts and document as an "
        "uninterrupted run",
    ),
    (
        "reader_bad_messages",
        "Reader: hostile topic",
        "{bad_messages} bad messages of {bad_kinds_counted} kinds, all counted "
        "by kind; {hostile_valid_messages} hostile valid ones; "
        "{operations} operations (cap), schema depth {schema_depth}, "
        "document {document_bytes} bytes; no crash",
    ),
    (
        "secrets",
        "Planted secrets",
        "{secrets_planted} planted, {secrets_leaked} leaked "
        "({places_searched} places searched); personal values in the "
        "document: {personal_values_in_document}",
    ),
    (
        "bad_input",
        "Bad input, then schemathesis on the learned spec",
        "{kinds_of_bad_input} kinds of bad and {kinds_of_odd_input} of odd "
        "input, {answered_as_promised} answered as promised (JSON, 4xx for bad "
        "ones), {server_errors} 5xx; schemathesis: "
        "{schemathesis_cases} cases on {operations_in_spec} learned operations, "
        "exit {schemathesis_exit_code} (0: no 5xx, no schema violation)",
    ),
]


def write_figures(scenario: str, figures: dict) -> Path:
    """Write one scenario's figures to .figures/<scenario>.json and print them."""
    FIGURES_DIR.mkdir(exist_ok=True)
    path = FIGURES_DIR / f"{scenario}.json"
    text = json.dumps(figures, indent=2, sort_keys=True)
    path.write_text(text + "\n")
    # shown with pytest -s, and in the report of a failing test
    print(f"{scenario}: {text}")
    return path


def table() -> str:
    """The Reliability table in Markdown, from the figures of the last run."""
    lines = ["| scenario | figure |", "|---|---|"]
    for scenario, title, figure in ROWS:
        path = FIGURES_DIR / f"{scenario}.json"
        if not path.exists():
            lines.append(f"| {title} | not run |")
            continue
        values = json.loads(path.read_text())
        try:
            lines.append(f"| {title.format(**values)} | {figure.format(**values)} |")
        except KeyError as missing:
            lines.append(f"| {title} | figure {missing} missing: rerun the test |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
