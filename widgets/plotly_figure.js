// Every plotly figure of the workbench, sharing one plotly.js per page.
//
// plotly's FigureWidget ships its whole bundle (plotly.js and the widget, ~5 MB) as each
// widget's ES module, and anywidget evaluates each widget's module afresh: two figures in a
// tab cost two downloads and two evaluations of plotly.js. This module is the figures' ES
// module instead: the first figure on the page asks the kernel for plotly's bundle (one
// custom message, answered with the bundle as a binary buffer), evaluates it once and keeps
// the module on `globalThis`; every later figure reuses it. Each figure still gets its own
// instance of plotly's widget (the bundle's default export is a factory, called per figure).
//
// `initialize` must not wait for the bundle: the page handles the kernel's messages one after
// the other and waits for a new widget's initialize, so the bundle's message would queue
// behind the very widget waiting for it. Each figure starts at once and keeps the changes the
// kernel sends before plotly's widget is there, then hands them to it in order; its views
// wait for the bundle.
const KEY = Symbol.for("workbench.plotly.widgetbundle");
const REQUEST = "workbench-plotly-bundle";

function bundle(model) {
  let state = globalThis[KEY];
  if (!state) {
    // what tests read: loads, evaluations of the bundle; requests, the requests sent;
    // answers, the bundles that came (one taken, any other dropped)
    state = { loads: 0, requests: 0, answers: 0, settled: false };
    state.module = new Promise((resolve, reject) => {
      state.resolve = resolve;
      state.reject = reject;
    });
    // A failed load is not kept: the next figure asks again.
    state.module.catch(() => {
      if (globalThis[KEY] === state) delete globalThis[KEY];
    });
    globalThis[KEY] = state;
    state.first = true;
  }
  if (state.settled) return state.module;
  // Every waiting figure listens for the bundle on its own model and asks for it, so that
  // one whose model went away (anywidget drops a model whose setup outlasts 2 s on a busy
  // page) leaves no other figure waiting forever.
  let answered = false;
  const answer = (msg, buffers) => {
    if (!msg || msg.type !== REQUEST) return;
    answered = true;
    state.answers += 1;
    model.off("msg:custom", answer);
    if (state.settled) return; // another figure's answer came first
    state.settled = true;
    if (!buffers || !buffers.length) {
      state.reject(new Error("The kernel sent no plotly bundle."));
      return;
    }
    const url = URL.createObjectURL(new Blob([buffers[0]], { type: "text/javascript" }));
    import(/* webpackIgnore: true */ /* @vite-ignore */ url).then(
      (mod) => {
        URL.revokeObjectURL(url);
        state.loads += 1;
        state.resolve(mod);
      },
      (error) => {
        URL.revokeObjectURL(url);
        state.reject(error);
      },
    );
  };
  model.on("msg:custom", answer);
  // The first figure asks at once (the kernel answers from the moment the figure's comm is
  // open: workbench/ui/_common.py); others ask if no bundle has come after a while, and each
  // again, later each time (an answer that crosses a second request is sent twice and taken
  // once).
  let wait = 5000;
  const ask = () => {
    if (answered || state.settled) return;
    state.requests += 1;
    model.send({ type: REQUEST });
    setTimeout(ask, wait);
    wait = Math.min(2 * wait, 60000);
  };
  if (state.first) {
    state.first = false;
    ask();
  } else {
    setTimeout(ask, wait);
  }
  return state.module;
}

// What plotly's widget model listens to: the kernel's changes to the figure.
const PY2JS = [
  "_py2js_addTraces", "_py2js_deleteTraces", "_py2js_moveTraces", "_py2js_restyle",
  "_py2js_relayout", "_py2js_update", "_py2js_animate", "_py2js_removeLayoutProps",
  "_py2js_removeTraceProps",
];

// plotly's widget keeps one FigureModel per model (made in its `initialize`) and hands it to
// every view; each view then listens to the changes through that FigureModel, that is through
// the model `initialize` was given, and anywidget drops only the listeners added through a
// view's own model when it removes the view. A removed view kept listening: the workbench
// draws its views anew when the map moves beside the tabs and back, and each change then threw
// in the removed view ("Cannot read properties of undefined (reading 'length')") before the
// new view's listener ran, so the figure stopped following the kernel. Each view here gets its
// own FigureModel on its own model instead (the model-wide one's serializers), and goes with
// its listeners.
function figureModelOf(mod, widget, ctx) {
  const proto = mod.FigureModel && mod.FigureModel.prototype;
  if (!proto || typeof proto.initialize !== "function") {
    widget.initialize(ctx);
    return null;
  }
  const original = proto.initialize;
  let made = null;
  proto.initialize = function (...args) {
    made = this;
    return original.apply(this, args);
  };
  try {
    widget.initialize(ctx); // plotly's: `new FigureModel(model, serializers).initialize()`
  } finally {
    proto.initialize = original;
  }
  return made;
}

// A view removed while plotly draws it (views drawn anew while the first draw is under way,
// e.g. the map moved beside the tabs) is purged once the draw is over: plotly reads the
// figure's state when a draw ends, and the view then sets its listeners on the plot; purged
// under them, they threw "Cannot read properties of undefined (reading
// '_redrawFromAutoMarginCount')" and "ne.el.on is not a function". `perform_render` has
// started the first draw; each later one starts with "plotly_beforeplot" and ends with
// "plotly_afterplot" (once for a draw and the redraws for its margins).
function removeWhenDrawn(view, gd) {
  if (typeof gd.on !== "function") return () => view.remove();
  let drawing = true;
  let removed = false;
  gd.on("plotly_beforeplot", () => {
    drawing = true; // (returns nothing: `false` would cancel the draw)
  });
  gd.on("plotly_afterplot", () => {
    drawing = false;
    // after what waits on the draw (the first one's then sets the view's plotly listeners)
    if (removed) setTimeout(() => view.remove(), 0);
  });
  return () => {
    if (removed) return;
    removed = true;
    if (!drawing) view.remove();
  };
}

export default () => {
  let widget = null;
  let plotly = null; // the bundle's module
  let figureModel = null; // plotly's model-wide FigureModel, for its serializers
  let ready = null;
  return {
    initialize(ctx) {
      const { model } = ctx;
      rejoinIfDropped(model); // widgets/rejoin.js
      const early = []; // [backbone model, trait, value]: changes before plotly's widget is there
      const keep = PY2JS.map((name) => {
        const listener = (real, value) => {
          if (widget === null && value !== null && value !== undefined) early.push([real, name, value]);
        };
        model.on(`change:${name}`, listener);
        return [name, listener];
      });
      ready = bundle(model).then((mod) => {
        for (const [name, listener] of keep) model.off(`change:${name}`, listener);
        plotly = mod;
        widget = mod.default();
        figureModel = figureModelOf(mod, widget, ctx);
        for (const [real, name, value] of early) {
          // as the kernel sent them: set, then reset (set_state: nothing goes back to the kernel)
          real.set_state({ [name]: value });
          real.set_state({ [name]: null });
        }
      });
      ready.catch((error) => console.error("workbench: plotly could not be loaded", error));
    },
    async render(ctx) {
      await ready;
      if (figureModel === null || typeof plotly.FigureView !== "function") return widget.render(ctx);
      const own = Object.create(figureModel); // the serializers and methods, on the view's model
      own.model = ctx.model;
      const view = new plotly.FigureView(own, ctx.el);
      view.perform_render();
      return removeWhenDrawn(view, ctx.el);
    },
  };
};
