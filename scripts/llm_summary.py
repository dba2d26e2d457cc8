#!/usr/bin/env python3
"""What came of a run's LLM calls, from its archive: one row per call that made (or failed to make)
a candidate, with the candidate's outcome on every shape of the run; then how many prompts showed
a parent's time per step. With a second archive (a run replayed from the first's replies with
`--llm-replay`), also which of the first run's LLM candidates the replay reproduced, same source
and same status on the same shapes.

usage: llm_summary.py RECORDED.db [REPLAYED.db]"""
import sqlite3
import sys


def llm_candidates(db):
    """source hash -> {shape: status} for every candidate made by an LLM call."""
    out = {}
    for cand, h in db.execute("SELECT c.id, s.hash FROM llm_calls l JOIN candidates c ON c.id = l.candidate_id "
                              "JOIN sources s ON s.id = c.source_id"):
        out[h] = dict(db.execute("SELECT shape, status FROM evaluations WHERE candidate_id = ?", (cand,)))
    return out


def table(db):
    shapes = [s for (s,) in db.execute("SELECT DISTINCT shape FROM evaluations ORDER BY shape")]
    print("| call | status | candidate | " + " | ".join(shapes) + " |")
    print("|---|---|---|" + "---|" * len(shapes))
    seen = set()
    for cid, op, status, cand in db.execute(
            "SELECT id, operator, status, candidate_id FROM llm_calls WHERE status != 'duplicate' ORDER BY id"):
        if (status, cand) in seen:
            continue
        seen.add((status, cand))
        name, cells = "-", [""] * len(shapes)
        if cand:
            name = db.execute("SELECT s.name FROM candidates c JOIN sources s ON s.id = c.source_id WHERE c.id = ?",
                              (cand,)).fetchone()[0]
            cells = []
            for s in shapes:
                r = db.execute("SELECT status, median_us FROM evaluations WHERE candidate_id = ? AND shape = ?",
                               (cand, s)).fetchone()
                cells.append("pending" if r is None else r[0] + (f" {r[1]:.1f} us" if r[1] else ""))
        print(f"| {cid} {op} | {status} | {name} | " + " | ".join(cells) + " |")
    calls, split = db.execute("SELECT count(*), sum(instr(messages, 'time per step:') > 0) FROM llm_calls").fetchone()
    print(f"\n{calls} LLM calls; {split or 0} of them showed a parent's time per step")


def main():
    recorded = sqlite3.connect(sys.argv[1])
    table(recorded)
    if len(sys.argv) < 3:
        return
    replayed = sqlite3.connect(sys.argv[2])
    print("\nreplayed from the recorded replies (--llm-replay):")
    table(replayed)
    want, got = llm_candidates(recorded), llm_candidates(replayed)
    same = [h for h in got if h in want]
    agree = sum(1 for h in same for s, st in got[h].items() if want[h].get(s) == st)
    shapes = sum(len(got[h]) for h in same)
    print(f"\nthe replay made {len(got)} LLM candidates; {len(same)} of them are the recorded run's "
          f"(same source), with the same status on {agree} of {shapes} shape evaluations; "
          f"{len(want) - len(same)} recorded LLM candidates were not reached (the replay's budget or "
          f"operator order differs)")


if __name__ == "__main__":
    main()
