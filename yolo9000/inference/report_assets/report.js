/* yolo9000 detect report: the grid of images, and for a chosen image its boxes with each box's walk down the
   tree. Plain JavaScript, no libraries; the data comes in chunks (report/data-NNN.js) loaded by script tags,
   because browsers refuse fetch() of file:// JSON. The address keeps the view: #page=2, or
   #image=3&box=0&thresh=0.3 (image index, box index in that image, hier-thresh of the slider). */
(function () {
  "use strict";
  var META = JSON.parse(document.getElementById("meta").textContent);
  // Okabe-Ito: told apart with the common colour-vision deficiencies; the annotated pictures use the same order
  var COLOURS = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"];
  var chunks = {};
  var waiting = {};
  var state = { page: 0, image: null, box: null, thresh: META.hier_thresh };

  window.yolo9000Report = {
    chunk: function (k, items) {
      chunks[k] = items;
      var calls = waiting[k] || [];
      delete waiting[k];
      calls.forEach(function (f) { f(items); });
    }
  };

  function loadChunk(k, done) {
    if (chunks[k]) { done(chunks[k]); return; }
    if (waiting[k]) { waiting[k].push(done); return; }
    waiting[k] = [done];
    var s = document.createElement("script");
    s.src = "report/data-" + String(k).padStart(3, "0") + ".js";
    s.onerror = function () {
      document.getElementById("grid").textContent = "Could not load " + s.src + " (is the report/ folder beside index.html?)";
    };
    document.head.appendChild(s);
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function svg(tag, attrs) {
    var e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }

  function fmt(p) { return (p === undefined || p === null) ? "" : Number(p).toFixed(3); }
  function colour(det) { return COLOURS[(det.node !== undefined ? det.node : det.label) % COLOURS.length]; }

  // ---- the walk of TreeSoftmax.predict, replayed on the stored greedy walk ---------------------------------
  // paper: follow the most likely child while its P(node) stays > t; darknet: while Darknet's running product
  // of absolute probabilities stays > t. The best root is kept even when it fails. Returns the level reached.
  function stopLevel(walk, t, mode) {
    var stop = 0, run = 1;
    for (var l = 0; l < walk.length; l++) {
      var cand = mode === "darknet" ? run * walk[l].abs : walk[l].abs;
      if (!(cand > t)) break;
      stop = l;
      run = cand;
    }
    return stop;
  }

  function steps(det) {
    // the greedy walk to a leaf when stored (--report-depth > 0), else the detection's own path
    return det.walk || det.path || null;
  }

  function labelAt(det, t) {
    var w = steps(det);
    if (!w) return { name: det.name, abs: det.prob, level: null };
    var l = stopLevel(w, t, META.mode);
    return { name: w[l].name, abs: w[l].abs, node: w[l].node, level: l };
  }

  function whyText(det, t, level) {
    var w = steps(det);
    var here = w[level];
    var rule = META.mode === "darknet" ? "Darknet's running product" : "P(node)";
    if (level === 0 && !(w[0].abs > t)) {
      return "Even the most likely root, " + here.name + ", has P = " + fmt(here.abs) + " \u2264 " + fmt(t) +
        ": the walk keeps the root.";
    }
    if (level === w.length - 1) {
      if (!det.walk) return "The stored path ends at " + here.name + " (run with --report-depth K > 0 to store the walk below it).";
      return "Stopped at " + here.name + ": a leaf of the tree, no children to go down to.";
    }
    var next = w[level + 1];
    var value = next.abs;
    if (META.mode === "darknet") {
      value = 1;
      for (var i = 0; i <= level + 1; i++) value *= w[i].abs;
    }
    return "Stopped at " + here.name + ": its most likely child, " + next.name + ", has " + rule + " = " +
      fmt(value) + " \u2264 hier-thresh " + fmt(t) + ".";
  }

  // ---- grid -----------------------------------------------------------------------------------------------
  function pagerInto(nav) {
    nav.textContent = "";
    if (META.chunks <= 1) return;
    var prev = el("button", { type: "button" }, "\u2190 previous");
    prev.disabled = state.page === 0;
    prev.onclick = function () { go({ page: state.page - 1 }); };
    var next = el("button", { type: "button" }, "next \u2192");
    next.disabled = state.page >= META.chunks - 1;
    next.onclick = function () { go({ page: state.page + 1 }); };
    var first = state.page * META.chunk + 1;
    var last = Math.min(META.items, first + META.chunk - 1);
    nav.appendChild(prev);
    nav.appendChild(el("span", {}, "page " + (state.page + 1) + " of " + META.chunks + " (images " + first + "\u2013" + last + ")"));
    nav.appendChild(next);
    var jump = el("input", { type: "number", min: 1, max: META.chunks, value: state.page + 1, "aria-label": "go to page" });
    jump.onchange = function () { go({ page: Math.max(0, Math.min(META.chunks - 1, (parseInt(jump.value, 10) || 1) - 1)) }); };
    nav.appendChild(jump);
  }

  function renderGrid() {
    pagerInto(document.getElementById("pager-top"));
    pagerInto(document.getElementById("pager-bottom"));
    var page = state.page;
    loadChunk(page, function (items) {
      if (page !== state.page) return;
      var grid = document.getElementById("grid");
      grid.textContent = "";
      items.forEach(function (it) {
        var card = el("a", { "class": "card", href: "#image=" + it.index, "data-index": it.index, "data-name": it.name });
        if (it.index === state.image) card.classList.add("current");
        var src = it.annotated || it.picture;
        var labels = it.labels.length ? it.labels.join("; ") : "no detections";
        if (src) card.appendChild(el("img", { src: src, loading: "lazy", alt: it.name + ": " + labels }));
        else card.appendChild(el("div", { "class": "noimg" }, "no picture saved"));
        card.appendChild(el("div", { "class": "name" }, it.name));
        var ul = el("ul");
        if (!it.labels.length) ul.appendChild(el("li", {}, "no detections"));
        it.labels.forEach(function (t) { ul.appendChild(el("li", {}, t)); });
        card.appendChild(ul);
        grid.appendChild(card);
      });
    });
  }

  // ---- detail: the picture with its boxes ------------------------------------------------------------------
  function renderDetail() {
    var section = document.getElementById("detail");
    if (state.image === null) { section.hidden = true; return; }
    var k = Math.floor(state.image / META.chunk);
    loadChunk(k, function (items) {
      var it = items[state.image - k * META.chunk];
      if (!it) { section.hidden = true; return; }
      section.hidden = false;
      document.getElementById("detail-title").textContent = it.name;
      document.getElementById("back").setAttribute("href", "#page=" + (state.page + 1));
      var fig = document.getElementById("figure");
      fig.textContent = "";
      if (it.kind === "video") {
        if (it.annotated) fig.appendChild(el("img", { src: it.annotated, alt: it.name + ", annotated frames" }));
        fig.appendChild(el("figcaption", {}, it.labels.join("; ") + " (each frame's boxes are in detections.jsonl)"));
        document.getElementById("box-panel").textContent = "";
        return;
      }
      var dets = it.detections || [];
      var view = svg("svg", { viewBox: "0 0 " + it.width + " " + it.height, role: "group",
                              "aria-label": it.name + ", " + dets.length + " boxes" });
      if (it.picture) {
        var img = svg("image", { href: it.picture, x: 0, y: 0, width: it.width, height: it.height, role: "img",
                                 "aria-label": it.name });
        view.appendChild(img);
      }
      var size = Math.max(it.width, it.height) / 32;  // image units: the same share of any picture
      dets.forEach(function (d, i) {
        var g = svg("g", { "class": "box", tabindex: 0, role: "button", "data-box": i });
        var b = d.box;
        g.appendChild(svg("rect", { x: b[0], y: b[1], width: Math.max(1, b[2] - b[0]), height: Math.max(1, b[3] - b[1]),
                                    stroke: colour(d) }));
        var t = svg("text", { x: b[0] + 3, y: Math.max(size, b[1] + size), "font-size": size });
        g.appendChild(t);
        g.addEventListener("click", function () { choose(i); });
        // hovering previews a box; leaving it brings back the chosen one
        g.addEventListener("mouseenter", function () { if (i !== state.box) renderPanel(it, i, true); });
        g.addEventListener("mouseleave", function () {
          if (state.box !== null && i !== state.box) renderPanel(it, state.box, false);
        });
        g.addEventListener("keydown", function (ev) {
          if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); choose(i); }
        });
        view.appendChild(g);
      });
      fig.appendChild(view);
      fig.appendChild(el("figcaption", {}, dets.length ? "Click a box, or Tab to it and press Enter, to see its walk down the tree."
                                                      : "No detections in this image."));
      updateBoxes(it);
      if (state.box !== null && dets[state.box]) renderPanel(it, state.box, false);
      else document.getElementById("box-panel").textContent = dets.length ? "Choose a box to see its walk down the tree." : "";
    });
  }

  function currentItem() {
    var k = Math.floor(state.image / META.chunk);
    return chunks[k] ? chunks[k][state.image - k * META.chunk] : null;
  }

  function updateBoxes(it) {
    // the boxes' labels follow the slider, as --hier-thresh would label them
    var groups = document.querySelectorAll("#figure g.box");
    groups.forEach(function (g) {
      var i = Number(g.getAttribute("data-box"));
      var d = it.detections[i];
      var lab = labelAt(d, state.thresh);
      g.querySelector("text").textContent = lab.name;
      g.setAttribute("aria-label", "box " + (i + 1) + ": " + lab.name + ", P " + fmt(lab.abs) + ", score " + fmt(d.score));
      g.classList.toggle("chosen", i === state.box);
      if (i === state.box) g.setAttribute("aria-pressed", "true"); else g.removeAttribute("aria-pressed");
    });
    // the chosen box again on top of the others (a copy: moving the box itself would change the Tab order)
    var view = document.querySelector("#figure svg");
    if (!view) return;
    view.classList.toggle("has-choice", state.box !== null);
    var old = view.querySelector(".highlight");
    if (old) old.remove();
    var chosen = state.box !== null ? view.querySelector('g.box[data-box="' + state.box + '"]') : null;
    if (chosen) {
      var copy = chosen.cloneNode(true);
      copy.setAttribute("class", "highlight");
      ["tabindex", "role", "aria-label", "aria-pressed", "data-box"].forEach(function (a) { copy.removeAttribute(a); });
      copy.setAttribute("aria-hidden", "true");
      view.appendChild(copy);
    }
  }

  function choose(i) {
    state.box = i;
    setHash();
    var it = currentItem();
    updateBoxes(it);
    renderPanel(it, i, false);
  }

  // ---- the per-box panel -----------------------------------------------------------------------------------
  function renderPanel(it, i, preview) {
    var panel = document.getElementById("box-panel");
    var d = it.detections[i];
    panel.textContent = "";
    panel.setAttribute("data-box", i);
    var w = steps(d);
    var lab = labelAt(d, state.thresh);
    panel.setAttribute("data-node", lab.node !== undefined ? lab.node : d.label);
    panel.setAttribute("data-thresh", state.thresh);
    panel.appendChild(el("h3", {}, (preview ? "Box " : "Chosen box ") + (i + 1) + " of " + it.detections.length));
    var now = el("p", { "class": "label-now", id: "label-now", "data-node": lab.node !== undefined ? lab.node : d.label }, lab.name + " ");
    now.appendChild(el("span", { "class": "p" }, "P = " + fmt(lab.abs)));
    panel.appendChild(now);
    var how = !d.path ? " \u00d7 P(class) " + fmt(d.prob) + ")."
            : META.mode === "paper" ? " \u00d7 P(node) " + fmt(d.prob) + ") with hier-thresh " + fmt(META.hier_thresh) + "."
            : "; Darknet's walk) with hier-thresh " + fmt(META.hier_thresh) + ".";
    panel.appendChild(el("p", { "class": "muted", id: "run-label", "data-node": d.node !== undefined ? d.node : d.label },
      "Detected as " + d.name + " (score " + fmt(d.score) + " = objectness " + fmt(d.objectness) + how));
    if (!w) {
      panel.appendChild(el("p", { "class": "muted" }, "A flat classifier: no tree to walk."));
      return;
    }
    var slider = el("div", { "class": "slider" });
    var lbl = el("label", { "for": "thresh" }, "hier-thresh");
    var input = el("input", { type: "range", id: "thresh", min: 0, max: 1, step: 0.01 });
    input.value = state.thresh;
    var out = el("output", { "for": "thresh", id: "thresh-value" }, fmt(state.thresh));
    input.addEventListener("input", function () {
      state.thresh = Number(input.value);
      setHash();
      updateBoxes(it);
      renderPanel(it, i, preview);
      var again = document.getElementById("thresh");
      if (again) again.focus();
    });
    slider.appendChild(lbl); slider.appendChild(input); slider.appendChild(out);
    panel.appendChild(slider);
    panel.appendChild(el("p", { "class": "why", id: "why" }, whyText(d, state.thresh, lab.level)));

    var table = el("table", { "class": "path", id: "path" });
    var head = el("tr");
    ["level", "node", "P(node | parent)", "P(node)"].forEach(function (h) { head.appendChild(el("th", { scope: "col" }, h)); });
    table.appendChild(head);
    w.forEach(function (s, l) {
      var cls = "step" + (l > lab.level ? " below" : "") + (l === lab.level ? " stop" : "");
      var tr = el("tr", { "class": cls, "data-level": l, "data-node": s.node, "data-cond": s.prob, "data-abs": s.abs });
      tr.appendChild(el("td", {}, String(l)));
      tr.appendChild(el("td", {}, s.name + (l === lab.level ? "  \u25c0 label" : "")));
      tr.appendChild(el("td", { "class": "num" }, fmt(s.prob)));
      tr.appendChild(el("td", { "class": "num" }, fmt(s.abs)));
      table.appendChild(tr);
    });
    panel.appendChild(table);

    if (d.walk) {
      var levels = el("div", { "class": "levels", id: "siblings" });
      levels.appendChild(el("h4", {}, "Most likely siblings at each level, P(node | parent)"));
      d.walk.forEach(function (s, l) {
        var box = el("div", { "class": "level" + (l > lab.level ? " below" : ""), "data-level": l });
        var parent = l === 0 ? "the roots" : "children of " + d.walk[l - 1].name;
        box.appendChild(el("h4", {}, "level " + l + ": " + parent));
        (s.siblings || []).forEach(function (sib) {
          var row = el("div", { "class": "bar" + (sib.node === s.node ? " chosen" : ""), "data-node": sib.node, "data-cond": sib.prob });
          row.appendChild(el("span", { "class": "bname", title: sib.name }, sib.name));
          var track = el("span", { "class": "track", role: "img", "aria-label": sib.name + " " + fmt(sib.prob) });
          var fill = el("span", { "class": "fill" });
          fill.style.display = "block";
          fill.style.width = (100 * Math.max(0, Math.min(1, sib.prob))) + "%";
          track.appendChild(fill);
          row.appendChild(track);
          row.appendChild(el("span", { "class": "val" }, fmt(sib.prob)));
          box.appendChild(row);
        });
        levels.appendChild(box);
      });
      panel.appendChild(levels);
    } else {
      panel.appendChild(el("p", { "class": "muted" }, "Run with --report-depth K (K > 0) to store the walk to a leaf and the siblings at each level."));
    }
  }

  // ---- the address is the state ----------------------------------------------------------------------------
  function parseHash() {
    var q = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
      if (!kv) return;
      var p = kv.split("=");
      q[decodeURIComponent(p[0])] = decodeURIComponent(p[1] || "");
    });
    var image = q.image !== undefined ? parseInt(q.image, 10) : null;
    if (image !== null && !(image >= 0 && image < META.items)) image = null;
    var t = q.thresh !== undefined ? parseFloat(q.thresh) : META.hier_thresh;
    if (!(t >= 0 && t <= 1)) t = META.hier_thresh;
    state.image = image;
    state.box = image !== null && q.box !== undefined ? parseInt(q.box, 10) : null;
    if (state.box !== null && !(state.box >= 0)) state.box = null;
    state.thresh = t;
    state.page = image !== null ? Math.floor(image / META.chunk)
                                : Math.max(0, Math.min(META.chunks - 1, parseInt(q.page || "1", 10) - 1 || 0));
  }

  function setHash() {
    var h = state.image === null ? "#page=" + (state.page + 1)
                                 : "#image=" + state.image + (state.box !== null ? "&box=" + state.box : "") +
                                   (state.thresh !== META.hier_thresh ? "&thresh=" + state.thresh : "");
    history.replaceState(null, "", h);
  }

  function go(change) {
    if (change.page !== undefined) { state.page = change.page; state.image = null; state.box = null; }
    setHash();
    render();
  }

  function render() {
    renderDetail();
    renderGrid();
  }

  function init() {
    var s = META.items + (META.items === 1 ? " input, " : " inputs, ") + META.detections + " detections; " +
      (META.tree ? "tree walk: " + META.mode + " mode, hier-thresh " + fmt(META.hier_thresh) : "flat classifier") +
      ", thresh " + fmt(META.thresh) + ". Choose an image, then a box.";
    document.getElementById("summary").textContent = s;
    if (META.skipped.length) {
      document.getElementById("skipped").hidden = false;
      var ul = document.getElementById("skipped-list");
      META.skipped.forEach(function (p) { ul.appendChild(el("li", {}, p[0] + ": " + p[1])); });
    }
    parseHash();
    render();
    window.addEventListener("hashchange", function () { parseHash(); render(); });
  }

  init();
})();
