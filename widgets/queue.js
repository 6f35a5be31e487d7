// Review queue: the browser side of workbench.ui.queue.QueueWidget (anywidget ES module).
//
// Shows one page of rows (`rows`, sent by Python for the current `page`), highlights the row
// under `cursor`, and turns buttons and key presses into messages that Python turns into
// decisions. Keys are those of the `keymap` trait; everything else is left to JupyterLab.
// h() and fmtScore() come from dom.js, which workbench.ui._common.widget_module puts first.

const ACTIONS = [
  ["keep", "Keep", "a"],
  ["remove", "Remove", "x"],
  ["needs_review", "Review", "?"],
];

function keyName(event) {
  if (event.ctrlKey || event.metaKey) return "ctrl+" + event.key.toLowerCase();
  // Shift with a named key (Shift-Enter runs the cell) is not ours; "?" needs Shift and is.
  if (event.shiftKey && event.key.length > 1) return "shift+" + event.key;
  return event.key;
}

function isEditable(target) {
  const tag = (target && target.tagName) || "";
  return tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || (target && target.isContentEditable);
}

function preview(row) {
  if (row.preview_kind === "image") {
    return h("img", { class: "wb-q-img", src: row.preview, alt: `sample ${row.index}` });
  }
  if (row.preview_kind === "text") return h("div", { class: "wb-q-text", text: row.preview, title: row.preview });
  return h("div", { class: "wb-q-nopreview", text: "no preview" });
}

// Relabel to any class: a text box that filters the class names as you type (the browser's own
// suggestion list, fed by one <datalist> per queue); Enter or a pick relabels. Typing a class's
// number works too.
function labelPicker(model, row, listId) {
  const names = model.get("class_names");
  const input = h("input", {
    class: "wb-q-picker",
    type: "text",
    list: listId,
    placeholder: "Relabel to…",
    title: "Type to filter the classes, then Enter (c focuses this box on the current row)",
    "aria-label": `Relabel sample ${row.index} to`,
  });
  const pick = () => {
    const text = input.value.trim();
    if (!text) return;
    let code = names.indexOf(text);
    if (code < 0 && /^\d+$/.test(text) && Number(text) < names.length) code = Number(text);
    if (code < 0) {
      const matches = names.filter((n) => n.toLowerCase().includes(text.toLowerCase()));
      if (matches.length === 1) code = names.indexOf(matches[0]);
    }
    if (code < 0) {
      input.setCustomValidity(`No class named “${text}”`);
      input.reportValidity();
      return;
    }
    input.setCustomValidity("");
    // Cleared at once: Enter also fires "change", which must not relabel a second time.
    input.value = "";
    model.send({ type: "decide", action: "relabel", label: code, position: row.position });
  };
  input.addEventListener("change", pick);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      pick();
    } else if (event.key === "Escape") {
      input.value = "";
      input.closest(".wb-queue")?.focus({ preventScroll: true });
    }
    event.stopPropagation(); // typing here is not a queue key
  });
  input.addEventListener("click", (event) => event.stopPropagation());
  return input;
}

function classList(model, listId) {
  const list = h("datalist", { id: listId });
  for (const name of model.get("class_names")) list.append(h("option", { value: name }));
  return list;
}

const NO_VOTE = "not a label-error score: not counted in “flagged by”";

function scoresTitle(row) {
  return row.scores
    .map((s) => `${s.flagged ? "⚑" : "  "} ${s.detector}: ${fmtScore(s.score)}${s.votes === false ? ` (${NO_VOTE})` : ""}`)
    .join("\n");
}

function scoresDetail(row) {
  const detail = h("div", { class: "wb-q-detail" });
  for (const s of row.scores) {
    detail.append(
      h(
        "span",
        {
          class: `wb-q-chip${s.flagged ? " wb-q-flagged" : ""}${s.detector === row.active_detector ? " wb-q-active" : ""}${s.votes === false ? " wb-q-novote" : ""}`,
          title: s.votes === false ? `${s.detector}: ${NO_VOTE}` : null,
        },
        h("span", { text: s.detector }),
        h("span", { class: "wb-q-num", text: ` ${fmtScore(s.score)}${s.flagged ? " ⚑" : ""}` }),
      ),
    );
  }
  return detail;
}

