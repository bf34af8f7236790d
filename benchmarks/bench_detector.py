"""Contact-detail detector benchmark: precision, recall and speed on a labelled corpus.

    python benchmarks/bench_detector.py [--corpus FILE] [--quiet] [--repeat N]

The corpus (default `tests/data/contact_corpus.tsv`) holds one message a line:
``label<TAB>kind<TAB>text``, where label is 1/0 (also yes/no, true/false, pos/neg,
positive/negative) and kind is phone, email, handle, meeting_link, address or none. Lines
starting with ``#`` and a ``label<TAB>...`` header are skipped; ``\\n`` and ``\\t`` in the text
are unescaped. A ``.jsonl`` file with ``{"text": ..., "label": ..., "kind": ...}`` objects
works too. A held-out corpus in the same format can be scored the same way.

It prints precision, recall and F1 of `has_contact_details` against the labels, a table of
the detector's first finding's kind against the labelled kind, every false positive and false
negative with what was found, and messages per second (best of `--repeat` passes). It prints
figures; it is not a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from privacy.detection import KINDS, Finding, find_contact_details  # noqa: E402

DEFAULT_CORPUS = ROOT / "tests" / "data" / "contact_corpus.tsv"
_TRUE = {"1", "yes", "y", "true", "t", "pos", "positive", "contact", "leak"}
_FALSE = {"0", "no", "n", "false", "f", "neg", "negative", "none", "clean", "ok"}


@dataclass(frozen=True)
class Sample:
    line: int
    label: bool
    kind: str
    text: str


def _label(value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    key = str(value).strip().lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise ValueError(f"{where}: unknown label {value!r}")


def _kind(value: object, label: bool) -> str:
    kind = str(value or "").strip().lower().replace("-", "_").replace(" ", "_")
    if kind in ("", "none", "null", "-", "n/a"):
        return "?" if label else "none"
    return kind


def load_corpus(path: Path) -> list[Sample]:
    samples: list[Sample] = []
    with path.open(encoding="utf-8") as fh:
        for no, raw in enumerate(fh, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            where = f"{path}:{no}"
            if path.suffix == ".jsonl":
                obj = json.loads(line)
                label = _label(obj.get("label", obj.get("contact")), where)
                kind = _kind(obj.get("kind"), label)
                samples.append(Sample(no, label, kind, str(obj["text"])))
                continue
            parts = line.split("\t", 2)
            if parts[0].strip().lower() == "label":
                continue  # a header
            if len(parts) == 2:  # label<TAB>text
                label = _label(parts[0], where)
                samples.append(Sample(no, label, "?" if label else "none", parts[1]))
                continue
            if len(parts) != 3:
                raise ValueError(f"{where}: expected label<TAB>kind<TAB>text")
            label = _label(parts[0], where)
            text = parts[2].replace("\\n", "\n").replace("\\t", "\t")
            samples.append(Sample(no, label, _kind(parts[1], label), text))
    return samples


def _describe(findings: list[Finding]) -> str:
    return "; ".join(f"{f.kind}:{f.text!r}" for f in findings) or "-"


def run(samples: list[Sample], repeat: int, quiet: bool) -> None:
    results = [find_contact_details(s.text) for s in samples]
    tp = fp = fn = tn = 0
    false_pos: list[tuple[Sample, list[Finding]]] = []
    false_neg: list[Sample] = []
    confusion: Counter[tuple[str, str]] = Counter()
    for sample, found in zip(samples, results, strict=True):
        predicted = bool(found)
        confusion[(sample.kind, found[0].kind if found else "none")] += 1
        if predicted and sample.label:
            tp += 1
        elif predicted:
            fp += 1
            false_pos.append((sample, found))
        elif sample.label:
            fn += 1
            false_neg.append(sample)
        else:
            tn += 1
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    positives = sum(s.label for s in samples)
    print(
        f"messages: {len(samples)} ({positives} with contact details, {len(samples) - positives} without)"
    )
    print(f"TP {tp}  FP {fp}  FN {fn}  TN {tn}")
    print(f"precision {precision:.4f}   recall {recall:.4f}   F1 {f1:.4f}")

    rows = [k for k in (*KINDS, "?", "none") if any(k == r for r, _ in confusion)]
    rows += sorted({r for r, _ in confusion} - set(rows))
    cols = [*KINDS, "none"]
    width = max(len(c) for c in [*rows, *cols, "labelled \\ found"]) + 2
    print("\nFirst finding's kind (columns) by labelled kind (rows):")
    print("labelled \\ found".ljust(width) + "".join(c.rjust(width) for c in cols) + "   recall")
    for r in rows:
        counts = [confusion[(r, c)] for c in cols]
        total = sum(counts)
        detected = total - confusion[(r, "none")]
        rate = f"{detected / total:8.3f}" if r != "none" and total else "       -"
        print(r.ljust(width) + "".join(str(n).rjust(width) for n in counts) + rate)

    if not quiet:
        print(f"\nFalse positives ({len(false_pos)}):")
        for sample, found in false_pos:
            print(f"  line {sample.line}: {sample.text!r}  ->  {_describe(found)}")
        print(f"\nFalse negatives ({len(false_neg)}):")
        for sample in false_neg:
            print(f"  line {sample.line} [{sample.kind}]: {sample.text!r}")

    best = float("inf")
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        for s in samples:
            find_contact_details(s.text)
        best = min(best, time.perf_counter() - t0)
    print(
        f"\nspeed: {len(samples) / best:,.0f} messages/s "
        f"({best * 1e6 / len(samples):.1f} µs per message, best of {max(1, repeat)} passes)"
    )
    # Long messages: the corpus's messages with contact details one after another (dense:
    # every other word is a number), and those without.
    for label, wanted in (("with", True), ("without", False)):
        long_text = " ".join(s.text for s in samples if s.label == wanted)[:5000]
        if not long_text:
            continue
        long_best = float("inf")
        for _ in range(max(20, repeat)):
            t0 = time.perf_counter()
            found = find_contact_details(long_text)
            long_best = min(long_best, time.perf_counter() - t0)
        print(
            f"a {len(long_text):,}-character message of the messages {label} contact details: "
            f"{long_best * 1e3:.2f} ms ({len(found)} findings)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="TSV or JSONL file")
    parser.add_argument("--repeat", type=int, default=5, help="timed passes (best is kept)")
    parser.add_argument("--quiet", action="store_true", help="do not list FPs and FNs")
    args = parser.parse_args(argv)
    samples = load_corpus(args.corpus)
    if not samples:
        print(f"{args.corpus}: no messages", file=sys.stderr)
        return 1
    print(f"corpus: {args.corpus}")
    run(samples, args.repeat, args.quiet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
