#!/usr/bin/env python3
"""Failover of a cluster (issue 19), the short version of bench/failover_bench.py: three
instances on one group and a real broker (scripts/kafka.sh), 60 level II incidents whose steps
fall due before and for 12 s after the owner of the most of them is killed with SIGKILL. Passes
when the survivors took its incidents over within 15 s of the kill (the first step of one of them
fired after it), every survivor's database holds every incident and every expected step once
(none lost, none doubled), at most one webhook notification was delivered twice, and
`incidentctl report`, `stats` and `verify` print the same on both survivors.

    cluster_failover_test.py --incidentd PATH --incidentctl PATH [--keep]

Standard library only; the run is the bench's (bench/failover_bench.py).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import failover_bench as fb  # noqa: E402  (the cluster, the disruption and the counts)

TAKEOVER_GOAL_S = 15.0  # the bench's 10 s, with room for a loaded test machine


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidentd", required=True)
    parser.add_argument("--incidentctl", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    bench = fb.parse_args(["--mode", "kill", "--incidents", "60", "--window", "12",
                           "--margin", "8", "--incidentd", args.incidentd,
                           "--incidentctl", args.incidentctl] + (["--keep"] if args.keep else []))
    fb.kt.stop_on_sigterm()
    return 0 if fb.run(bench, {"takeover_s": TAKEOVER_GOAL_S}, name="cluster_failover") else 1


if __name__ == "__main__":
    sys.exit(main())