// Scroll the focused row into view below the sticky column captions: "nearest" alone put a
// row that lay above the view (the first row of the next page, reached by keyboard) at the
// list's top edge, half under the captions. The margin counts in every scroll container.
function reveal(list, row) {
  if (!row || !row.scrollIntoView) return;
  const head = list.querySelector(".wb-q-colhead");
  row.style.scrollMarginTop = `${head ? head.offsetHeight : 0}px`;
  row.scrollIntoView({ block: "nearest" });
}

// The column captions above the rows; the same grid as a row, so the columns line up.
function columnHeader(model) {
  const active = model.get("active");
  const cells = [
    ["", ""],
    ["sample", ""],
    model.get("has_ids") ? ["id", "The sample's id; its position (#) below it"] : ["index", ""],
    ["given", "The label the dataset gives"],
    ["suggested", "The label the detectors suggest"],
    // Zero-width spaces after underscores: a long detector name wraps there, not mid-word.
    // A long detector name would stand on three lines in this narrow column: the title above
    // the queue names it, the tooltip too.
    [active.length <= 12 ? `score: ${active}` : "score", `The ${active} noise score (higher = more likely mislabeled); red when it flags the sample`],
    ["flagged by", "How many of the label-error detectors flag the sample; hover or click ▸ for every score"],
    ["decision", ""],
    ["", ""],
  ];
  return h("div", { class: "wb-q-colhead wb-q-grid" }, ...cells.map(([text, title]) => h("div", { text, title: title || null })));
}

function rowView(model, row, focused, expanded, toggle, listId) {
  const decided = row.decision
    ? row.decision === "relabel"
      ? `relabel → ${row.decision_label}`
      : row.decision.replace("_", " ")
    : "undecided";
  const differs = row.suggested && row.suggested_code !== row.given_code;
  const given = h(
    "div",
    { class: "wb-q-given" },
    h("b", { text: row.given }),
    row.true !== undefined && row.true !== "" ? h("div", { class: "wb-q-truth", text: `true ${row.true}` }) : null,
  );
  const suggested = h(
    "div",
    { class: "wb-q-suggested" },
    differs ? h("b", { text: row.suggested }) : h("span", { class: "wb-q-key", text: row.suggested ? "= given" : "–" }),
  );
  const score = h("div", {
    class: `wb-q-score wb-q-num${row.active_flagged ? " wb-q-flagged" : ""}`,
    title: `${row.active_detector} score${row.active_flagged ? " (flagged)" : ""}`,
    text: fmtScore(row.active_score),
  });
  const share = row.n_detectors ? row.n_flagged / row.n_detectors : 0;
  const more = h("button", {
    class: "wb-q-more",
    title: expanded ? "Hide the detectors' scores" : "Show every detector's score",
    text: expanded ? "▾" : "▸",
    "aria-expanded": expanded ? "true" : "false",
    onclick: (event) => {
      event.stopPropagation();
      toggle(row.index);
    },
  });
  const nflag = h(
    "div",
    { class: "wb-q-nflag", title: `Flagged by ${row.n_flagged} of ${row.n_detectors} detectors:\n${scoresTitle(row)}` },
    more,
    h("span", { class: share >= 0.5 ? "wb-q-flagged" : "", text: ` ${row.n_flagged} of ${row.n_detectors}` }),
  );
  const buttons = h("div", { class: "wb-q-buttons" });
  for (const [action, text, key] of ACTIONS) {
    buttons.append(
      h("button", {
        class: `wb-q-btn wb-q-btn-${action}`,
        title: `${text} (${key})`,
        text,
        onclick: (event) => {
          event.stopPropagation();
          model.send({ type: "decide", action, position: row.position });
        },
      }),
    );
  }
  if (differs && row.suggested_code >= 0) {
    buttons.append(
      h("button", {
        class: "wb-q-btn wb-q-btn-relabel",
        title: "Relabel to the suggested label (s)",
        text: `→ ${row.suggested}`,
        onclick: (event) => {
          event.stopPropagation();
          model.send({ type: "decide", action: "relabel", label: row.suggested_code, position: row.position });
        },
      }),
    );
  }
  buttons.append(labelPicker(model, row, listId));
  return h(
    "div",
    {
      class: `wb-q-row wb-q-grid${focused ? " wb-q-focused" : ""}`,
      "data-position": String(row.position),
      onclick: () => {
        model.set("cursor", row.position);
        model.save_changes();
      },
    },
    h("div", { class: "wb-q-pos", text: String(row.position + 1) }),
    h("div", { class: "wb-q-preview" }, preview(row)),
    row.id == null
      ? h("div", { class: "wb-q-index", text: `#${row.index}` })
      : h(
          "div",
          { class: "wb-q-idcell", title: `id ${row.id} · position ${row.index}` },
          h("div", { class: "wb-q-id", text: row.id }),
          h("div", { class: "wb-q-index", text: `#${row.index}` }),
        ),
    given,
    suggested,
    score,
    nflag,
    h("div", {}, h("span", { class: `wb-q-decision wb-q-${row.decision || "none"}`, text: decided })),
    buttons,
    expanded ? scoresDetail(row) : null,
  );
}

