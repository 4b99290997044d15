/*
 * Source viewer: /documents/{doc_id}#{paragraph_id}?q=<quote>
 * Shows the whole note from GET /v1/documents/{doc_id}, highlights the cited paragraph, scrolls
 * it into view and marks the quoted sentence. All document text is inserted as text nodes.
 */
(function () {
  "use strict";

  var params = new URLSearchParams(location.search);
  var lang = params.get("lang") === "en" ? "en" : "zh";
  var T = {
    zh: {
      loading: "正在加载原文…", notFound: "找不到这个文档，它可能已从资料中移除。", failed: "无法加载原文，请检查网络后刷新。",
      unauthorized: "需要有效的访问密钥才能查看原文。", missingParagraph: "引用的段落不在这个文档的当前版本中。",
      paragraphs: function (n) { return "共 " + n + " 段"; }, footnote: "脚注", table: "表格",
      link: "链接到此段", date: "日期", symbol: "文号", ask: "就本文提问"
    },
    en: {
      loading: "Loading the note…", notFound: "No such document; it may have been removed from the notes.",
      failed: "Cannot load the note; check the network and reload.", unauthorized: "A valid API key is needed.",
      missingParagraph: "The cited paragraph is not in the current version of this document.",
      paragraphs: function (n) { return n + " paragraphs"; }, footnote: "Footnote", table: "Table",
      link: "Link to this paragraph", date: "Date", symbol: "Symbol", ask: "Ask about this document"
    }
  }[lang];
  if (lang === "en") document.documentElement.lang = "en";

  var marker = "/documents/";
  var path = location.pathname;
  var base = path.slice(0, path.lastIndexOf(marker));
  var docId = decodeURIComponent(path.slice(path.lastIndexOf(marker) + marker.length).replace(/\/+$/, ""));
  var quote = params.get("q") || "";
  var collection = params.get("collection");
  var viewToken = params.get("view"); // a signed link from a citation: reads this document without a key
  var citedId = decodeURIComponent(location.hash.slice(1));
  var main = document.getElementById("doc");
  var status = document.getElementById("status");
  status.textContent = T.loading;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function quoteRanges(text, q) {
    var ranges = [];
    var compact = "", index = [];
    for (var i = 0; i < text.length; i++) {
      if (!/\s/.test(text[i])) { compact += text[i]; index.push(i); }
    }
    String(q || "").split(/…|(?<=[。！？!?])/).forEach(function (part) {
      var needle = part.replace(/\s+/g, "");
      if (needle.length < 2) return;
      var at = compact.indexOf(needle);
      if (at >= 0) ranges.push([index[at], index[at + needle.length - 1] + 1]);
    });
    ranges.sort(function (a, b) { return a[0] - b[0]; });
    return ranges.filter(function (r, i) { return i === 0 || r[0] >= ranges[i - 1][1]; });
  }

  function setText(node, text, q) {
    while (node.firstChild) node.removeChild(node.firstChild);
    var pos = 0;
    (q ? quoteRanges(text, q) : []).forEach(function (r) {
      if (r[0] > pos) node.appendChild(document.createTextNode(text.slice(pos, r[0])));
      node.appendChild(el("mark", null, text.slice(r[0], r[1])));
      pos = r[1];
    });
    if (pos < text.length) node.appendChild(document.createTextNode(text.slice(pos)));
  }

  function anchor(id) {
    var a = el("a", "anchor", "¶");
    a.href = "#" + encodeURIComponent(id);
    a.setAttribute("aria-label", T.link);
    return a;
  }

  var texts = {};  // paragraph_id -> [element holding its text, text]

  function block(p, tag, className) {
    var node = el(tag, className);
    node.id = p.paragraph_id;
    node.setAttribute("data-kind", p.kind);
    var text = el("span", "text");
    setText(text, p.text);
    texts[p.paragraph_id] = [text, p.text];
    node.appendChild(text);
    return node;
  }

  function render(doc) {
    document.title = doc.title + " · NotesQA";
    document.getElementById("bar-title").textContent = doc.title;
    // the chat page, answering from this document only (its widget reads ?doc= and ?collection=)
    var ask = document.getElementById("ask-doc");
    var scope = ["doc=" + encodeURIComponent(doc.doc_id), "title=" + encodeURIComponent(doc.title)];
    if (collection) scope.push("collection=" + encodeURIComponent(collection));
    ask.href = base + "/?" + scope.join("&");
    ask.textContent = T.ask;
    ask.hidden = false;
    while (main.firstChild) main.removeChild(main.firstChild);
    var head = el("header", "doc-head");
    head.appendChild(el("h1", null, doc.title));
    var meta = [];
    var md = doc.metadata || {};
    if (typeof md.symbol === "string" && md.symbol) meta.push(T.symbol + " " + md.symbol);
    if (typeof md.date === "string" && md.date) meta.push(T.date + " " + md.date);
    meta.push(T.paragraphs(doc.paragraphs.length));
    head.appendChild(el("p", "doc-meta", meta.join(" · ")));
    main.appendChild(head);

    var article = el("article", "doc-body");
    var list = null, table = null;
    doc.paragraphs.forEach(function (p) {
      if (p.kind !== "list_item") list = null;
      if (p.kind !== "table_row") table = null;
      var node;
      if (p.kind === "heading") {
        var depth = p.section ? p.section.split(" > ").length : 1;
        node = block(p, "h" + Math.min(depth + 1, 5), "heading");
      } else if (p.kind === "list_item") {
        if (!list) { list = el("ul", "list"); article.appendChild(list); }
        node = block(p, "li", "list-item");
        node.appendChild(anchor(p.paragraph_id));
        list.appendChild(node);
        return;
      } else if (p.kind === "table_row") {
        if (!table) {
          var wrap = el("div", "table-wrap");
          var tbl = el("table", "rows");
          tbl.setAttribute("aria-label", T.table);
          table = el("tbody");
          tbl.appendChild(table);
          wrap.appendChild(tbl);
          article.appendChild(wrap);
        }
        var row = el("tr");
        row.id = p.paragraph_id;
        row.setAttribute("data-kind", p.kind);
        var cell = el("td");
        var text = el("span", "text");
        setText(text, p.text);
        texts[p.paragraph_id] = [text, p.text];
        cell.appendChild(text);
        cell.appendChild(anchor(p.paragraph_id));
        row.appendChild(cell);
        table.appendChild(row);
        return;
      } else if (p.kind === "footnote") {
        node = block(p, "aside", "footnote");
        node.insertBefore(el("span", "kind", T.footnote), node.firstChild);
        node.setAttribute("role", "note");
      } else if (p.kind === "front_matter") {
        node = block(p, "div", "front");
      } else {
        node = block(p, "p", "para");
        if (p.paragraph_number) node.setAttribute("data-number", p.paragraph_number);
      }
      if (p.kind !== "heading") node.appendChild(anchor(p.paragraph_id));
      article.appendChild(node);
    });
    main.appendChild(article);
    main.setAttribute("aria-busy", "false");
  }

  function highlight() {
    var id = decodeURIComponent(location.hash.slice(1));
    Array.prototype.forEach.call(document.querySelectorAll(".highlight"), function (node) {
      node.classList.remove("highlight");
      node.removeAttribute("aria-current");
      var entry = texts[node.id];
      if (entry) setText(entry[0], entry[1]);
    });
    if (!id) return;
    var target = document.getElementById(id);
    if (!target || !texts[id]) {
      showNote(T.missingParagraph);
      return;
    }
    target.classList.add("highlight");
    target.setAttribute("aria-current", "true");
    target.setAttribute("tabindex", "-1");
    // the quote belongs to the cited paragraph only
    if (id === citedId && quote) setText(texts[id][0], texts[id][1], quote);
    target.scrollIntoView({ block: "center" });
    target.focus({ preventScroll: true });
  }

  function showNote(message) {
    var note = document.getElementById("note") || el("p", "note");
    note.id = "note";
    note.setAttribute("role", "status");
    note.textContent = message;
    main.insertBefore(note, main.firstChild.nextSibling);
  }

  function UserError(message) { this.message = message; }

  function fail(message) {
    status.textContent = message;
    status.className = "status error";
    main.setAttribute("aria-busy", "false");
  }

  var query = [];
  if (collection) query.push("collection=" + encodeURIComponent(collection));
  if (viewToken) query.push("view=" + encodeURIComponent(viewToken));
  var api = base + "/v1/documents/" + encodeURIComponent(docId) + (query.length ? "?" + query.join("&") : "");
  fetch(api, { headers: { Accept: "application/json" } })
    .then(function (response) {
      if (response.status === 404) throw new UserError(T.notFound);
      if (response.status === 401 || response.status === 403) throw new UserError(T.unauthorized);
      if (!response.ok) throw new UserError(T.failed);
      return response.json();
    })
    .then(function (doc) {
      render(doc);
      highlight();
      window.addEventListener("hashchange", highlight);
      document.documentElement.setAttribute("data-ready", "true");
    })
    .catch(function (err) {
      fail(err instanceof UserError ? err.message : T.failed);
      document.documentElement.setAttribute("data-ready", "error");
    });
})();
