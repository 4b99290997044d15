/*
 * The notes list: /documents[?lang=en]
 *
 * Lists the documents of every collection the caller may read (GET /v1/collections, then
 * GET /v1/documents?collection=… for each), each linking to its source viewer. Open (no key
 * configured) that is everything. When the service requires keys the page, served without one,
 * asks for a reader key and keeps it in this tab's sessionStorage only, where the viewer finds it
 * when it opens a document without a view link. Without /v1/collections (an older service) or
 * when the key may not list them, it lists the default collection (GET /v1/documents).
 */
(function () {
  "use strict";

  var CONFIG = {
    keyStorage: "notesqa:api-key"  // shared with viewer.js
  };

  var params = new URLSearchParams(location.search);
  var lang = params.get("lang") === "en" ? "en" : "zh";
  var T = {
    zh: {
      title: "文档", loading: "正在加载文档列表…", failed: "无法加载文档列表，请检查网络后刷新。",
      needKey: "这个服务需要访问密钥才能列出文档。请输入读者（reader）或更高权限的密钥，它只保存在本标签页中。",
      badKey: "密钥无效或已被撤销，请重新输入。", forbidden: "这个密钥不能浏览文档（例如网页组件用的公开密钥）。",
      key: "访问密钥", submit: "查看", forget: "忘记这个密钥", filter: "筛选标题或文号", back: "返回对话",
      none: "还没有文档。", noMatch: "没有符合筛选条件的文档。", unavailable: "这个资料集暂时无法读取。",
      count: function (n) { return "共 " + n + " 篇"; }, shown: function (n, all) { return "显示 " + n + " / " + all + " 篇"; },
      paragraphs: function (n) { return n + " 段"; }, date: "日期", symbol: "文号", defaultName: "默认资料集"
    },
    en: {
      title: "Documents", loading: "Loading the documents…", failed: "Cannot load the documents; check the network and reload.",
      needKey: "This service needs an API key to list its documents. Enter a reader (or higher) key; it is kept in this tab only.",
      badKey: "The key is not valid (unknown or revoked); enter it again.",
      forbidden: "This key may not browse documents (for example a widget's public key).",
      key: "API key", submit: "Show", forget: "Forget this key", filter: "Filter by title or symbol",
      back: "Back to the conversation", none: "No documents yet.", noMatch: "No document matches the filter.",
      unavailable: "This collection cannot be read right now.",
      count: function (n) { return n + (n === 1 ? " document" : " documents"); },
      shown: function (n, all) { return n + " of " + all + " documents"; },
      paragraphs: function (n) { return n + " paragraphs"; }, date: "Date", symbol: "Symbol", defaultName: "Default collection"
    }
  }[lang];
  if (lang === "en") document.documentElement.lang = "en";

  var base = location.pathname.replace(/\/documents\/*$/, "");
  var main = document.getElementById("list");
  var status = document.getElementById("status");
  var form = document.getElementById("key-form");
  var input = document.getElementById("key-input");
  var hint = document.getElementById("key-hint");
  var filterBox = document.getElementById("filter-box");
  var filter = document.getElementById("filter");
  var holder = document.getElementById("collections");
  var forgetBox = document.getElementById("forget-box");
  var sections = [];  // [{section, items: [{node, text}], counter, total}]

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function storedKey() {
    try { return sessionStorage.getItem(CONFIG.keyStorage); } catch (e) { return null; }
  }

  function storeKey(key) {
    try {
      if (key) sessionStorage.setItem(CONFIG.keyStorage, key);
      else sessionStorage.removeItem(CONFIG.keyStorage);
    } catch (e) { /* storage off: the key lasts this page view only */ }
  }

  var sessionKey = storedKey();

  function HttpError(status) { this.status = status; }

  function getJSON(url) {
    var headers = { Accept: "application/json" };
    if (sessionKey) headers.Authorization = "Bearer " + sessionKey;
    return fetch(base + url, { headers: headers }).then(function (response) {
      if (!response.ok) throw new HttpError(response.status);
      return response.json();
    });
  }

  function label() {
    document.title = T.title + " · NotesQA";
    document.getElementById("bar-title").textContent = T.title;
    document.getElementById("heading").textContent = T.title;
    document.getElementById("key-label").textContent = T.key;
    document.getElementById("key-submit").textContent = T.submit;
    document.getElementById("filter-label").textContent = T.filter;
    document.getElementById("forget").textContent = T.forget;
    var chat = document.getElementById("chat-link");
    chat.textContent = T.back;
    chat.href = base + "/" + (lang === "en" ? "?lang=en" : "");
    status.textContent = T.loading;
  }

  // the collections to list: [{name, default}], or null to read the default one only
  function collections() {
    return getJSON("/v1/collections").then(function (body) {
      return (body.collections || []).map(function (c) { return { name: c.name, isDefault: !!c.default, state: c.state }; });
    }, function (err) {
      if (err instanceof HttpError && (err.status === 404 || err.status === 405 || err.status === 403)) return null;
      throw err;
    });
  }

  function documentsOf(c) {
    if (c && c.state === "empty") return Promise.resolve({ collection: c, documents: [] });  // nothing indexed yet
    var url = "/v1/documents" + (c && !c.isDefault ? "?collection=" + encodeURIComponent(c.name) : "");
    return getJSON(url).then(function (body) { return { collection: c, documents: body.documents || [] }; },
                             function (err) {
                               // the default collection alone: a refusal is the caller's, say so
                               if (err instanceof HttpError && (err.status === 401 || (!c && err.status === 403))) throw err;
                               return { collection: c, documents: [], failed: true };
                             });
  }

  function viewerLink(c, d) {
    var query = [];
    if (c && !c.isDefault) query.push("collection=" + encodeURIComponent(c.name));
    if (lang === "en") query.push("lang=en");
    return base + "/documents/" + encodeURIComponent(d.doc_id) + (query.length ? "?" + query.join("&") : "");
  }

  function render(results) {
    while (holder.firstChild) holder.removeChild(holder.firstChild);
    sections = [];
    var several = results.length > 1;
    var total = 0;
    results.forEach(function (r) {
      var section = el("section", "collection");
      var c = r.collection;
      if (c) section.setAttribute("data-collection", c.name);
      var head = el(several ? "h2" : "p", several ? "collection-name" : "collection-count");
      var counter = el("span", "count");
      if (several) {
        head.appendChild(document.createTextNode(c.isDefault ? c.name + "（" + T.defaultName + "）" : c.name));
        head.appendChild(document.createTextNode(" "));
      }
      head.appendChild(counter);
      section.appendChild(head);
      var entry = { section: section, items: [], counter: counter, total: r.documents.length };
      if (r.failed) section.appendChild(el("p", "note", T.unavailable));
      else if (!r.documents.length) section.appendChild(el("p", "empty", T.none));
      var list = el("ul", "doc-list");
      r.documents.forEach(function (d) {
        var li = el("li");
        var a = el("a", "doc-link", d.title || d.doc_id);
        a.href = viewerLink(c, d);
        li.appendChild(a);
        var md = d.metadata || {};
        var meta = [];
        if (typeof md.symbol === "string" && md.symbol) meta.push(T.symbol + " " + md.symbol);
        if (typeof md.date === "string" && md.date) meta.push(T.date + " " + md.date);
        if (typeof d.paragraphs === "number") meta.push(T.paragraphs(d.paragraphs));
        li.appendChild(el("span", "doc-info", meta.join(" · ")));
        list.appendChild(li);
        entry.items.push({ node: li, text: [d.title, d.doc_id, md.symbol, md.date].filter(Boolean).join(" ").toLowerCase() });
      });
      if (r.documents.length) section.appendChild(list);
      holder.appendChild(section);
      sections.push(entry);
      total += r.documents.length;
    });
    filterBox.hidden = total === 0;
    applyFilter();
  }

  function applyFilter() {
    var words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shownAll = 0;
    sections.forEach(function (s) {
      var shown = 0;
      s.items.forEach(function (item) {
        var match = words.every(function (w) { return item.text.indexOf(w) >= 0; });
        item.node.hidden = !match;
        if (match) shown++;
      });
      s.counter.textContent = words.length ? T.shown(shown, s.total) : T.count(s.total);
      shownAll += shown;
    });
    var empty = document.getElementById("no-match");
    if (words.length && !shownAll) {
      if (!empty) { empty = el("p", "empty", T.noMatch); empty.id = "no-match"; holder.appendChild(empty); }
    } else if (empty) {
      empty.parentNode.removeChild(empty);
    }
  }

  function askForKey(message) {
    status.hidden = true;
    form.hidden = false;
    hint.textContent = message;
    forgetBox.hidden = true;
    main.setAttribute("aria-busy", "false");
    input.focus();
  }

  function load() {
    main.setAttribute("aria-busy", "true");
    status.hidden = false;
    status.className = "status";
    status.textContent = T.loading;
    return collections()
      .then(function (list) {
        if (list === null) return Promise.all([documentsOf(null)]);
        return Promise.all(list.map(documentsOf));
      })
      .then(function (results) {
        status.hidden = true;
        form.hidden = true;
        forgetBox.hidden = !sessionKey;
        render(results);
        main.setAttribute("aria-busy", "false");
        document.documentElement.setAttribute("data-ready", "true");
      })
      .catch(function (err) {
        if (err instanceof HttpError && err.status === 401) {
          var hadKey = !!sessionKey;
          sessionKey = null;
          storeKey(null);
          askForKey(hadKey ? T.badKey : T.needKey);
          document.documentElement.setAttribute("data-ready", "key");
          return;
        }
        if (err instanceof HttpError && err.status === 403) {
          askForKey(T.forbidden);
          document.documentElement.setAttribute("data-ready", "key");
          return;
        }
        status.textContent = T.failed;
        status.className = "status error";
        main.setAttribute("aria-busy", "false");
        document.documentElement.setAttribute("data-ready", "error");
      });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var key = input.value.trim();
    if (!key) return;
    sessionKey = key;
    storeKey(key);
    input.value = "";
    load();
  });
  document.getElementById("forget").addEventListener("click", function () {
    sessionKey = null;
    storeKey(null);
    while (holder.firstChild) holder.removeChild(holder.firstChild);
    filterBox.hidden = true;
    load();
  });
  filter.addEventListener("input", applyFilter);

  label();
  load();
})();