function bulkBar(model) {
  const total = model.get("total");
  const action = h("select", { class: "wb-q-bulk-action" });
  for (const [value, text] of [
    ["keep", "Keep"],
    ["remove", "Remove"],
    ["needs_review", "Mark for review"],
    ["relabel:suggested", "Relabel to suggested"],
  ]) {
    action.append(h("option", { value, text }));
  }
  model.get("class_names").forEach((name, code) => action.append(h("option", { value: `relabel:${code}`, text: `Relabel to ${name}` })));
  let armed = false;
  const apply = h("button", { class: "wb-q-btn wb-q-bulk-apply", text: `Apply to all ${total.toLocaleString()}` });
  apply.disabled = total === 0;
  apply.addEventListener("click", () => {
    if (!armed && total > 1) {
      armed = true;
      apply.textContent = `Confirm: ${action.selectedOptions[0].text.toLowerCase()} ${total.toLocaleString()} samples`;
      apply.classList.add("wb-q-armed");
      return;
    }
    const [verb, target] = action.value.split(":");
    const label = target === undefined ? null : target === "suggested" ? "suggested" : Number(target);
    model.send({ type: "bulk", action: verb, label });
    disarm();
  });
  function disarm() {
    armed = false;
    apply.classList.remove("wb-q-armed");
    apply.textContent = `Apply to all ${total.toLocaleString()}`;
  }
  action.addEventListener("change", disarm);
  return h("div", { class: "wb-q-bulk" }, h("span", { text: "Bulk: " }), action, apply);
}

const COMMAND_NAMES = { pick_class: "relabel to any class", note: "write a note" };

// The keys and what they do; each digit key with the class it relabels to (the classes' order
// is the dataset's, e.g. alphabetical for text labels, so it must be shown).
// Filters of the queue (synced traits, applied in Python) and "find by id" (a message).
function filtersBar(model) {
  const names = model.get("class_names");
  const classSelect = (trait, label) => {
    const select = h("select", { class: `wb-q-filter wb-q-${trait}`, title: label });
    select.append(h("option", { value: "-1", text: `${label}: any` }));
    names.forEach((name, code) => select.append(h("option", { value: String(code), text: `${label}: ${name}` })));
    select.value = String(model.get(trait));
    select.addEventListener("change", () => {
      model.set(trait, Number(select.value));
      model.save_changes();
    });
    return select;
  };
  const state = h("select", { class: "wb-q-filter wb-q-filter_state", title: "Decision state" });
  for (const [value, text] of [["any", "state: any"], ["undecided", "undecided"], ["decided", "decided"],
    ["keep", "kept"], ["remove", "removed"], ["relabel", "relabelled"], ["needs_review", "needs review"]]) {
    state.append(h("option", { value, text }));
  }
  state.value = model.get("filter_state");
  state.addEventListener("change", () => {
    model.set("filter_state", state.value);
    model.save_changes();
  });
  const votes = h("input", { class: "wb-q-filter wb-q-min_flagged", type: "number", min: "0", title: "Flagged by at least this many detectors" });
  votes.value = String(model.get("min_flagged"));
  votes.addEventListener("change", () => {
    const n = Math.max(0, Math.floor(Number(votes.value) || 0));
    model.set("min_flagged", n);
    model.save_changes();
  });
  const find = h("input", { class: "wb-q-find", type: "search", placeholder: "find id…", title: "Move to the sample with this id (Enter)" });
  find.addEventListener("keydown", (event) => {
    event.stopPropagation();
    if (event.key === "Enter" && find.value.trim()) model.send({ type: "find", id: find.value.trim() });
  });
  for (const node of [state, votes]) node.addEventListener("keydown", (event) => event.stopPropagation());
  return h(
    "div",
    { class: "wb-q-filters" },
    classSelect("filter_given", "given"),
    classSelect("filter_suggested", "suggested"),
    state,
    h("label", { class: "wb-q-votes", text: "flagged by ≥ " }, votes),
    find,
  );
}

