"""The HTML report: a self-contained page with the summary, the trials table and the plots."""
import base64
import html
import os
import pathlib
import shlex
from typing import Optional

import optuna

from paddle_autotune_plugins.report.plot_base import PlotData, SkipPlot, png_bytes
from paddle_autotune_plugins.report.plots import report_plots
from paddle_autotune_plugins.report.study_facts import fmt_value
from paddle_autotune_plugins.report.trials_table import knob_mismatch_lines, trials_table
from paddle_autotune_plugins.study import trial_queries as queries

S = optuna.trial.TrialState
Part = tuple[str, Optional[str], Optional[str], str]  # title, image (a data URI) or None, note, alt text


def _summary_html(d: PlotData) -> str:
    e = html.escape
    out = []
    counts = queries.by_state(d.study.get_trials(deepcopy=False))
    interrupted = sum(bool(t.user_attrs.get("interrupted")) for t in d.study.get_trials(deepcopy=False))
    directions = ", ".join(f"{'maximize' if m else 'minimize'} <b>{e(n)}</b>" for m, n in zip(d.maximize, d.metrics))
    suite = d.study.user_attrs.get("suite")
    out.append(f"<p>Study <b>{e(d.study.study_name)}</b>{f' ({e(suite)})' if suite else ''}: {directions}. "
               f"{counts[S.COMPLETE]} complete, {counts[S.PRUNED]} pruned, "
               f"{counts[S.FAIL] - interrupted} failed"
               + (f", {interrupted} interrupted and re-queued" if interrupted else "")
               + (f", {counts[S.RUNNING]} running" if counts[S.RUNNING] else "") + ".</p>")
    mismatches = knob_mismatch_lines(d.study.get_trials(deepcopy=False))
    if mismatches:
        out.append("<p class=warn><b>" + e(mismatches[0]) + "</b><br>" + "<br>".join(e(m) for m in mismatches[1:]) + "</p>")
    if not d.complete:
        out.append("<p>No trial completed: see the reason column below and the trial_*/train.log files.</p>")
        return "\n".join(out)
    rows = []
    base = d.baseline if d.baseline is not None and d.baseline.state == S.COMPLETE else None
    if d.multi:
        front = sorted(d.study.best_trials, key=lambda t: t.number)
        out.append(f"<p>Pareto front: trials {', '.join(str(t.number) for t in front)}.</p>")
        shown = ([base] if base is not None else []) + [t for t in front if t is not base]
    else:
        best = d.best
        assert best is not None  # one objective and a complete trial: there is a best
        if base is not None:
            assert best.value is not None and base.value is not None  # complete trials have a value
            diff = best.value - base.value
            better = diff > 0 if d.maximize[0] else diff < 0
            pct = f" ({diff / abs(base.value) * 100:+.1f}%)" if base.value else ""
            verdict = "better than" if better else ("the same as" if diff == 0 else "worse than")
            out.append(f"<p class=big>Best <b>{e(d.metrics[0])} = {best.value:.6g}</b> (trial {best.number}) vs "
                       f"baseline {base.value:.6g} (trial {base.number}): <b>{diff:+.6g}{pct}</b>, {verdict} "
                       f"the baseline.</p>")
        else:
            out.append(f"<p class=big>Best <b>{e(d.metrics[0])} = {best.value:.6g}</b> (trial {best.number}); "
                       f"the baseline did not complete.</p>")
        shown = ([base] if base is not None and base is not best else []) + [best]
    head = "".join(f"<th>{'baseline' if t is base else ('best' if t is d.best else 'Pareto')} "
                   f"(trial {t.number})</th>" for t in shown)
    for p in d.paths:
        cells = "".join(f"<td>{e(fmt_value(t.user_attrs.get('values', t.params).get(p), 40))}</td>" for t in shown)
        rows.append(f"<tr><td><code>{e(p)}</code></td>{cells}</tr>")
    for i, m in enumerate(d.metrics):
        cells = "".join(f"<td><b>{t.values[i]:.6g}</b></td>" for t in shown)
        rows.append(f"<tr><td>{e(m)}</td>{cells}</tr>")
    out.append(f"<table><tr><th>parameter</th>{head}</tr>{''.join(rows)}</table>")
    return "\n".join(out)


