// Review queue for label sets (multi-label data): one sample at a time, its given and suggested
// sets and a toggle per class. Keys (the `keymap` trait) and buttons travel to Python as
// {type: "key"} / {type: "command"} messages; Python owns the state and sends it back as traits.
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "style") node.style.cssText = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

const setText = (names, mask) => names.filter((_, c) => mask[c]).join(" | ") || "∅";

export default {
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
    el.append(header, toggles, buttons, legend, status);
    const send = (command) => model.send({ type: "command", command });

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
      const keys = model.get("keymap");
      legend.textContent = "Keys (click here first): 0–9 toggle that class · s take suggested · " +
        "Enter/a save & next · ↓/j next · ↑/k previous · u undo" + (keys ? "" : "");
    }

    for (const [label, command, title] of [
      ["previous (k)", "previous", "previous sample"],
      ["take suggested (s)", "take_suggested", "set the decision to the suggested set"],
      ["save & next (Enter)", "save", "record the decision (label-set edit, or keep) and move on"],
      ["next (j)", "next", "next sample, nothing recorded"],
    ]) {
      buttons.append(h("button", { class: `wb-lsq-${command}`, title, style: "padding:2px 10px;cursor:pointer", onclick: (event) => { event.stopPropagation(); send(command); el.focus({ preventScroll: true }); } }, label));
    }

    function onKey(event) {
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      const tag = event.target && event.target.tagName;
      if (tag === "INPUT" || tag === "TEXTAREA") return;
      if (model.get("keymap")[event.key] === undefined) return;
      event.preventDefault();
      event.stopPropagation();
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