function legend(model) {
  const groups = {};
  const digits = [];
  const names = model.get("class_names");
  for (const [key, command] of Object.entries(model.get("keymap"))) {
    if (command.startsWith("relabel:") && command !== "relabel:suggested") {
      digits.push([key, names[Number(command.slice(8))]]);
      continue;
    }
    const name = COMMAND_NAMES[command] || command.replace("_", " ").replace(":", " → ");
    (groups[name] = groups[name] || []).push(key.replace("Arrow", "").replace("ctrl+", "Ctrl-"));
  }
  const items = Object.entries(groups).map(([name, keys]) =>
    h("span", { class: "wb-q-legend-item" }, h("kbd", { text: keys.length > 3 ? `${keys[0]}–${keys[keys.length - 1]}` : keys.join(" / ") }), ` ${name}`),
  );
  const classes = digits.length
    ? h(
        "div",
        { class: "wb-q-digits", title: "Digit keys relabel the current row to these classes" },
        h("span", { text: "relabel to: " }),
        ...digits.map(([key, name]) => h("span", { class: "wb-q-legend-item" }, h("kbd", { text: key }), ` ${name}`)),
      )
    : null;
  return h("div", { class: "wb-q-legend" }, ...items, classes);
}

export default {
  initialize({ model }) {
    rejoinIfDropped(model); // widgets/rejoin.js
  },
  render({ model, el }) {
    el.classList.add("wb-queue");
    el.tabIndex = 0;
    // JupyterLab: keys pressed inside the queue are not notebook shortcuts.
    el.setAttribute("data-lm-suppress-shortcuts", "true");

    const header = h("div", { class: "wb-q-header" });
    // A note for the next decision (synced as the `note` trait; Python files it with the
    // decision and clears it). Made once, so typing survives redraws of the header.
    const note = h("input", {
      class: "wb-q-note",
      type: "text",
      placeholder: "Note for the next decision (n)",
      title: "Saved with the next keep / remove / relabel / review, then cleared",
    });
    note.value = model.get("note") || "";
    note.addEventListener("input", () => {
      model.set("note", note.value);
      model.save_changes();
    });
    note.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === "Escape") {
        event.preventDefault();
        el.focus({ preventScroll: true }); // back to the keys, the note kept for the decision
      }
      event.stopPropagation();
    });
    const onNote = () => {
      if (note.value !== model.get("note")) note.value = model.get("note") || "";
    };
    const listId = `wb-q-classes-${Math.random().toString(36).slice(2)}`;
    let classes = classList(model, listId);
    const list = h("div", { class: "wb-q-list" });
    const footer = h("div", { class: "wb-q-footer" });
    const status = h("div", { class: "wb-q-message", role: "status" });
    el.append(header, list, footer, status, classes);

    function drawHeader() {
      const counts = model.get("counts") || {};
      const hide = h("input", { type: "checkbox" });
      hide.checked = model.get("hide_decided");
      hide.addEventListener("change", () => {
        model.set("hide_decided", hide.checked);
        model.save_changes();
      });
      const undo = h("button", {
        class: "wb-q-btn",
        title: "Undo the last decision (u / Ctrl-Z)",
        text: "↶ Undo",
        onclick: () => model.send({ type: "undo" }),
      });
      undo.disabled = !model.get("can_undo");
      const tally = Object.entries(counts)
        .filter(([, n]) => n > 0)
        .map(([a, n]) => `${n.toLocaleString()} ${a.replace("_", " ")}`)
        .join(" · ");
      header.replaceChildren(
        h("div", { class: "wb-q-title", text: model.get("title") }),
        h("div", { class: "wb-q-tools" }, undo, h("label", { class: "wb-q-hide" }, hide, " hide decided"), bulkBar(model), note),
        filtersBar(model),
        h("div", { class: "wb-q-tally", text: tally ? `Decided so far: ${tally}` : "No decisions yet." }),
      );
    }

    // Rows whose every-detector detail is open (sample indices), kept across redraws.
    const expanded = new Set();
    function toggle(index) {
      if (expanded.has(index)) expanded.delete(index);
      else expanded.add(index);
      drawRows();
    }

    function drawRows() {
      const rows = model.get("rows") || [];
      const cursor = model.get("cursor");
      if (!rows.length) {
        list.replaceChildren(h("div", { class: "wb-q-empty", text: "Nothing to review: no sample is flagged or selected." }));
      } else {
        const text = rows.some((row) => row.preview_kind === "text");
        el.classList.toggle("wb-q-has-text", text);
        el.classList.toggle("wb-q-has-ids", model.get("has_ids"));
        list.replaceChildren(
          columnHeader(model),
          ...rows.map((row) => rowView(model, row, row.position === cursor, expanded.has(row.index), toggle, listId)),
        );
        reveal(list, list.querySelector(".wb-q-focused"));
      }
    }

    function drawFooter() {
      const total = model.get("total");
      const size = model.get("page_size");
      const page = model.get("page");
      const pages = Math.max(1, Math.ceil(total / size));
      const go = (p) => {
        model.set("page", Math.min(Math.max(p, 0), pages - 1));
        model.save_changes();
      };
      const prev = h("button", { class: "wb-q-btn", text: "‹ Prev", onclick: () => go(page - 1) });
      const next = h("button", { class: "wb-q-btn", text: "Next ›", onclick: () => go(page + 1) });
      prev.disabled = page <= 0;
      next.disabled = page >= pages - 1;
      const first = total ? page * size + 1 : 0;
      const last = Math.min(total, (page + 1) * size);
      footer.replaceChildren(
        h("div", { class: "wb-q-pager" }, prev, h("span", { text: ` rows ${first.toLocaleString()}–${last.toLocaleString()} of ${total.toLocaleString()} ` }), next),
        legend(model),
      );
    }

    function drawMessage() {
      status.textContent = model.get("message");
    }

    function onKey(event) {
      if (isEditable(event.target) || event.altKey) return;
      const key = keyName(event);
      const command = model.get("keymap")[key];
      if (command === undefined) return;
      event.preventDefault();
      event.stopPropagation();
      if (command === "note") {
        note.focus();
        return;
      }
      if (command === "pick_class") {
        const picker = list.querySelector(".wb-q-focused .wb-q-picker");
        if (picker) picker.focus();
        return;
      }
      model.send({ type: "key", key: event.key, ctrl: event.ctrlKey, meta: event.metaKey });
    }

    const redrawAll = () => {
      drawHeader();
      drawRows();
      drawFooter();
    };
    redrawAll();
    drawMessage();
    el.addEventListener("keydown", onKey);
    const onClick = (event) => {
      if (!isEditable(event.target)) el.focus({ preventScroll: true });
    };
    el.addEventListener("click", onClick);
    const headerEvents =
      "change:title change:counts change:can_undo change:hide_decided change:total change:class_names " +
      "change:filter_given change:filter_suggested change:filter_state change:min_flagged";
    const footerEvents = "change:total change:page change:page_size change:keymap";
    model.on("change:rows change:active", drawRows);
    model.on("change:cursor", drawRows);
    model.on(headerEvents, drawHeader);
    model.on(footerEvents, drawFooter);
    model.on("change:message", drawMessage);
    model.on("change:note", onNote);
    const onClasses = () => {
      const fresh = classList(model, listId);
      classes.replaceWith(fresh);
      classes = fresh;
    };
    model.on("change:class_names", onClasses);

    return () => {
      model.off("change:note", onNote);
      model.off("change:class_names", onClasses);
      el.removeEventListener("keydown", onKey);
      el.removeEventListener("click", onClick);
      model.off("change:rows change:active", drawRows);
      model.off("change:cursor", drawRows);
      model.off(headerEvents, drawHeader);
      model.off(footerEvents, drawFooter);
      model.off("change:message", drawMessage);
    };
  },
};
