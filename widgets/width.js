// Width probe: tells Python how wide the notebook's output area is (the `width` trait, in CSS
// pixels, rounded to 10 px), so the workbench can put the map beside the other views when
// there is room. Nothing is drawn.
export default {
  render({ model, el }) {
    el.style.width = "100%";
    el.style.height = "0";
    let last = -1;
    const report = () => {
      const width = Math.round(el.getBoundingClientRect().width / 10) * 10;
      if (width > 0 && width !== last) {
        last = width;
        model.set("width", width);
        model.save_changes();
      }
    };
    const observer = new ResizeObserver(report);
    observer.observe(el);
    report();
    return () => observer.disconnect();
  },
};
