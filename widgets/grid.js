// Selection grid: the browser side of workbench.ui.grid.GridWidget (anywidget ES module).
//
// Thumbnails (images) or snippets (texts) of the selected samples, most suspicious first, one
// page at a time (`items`, sent by Python). A click on one sends {"type": "open", "index"}:
// Python shows the sample full size (`opened`) and moves the review queue there.
// h() and fmtScore() come from dom.js, which workbench.ui._common.widget_module puts first.

// How a sample is named: its id with its position beside it, or its position alone.
function name(item) {
  return item.id === null || item.id === undefined ? `#${item.index}` : `${item.id} (#${item.index})`;
}

function tile(model, item) {
  const picture =
    item.preview_kind === "image"
      ? h("img", { class: "wb-g-img", src: item.preview, alt: `sample ${item.index}` })
      : item.preview_kind === "text"
        ? h("div", { class: "wb-g-text", text: item.preview })
        : h("div", { class: "wb-g-none", text: name(item) });
  const label = item.suggested && item.suggested !== item.given ? `${item.given} → ${item.suggested}` : item.given;
  return h(
    "button",
    {
      class: `wb-g-tile${item.index === (model.get("opened") || {}).index ? " wb-g-open" : ""}${item.flagged ? " wb-g-flagged" : ""}`,
      title: `${name(item)} · given ${item.given}${item.suggested ? ` · suggested ${item.suggested}` : ""} · score ${fmtScore(item.score)}\nClick: open it and review it in the queue`,
      "data-index": String(item.index),
      onclick: () => model.send({ type: "open", index: item.index }),
    },
    picture,
    h("div", { class: "wb-g-caption", text: label }),
    h("div", { class: "wb-g-score", text: fmtScore(item.score) }),
  );
}

export default {
  initialize({ model }) {
    rejoinIfDropped(model); // widgets/rejoin.js
  },
  render({ model, el }) {
    el.classList.add("wb-grid");
    const head = h("div", { class: "wb-g-head" });
    const tiles = h("div", { class: "wb-g-tiles" });
    const opened = h("div", { class: "wb-g-opened" });
    el.append(head, tiles, opened);

    function draw() {
      const items = model.get("items") || [];
      const total = model.get("total");
      head.textContent = total
        ? `${total.toLocaleString()} selected, most suspicious first (${model.get("active")} score)` +
          (total > items.length ? `: the first ${items.length.toLocaleString()}` : "")
        : "Select samples (lasso on the map, a matrix cell…) to see them here.";
      tiles.replaceChildren(...items.map((item) => tile(model, item)));
    }
    function drawOpened() {
      const item = model.get("opened");
      if (!item || item.index === undefined) {
        opened.replaceChildren();
        return;
      }
      const picture =
        item.preview_kind === "image"
          ? h("img", { class: "wb-g-big", src: item.preview, alt: `sample ${item.index}` })
          : h("div", { class: "wb-g-bigtext", text: item.preview || "no preview" });
      opened.replaceChildren(
        picture,
        h("div", { text: `${name(item)} · given ${item.given}${item.suggested ? ` · suggested ${item.suggested}` : ""} · score ${fmtScore(item.score)}` }),
      );
      draw();
    }
    draw();
    drawOpened();
    const events = "change:items change:total change:active";
    model.on(events, draw);
    model.on("change:opened", drawOpened);
    return () => {
      model.off(events, draw);
      model.off("change:opened", drawOpened);
    };
  },
};
