"""The console's HTML (ADR-0046): server-rendered strings, every value escaped, every datum with its age.

:func:`page` wraps a view in the shell (the link-state banner, the script and
the stylesheet, both served by the service); :func:`overview_html`,
:func:`track_html` render the views' ``<main>`` content, which the SSE stream
sends again whenever it changes. Times are ``<time data-at=...>`` elements the
script keeps current ("12 s ago", "in 4 min").
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from backchannel.api.console.model import Overview, PartyLine, TrackRow, TrackView
from backchannel.api.console.svg import graph_svg, ladder_svg

__all__ = ["error_page", "overview_html", "page", "signin_page", "track_html"]


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _seconds(seconds: float) -> str:
    s = int(abs(seconds))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


def age(t: datetime | None, now: datetime, *, none: str = "never") -> str:
    """``<time class="age">`` reading "N s ago" (the script keeps it current)."""
    if t is None:
        return f'<span class="none">{escape(none)}</span>'
    text = _seconds((now - t).total_seconds())
    return f'<time class="age" data-at="{_iso(t)}" title="{_iso(t)}">{text} ago</time>'


def _read(now: datetime) -> str:
    """When the view was read: ``<time class="age read">`` (the stream ignores it when comparing)."""
    return f'<time class="age read" data-at="{_iso(now)}" title="{_iso(now)}">0 s ago</time>'


def countdown(t: datetime, now: datetime) -> str:
    """``<time class="countdown">`` reading "in N min" or "passed N s ago"."""
    delta = (t - now).total_seconds()
    text = f"in {_seconds(delta)}" if delta >= 0 else f"passed {_seconds(delta)} ago"
    return f'<time class="countdown" data-at="{_iso(t)}" title="{_iso(t)}">{text}</time>'


def _badge(state: str, text: str | None = None) -> str:
    return f'<span class="badge {escape(state)}">{escape(text or state)}</span>'


def page(title: str, body: str, *, now: datetime, view: str, who: str) -> str:
    """The whole document: header, link banner, the view in ``<main id="view">``, the script."""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · backchannel console</title>"
        '<link rel="stylesheet" href="/console/static/console.css"></head>'
        f'<body data-view="{escape(view)}" data-now="{_iso(now)}">'
        '<header><a class="brand" href="/console/">backchannel console</a>'
        f'<span class="who">signed in as {escape(who)}</span>'
        '<form method="post" action="/console/signout"><button type="submit">Sign out</button></form>'
        "</header>"
        '<div id="link" class="link connecting" role="status" aria-live="polite">'
        "connecting to live updates…</div>"
        f'<main id="view" data-now="{_iso(now)}">{body}</main>'
        '<script src="/console/static/console.js" defer></script>'
        "</body></html>"
    )


def signin_page(message: str | None = None, status: str = "signed out") -> str:
    """The page of a browser with no session: how to get a sign-in link."""
    problem = "" if message is None else f'<p class="problem" id="problem">{escape(message)}</p>'
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>Sign in · backchannel console</title>"
        '<link rel="stylesheet" href="/console/static/console.css"></head><body>'
        '<header><span class="brand">backchannel console</span>'
        f'<span class="who">{escape(status)}</span></header><main class="signin">'
        f"<h1>Sign in</h1>{problem}"
        "<p>The console never asks for your private key. On a machine holding your key file, run:</p>"
        "<pre>backchannel console --server ORIGIN --key YOUR-KEY.json --track TRACK</pre>"
        "<p>and open the one-time link it prints (it is valid for 60 seconds and works once).</p>"
        "</main></body></html>"
    )


def error_page(status: int, title: str, detail: str) -> str:
    """A problem shown to a person: the status, the title and the detail, and what to do."""
    return signin_page(f"{status} {title}: {detail}", status="not signed in")


# --------------------------------------------------------------------------------------------
# the overview
# --------------------------------------------------------------------------------------------


def overview_html(view: Overview) -> str:
    """The overview: one row per track, its state (blocked, deadlocked, damaged), its next meetings."""
    now = view.at
    rows = "".join(_row(r, now) for r in view.rows)
    damaged = "".join(
        f'<tr class="track damaged" data-track="{escape(t)}"><td>{escape(t)}</td><td colspan="3">'
        f"{_badge('damaged')} set aside by the start-up integrity check"
        f"{'' if index is None else f' (first bad entry {index})'}; the API answers 503 until it is repaired"
        "</td><td></td></tr>"
        for t, index in view.damaged
    )
    counts = {s: sum(1 for r in view.rows if r.state == s) for s in ("blocked", "deadlocked")}
    return (
        f'<h1>Tracks</h1><p class="asof">{len(view.rows)} tracks; {counts["blocked"]} blocked, '
        f"{counts['deadlocked']} deadlocked, {len(view.damaged)} damaged · read {_read(now)}</p>"
        '<table class="tracks"><thead><tr><th>Track</th><th>State</th><th>Your role</th>'
        "<th>Entries</th><th>Next meetings</th></tr></thead>"
        f"<tbody>{rows}{damaged}</tbody></table>"
    )


def _row(r: TrackRow, now: datetime) -> str:
    reasons = "".join(
        f'<li class="reason">{escape(reason)}</li>'
        for b in r.blocked
        for reason in (*b.reasons, *b.deadlocked)
    )
    meetings = "".join(
        f"<li>{escape(m.booking_id)}: {escape(m.resource)} {countdown(m.start, now)} ({escape(m.status)})"
        f"{'' if not m.at_risk else ' ' + _badge('at-risk', f'at risk: {m.at_risk}')}</li>"
        for m in r.meetings[:3]
    )
    log = ' <span class="tag">coordination log</span>' if r.is_coordination_log else ""
    return (
        f'<tr class="track {escape(r.state)}" data-track="{escape(r.track)}">'
        f'<td><a href="/console/tracks/{escape(r.track)}">{escape(r.track)}</a>{log}'
        f'<div class="title">{escape(r.title)}</div></td>'
        f'<td>{_badge(r.state)}<ul class="reasons">{reasons}</ul></td>'
        f'<td>{escape(r.party)} ({escape(r.kind)})<div class="member">{escape(r.member)}</div></td>'
        f'<td class="num">{r.size}</td>'
        f'<td><ul class="meetings">{meetings or "<li class=none>none</li>"}</ul></td>'
        "</tr>"
    )


# --------------------------------------------------------------------------------------------
# a track
# --------------------------------------------------------------------------------------------


def track_html(view: TrackView) -> str:
    """A track's page: every section the reader may see, each saying when it was read."""
    s, now = view.state, view.at
    role = f"{view.reader.member} ({s.parties[s.member(view.reader.member).party].kind.value})"
    parts = [
        (
            f'<p class="crumbs"><a href="/console/">Tracks</a> / {escape(s.track)}</p>'
            f"<h1>{escape(s.title)}</h1>"
            f'<p class="asof">track {escape(s.track)} · you are {escape(role)} · read {_read(now)}</p>'
        ),
        _parties(view.parties, now),
        _deals(view.deals, now),
        _escrows(view.escrows),
        _obligations(view.obligations, now),
        _witnesses(view.witnesses, now),
        _forecasts(view.forecasts),
    ]
    if view.coordination is not None and view.graph is not None:
        parts.append(_coordination(view, now))
    return "".join(parts)


