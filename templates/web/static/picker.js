// Office picker: a text box that searches the directory (the search page's /api/v1/search) and turns a pick into a
// chip holding a hidden <input name=...> with the office's region code. Without JavaScript the same text box takes
// region codes separated by spaces, which the server reads the same way.
// Keyboard: arrows move through the suggestions, Enter picks, Escape closes, Backspace in an empty box removes the
// last chip. ARIA 1.2 combobox pattern (role=combobox on the input, listbox popup, aria-activedescendant).
// Results are built with textContent, never innerHTML.
(function () {
  "use strict";

  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) { n.className = cls; }
    if (text !== undefined && text !== null) { n.textContent = text; }
    return n;
  }

  function setup(root) {
    var input = root.querySelector("input.picker-input");
    var list = root.querySelector("ul.picker-list");
    var chips = root.querySelector("ul.chips");
    var status = root.querySelector(".picker-status");
    var name = root.getAttribute("data-name");
    var multiple = root.getAttribute("data-multiple") === "1";
    var timer = null, seq = 0, hits = [], active = -1;
    if (!input || !list || !chips || !name) { return; }
    // With the script running, the text box only searches; picks travel as hidden inputs.
    input.removeAttribute("name");
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", list.id);

    function chosen() {
      return Array.prototype.map.call(chips.querySelectorAll("input[type=hidden]"), function (i) { return i.value; });
    }
    function say(text) { if (status) { status.textContent = text; } }
    function close() {
      list.hidden = true; list.replaceChildren(); hits = []; active = -1;
      input.setAttribute("aria-expanded", "false"); input.removeAttribute("aria-activedescendant");
    }
    function addChip(code, label) {
      if (chosen().indexOf(code) >= 0) { say("已选过：" + label); return; }
      if (!multiple) { chips.replaceChildren(); }
      var li = el("li", "chip");
      var hidden = el("input"); hidden.type = "hidden"; hidden.name = name; hidden.value = code;
      li.appendChild(hidden);
      li.appendChild(el("span", null, label));
      var x = el("button", "chip-remove", "×"); x.type = "button"; x.setAttribute("aria-label", "移除 " + label);
      li.appendChild(x);
      chips.appendChild(li);
      say("已选：" + label + (multiple ? "（共 " + chosen().length + " 个）" : ""));
    }
    function pick(i) {
      var h = hits[i];
      if (!h) { return; }
      addChip(h.region_code, h.unit_name);
      input.value = ""; close(); input.focus();
    }
    function highlight(i) {
      var items = list.querySelectorAll("li[role=option]");
      if (!items.length) { return; }
      active = (i + items.length) % items.length;
      Array.prototype.forEach.call(items, function (n, k) { n.setAttribute("aria-selected", k === active ? "true" : "false"); });
      input.setAttribute("aria-activedescendant", items[active].id);
      items[active].scrollIntoView({ block: "nearest" });
    }
    function show(data) {
      list.replaceChildren(); hits = data.hits || []; active = -1;
      hits.forEach(function (h, k) {
        var li = el("li", "option"); li.id = list.id + "-" + k; li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.appendChild(el("span", "option-name", h.unit_name));
        li.appendChild(el("span", "option-path", h.region_path.join(" › ") + " · " + h.region_code));
        li.addEventListener("mousedown", function (e) { e.preventDefault(); pick(k); });
        list.appendChild(li);
      });
      if (!hits.length) { list.appendChild(el("li", "option none", "没有找到，换个名称、拼音或代码试试")); }
      list.hidden = false; input.setAttribute("aria-expanded", "true");
      say(hits.length ? "找到 " + data.total + " 个，用上下键选择，回车确定" : "没有找到");
    }
    function run() {
      var q = input.value.trim(), mine = ++seq;
      if (!q) { close(); return; }
      fetch("/api/v1/search?limit=8&q=" + encodeURIComponent(q), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) { if (mine === seq && data.ok) { show(data); } })
        .catch(function () { if (mine === seq) { say("查找失败，请稍后再试"); } });
    }
    input.addEventListener("input", function () { if (timer) { clearTimeout(timer); } timer = setTimeout(run, 120); });
    input.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown") { e.preventDefault(); if (list.hidden) { run(); } else { highlight(active + 1); } }
      else if (e.key === "ArrowUp") { e.preventDefault(); highlight(active - 1); }
      else if (e.key === "Enter") {
        if (!list.hidden && hits.length) { e.preventDefault(); pick(active >= 0 ? active : 0); }
        else if (input.value.trim()) { e.preventDefault(); }
      }
      else if (e.key === "Escape") { close(); }
      else if (e.key === "Backspace" && !input.value) {
        var last = chips.lastElementChild;
        if (last) { say("已移除：" + last.textContent.replace("×", "")); last.remove(); }
      }
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
    chips.addEventListener("click", function (e) {
      var t = e.target;
      if (t instanceof HTMLElement && t.classList.contains("chip-remove")) {
        var li = t.closest("li"); if (li) { say("已移除：" + li.textContent.replace("×", "")); li.remove(); input.focus(); }
      }
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-picker]"), setup);
})();
