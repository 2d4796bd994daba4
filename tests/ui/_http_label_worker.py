"""A label-posting client process for the multi-process HTTP test (run as a script).

``python _http_label_worker.py URL ANNOTATOR N``: prints ``ready``, waits for a line on
stdin, then posts a label for queries 1..N through ``POST /api/label`` (re-posting every
50th with the same client label id, as a client retrying after a lost answer would) and
prints ``done <acknowledged> <duplicates>``.
"""

from __future__ import annotations

import sys

import httpx


def main(url: str, annotator: str, n: str) -> None:
    acked = duplicates = 0
    with httpx.Client(base_url=url, timeout=60) as client:
        print("ready", flush=True)
        sys.stdin.readline()  # all workers start posting at once
        for qid in range(1, int(n) + 1):
            body = {"query_id": qid, "label": "ab"[qid % 2], "annotator": annotator,
                    "client_label_id": f"{annotator}-{qid}"}  # fmt: skip
            for _ in range(2 if qid % 50 == 0 else 1):
                r = client.post("/api/label", json=body)
                if r.status_code != 200:
                    sys.exit(f"query {qid}: HTTP {r.status_code} {r.text}")
                acked += 1
                duplicates += r.json()["duplicate"]
    print(f"done {acked} {duplicates}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
