// Review queue for label sets (multi-label data): the sample under review (its given and
// suggested sets and a toggle per class) above a page of the queue (`rows`: one line per sample,
// a box to mark it for a bulk decision). Keys (the `keymap` trait), buttons and clicks travel to
// Python as {type: "key" | "command" | "toggle" | "go" | "mark"} messages; Python owns the state
// and sends it back as traits. The note box edits the `note` trait, filed with the next decision.
// h() comes from dom.js, which workbench.ui._common.widget_module puts first.

const setText = (names, mask) => names.filter((_, c) => mask[c]).join(" | ") || "∅";

export default {
  initialize({ model }) {
    rejoinIfDropped(model); // widgets/rejoin.js
  },
  render({ model, el }) {
    el.classList.add("wb-lsq");
    el.tabIndex = 0;
    // JupyterLab: keys pressed inside the queue are not notebook shortcuts.
    el.setAttribute("data-lm-suppress-shortcuts", "true");
    el.style.cssText = "outline:none;padding:6px;font-size:13px;font-family:var(--jp-ui-font-family, sans-serif)";
    const header = h("div", { class: "wb-lsq-header" });
    const toggles = h("div", { class: "wb-lsq-toggles", style: "display:flex;flex-wrap:wrap;gap:4px;margin:6px 0" });
    const buttons = h("div", { class: "wb-lsq-buttons", style: "display:flex;gap:6px;margin:6px 0" });
    const legend = h("div", { class: "wb-lsq-legend", style: "color:#555;font-size:12px" });
    const status = h("div", { class: "wb-lsq-message", style: "color:#555;font-size:12px;min-height:1em" });
    const send = (command) => model.send({ type: "command", command });
    const note = h("input", {
      class: "wb-lsq-note", type: "text", placeholder: "note for the next decision (n)",
      style: "width:320px;font-size:12px;padding:1px 4px",
      oninput: () => { model.set("note", note.value); model.save_changes(); },
      onkeydown: (event) => {
        if (event.key === "Enter" || event.key === "Escape") {
          event.preventDefault(); event.stopPropagation(); el.focus({ preventScroll: true });
        }
      },
    });
    const bulk = h("div", { class: "wb-lsq-bulk", style: "display:flex;gap:6px;align-items:center;flex-wrap:wrap;margin:6px 0" });
    const marked = h("span", { class: "wb-lsq-marked", style: "color:#555;font-size:12px" });
    const pager = h("div", { class: "wb-lsq-pager", style: "display:flex;gap:6px;align-items:center;margin:4px 0" });
    const pageText = h("span", { class: "wb-lsq-page", style: "font-size:12px;color:#333" });
    const table = h("table", { class: "wb-lsq-rows", style: "border-collapse:collapse;font-size:12px;width:100%;max-width:980px" });
    el.append(header, toggles, buttons, h("div", { style: "margin:4px 0" }, note), bulk, pager, table, legend, status);

    function draw() {
      const names = model.get("class_names");
      const given = model.get("given");
      const suggested = model.get("suggested");
      const working = model.get("working");
      if (model.get("index") < 0) {
        header.replaceChildren(h("b", { text: model.get("total") ? "Queue done" : "Nothing to review" }),
          ` · ${model.get("total").toLocaleString()} samples in the queue (${model.get("title")})`);
        toggles.replaceChildren();
      } else {
        const preview = model.get("preview");
        const pic = !preview ? "" : preview.startsWith("data:image/")
          ? h("img", { class: "wb-lsq-preview", src: preview, alt: `sample ${model.get("index")}`, style: "width:96px;image-rendering:pixelated;float:left;margin:0 10px 4px 0" })
          : h("div", { class: "wb-lsq-preview", text: preview, style: "max-width:480px;max-height:6em;overflow:auto;white-space:pre-wrap;border-left:3px solid #ccc;padding-left:6px;margin:2px 0" });
        header.replaceChildren(
          pic,
          h("div", {}, h("b", { text: `${(model.get("position") + 1).toLocaleString()} / ${model.get("total").toLocaleString()}` }),
            ` · sample ${model.get("sample_id") ? `${model.get("sample_id")} (#${model.get("index")})` : model.get("index")} · score ${model.get("score")} · ${model.get("title")}`),
          h("div", { class: "wb-lsq-given", text: `given: ${setText(names, given)}` }),
          h("div", { class: "wb-lsq-suggested", text: `suggested: ${setText(names, suggested)}` }),
          h("div", { class: "wb-lsq-working" }, "decision: ", h("b", { text: setText(names, working) })),
          h("div", { style: "clear:both" }),
        );
        toggles.replaceChildren(...names.map((name, c) => {
          const on = working[c];
          const differs = suggested[c] !== given[c];
          return h("button", {
            class: "wb-lsq-toggle" + (on ? " wb-lsq-on" : ""),
            "aria-pressed": on ? "true" : "false",
            title: `toggle ${name}` + (c < 10 ? ` (${c})` : "") + (differs ? " · the suggestion differs from the given set here" : ""),
            style: `padding:2px 8px;border-radius:3px;cursor:pointer;border:${differs ? "2px solid #e08a00" : "1px solid #999"};` +
              `background:${on ? "#2f6fb0" : "#f4f4f4"};color:${on ? "#fff" : "#222"}`,
            onclick: (event) => { event.stopPropagation(); model.send({ type: "toggle", class: c }); },
          }, c < 10 ? `${c} · ${name}` : name);
        }));
      }
      drawRows(names);
      const keys = model.get("keymap");
      legend.textContent = "Keys (click here first): 0–9 toggle that class · s take suggested · " +
        "Enter/a save & next · x remove & next · ↓/j next · ↑/k previous · PageDown/PageUp page · " +
        "Home/End first/last · space mark row · n note · u undo" + (keys ? "" : "");
      if (document.activeElement !== note) note.value = model.get("note");
    }

    function drawRows() {
      const rows = model.get("rows");
      const total = model.get("total");
      const size = Math.max(model.get("page_size"), 1);
      const pages = Math.max(Math.ceil(total / size), 1);
      pageText.textContent = `page ${(model.get("page") + 1).toLocaleString()} / ${pages.toLocaleString()}`;
      const n = model.get("n_selected");
      marked.textContent = n ? `${n.toLocaleString()} marked` : "no row marked";
      const cursor = model.get("index") >= 0 ? model.get("position") : -1;
      const hasIds = rows.some((r) => r.id);
      const head = h("tr", {}, ...["", "#", hasIds ? "id" : "sample", "given", "suggested", "decision", "score"]
        .map((t) => h("th", { text: t, style: "text-align:left;border-bottom:1px solid #bbb;padding:2px 6px;font-weight:600" })));
      const body = rows.map((r) => {
        const current = r.position === cursor;
        const box = h("input", {
          type: "checkbox", class: "wb-lsq-mark", title: "mark for a bulk decision (space)",
          onclick: (event) => { event.stopPropagation(); model.send({ type: "mark", position: r.position }); el.focus({ preventScroll: true }); },
        });
        box.checked = r.selected;
        const cell = (text, cls, extra = "") => h("td", { class: cls, text, style: "padding:2px 6px;border-bottom:1px solid #eee;" + extra });
        return h("tr", {
          class: "wb-lsq-row" + (current ? " wb-lsq-current" : "") + (r.selected ? " wb-lsq-selected" : ""),
          "data-position": r.position,
          "aria-current": current ? "true" : undefined,
          style: `cursor:pointer;background:${current ? "#dbe9f7" : r.selected ? "#fff6e0" : "transparent"}`,
          onclick: () => { model.send({ type: "go", position: r.position }); el.focus({ preventScroll: true }); },
        },
        h("td", { style: "padding:2px 4px;border-bottom:1px solid #eee" }, box),
        cell(String(r.position + 1), "wb-lsq-pos", "color:#777"),
        cell(r.id ? r.id : String(r.index), "wb-lsq-sample"),
        cell(r.given, "wb-lsq-row-given"),
        cell(r.suggested, "wb-lsq-row-suggested", r.suggested !== r.given ? "color:#b35f00" : ""),
        cell(r.decision, "wb-lsq-decision", r.decision ? "font-weight:600" : ""),
        cell(r.score, "wb-lsq-score", "text-align:right;font-variant-numeric:tabular-nums"));
      });
      table.replaceChildren(head, ...body);
      const current = table.querySelector(".wb-lsq-current");
      if (current && table.offsetParent !== null) current.scrollIntoView({ block: "nearest" });
    }

    // A button that sends `command` (a "bulk:" one as class wb-lsq-bulk-…) and gives the keys
    // back to the queue.
    const commandButton = ([label, command, title], style) => h("button", {
      class: `wb-lsq-${command.replace(":", "-")}`, title, style,
      onclick: (event) => { event.stopPropagation(); send(command); el.focus({ preventScroll: true }); },
    }, label);
    buttons.append(...[
      ["previous (k)", "previous", "previous sample"],
      ["take suggested (s)", "take_suggested", "set the decision to the suggested set"],
      ["save & next (Enter)", "save", "record the decision (label-set edit, or keep) and move on"],
      ["next (j)", "next", "next sample, nothing recorded"],
    ].map((b) => commandButton(b, "padding:2px 10px;cursor:pointer")));
    bulk.append(...[
      ["keep marked", "bulk:keep", "keep every marked sample as given (one undoable decision)"],
      ["remove marked", "bulk:remove", "remove every marked sample (one undoable decision)"],
      ["take suggested for marked", "bulk:suggested", "give every marked sample its suggested set (one undoable decision)"],
      ["mark page", "select_page", "mark every row of this page"],
      ["clear marks", "clear_selection", "unmark every row"],
    ].map((b) => commandButton(b, "padding:1px 8px;cursor:pointer;font-size:12px")), marked);
    pager.append(...[
      ["« first", "first", "first sample (Home)"],
      ["‹ page", "previous_page", "previous page (PageUp)"],
      ["page ›", "next_page", "next page (PageDown)"],
      ["last »", "last", "last sample (End)"],
    ].map((b) => commandButton(b, "padding:1px 8px;cursor:pointer;font-size:12px")));
    pager.insertBefore(pageText, pager.children[2]);

    function onKey(event) {
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      const tag = event.target && event.target.tagName;
      if (tag === "INPUT" || tag === "TEXTAREA") return;
      const command = model.get("keymap")[event.key];
      if (command === undefined) return;
      event.preventDefault();
      event.stopPropagation();
      if (command === "note") { note.focus(); return; }  // the note box takes the keys
      model.send({ type: "key", key: event.key });
    }
    el.addEventListener("keydown", onKey);
    el.addEventListener("click", () => el.focus({ preventScroll: true }));
    model.on("change", draw);
    model.on("change:message", () => { status.textContent = model.get("message"); });
    draw();
    return () => el.removeEventListener("keydown", onKey);
  },
};
