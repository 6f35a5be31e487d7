"""The decisions view: the review log (latest first, times as short local times under a header
that names the kernel's time zone, the full timestamp on hover and in the files), counts per
action, export to CSV / JSON / Parquet (and a relabelling task list for annotation tools) next to
the notebook, import + merge of someone else's decisions with every conflict shown, and the
reviewers' conflicts in a shared store (who decided what), resolved by policy or one by one.
"""

from __future__ import annotations

import html
import tempfile
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import pandas as pd

from workbench.decisions.interop import write_label_studio, write_tasks
from workbench.decisions.log import ACTIONS, MERGE_POLICIES
from workbench.ui._common import View, ignore_message

__all__ = ["DecisionsView", "export_message", "short_time", "store_message"]

_FORMATS = {"csv": ".csv", "json": ".json", "parquet": ".parquet"}
#: Task lists for annotation tools: (file name suffix, what it is).
_TASK_FORMATS = {
    "tasks": ("_tasks.csv", "relabelling task list (CSV: id, given, suggested, note)"),
    "label_studio": ("_label_studio.json", "Label Studio tasks (JSON)"),
}
_LOG_COLUMNS = [
    "time",
    "user",
    "id",
    "index",
    "action",
    "label_name",
    "detector",
    "threshold",
    "score",
    "note",
]


