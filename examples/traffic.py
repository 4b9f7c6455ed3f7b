"""Traffic for the churn endpoint of ``churn_loop.ipynb``, drawn as its training data is.

    python examples/traffic.py http://127.0.0.1:PORT --token TOKEN [--requests 600]
        [--shift MONTHS] [--pause SECONDS] [--seed N] [--json]

Each request is one customer drawn the way the notebook draws its training data; ``--shift``
adds that many months to every tenure, as the notebook's ``tenure_shift`` does, so the
endpoint sees the drift a policy reacts to. Prints how many requests were answered by status
(``--json``: one JSON object), and exits 1 if any was not answered with 200.
Only the standard library: it runs wherever the endpoint can be reached.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import time
import urllib.parse
from collections import Counter
from typing import Any

CONTRACTS = ["monthly", "yearly", "two-year"]
CONTRACT_WEIGHTS = [0.55, 0.3, 0.15]


def customer(rng: random.Random, shift: float) -> dict[str, Any]:
    """One customer as ``churn_loop.ipynb`` draws them (tenure in months, plus ``shift``)."""
    return {
        "tenure": round(rng.gammavariate(2.0, 12.0) + shift, 1),
        "monthly_charges": round(min(max(rng.gauss(65, 20), 15), 150), 2),
        "support_calls": _poisson(rng, 1.5),
        "contract": rng.choices(CONTRACTS, CONTRACT_WEIGHTS)[0],
    }


def _poisson(rng: random.Random, mean: float) -> int:
    count, total = 0, rng.expovariate(mean)
    while total < 1.0:
        count += 1
        total += rng.expovariate(mean)
    return count


def send(url: str, token: str, count: int, shift: float, pause: float, seed: int) -> Counter[int]:
    """``count`` requests on one keep-alive connection (a new one if the server closes it,
    as a version handing over does); the statuses answered (0: no answer at all)."""
    rng = random.Random(seed)
    parts = urllib.parse.urlsplit(url)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    statuses: Counter[int] = Counter()
    connection: http.client.HTTPConnection | None = None
    for _ in range(count):
        body = json.dumps(customer(rng, shift)).encode()
        for attempt in (1, 2):  # a closed keep-alive connection is retried once, on a new one
            current = connection or http.client.HTTPConnection(
                parts.hostname or "127.0.0.1", parts.port, timeout=30
            )
            connection = current
            try:
                current.request("POST", "/invoke", body, headers)
                response = current.getresponse()
                response.read()
                statuses[response.status] += 1
                if response.getheader("Connection", "").lower() == "close":
                    current.close()
                    connection = None
                break
            except (ConnectionError, http.client.HTTPException):
                current.close()
                connection = None
                if attempt == 2:
                    statuses[0] += 1
        if pause:
            time.sleep(pause)
    if connection is not None:
        connection.close()
    return statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the deployment's URL (http://127.0.0.1:PORT)")
    parser.add_argument("--token", required=True, help="the deployment's token")
    parser.add_argument("--requests", type=int, default=600, help="how many (600)")
    parser.add_argument("--shift", type=float, default=0.0, help="months added to tenure (0)")
    parser.add_argument("--pause", type=float, default=0.02, help="seconds between requests (0.02)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    arguments = parser.parse_args(argv)
    statuses = send(
        arguments.url, arguments.token, arguments.requests, arguments.shift, arguments.pause,
        arguments.seed,
    )  # fmt: skip
    failed = sum(n for status, n in statuses.items() if status != 200)
    if arguments.json:
        print(
            json.dumps({"sent": arguments.requests, "statuses": dict(statuses), "failed": failed})
        )
    else:
        by_status = ", ".join(
            f"{n} x {status or 'no answer'}" for status, n in sorted(statuses.items())
        )
        print(f"sent {arguments.requests} (shift {arguments.shift:g} months): {by_status}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
