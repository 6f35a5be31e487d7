// A widget's model keeps hearing the kernel after anywidget gave up on its start.
//
// anywidget (0.11) holds the kernel's messages to a model until the widget's module is loaded
// and its `initialize` has run, and gives up on a model not ready 2 s after it was made: every
// later message to it is dropped (its runtime.ts rejects the model's `ready` on
// `AbortSignal.timeout(2000)`, and widget.ts's `_handle_comm_msg` awaits `ready`). A busy page
// (2 cores, a million points being drawn) starts widgets that late; their views kept the first
// state. Called from `initialize`: when anywidget gave up, the model takes its messages
// directly from then on and asks the kernel once for its whole state (ipywidgets'
// "request_state"), for what was dropped meanwhile. The model is found by its id, the
// `_page_model_id` trait (workbench.ui._common.Rejoins).
function rejoinIfDropped(model) {
  const id = model.get("_page_model_id");
  const manager = model.widget_manager;
  if (!id || !manager || typeof manager.get_model !== "function") return;
  manager.get_model(id).then((real) => {
    const held = real && real.comm && Object.getPrototypeOf(real); // anywidget's model class
    const base = held && Object.getPrototypeOf(held); // ipywidgets' DOMWidgetModel
    if (!base || typeof base._handle_comm_msg !== "function") return;
    // A message of no method: anywidget hands it on (ipywidgets ignores it) unless it gave up.
    const probe = { content: { data: { method: "workbench-probe" } }, buffers: [] };
    Promise.resolve(held._handle_comm_msg.call(real, probe)).catch(() => {
      console.warn(`workbench: anywidget gave up on ${model.get("_anywidget_id")} (it started in over 2 s); its model takes the kernel's messages directly`);
      real.comm.on_msg((msg) => base._handle_comm_msg.call(real, msg));
      real.comm.send({ method: "request_state" }, {});
    });
  }, () => {});
}