def _section(name: str, title: str, body: str) -> str:
    return f'<section id="{name}" class="{name}"><h2>{escape(title)}</h2>{body}</section>'


def _parties(lines: list[PartyLine] | None, now: datetime) -> str:
    if lines is None:
        return _section(
            "parties",
            "Parties",
            '<p class="note">Liveness and queues are the mediator\'s to see (the API answers 403).</p>',
        )
    rows = []
    for p in lines:
        if p.status == "online":
            live = f"{_badge('online')} heartbeat {age(p.last_heartbeat, now)}"
        elif p.status == "silent":
            live = f"{_badge('silent')} silent since {age(p.silent_since, now)}"
        else:
            live = f"{_badge('offline')} offline (asynchronous mode: no heartbeat since the service started)"
        dead = "".join(f"<li>{escape(m[:12])}: {escape(why)}</li>" for m, why in p.dead_letters)
        esc = "".join(
            f"<li>{escape(m[:12])}: level {level} to {escape(', '.join(to))}</li>"
            for m, level, to in p.escalations
        )
        rows.append(
            f'<tr class="party {escape(p.status)}" data-party="{escape(p.party)}">'
            f'<td>{escape(p.party)}<div class="member">{escape(p.kind)}</div></td>'
            f'<td class="liveness">{live}</td>'
            f'<td class="num">{p.queued}</td><td class="num">{p.in_flight} / {p.credit}</td>'
            f'<td>{age(p.oldest_unacked, now, none="none")}</td><td class="num">{p.redeliveries}</td>'
            f'<td><span class="num">{len(p.dead_letters)}</span><ul>{dead}</ul></td>'
            f'<td><span class="num">{len(p.escalations)}</span><ul>{esc}</ul></td></tr>'
        )
    table = (
        "<table><thead><tr><th>Party</th><th>Liveness</th><th>Queue</th><th>Credit in use</th>"
        "<th>Oldest unacked</th><th>Redeliveries</th><th>Dead letters</th><th>Escalations</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    return _section("parties", "Parties: liveness and queues", table)


def _deals(deals: list[dict[str, Any]], now: datetime) -> str:
    if not deals:
        return _section("deals", "Deals", '<p class="empty">No deal you may see.</p>')
    items = []
    for d in deals:
        deadline = d.get("deadline")
        when = ""
        if deadline and d["status"] == "preparing":  # a countdown while the vote is open
            when = f" · deadline {countdown(datetime.fromisoformat(str(deadline)), now)}"
        missing = d.get("missing") or []
        votes = f"{len(d.get('votes', []))} of {len(d.get('voters', []))} votes"
        pending = f"; pending: {escape(', '.join(missing))}" if missing else ""
        items.append(
            f'<li class="deal" data-deal="{escape(d["deal_id"])}">{_badge(d["status"])} '
            f"<strong>{escape(str(d['deal'].get('title', d['deal_id'])))}</strong> "
            f"(revision {d['revision']}) · {votes}{pending}{when}</li>"
        )
    return _section("deals", "Deals", f"<ul>{''.join(items)}</ul>")


def _escrows(escrows: list[dict[str, Any]]) -> str:
    if not escrows:
        return _section("escrows", "Escrows", '<p class="empty">No escrow you may see.</p>')
    items = []
    for e in escrows:
        check = e["check"]
        progress = [f"{check['signatures']} of {check['threshold']} signatures"]
        progress += [str(p["progress"]) for p in check["predicates"]]
        flags = " (expired)" if check["expired"] else (" (releasable)" if check["releasable"] else "")
        items.append(
            f'<li class="escrow" data-escrow="{escape(e["escrow_id"])}">{_badge(e["status"])} '
            f"<strong>{escape(e['escrow_id'])}</strong>: {escape('; '.join(progress))}{escape(flags)}"
            f'<div class="condition">{escape(e["condition"])}</div></li>'
        )
    return _section("escrows", "Escrows", f"<ul>{''.join(items)}</ul>")


def _obligations(obligations: list[dict[str, Any]], now: datetime) -> str:
    if not obligations:
        return _section("obligations", "Obligations", '<p class="empty">No obligation you may see.</p>')
    items = [
        f'<div class="obligation" data-obligation="{escape(str(o["obligation"]))}">'
        f"<h3>{escape(str(o['obligation']))}: {escape(str(o['party']))} · {escape(str(o['metric']))}</h3>"
        f"<p>level {o['level']} ({escape(str(o['tier']))}), tokens {escape(str(o['tokens']))} "
        f"{escape(str(o['unit']))}; {o['overdraws']} overdraws</p>{ladder_svg(o, now)}</div>"
        for o in obligations
    ]
    return _section("obligations", "Obligations: the ladder", "".join(items))


def _witnesses(w: dict[str, Any], now: datetime) -> str:
    if not w.get("parties"):
        return _section("witnesses", "Witnesses", '<p class="empty">No witness party on this track.</p>')
    state = _badge("failing", "failing: not cosigning") if w["failing"] else _badge("ok", "cosigning")
    sigs = "".join(f"<li>{escape(name)} {age(t, now)}</li>" for name, t in w["cosignatures"])
    alarms = "".join(
        f'<li class="split-view">{_badge("damaged", "SPLIT VIEW")} reported by {escape(who)} '
        f"{age(t, now)}: {escape(why)}</li>"
        for who, t, why in w["split_views"]
    )
    body = (
        f"<p>{state} witnesses {escape(', '.join(w['parties']))}: newest cosigned checkpoint "
        f"{w['cosigned_size'] or 'none'} of {w['size']} entries (lag {w['lag']}); last cosignature "
        f"{age(w['newest'], now)}</p><ul>{sigs}</ul>"
        + (
            f'<h3>Split-view alarms</h3><ul class="alarms">{alarms}</ul>'
            if alarms
            else '<p class="note">No split-view alarm: no witness has reported two checkpoints signed by '
            "the log key that cannot both be true.</p>"
        )
    )
    return _section("witnesses", "Witnesses and cosignatures", body)


def _forecasts(forecasts: list[dict[str, Any]]) -> str:
    if not forecasts:
        return _section("forecasts", "Forecasts", '<p class="empty">No forecast you may see.</p>')
    items = []
    for f in forecasts:
        issues = []
        for i in f["issues"]:
            values = [float(v) for v in i["answers"].values()]
            interval = f"[{min(values):.2f}, {max(values):.2f}]" if values else "[]"
            flag = " " + _badge("disagree", "models disagree") if i["flagged"] else ""
            issues.append(f"<li>{escape(i['issue'])}: {interval}, spread {i['spread']:.2f}{flag}</li>")
        stale = " " + _badge("stale") if f["stale"] else ""
        items.append(
            f'<li class="forecast">forecast {escape(f["forecast_id"][:12])} · age {escape(f["age"])}{stale}'
            f"<ul>{''.join(issues)}</ul></li>"
        )
    return _section("forecasts", "Forecasts", f"<ul>{''.join(items)}</ul>")


def _coordination(view: TrackView, now: datetime) -> str:
    info, graph = view.coordination, view.graph
    assert info is not None
    assert graph is not None
    cycles = "".join(
        f'<li class="deadlock"><strong>{escape(did)}</strong> detected {age(at, now)}: {escape(cycle)}'
        f"<ul>{''.join(f'<li>suggested: {escape(s)}</li>' for s in suggestions)}</ul></li>"
        for did, cycle, suggestions, at in info["deadlocks"]
    )
    deps = "".join(
        f"<li>{_badge(status)} {escape(did)}: {escape(text)}</li>"
        for did, status, text in info["dependencies"]
    )
    bookings = "".join(_booking(b, now) for b in info["bookings"])
    resources = "".join(
        f"<li>{escape(rid)} ({escape(kind)}): {load} of {cap}{' ' + _badge('saturated') if sat else ''}</li>"
        for rid, kind, cap, load, sat in info["resources"]
    )
    body = (
        f'<div class="graphbox">{graph_svg(graph)}</div>'
        f'<h3>Deadlocks</h3><ul class="deadlocks">{cycles or "<li class=none>none</li>"}</ul>'
        f"<h3>Dependencies</h3><ul>{deps or '<li class=none>none</li>'}</ul>"
        f"<h3>Resources</h3><ul>{resources or '<li class=none>none</li>'}</ul>"
        f"<h3>Bookings</h3><ul>{bookings or '<li class=none>none</li>'}</ul>"
    )
    return _section("coordination", "Coordination: the wait-for graph", body)


def _booking(b: dict[str, Any], now: datetime) -> str:
    risk = b["at_risk"]
    flag = "" if not risk else " " + _badge("at-risk", f"at risk: {risk}")
    return (
        f"<li>{escape(b['booking_id'])}: {escape(b['resource'])} for {escape(b['holder'])} "
        f"{countdown(b['start'], now)} ({escape(b['status'])}, priority {b['priority']}){flag}</li>"
    )
