"""The composer's JavaScript port (static/js/contact-warning.js) against privacy.detection.

Node runs a small harness: the same samples and the whole corpus go through both
implementations and must give the same findings; every regular expression and word list of
the port must be the Python one; and the warning appears after the composer's textarea,
debounced, with the right wording. Skipped when `node` is not installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from benchmarks.bench_detector import load_corpus
from privacy import detection

from .test_detection import CORPUS, NEGATIVE_CASES, POSITIVE_CASES

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "static" / "js" / "contact-warning.js"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None, reason="node is not installed: the JavaScript port of the detector is untested"
)

# Reads {"texts": [...]} on stdin; prints the findings (offsets in code points, as Python's),
# the port's patterns and word lists.
HARNESS = r"""
const cw = require(process.argv[1]);
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const { texts } = JSON.parse(input);
  const cp = (s, i) => Array.from(s.slice(0, i)).length;
  const results = texts.map((t) =>
    cw.findContactDetails(t).map((f) => [f.kind, cp(t, f.start), cp(t, f.end), f.text])
  );
  const words = {};
  for (const [k, v] of Object.entries(cw._words)) words[k] = Array.from(v).sort();
  process.stdout.write(JSON.stringify({ results, patterns: cw._patterns, words }));
});
"""

# A pretend page: form#composer with a textarea, #thread-page, timers from node.
DOM_HARNESS = r"""
function el(tag) {
  return {
    tagName: tag, hidden: false, textContent: "", className: "", value: "", attrs: {},
    listeners: {}, next: null,
    setAttribute(k, v) { this.attrs[k] = String(v); },
    getAttribute(k) { return k in this.attrs ? this.attrs[k] : null; },
    addEventListener(type, fn) { (this.listeners[type] = this.listeners[type] || []).push(fn); },
    fire(type) { (this.listeners[type] || []).forEach((fn) => fn({ type })); },
    insertAdjacentElement(where, e) { if (where === "afterend") this.next = e; return e; },
    querySelector(sel) { return sel === "textarea" ? textarea : null; },
  };
}
const form = el("form"), textarea = el("textarea"), page = el("article");
page.attrs["data-private-box"] = process.argv[2];
global.document = {
  readyState: "complete",
  querySelector: (sel) => (sel === "form#composer" ? form : null),
  getElementById: (id) => (id === "thread-page" ? page : null),
  createElement: (tag) => el(tag),
};
require(process.argv[1]);
const warning = textarea.next;
const states = [];
const snap = (label) => states.push({
  label, exists: !!warning, tag: warning && warning.tagName, cls: warning && warning.className,
  role: warning && warning.attrs.role, hidden: warning && warning.hidden,
  text: warning && warning.textContent,
});
snap("loaded");
textarea.value = "Sure, call me at (415) 555-0132 or jane dot doe at gmail dot com";
textarea.fire("input");
snap("typed");
setTimeout(() => {
  snap("after 250 ms");
  textarea.value = "Sure, I will send the photos here.";
  textarea.fire("input");
  setTimeout(() => {
    snap("cleared");
    process.stdout.write(JSON.stringify(states));
  }, 250);
}, 250);
"""


def _node(harness: str, *args: str, stdin: str = "") -> Any:
    assert NODE is not None
    done = subprocess.run(
        [NODE, "-e", harness, str(SCRIPT), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def port() -> dict[str, Any]:
    texts = [text for text, _, _ in POSITIVE_CASES] + list(NEGATIVE_CASES)
    texts += [s.text for s in load_corpus(CORPUS)]
    out = _node(HARNESS, stdin=json.dumps({"texts": texts}))
    out["texts"] = texts
    return out


def test_same_findings_as_python_on_the_samples_and_the_corpus(port: dict[str, Any]) -> None:
    differences = []
    for text, js in zip(port["texts"], port["results"], strict=True):
        py = [[f.kind, f.start, f.end, f.text] for f in detection.find_contact_details(text)]
        if js != py:
            differences.append((text, py, js))
    assert differences == [], "\n".join(f"{t!r}\n  py {p}\n  js {j}" for t, p, j in differences)


def _python_patterns() -> dict[str, str]:
    patterns = {}
    for name in dir(detection):
        value = getattr(detection, name)
        if name.endswith("_RE") and isinstance(value, re.Pattern) and name != "_WORD_SCAN_RE":
            # The port's syntax: (?<name>...) groups, $ for the end of the text.
            source = value.pattern.replace("(?P<", "(?<").replace("\\Z", "$")
            patterns[name.lstrip("_")] = source
    return patterns


def test_every_pattern_is_the_python_one(port: dict[str, Any]) -> None:
    python = _python_patterns()
    assert sorted(port["patterns"]) == sorted(python)
    for name, source in python.items():
        assert port["patterns"][name] == source, name


def test_every_word_list_is_the_python_one(port: dict[str, Any]) -> None:
    python = {
        name.lstrip("_"): sorted(value)
        for name in dir(detection)
        if isinstance(value := getattr(detection, name), frozenset) and name != "_NOT_SEPARATORS"
    }
    assert sorted(port["words"]) == sorted(python)
    for name, words in python.items():
        assert port["words"][name] == words, name


@pytest.mark.parametrize(
    ("private_box", "where"),
    [
        ("open", "in the Private Information box"),
        ("", "after accepting a premium service offer, in the Private Information box"),
    ],
)
def test_composer_warning(private_box: str, where: str) -> None:
    loaded, typed, shown, cleared = _node(DOM_HARNESS, private_box)
    assert loaded == {
        "label": "loaded",
        "exists": True,
        "tag": "p",
        "cls": "contact-warning",
        "role": "status",
        "hidden": True,
        "text": "",
    }
    assert typed["hidden"] is True  # debounced: nothing yet
    assert shown["hidden"] is False
    assert shown["text"] == (
        "This looks like contact details (a phone number and an email address). "
        f"Share them {where} instead."
    )
    assert cleared["hidden"] is True
