// Shared helpers of the widget modules (grid.js, queue.js, labelset_queue.js).
//
// Not an ES module of its own: anywidget loads each widget's module from one string, where a
// relative import has nothing to resolve against, so workbench.ui._common.widget_module puts
// this file's text before the widget's own and each widget stays a single ES module.

// An element: `h("button", {class, text, style, onclick, ...attributes}, ...children)`.
// "class" sets the class name, "text" the text, "style" the inline style, "on…" adds a listener;
// other attributes are set unless undefined, null or false. Falsy children are skipped.
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "style") node.style.cssText = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

// A score as text: three decimals, or two-digit exponent notation when very small or large; "–"
// when there is none.
function fmtScore(value) {
  if (value === null || value === undefined) return "–";
  const abs = Math.abs(value);
  return abs !== 0 && (abs < 0.001 || abs >= 1e4) ? value.toExponential(2) : value.toFixed(3);
}
