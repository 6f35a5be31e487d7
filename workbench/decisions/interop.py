"""Decisions to and from annotation tools: a relabelling task list (plain CSV / JSON, or Label
Studio's task JSON) out, and the re-annotations back in as an extra annotator.

A task is a sample whose current decision asks for a human look (``needs_review`` and
``relabel`` by default), with its ``id``, position ``index``, ``given`` label, ``suggested``
label (the relabel target, else the detector's suggestion when given), ``note``, ``score``
(noise score, higher = more likely mislabeled) and ``detector``. What comes back is one class
per reviewed sample; :func:`read_annotations` turns it into an (N,) label array (-1 where not
annotated) and :func:`add_annotator` appends it to a dataset's annotators, so the annotator
detectors weigh it with the others.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.core.atomic import atomic_file
from workbench.core.csv_safety import neutralize_frame, restore
from workbench.core.dataset import Dataset
from workbench.core.identity import id_positions
from workbench.decisions.log import DecisionLog

__all__ = [
    "TASK_COLUMNS",
    "add_annotator",
    "label_studio_tasks",
    "read_annotations",
    "task_list",
    "write_label_studio",
    "write_tasks",
]

#: Columns of a task list.
TASK_COLUMNS = ("id", "index", "given", "suggested", "note", "action", "score", "detector")


def _check_log(log) -> None:
    if not isinstance(log, DecisionLog):
        raise TypeError(f"log must be a DecisionLog, found {type(log).__name__}.")


def task_list(log: DecisionLog, *, actions=("needs_review", "relabel"), suggested=None):
    """The samples to (re-)annotate as a table with the columns of :data:`TASK_COLUMNS`.

    Parameters
    ----------
    log : DecisionLog
    actions : sequence of str, default=("needs_review", "relabel")
        Current decisions that make a task.
    suggested : array-like of shape (N,), optional
        A suggested class per sample (codes, -1 for none), e.g.
        ``AuditResult.suggested_labels()``; a relabel's own target comes first.
    """
    _check_log(log)
    cur = log.current()
    cur = cur[cur["action"].isin(list(actions))]
    names = np.asarray(log.class_names + [""], dtype=object)
    k = len(log.class_names)
    given = cur["given"].to_numpy()
    if log.labels is not None:
        given = log.labels[cur["index"].to_numpy()]
    sugg = cur["label"].to_numpy().copy()
    if suggested is not None:
        s = np.asarray(suggested)
        if s.shape != (log.n_samples,) or s.dtype.kind not in "iu":
            raise ValueError(
                f"suggested must be class codes of shape (N={log.n_samples},), found "
                f"{s.dtype} of shape {s.shape}."
            )
        own = s[cur["index"].to_numpy()]
        sugg = np.where(sugg >= 0, sugg, np.where((own >= 0) & (own < k), own, -1))
    return pd.DataFrame(
        {
            "id": cur["id"].to_numpy(),
            "index": cur["index"].to_numpy(),
            "given": names[np.where(given >= 0, given, k)],
            "suggested": names[np.where(sugg >= 0, sugg, k)],
            "note": cur["note"].to_numpy(),
            "action": cur["action"].to_numpy(),
            "score": cur["score"].to_numpy(),
            "detector": cur["detector"].to_numpy(),
        }
    ).reset_index(drop=True)


def write_tasks(log: DecisionLog, path, **options) -> Path:
    """Write :func:`task_list` to ``path`` atomically: ``.csv`` (a plain table, text cells
    neutralised against spreadsheet formulas) or ``.json`` (a list of objects). A reviewer
    fills a ``label`` column (CSV) or key (JSON) with the class; read it back with
    :func:`read_annotations`."""
    path = Path(path)
    tasks = task_list(log, **options)
    tasks["label"] = ""
    if path.suffix.lower() == ".csv":
        import pyarrow as pa
        import pyarrow.csv as pacsv

        table = pa.Table.from_pandas(neutralize_frame(tasks.astype({"id": str})),
                                     preserve_index=False)  # fmt: skip
        with atomic_file(path, "wb") as f:
            pacsv.write_csv(table, f)
    elif path.suffix.lower() == ".json":
        records = json.loads(tasks.to_json(orient="records", force_ascii=False))
        with atomic_file(path, "w") as f:
            json.dump(records, f, ensure_ascii=False, indent=1)
    else:
        raise ValueError(f"path must end in .csv or .json, found {str(path)!r}.")
    return path


def label_studio_tasks(
    log: DecisionLog,
    *,
    actions=("needs_review", "relabel"),
    suggested=None,
    data=None,
    from_name: str = "label",
    to_name: str = "item",
) -> list[dict]:
    """Tasks in Label Studio's import format: ``{"data": {...}, "predictions": [...]}``.

    ``data`` holds ``sample_id``, ``index``, ``given``, ``suggested`` and ``note``, plus any
    fields of ``data`` (a dict of field -> N values, e.g. ``{"image": urls}``) that the
    labelling config shows. The suggestion is a pre-annotation (``choices`` from ``from_name``
    to ``to_name``) the reviewer confirms or changes.
    """
    tasks = task_list(log, actions=actions, suggested=suggested)
    extra = {}
    for field, values in (data or {}).items():
        values = list(values)
        if len(values) != log.n_samples:
            raise ValueError(
                f"data[{field!r}] must have N={log.n_samples} values, found {len(values)}."
            )
        extra[str(field)] = values
    out = []
    for row in tasks.itertuples(index=False):
        item = {
            "data": {
                "sample_id": row.id.item() if hasattr(row.id, "item") else row.id,
                "index": int(row.index),
                "given": row.given,
                "suggested": row.suggested,
                "note": row.note,
                **{f: v[int(row.index)] for f, v in extra.items()},
            }
        }
        if row.suggested:
            score = float(row.score) if np.isfinite(row.score) else None
            item["predictions"] = [
                {
                    "model_version": f"workbench {row.detector}".strip(),
                    **({"score": score} if score is not None else {}),
                    "result": [
                        {
                            "from_name": from_name,
                            "to_name": to_name,
                            "type": "choices",
                            "value": {"choices": [row.suggested]},
                        }
                    ],
                }
            ]
        out.append(item)
    return out


def write_label_studio(log: DecisionLog, path, **options) -> Path:
    """Write :func:`label_studio_tasks` to a JSON file atomically (Label Studio: Import)."""
    path = Path(path)
    with atomic_file(path, "w") as f:
        json.dump(label_studio_tasks(log, **options), f, ensure_ascii=False, indent=1)
    return path


def read_annotations(path, log: DecisionLog, *, label_field: str = "label") -> np.ndarray:
    """Re-annotations as an (N,) int64 array of class codes, -1 where a sample got none.

    Reads a task list filled in (CSV or JSON with ``id`` and ``label_field`` holding a class
    name), or a Label Studio JSON export (each task's ``data.sample_id`` and its latest
    annotation that is not cancelled, ``choices``). Unknown ids or classes raise ValueError
    naming them.
    """
    _check_log(log)
    path = Path(path)
    if path.suffix.lower() == ".csv":
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        if "id" not in df.columns or label_field not in df.columns:
            raise ValueError(
                f"{path}: needs columns 'id' and {label_field!r}, found {list(df.columns)[:12]}."
            )
        ids = restore(df["id"].to_numpy(dtype=object))
        labels = restore(df[label_field].to_numpy(dtype=object))
    elif path.suffix.lower() == ".json":
        body = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(body, list):
            raise ValueError(f"{path}: expected a JSON list of tasks, found {type(body).__name__}.")
        ids, labels = [], []
        for pos, task in enumerate(body):
            if not isinstance(task, dict):
                raise ValueError(f"{path}: task {pos} is not an object.")
            if "data" in task and isinstance(task["data"], dict):  # Label Studio export
                ids.append(task["data"].get("sample_id"))
                labels.append(_latest_choice(task))
            else:
                ids.append(task.get("id"))
                labels.append(task.get(label_field) or "")
        ids, labels = np.asarray(ids, dtype=object), np.asarray(labels, dtype=object)
    else:
        raise ValueError(f"path must end in .csv or .json, found {str(path)!r}.")
    done = np.asarray([isinstance(v, str) and v != "" for v in labels])
    ids, labels = ids[done], labels[done]
    if log._id_kind in ("int", "position"):
        try:
            ids = np.asarray([int(v) for v in ids], dtype=object)
        except (TypeError, ValueError):
            raise ValueError(f"{path}: ids must be integers for this dataset.") from None
    pos = id_positions(log.ids, log.n_samples, ids)
    if (pos < 0).any():
        raise ValueError(
            f"{path}: ids {ids[pos < 0][:10].tolist()} are not samples of this dataset."
        )
    codes = pd.Index(log.class_names).get_indexer(labels.astype(object))
    if (codes < 0).any():
        raise ValueError(
            f"{path}: labels {sorted(set(labels[codes < 0].tolist()))[:10]} are not classes "
            f"{log.class_names[:20]}."
        )
    out = np.full(log.n_samples, -1, dtype=np.int64)
    out[pos] = codes
    return out


def _latest_choice(task: dict) -> str:
    anns = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    for ann in reversed(anns):
        for result in ann.get("result") or []:
            choices = (result.get("value") or {}).get("choices")
            if choices:
                return str(choices[0])
    return ""


def add_annotator(dataset: Dataset, labels) -> Dataset:
    """A copy of ``dataset`` with ``labels`` (N,, class codes, -1 where missing) appended as one
    more annotator column (the only one when the dataset had none)."""
    labels = np.asarray(labels)
    if labels.shape != (dataset.n_samples,):
        raise ValueError(f"labels must have shape (N={dataset.n_samples},), found {labels.shape}.")
    column = labels.astype(np.int64).reshape(-1, 1)
    existing = dataset.annotators
    stacked = column if existing is None else np.hstack([existing, column])
    return dataset.with_signals(annotators=stacked)