_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1180px;color:#222;
padding:0 16px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;border-bottom:1px solid #ddd;padding-bottom:3px;margin-top:28px}
table{border-collapse:collapse;font-size:13px} td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f3f3f3} pre{background:#f7f7f7;border:1px solid #e3e3e3;padding:8px;font-size:12px;overflow-x:auto}
img{max-width:100%;height:auto} .note{color:#666;font-style:italic} .big{font-size:15px}
.caption{font-size:13px;color:#444;margin-top:4px}
.warn{background:#fff3cd;border:1px solid #e0b000;padding:8px}
.grid{display:flex;flex-wrap:wrap;gap:12px} .grid figure{margin:0;flex:1 1 480px;max-width:580px}
figure{margin:0} code{font-size:12px}
"""


def write_report(study: optuna.Study, out_dir: str | os.PathLike[str]) -> pathlib.Path:
    """Write ``out_dir/report.html`` (self-contained: PNGs inline as data URIs, no script, no network) and
    the same PNGs as ``out_dir/report/*.png``. Returns the path of report.html.

    Example::

        write_report(load_study("tune_resnet18"), "tune_resnet18")   # open tune_resnet18/report.html
    """
    out_dir = pathlib.Path(out_dir)
    img_dir = out_dir / "report"
    img_dir.mkdir(parents=True, exist_ok=True)
    d = PlotData(study)
    sections: list[Part] = []
    slices: list[Part] = []
    for stem, title, draw in report_plots(d):
        part: Part
        try:
            png = png_bytes(draw(d))
        except SkipPlot as skip:
            part = (title, None, str(skip), title)
        else:
            (img_dir / f"{stem}.png").write_bytes(png)
            part = (title, f"data:image/png;base64,{base64.b64encode(png).decode('ascii')}",
                    d.notes.get(stem), d.alt.get(stem, title))
        (slices if stem.startswith("slice_") else sections).append(part)

    e = html.escape
    db = out_dir / "study.db"
    # the dashboard command the setup installs, on this folder's study file or on the study's storage
    where = (f"--out {shlex.quote(str(out_dir))}" if db.is_file()
             else f"--storage STORAGE_URL --study {shlex.quote(study.study_name)}")
    body = [f"<h1>paddle-autotune report: {e(study.study_name)}</h1>",
            "<h2>Summary</h2>", _summary_html(d),
            "<h2>Trials (best first)</h2>", f"<pre>{e(chr(10).join(trials_table(study)))}</pre>"]
    for title, uri, note, alt in sections:
        body.append(f"<h2>{e(title)}</h2>")
        if uri:
            body.append(f'<img id="{e(title.lower().replace(" ", "-"))}" src="{uri}" alt="{e(alt)}">')
            if note:
                body.append(f"<p class=caption>{e(note)}</p>")
        else:
            assert note is not None  # a plot that was skipped: its note says why
            body.append(f"<p class=note>{e(note)}</p>")
    if slices:
        body.append("<h2>Slice plots (objective against each parameter)</h2><div class=grid>")
        for title, uri, note, alt in slices:
            body.append(f'<figure><img src="{uri}" alt="{e(alt)}"></figure>' if uri
                        # (the ignore: a plot without an image was skipped, and its note says why)
                        else f"<figure><p class=note>{e(title)}: {e(note)}</p></figure>")  # type: ignore[arg-type]
        body.append("</div>")
    body.append("<h2>Explore further</h2>"
                f"<p>Interactive views of the same study, live while it runs: <code>paddle-autotune dashboard "
                f"{e(where)}</code>. VisualDL HParams: "
                "<code>paddle_autotune_plugins.report.visualdl_export.log_to_visualdl(study, LOGDIR)</code>, then "
                "<code>visualdl --logdir LOGDIR</code>. The PNGs are also in <code>report/</code>.</p>")
    page = ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            f"<title>autotune report: {e(study.study_name)}</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")
    path = out_dir / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)  # a browser that reloads never sees half a page
    return path
