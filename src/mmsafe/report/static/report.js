/* mmsafe report: the case table. Rows arrive as data files (data/index.js, data/cases-NNNNN.js)
   that call MMSAFE.index(...) and MMSAFE.page(k, rows); a page opened from disk cannot fetch().
   Every value from a run (prompts, replies, reasons, names) is untrusted: it is only ever written
   with textContent or as an option's text, never parsed as HTML, never made a link. */
"use strict";
(function () {
  var M = (window.MMSAFE = { meta: null, pages: {}, waiting: {} });
  var VIEW = 50;
  var HEX64 = /^[0-9a-f]{64}$/;
  var state = { matches: [], at: 0, search: "", gen: 0, view: 0 };

  M.index = function (meta) { M.meta = meta; };
  M.page = function (k, rows) {
    M.pages[k] = rows;
    var w = M.waiting[k];
    delete M.waiting[k];
    (w || []).forEach(function (f) { f(); });
  };

  function pad(k) { var s = String(k); while (s.length < 5) s = "0" + s; return s; }

  function load(k, done) {
    if (M.pages[k]) { done(); return; }
    if (M.waiting[k]) { M.waiting[k].push(done); return; }
    M.waiting[k] = [done];
    var s = document.createElement("script");
    s.src = "data/cases-" + pad(k) + ".js";
    s.addEventListener("error", function () { status("could not load data/cases-" + pad(k) + ".js"); });
    document.body.appendChild(s);
  }

  function loadAll(pages, done) {
    var left = pages.length;
    if (!left) { done(); return; }
    pages.forEach(function (k) { load(k, function () { left -= 1; status("loaded " + (pages.length - left) + " of " + pages.length + " data files"); if (!left) done(); }); });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function status(text) { var s = document.getElementById("case-status"); if (s) s.textContent = text; }

  function fillSelect(id, values, labels) {
    var sel = document.getElementById(id);
    if (!sel) return;
    values.forEach(function (v, i) {
      var o = document.createElement("option");
      o.value = String(i);
      o.textContent = labels ? labels[i] : String(v);
      sel.appendChild(o);
    });
    sel.addEventListener("change", apply);
  }

  function chosen(id) { var v = document.getElementById(id).value; return v === "" ? null : Number(v); }

  function row(i) { var k = Math.floor(i / M.meta.page_size); return M.pages[k] ? M.pages[k][i % M.meta.page_size] : null; }

  function textMatch(i, q) {
    var r = row(i);
    if (!r) return false;
    var hay = [r.id, r.prompt, r.attacked_prompt, r.reply, r.error].join("\n").toLowerCase();
    if (hay.indexOf(q) >= 0) return true;
    return r.verdicts.some(function (v) { return (v.reason || "").toLowerCase().indexOf(q) >= 0; });
  }

  function apply() {
    var f = { run: chosen("f-run"), attack: chosen("f-attack"), category: chosen("f-category"),
              language: chosen("f-language"), label: chosen("f-label"), verdict: chosen("f-verdict") };
    var cols = ["run", "attack", "category", "language", "label", "verdict"];
    var idx = M.meta.index, out = [];
    for (var i = 0; i < idx.length; i++) {
      var e = idx[i], ok = true;
      for (var c = 0; c < cols.length && ok; c++) { var want = f[cols[c]]; if (want !== null && e[c] !== want) ok = false; }
      if (ok) out.push(i);
    }
    var q = document.getElementById("f-text").value.trim().toLowerCase();
    var gen = ++state.gen;  /* a search still loading when the query or a menu changes must not win */
    if (!q) { state.matches = out; state.at = 0; show(); return; }
    var pages = {};
    out.forEach(function (i) { pages[Math.floor(i / M.meta.page_size)] = true; });
    status("searching…");
    loadAll(Object.keys(pages).map(Number), function () {
      if (gen !== state.gen) return;
      state.matches = out.filter(function (i) { return textMatch(i, q); });
      state.at = 0;
      show();
    });
  }

  function cell(tr, cls, build) { var td = el("td", cls); build(td); tr.appendChild(td); }

  function block(td, label, text, cls) {
    if (text === null || text === undefined || text === "") return;
    if (label) td.appendChild(el("div", "lbl", label));
    td.appendChild(el("pre", cls || "txt", text));
  }

  function thumbs(td, shas, label) {
    if (!shas || !shas.length) return;
    td.appendChild(el("div", "lbl", label));
    shas.forEach(function (sha) {
      if (!HEX64.test(sha)) return;
      var img = document.createElement("img");
      img.className = "thumb";
      img.alt = "image " + sha.slice(0, 12);
      img.loading = "lazy";
      img.addEventListener("error", function () { img.replaceWith(el("span", "muted", "image not readable (" + sha.slice(0, 12) + ")")); });
      img.src = "img/" + sha + ".png";
      td.appendChild(img);
    });
  }

  function render(i) {
    var r = row(i), m = M.meta, tr = el("tr");
    cell(tr, "meta", function (td) {
      td.appendChild(el("div", "strong", m.runs[r.run]));
      td.appendChild(el("div", "mono", r.id));
      td.appendChild(el("div", null, "attack: " + r.attack));
      td.appendChild(el("div", null, r.category + " · " + r.language + " · " + r.label + (r.task !== "chat" ? " · " + r.task : "")));
    });
    cell(tr, "prompt", function (td) {
      block(td, null, r.prompt);
      block(td, "sent (attacked):", r.attacked_prompt);
      thumbs(td, r.images, "input images:");
    });
    cell(tr, "reply", function (td) {
      block(td, null, r.reply);
      if (r.error) block(td, "error:", r.error, "txt err");
      if (r.provider_message) block(td, "provider:", r.provider_message);
      thumbs(td, r.out_images, "output images:");
    });
    cell(tr, "verdicts", function (td) {
      r.verdicts.forEach(function (v) {
        var d = el("div", "verdict");
        d.appendChild(el("span", "judge", v.judge + ": "));
        d.appendChild(el("span", "v-" + v.verdict.replace(/[^a-z]/g, ""), v.verdict));
        if (v.score !== null && v.score !== undefined) d.appendChild(el("span", "muted", " (score " + v.score + ")"));
        td.appendChild(d);
        if (v.reason) td.appendChild(el("pre", "txt reason", v.reason));
      });
    });
    return tr;
  }

  function show() {
    var body = document.getElementById("case-rows");
    var n = state.matches.length, from = state.at, to = Math.min(n, from + VIEW);
    var want = {};
    for (var i = from; i < to; i++) want[Math.floor(state.matches[i] / M.meta.page_size)] = true;
    var view = ++state.view;  /* only the latest page asked for is drawn */
    loadAll(Object.keys(want).map(Number), function () {
      if (view !== state.view) return;
      while (body.firstChild) body.removeChild(body.firstChild);
      for (var j = from; j < to; j++) body.appendChild(render(state.matches[j]));
      status(n ? ("rows " + (from + 1) + "–" + to + " of " + n + " (of " + M.meta.rows + " in all)") : "no row matches");
      document.getElementById("prev").disabled = from === 0;
      document.getElementById("next").disabled = to >= n;
    });
  }

  /* A link can preset the filters: index.html#verdict=unsafe&q=bomb (names as in the menus). */
  function fromHash() {
    var h = new URLSearchParams(window.location.hash.slice(1));
    var t = M.meta.tables;
    var lists = { run: M.meta.runs, attack: t.attack, category: t.category, language: t.language, label: t.label, verdict: t.verdict };
    Object.keys(lists).forEach(function (k) {
      var want = h.get(k);
      var i = want === null ? -1 : lists[k].indexOf(want);
      document.getElementById("f-" + k).value = i >= 0 ? String(i) : "";  /* a menu the link does not name: all */
    });
    document.getElementById("f-text").value = h.get("q") !== null ? h.get("q") : "";
  }

  function start() {
    if (!M.meta) { status("data/index.js did not load: keep the data/ folder beside index.html"); return; }
    var t = M.meta.tables;
    fillSelect("f-run", M.meta.runs);
    fillSelect("f-attack", t.attack);
    fillSelect("f-category", t.category);
    fillSelect("f-language", t.language);
    fillSelect("f-label", t.label);
    fillSelect("f-verdict", t.verdict);
    var timer = null;
    document.getElementById("f-text").addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(apply, 300); });
    document.getElementById("prev").addEventListener("click", function () { state.at = Math.max(0, state.at - VIEW); show(); });
    document.getElementById("next").addEventListener("click", function () { state.at += VIEW; show(); });
    fromHash();
    apply();
    /* another link, Back or Forward, or an edited fragment sets the filters again */
    window.addEventListener("hashchange", function () { fromHash(); apply(); });
  }

  document.addEventListener("DOMContentLoaded", start);
})();
