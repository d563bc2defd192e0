// Live results while typing: debounced calls to /api/v1/search; results are built with DOM nodes (textContent),
// never innerHTML, so values from the directory cannot inject markup.
(function () {
  "use strict";
  var box = document.getElementById("q");
  var list = document.getElementById("results");
  var summary = document.getElementById("summary");
  if (!box || !list) { return; }
  var limit = box.getAttribute("data-limit") || "50";
  var timer = null;
  var seq = 0;

  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) { n.className = cls; }
    if (text !== undefined && text !== null) { n.textContent = text; }
    return n;
  }
  function link(href, text, cls) { var a = el("a", cls, text); a.setAttribute("href", href); return a; }
  function field(dl, label, node) { dl.appendChild(el("dt", null, label)); var dd = el("dd"); dd.appendChild(node); dl.appendChild(dd); }
  function text(value) { return document.createTextNode(value || "—"); }

  function render(data) {
    list.replaceChildren();
    data.hits.forEach(function (h) {
      var li = el("li", "hit");
      var head = el("div", "hit-head");
      head.appendChild(link("/office/" + encodeURIComponent(h.region_code), h.unit_name, "unit"));
      if (h.demo) { head.appendChild(el("span", "badge demo", "演示数据")); }
      if (!h.email) { head.appendChild(el("span", "badge warn", "无邮箱 · 不在邮件客户端自动补全中")); }
      if (h.liaison_officer) { head.appendChild(el("span", "badge ok", "省联络员")); }
      li.appendChild(head);
      li.appendChild(el("div", "path", h.region_path.join(" › ")));
      var dl = el("dl", "fields");
      field(dl, "联系人", text(h.contact_name + (h.position ? "（" + h.position + "）" : "")));
      field(dl, "电话", h.phone ? link("tel:" + h.phone.replace(/ 转 /g, ",").replace(/-/g, ""), h.phone) : text(""));
      field(dl, "传真", text(h.fax));
      field(dl, "邮箱", h.email ? link("mailto:" + h.email, h.email) : el("span", "missing", "无"));
      field(dl, "地址", text(h.address));
      field(dl, "邮编", text(h.postal_code));
      li.appendChild(dl);
      list.appendChild(li);
    });
    var shown = data.hits.length;
    summary.textContent = data.total ? "共 " + data.total + " 个结果" + (data.total > shown ? "，显示前 " + shown + " 个" : "") : "没有结果";
  }

  function run() {
    var q = box.value.trim();
    var mine = ++seq;
    if (!q) { list.replaceChildren(); summary.textContent = ""; return; }
    fetch("/api/v1/search?limit=" + encodeURIComponent(limit) + "&q=" + encodeURIComponent(q), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (mine !== seq) { return; }
        if (!data.ok) { summary.textContent = data.error; return; }
        render(data);
        history.replaceState(null, "", "/?q=" + encodeURIComponent(q));
      })
      .catch(function () { if (mine === seq) { summary.textContent = "查找失败，请稍后再试"; } });
  }

  box.addEventListener("input", function () {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(run, 150);
  });
})();