def short_time(stamp, *, now: datetime | None = None, tz: tzinfo | None = None) -> str:
    """A decision's time as the table shows it: ``"14:03:12"`` in local time (``tz``, default
    the kernel's time zone) when it falls on today's date, ``"Nov 22 14:03"`` earlier this
    year, ``"2025-11-22 14:03"`` before. The exported files keep the full ISO timestamp."""
    try:
        t = datetime.fromisoformat(str(stamp))
    except ValueError:
        return str(stamp)
    local = t.astimezone(tz)  # a timestamp without an offset is taken as local time
    today = (now or datetime.now(UTC)).astimezone(local.tzinfo).date()
    if local.date() == today:
        return local.strftime("%H:%M:%S")
    if local.year == today.year:
        return local.strftime("%b %d %H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def store_message(location, *, pending: bool = False) -> str:
    """The line under the counts that says where decisions are stored (HTML)."""
    small = '<div style="font-size:12px;color:#555">'
    if location is None:
        return (
            f"{small}Kept in memory only: they are lost with the kernel unless exported "
            "(give <code>decisions_path=</code> to store them as they are made).</div>"
        )
    where = f"<code>{html.escape(str(location))}</code>"
    if pending:
        return f"{small}Stored in {where} from the first decision (nothing written yet).</div>"
    return f"{small}Stored in {where} as they are made.</div>"


def export_message(n_decisions: int, n_samples: int, path) -> str:
    """What the view says after an export: the file keeps every decision (the history), the
    latest one per sample counts, so decisions and samples are counted apart."""
    what = f"{n_decisions:,} decision{'s' * (n_decisions != 1)}"
    samples = f"{n_samples:,} sample{'s' * (n_samples != 1)}"
    if n_decisions == n_samples:
        on = f"{samples}, one decision each"
    else:
        on = (
            f"on {samples}: the file keeps the whole history, the latest decision per sample counts"
        )
    return f"Wrote {what} to {path} ({on})"


def _table(df: pd.DataFrame, *, empty: str, titles: dict | None = None) -> str:
    """A small escaped HTML table (no pandas styling, no index); ``titles`` maps a column to
    per-row hover texts (e.g. the full timestamp behind a short time)."""
    if df.empty:
        return f'<div class="wb-dv-empty" style="color:#666">{html.escape(empty)}</div>'
    titles = titles or {}
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for r, row in enumerate(df.itertuples(index=False)):
        cells = []
        for column, v in zip(df.columns, row, strict=True):
            if isinstance(v, float):
                text = "" if v != v else f"{v:.4g}"
            else:
                text = str(v)
            title = titles.get(column)
            attr = f' title="{html.escape(str(title[r]), quote=True)}"' if title is not None else ""
            cells.append(f"<td{attr}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        "<style>.wb-dv-table th,.wb-dv-table td{padding:1px 8px;text-align:left}"
        ".wb-dv-table td{overflow-wrap:anywhere}</style>"
        '<table class="wb-dv-table" style="border-collapse:collapse;font-size:12px">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


class DecisionsView(View):
    """The decision log with counts, export buttons and import + merge.

    Parameters
    ----------
    session_or_dataset : Session or Dataset
    export_stem : str or path, default="decisions"
        Exports go to ``<export_stem>.csv`` / ``.json`` / ``.parquet``; a relative stem lands
        next to the notebook (the kernel's working folder).
    rows : int, default=50
        How many of the latest decisions the table shows.
    **session_options
        Passed to :class:`workbench.session.Session` when a Dataset is given.
    """

    def __init__(
        self, session_or_dataset, *, export_stem="decisions", rows: int = 50, **session_options
    ):
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
            raise ValueError(f"rows must be a positive int, found {rows!r}.")
        super().__init__(session_or_dataset, **session_options)
        self._stem, self._rows = str(export_stem), rows
        self.last_report = None

    def _build(self):
        import ipywidgets as w

        self.counts_html = w.HTML()
        self.store_html = w.HTML()  # where the decisions are stored
        self.log_html = w.HTML(layout=w.Layout(max_height="360px", overflow="auto"))
        self.rows_input = w.Dropdown(
            options=[20, 50, 200, 1000],
            value=min([20, 50, 200, 1000], key=lambda v: abs(v - self._rows)),
            description="Show latest",
            layout=w.Layout(width="180px"),
        )
        self.undo_button = w.Button(
            description="Undo", icon="undo", tooltip="Undo the last decision step"
        )
        self.stem_input = w.Text(
            value=self._stem, description="Export to", layout=w.Layout(width="340px")
        )
        self.export_buttons = {
            fmt: w.Button(description=fmt.upper(), tooltip=f"Write {suffix} atomically")
            for fmt, suffix in _FORMATS.items()
        }
        self.export_buttons.update(
            {
                fmt: w.Button(
                    description="Tasks" if fmt == "tasks" else "Label Studio",
                    tooltip=f"Write the {what}: samples to review or relabel",
                )
                for fmt, (_, what) in _TASK_FORMATS.items()
            }
        )
        self.status = w.HTML()
        self.import_path = w.Text(
            placeholder="path/to/their_decisions.json",
            description="Merge from",
            layout=w.Layout(width="340px"),
        )
        self.upload = w.FileUpload(
            accept=".json,.csv,.parquet,.db", multiple=False, description="Upload…"
        )
        self.policy = w.Dropdown(
            options=list(MERGE_POLICIES),
            value="keep_mine",
            description="Conflicts",
            layout=w.Layout(width="220px"),
        )
        self.merge_button = w.Button(description="Merge", icon="code-fork")
        self.report_html = w.HTML(layout=w.Layout(max_height="300px", overflow="auto"))
        # reviewers' conflicts in a shared store
        self.conflicts_html = w.HTML(layout=w.Layout(max_height="300px", overflow="auto"))
        self.reload_button = w.Button(
            description="Reload", icon="refresh", tooltip="Read what others stored since"
        )
        self.resolve_button = w.Button(
            description="Resolve all", tooltip="Resolve every conflict by the chosen policy"
        )
        self.conflict_sample = w.Dropdown(description="Sample", layout=w.Layout(width="260px"))
        self.conflict_take = w.Dropdown(description="Take", layout=w.Layout(width="220px"))
        self.take_button = w.Button(description="Take this one")
        self.conflict_sample.observe(lambda _: self._fill_reviewers(), names="value")
        self.reload_button.on_click(lambda _: self._reload_clicked())
        self.resolve_button.on_click(lambda _: self._resolve_clicked(all_of_them=True))
        self.take_button.on_click(lambda _: self._resolve_clicked(all_of_them=False))

        self.undo_button.on_click(lambda _: self._undo())
        for fmt, button in self.export_buttons.items():
            button.on_click(lambda _, fmt=fmt: self._export_clicked(fmt))
        self.merge_button.on_click(lambda _: self._merge_clicked())
        self.upload.observe(self._on_upload, names="value")
        self.rows_input.observe(lambda _: self.refresh(), names="value")
        self._subscribe("decisions", lambda _: self.refresh())

        # rows of controls wrap in a narrow notebook column instead of running past its edge
        wrap = w.Layout(flex_flow="row wrap")
        box = w.VBox([
            w.HTML("<b>Decisions</b>"),
            self.counts_html,
            self.store_html,
            w.HBox([self.rows_input, self.undo_button], layout=wrap),
            self.log_html,
            w.HBox([self.stem_input, *self.export_buttons.values()], layout=wrap),
            w.HBox([self.import_path, self.upload, self.policy, self.merge_button], layout=wrap),
            self.status,
            self.report_html,
            w.HTML("<b>Reviewers' conflicts</b>"),
            w.HBox([self.reload_button, self.resolve_button], layout=wrap),
            w.HBox([self.conflict_sample, self.conflict_take, self.take_button], layout=wrap),
            self.conflicts_html,
        ])  # fmt: skip
        self._widget = box
        self.refresh()
        return box

    # --- display -------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Redraw counts and the latest decisions from the session's log."""
        if self._widget is None:
            return
        log = self.session.decisions
        counts = log.counts()
        undecided = self.session.dataset.n_samples - sum(counts.values())
        parts = [f"<b>{counts[a]:,}</b> {a.replace('_', ' ')}" for a in ACTIONS]
        if "edit_labels" in counts:  # label-set edits (multi-label)
            parts.append(f"<b>{counts['edit_labels']:,}</b> label-set edits")
        parts.append(f"<b>{undecided:,}</b> undecided")
        self.counts_html.value = " · ".join(parts)
        self.store_html.value = store_message(log.location, pending=log.pending)
        tail = log.tail(self.rows_input.value)[_LOG_COLUMNS]
        full = tail["time"].astype(str).tolist()
        now = datetime.now(UTC)
        # the kernel's time zone, named: on a remote kernel (Binder, a hub) it is not the reader's
        column = f"time ({now.astimezone().tzname()})"
        tail = tail.assign(time=[short_time(t, now=now) for t in full])
        self.log_html.value = _table(
            tail.rename(columns={"time": column}),
            empty="No decisions yet.",
            titles={column: [f"{t} (as exported)" for t in full]},
        )
        self.undo_button.disabled = not log.can_undo
        self._show_conflicts()

    def _show_conflicts(self) -> None:
        conf = self.session.decisions.conflicts()
        n = conf["index"].nunique() if len(conf) else 0
        head = (
            f"<div>{n:,} sample{'s' * (n != 1)} where reviewers disagree"
            + (" (the first 200 shown)" if n > 200 else "")
            + ".</div>"
        )
        first = conf[conf["index"].isin(conf["index"].drop_duplicates().head(200))]
        table = first.rename(columns={"user": "reviewer", "label_name": "label"})
        self.conflicts_html.value = head + _table(table, empty="No conflicts between reviewers.")
        samples = conf.drop_duplicates("index")
        options = [(str(i), int(p)) for i, p in zip(samples["id"], samples["index"], strict=True)]
        self.conflict_sample.options = options[:1000]
        self.resolve_button.disabled = self.take_button.disabled = not options
        self.reload_button.disabled = self.session.decisions.path is None and (
            self.session.decisions.url is None
        )
        self._fill_reviewers()

    def _fill_reviewers(self) -> None:
        index = self.conflict_sample.value
        conf = self.session.decisions.conflicts()
        users = conf.loc[conf["index"] == index, "user"].tolist() if index is not None else []
        self.conflict_take.options = users

    def _say(self, text: str, *, error: bool = False) -> None:
        colour = "#b3261e" if error else "#1b5e20"
        self.status.value = f'<span style="color:{colour}">{html.escape(text)}</span>'

    # --- actions -------------------------------------------------------------------------------
    def export(self, fmt: str, path=None) -> Path:
        """Write the decisions as ``fmt`` ("csv", "json", "parquet"), or the relabelling task
        list ("tasks": CSV; "label_studio": Label Studio's task JSON, with the audit's
        suggested labels when the session has them), to ``path`` (default: the export stem plus
        the format's suffix); returns the absolute path written."""
        if fmt not in _FORMATS and fmt not in _TASK_FORMATS:
            raise ValueError(
                f"fmt must be one of {sorted([*_FORMATS, *_TASK_FORMATS])}, found {fmt!r}."
            )
        _ = self.widget
        if path is None:
            stem = self.stem_input.value.strip() or "decisions"
            for suffix in _FORMATS.values():
                stem = stem[: -len(suffix)] if stem.endswith(suffix) else stem
            suffix = _FORMATS[fmt] if fmt in _FORMATS else _TASK_FORMATS[fmt][0]
            path = Path(stem + suffix)
        path = Path(path).expanduser()
        log = self.session.decisions
        if fmt == "tasks":
            written = write_tasks(log, path, suggested=self._suggested())
        elif fmt == "label_studio":
            written = write_label_studio(log, path, suggested=self._suggested())
        else:
            written = getattr(log, f"to_{fmt}")(path)
        return written.resolve()

    def _suggested(self):
        labels = self.session.result.suggested_labels
        return None if labels is None else labels.astype("int64")

    def resolve(self, index=None, *, take: str | None = None, policy: str | None = None) -> int:
        """Resolve reviewers' conflicts (see :meth:`DecisionLog.resolve`): ``index`` a sample
        position (None: every conflict), ``take`` a reviewer, else ``policy`` (default: the
        view's). Returns how many samples were resolved."""
        _ = self.widget
        if take is None and policy is None:
            policy = self.policy.value
        return self.session.decisions.resolve(
            None if index is None else [index], take=take, policy=policy
        )

    def merge(self, source, *, policy: str | None = None):
        """Merge decisions from a path or DecisionLog; shows and returns the MergeReport."""
        _ = self.widget
        report = self.session.decisions.merge(source, policy=policy or self.policy.value)
        self.last_report = report
        conflicts = report.conflicts
        self.report_html.value = (
            f"<div>{html.escape(report.summary())}</div>"
            + _table(conflicts.head(200), empty="No conflicts.")
            + (
                f"<div>… and {len(conflicts) - 200:,} more conflicts (see "
                "<code>last_report.conflicts</code>).</div>"
                if len(conflicts) > 200
                else ""
            )
        )
        return report

    def _reload_clicked(self) -> None:
        try:
            self.session.decisions.reload()
        except Exception as exc:  # a store that is down, locked or gone: say so, keep the view
            self._say(f"Reload failed: {exc}", error=True)
            return
        self._say("Reloaded from the store.")

    def _resolve_clicked(self, *, all_of_them: bool) -> None:
        try:
            if all_of_them:
                n = self.resolve(policy=self.policy.value)
            else:
                if self.conflict_sample.value is None or self.conflict_take.value is None:
                    self._say(
                        "Choose a sample and the reviewer whose decision to take.", error=True
                    )
                    return
                n = self.resolve(self.conflict_sample.value, take=self.conflict_take.value)
        except (OSError, ValueError) as exc:  # StoreError: resolved in memory, not yet stored
            self._say(f"Resolution recorded, but: {exc}", error=True)
            return
        self._say(f"Resolved {n} conflict{'s' * (n != 1)}.")

    def _undo(self) -> None:
        try:
            if self.session.decisions.undo():
                self._say("Undone.")
        except OSError as exc:  # the store failed: undone in memory, stored with the next change
            self._say(f"Undone, but: {exc}", error=True)

    def _export_clicked(self, fmt: str) -> None:
        try:
            path = self.export(fmt)
        except (OSError, ValueError) as exc:
            self._say(f"Export failed, nothing was overwritten: {exc}", error=True)
            return
        log = self.session.decisions
        self._say(export_message(len(log), sum(log.counts().values()), path))

    def _merge_clicked(self) -> None:
        text = self.import_path.value.strip()
        if not text:
            self._say("Type the path of a decisions file to merge, or upload one.", error=True)
            return
        self._merge_reporting(Path(text).expanduser(), text)

    def _merge_reporting(self, source, name: str) -> None:
        try:
            report = self.merge(source)
        except (OSError, ValueError, TypeError) as exc:
            self._say(f"Nothing merged: {exc}", error=True)
            return
        except MemoryError:
            self._say(f"Nothing merged: {name} is too large to read here.", error=True)
            return
        except Exception as exc:  # anything a hostile file can raise is shown, never escapes
            self._say(f"Nothing merged: {name}: {type(exc).__name__}: {exc}", error=True)
            return
        self._say(f"Merged {name}: {report.summary()}")

    def _on_upload(self, change) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0]
        name, content = item.get("name"), item.get("content")
        try:
            # What the browser sent: a file name and the file's bytes (anything else, such as
            # a number that ``bytes()`` would turn into that many zero bytes, is refused).
            if not isinstance(name, str) or not isinstance(content, (bytes, bytearray, memoryview)):
                ignore_message("DecisionsView", "an upload without a file name and bytes", item)
                self._say("The upload could not be read; nothing merged.", error=True)
                return
            suffix = Path(name).suffix.lower()
            if suffix not in (".json", ".csv", ".parquet", ".db"):
                self._say(
                    f"{name}: upload a .json, .csv, .parquet or .db decisions file.", error=True
                )
                return
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"upload{suffix}"
                path.write_bytes(bytes(content))
                self._merge_reporting(path, name)
        finally:
            self.upload.value = ()  # the same file can be uploaded again
