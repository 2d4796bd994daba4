"""A label-writing process for the multi-process label-store tests (run as a script).

``python _label_worker.py DB ANNOTATOR race``: prints ``ready``, waits for a line on stdin,
then answers every open query it has not answered, and exits.
``python _label_worker.py DB ANNOTATOR ack``: answers queries one by one and prints
``ACK <label id> <client label id>`` after each `add_label` returned, until killed.
"""

from __future__ import annotations

import sys

from robopref.preferences import LabelStore


def main(path: str, annotator: str, mode: str) -> None:
    with LabelStore(path) as store:
        if mode == "race":
            print("ready", flush=True)
            sys.stdin.readline()  # all workers start writing at once
        while (query := store.next_query(annotator)) is not None:
            client_id = f"{annotator}-{query.id}"
            ack = store.add_label(query.id, "ab"[query.id % 2], annotator, client_id, source="ui")
            if mode == "ack":
                print(f"ACK {ack.label.id} {client_id}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
