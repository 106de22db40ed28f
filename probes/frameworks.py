"""The per-requirement view of a run: which requirements of a framework hold, from the verdicts of the controls
mapped to them (the mapping is data in :mod:`probes.catalog`).

    requirement_view(framework_name, verdicts) -> dict     the ``framework`` section of evidence.json
    terminal_lines(view) -> list[str]                       the terminal summary, one line per requirement
    render_html(view) -> str                                the report's section: requirement -> controls -> verdicts

A requirement's status is the worst of its controls' verdicts over every endpoint: ``fail`` when any fails,
``error`` when any could not be observed, ``pass`` when at least one passed and none failed or errored, and ``skip``
when every mapped control was not applicable (or not judged). A requirement whose controls all map partially is
marked ``partial``: its pass shows the part the controls check, never the whole requirement.
"""

from __future__ import annotations

import html
from typing import Any, Mapping

from probes.catalog import Coverage, framework as _framework, mappings

__all__ = ["requirement_view", "terminal_lines", "render_html", "STATUS_ORDER"]

# The worst status wins, in this order.
STATUS_ORDER = ("fail", "error", "pass", "skip")


def _worst(statuses) -> str:
    present = set(statuses)
    return next((s for s in STATUS_ORDER if s in present), "skip")


def requirement_view(name: str, verdicts: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """The per-requirement view of one framework, from the evidence document's ``verdicts`` section
    (control -> endpoint -> {status, ...}). A ValueError names an unknown framework."""
    fw = _framework(name)
    requirements = []
    for req in fw.requirements:
        rows = mappings(framework=fw.name)
        controls = []
        for m in (m for m in rows if m.requirement == req.id):
            per = {endpoint: str(v.get("status")) for endpoint, v in sorted((verdicts.get(m.control) or {}).items())}
            controls.append({"control": m.control, "coverage": m.coverage.value, "note": m.note,
                             "status": _worst(per.values()) if per else "skip", "verdicts": per})
        requirements.append({
            "id": req.id, "title": req.title, "verified": req.verified,
            "status": _worst(c["status"] for c in controls),
            "partial": all(c["coverage"] == Coverage.PARTIAL.value for c in controls),
            "controls": controls,
        })
    return {"name": fw.name, "title": fw.title, "url": fw.url, "scope": fw.scope, "requirements": requirements}


def terminal_lines(view: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(status, line) per requirement, for the terminal summary."""
    lines = []
    for r in view.get("requirements", ()):
        failing = sorted({c["control"] for c in r["controls"] if c["status"] in ("fail", "error")})
        tail = f"  ({', '.join(failing)})" if failing else ""
        partial = " partial" if r["partial"] else ""
        lines.append((r["status"], f"{r['id']:<9}{r['status']:<6}{partial:<8} {r['title']}{tail}"))
    return lines


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


_LABEL = {"pass": "pass", "fail": "FAIL", "error": "error", "skip": "skip"}


def render_html(view: Mapping[str, Any] | None) -> str:
    """The report section: each requirement with its status, then its controls and their verdicts by endpoint."""
    if not view:
        return ""
    parts = [f'<section id="framework"><h2>{_e(view.get("title"))}: by requirement</h2>'
             f'<p class="sub">{_e(view.get("scope"))} Partial rows show part of a requirement; the notes say which '
             f'part. Source: {_e(view.get("url"))}</p><table class="reqs"><thead><tr><th>requirement</th>'
             "<th>status</th><th>control</th><th>coverage</th><th>verdicts by endpoint</th></tr></thead><tbody>"]
    for r in view.get("requirements", ()):
        controls = r.get("controls") or []
        span = max(len(controls), 1)
        head = (f'<td rowspan="{span}" class="req"><b>{_e(r["id"])}</b> {_e(r["title"])}</td>'
                f'<td rowspan="{span}"><span class="tag {_e(r["status"])}">{_LABEL.get(r["status"], _e(r["status"]))}'
                f'</span>{" partial" if r.get("partial") else ""}</td>')
        if not controls:
            parts.append(f"<tr>{head}<td colspan=\"3\">no control maps to it</td></tr>")
        for i, c in enumerate(controls):
            verdicts = " ".join(f'<span class="v {_e(s)}">{_e(e)}: {_LABEL.get(s, _e(s))}</span>'
                                for e, s in c["verdicts"].items()) or "not judged"
            parts.append(f"<tr>{head if i == 0 else ''}<td><code>{_e(c['control'])}</code></td>"
                         f'<td>{_e(c["coverage"])}<div class="note">{_e(c["note"])}</div></td><td>{verdicts}</td></tr>')
    parts.append("</tbody></table></section>")
    return "".join(parts)
