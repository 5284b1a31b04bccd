"""Parses a Prometheus text exposition (on standard input) with the official Python client's
parser, `prometheus_client.parser.text_string_to_metric_families`, and prints its families
and samples as JSON (driven by tests/example_server/metrics.rs). A malformed exposition
makes the parser raise, and this script exit non-zero.

Output: {"families": [{"name", "type", "samples": [{"name", "labels", "value"}]}]}
"""
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
families = []
for family in text_string_to_metric_families(text):
    families.append(
        {
            "name": family.name,
            "type": family.type,
            "samples": [
                {
                    "name": s.name,
                    "labels": dict(s.labels),
                    # JSON has no NaN or infinities (an empty summary's quantiles are NaN).
                    "value": s.value if math.isfinite(s.value) else str(s.value),
                }
                for s in family.samples
            ],
        }
    )
print(json.dumps({"families": families}))
