/* Interactive 2-D map of the static audit report: a canvas drawn from data embedded in the page.
   No network and no libraries: the points come from the JSON block "wb-map-data" as base64 arrays. */
(function () {
  "use strict";
  var holder = document.getElementById("wb-map-data");
  var canvas = document.getElementById("wb-map");
  if (!holder || !canvas) return;
  var D = JSON.parse(holder.textContent);

  function decode(s, Kind) {
    var bin = atob(s), buf = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
    return new Kind(buf.buffer);
  }
  var x = decode(D.x, Float32Array), y = decode(D.y, Float32Array);
  var lab = decode(D.labels, Int32Array), idx = decode(D.index, Int32Array);
  var sug = decode(D.suggested, Int32Array), pscore = decode(D.primary_score, Float32Array);
  var dets = {};
  Object.keys(D.detectors).forEach(function (name) {
    dets[name] = { flags: decode(D.detectors[name].flags, Uint8Array),
                   pct: decode(D.detectors[name].pct, Uint8Array) };
  });
  var n = x.length;
  var VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779",
                 "#6ece58", "#b5de2b", "#fde725"];
  var CATS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
              "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896",
              "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"];
  function hex(c) { return [parseInt(c.substr(1, 2), 16), parseInt(c.substr(3, 2), 16),
                            parseInt(c.substr(5, 2), 16)]; }
  function viridis(t) {
    var f = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1), i = Math.min(Math.floor(f), VIRIDIS.length - 2);
    var a = hex(VIRIDIS[i]), b = hex(VIRIDIS[i + 1]), u = f - i;
    return "rgb(" + [0, 1, 2].map(function (k) { return Math.round(a[k] + (b[k] - a[k]) * u); }).join(",") + ")";
  }

  var modeSel = document.getElementById("wb-map-mode");
  var detSel = document.getElementById("wb-map-detector");
  var tip = document.getElementById("wb-map-tip");
  var legend = document.getElementById("wb-map-legend");
  var ctx = canvas.getContext("2d");
  var W = 760, H = 540, PAD = 18, dpr = window.devicePixelRatio || 1;
  canvas.width = W * dpr; canvas.height = H * dpr; ctx.scale(dpr, dpr);

  var x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (var i = 0; i < n; i++) {
    if (x[i] < x0) x0 = x[i]; if (x[i] > x1) x1 = x[i];
    if (y[i] < y0) y0 = y[i]; if (y[i] > y1) y1 = y[i];
  }
  var sx = (W - 2 * PAD) / ((x1 - x0) || 1), sy = (H - 2 * PAD) / ((y1 - y0) || 1);
  var px = new Float32Array(n), py = new Float32Array(n);
  for (i = 0; i < n; i++) { px[i] = PAD + (x[i] - x0) * sx; py[i] = H - PAD - (y[i] - y0) * sy; }
  var r = n < 2000 ? 3.5 : n < 20000 ? 2.4 : 1.4;

  function drawGroup(ids, colour, radius) {
    ctx.fillStyle = colour;
    ctx.beginPath();
    for (var j = 0; j < ids.length; j++) {
      var k = ids[j];
      ctx.moveTo(px[k] + radius, py[k]);
      ctx.arc(px[k], py[k], radius, 0, 6.2832);
    }
    ctx.fill();
  }

  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) {
    return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]; }); }

  function draw() {
    var mode = modeSel.value, det = dets[detSel.value];
    detSel.disabled = mode === "label";
    ctx.clearRect(0, 0, W, H);
    var groups = [], html = "";
    if (mode === "flagged") {
      var off = [], on = [];
      for (var k = 0; k < n; k++) (det.flags[k] ? on : off).push(k);
      drawGroup(off, "rgba(140,150,160,0.45)", r);
      drawGroup(on, "#c62828", r + 0.8);
      var info = D.detectors[detSel.value], all = n === D.n_total;
      var fmt = function (v) { return v.toLocaleString("en-US"); };
      html = '<div><span class="sw" style="background:#c62828"></span>flagged by ' + esc(detSel.value) +
             (all ? " (" + fmt(on.length) + ")"
                  : ": " + fmt(info.n_flagged) + " of " + fmt(D.n_total) + " (" + fmt(on.length) + " drawn)") +
             '</div><div><span class="sw" style="background:#9aa3ad"></span>not flagged' +
             (all ? " (" + fmt(off.length) + ")"
                  : ": " + fmt(D.n_total - info.n_flagged) + " (" + fmt(off.length) + " drawn)") + "</div>";
    } else if (mode === "score") {
      var bins = [];
      for (var b = 0; b < 32; b++) bins.push([]);
      for (k = 0; k < n; k++) bins[Math.min(31, det.pct[k] >> 3)].push(k);
      for (b = 0; b < 32; b++) drawGroup(bins[b], viridis(b / 31), r);
      var stops = VIRIDIS.map(function (c, j) { return c + " " + Math.round(100 * j / 9) + "%"; }).join(",");
      html = "<div>score of " + esc(detSel.value) + " (percentile)</div>" +
             '<div class="bar" style="background:linear-gradient(to right,' + stops + ')"></div>' +
             "<div style=\"display:flex;justify-content:space-between;width:180px\"><span>low</span><span>high = suspicious</span></div>";
    } else {
      var K = D.class_names.length, per = [];
      for (var c = 0; c < K; c++) per.push([]);
      for (k = 0; k < n; k++) per[lab[k]].push(k);
      for (c = 0; c < K; c++) drawGroup(per[c], CATS[c % CATS.length], r);
      for (c = 0; c < Math.min(K, 40); c++)
        html += '<div><span class="sw" style="background:' + CATS[c % CATS.length] + '"></span>' + esc(D.class_names[c]) + "</div>";
      if (K > 40) html += "<div>… " + (K - 40) + " more classes (colours repeat)</div>";
    }
    legend.innerHTML = html;
  }

  canvas.addEventListener("mousemove", function (ev) {
    var rect = canvas.getBoundingClientRect(), mx = ev.clientX - rect.left, my = ev.clientY - rect.top;
    var best = -1, bd = 64;
    for (var k = 0; k < n; k++) {
      var dx = px[k] - mx, dy = py[k] - my, d = dx * dx + dy * dy;
      if (d < bd) { bd = d; best = k; }
    }
    if (best < 0) { tip.style.display = "none"; return; }
    var name = detSel.value, det = dets[name];
    var s = sug[best] >= 0 ? D.class_names[sug[best]] : "none";
    var who = D.ids ? esc(D.ids[best]) + " (#" + idx[best] + ")" : String(idx[best]);
    tip.innerHTML = "sample " + who + "<br>given: " + esc(D.class_names[lab[best]]) +
      "<br>suggested: " + esc(s) + "<br>" + esc(D.primary) + " score: " + pscore[best].toPrecision(3) +
      "<br>" + esc(name) + ": " + (det.flags[best] ? "flagged" : "not flagged") +
      ", percentile " + Math.round(det.pct[best] / 2.55);
    tip.style.display = "block";
    tip.style.left = Math.min(mx + 14, W - 190) + "px";
    tip.style.top = Math.max(my - 10, 0) + "px";
  });
  canvas.addEventListener("mouseleave", function () { tip.style.display = "none"; });
  modeSel.addEventListener("change", draw);
  detSel.addEventListener("change", draw);
  draw();
})();
