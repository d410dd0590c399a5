#!/usr/bin/env python3
"""Count caught incidents and false alarms: alarm segments (`statecast detect`'s
<stem>.segments.csv: series_id,start,end,...) against the simulator's labelled anomalies
(anomalies.csv: series,kind,start,end,...; row indices, end exclusive). An incident is caught
when an alarm overlaps it; an alarm that overlaps no incident is a false alarm. Prints one JSON
line: {"caught": c, "incidents": n, "false_alarms": f, "alarms": a, "missed": [kinds]}."""
import csv
import json
import sys


def read(path, sid, a, b, kind=None):
    with open(path) as f:
        return [(r[sid], int(r[a]), int(r[b]), r.get(kind, "")) for r in csv.DictReader(f)]


def main(segments, anomalies):
    alarms = read(segments, "series_id", "start", "end")
    incidents = read(anomalies, "series", "start", "end", "kind")
    overlap = lambda x, y: x[0] == y[0] and x[1] < y[2] and y[1] < x[2]
    caught = [i for i in incidents if any(overlap(i, a) for a in alarms)]
    false = [a for a in alarms if not any(overlap(a, i) for i in incidents)]
    missed = [i[3] for i in incidents if i not in caught]
    print(json.dumps({"caught": len(caught), "incidents": len(incidents), "false_alarms": len(false),
                      "alarms": len(alarms), "missed": missed}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
