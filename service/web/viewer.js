/*
 * Source viewer: /documents/{doc_id}?q=<quote>&cited=<id>,<id>…#<paragraph_id>
 *
 * Shows the whole note from GET /v1/documents/{doc_id}, highlights the paragraph named in the hash,
 * scrolls it into view and marks the quoted sentence (q) in the first cited one. `cited` lists the
 * paragraphs an answer cited (any order; unknown ids are ignored): they are marked, and a bar steps
 * through them in reading order. All document text is inserted as text nodes.
 *
 * The notes come from PDF conversions, so the structure is read back off the text, by kind and shape,
 * never per document: "- " lines are list items ("(a)", "1." become their list labels), footnote
 * markers ("^a", "¹", "*") link to the footnote paragraph that starts with the same marker, and a
 * schedule row ("6月6日，星期三 上午 10 时至下午 1 时，议程项目 1(a)：会议开幕") is split into its
 * date, time, item and title cells. Every offset kept points into the paragraph's own text, so the
 * quote is marked on what is shown whatever was rearranged.
 */
(function () {
  "use strict";

  var CONFIG = {
    sidebarQuery: "(min-width: 1100px)",  // keep in step with the .viewer-layout rule in pages.css
    minOutlineHeadings: 2,    // fewer headings than this: no outline
    outlineDepths: 4,         // deeper headings are indented as the deepest of these
    headingLevels: 5,         // a section at depth d is an <h(d+1)>, at most <h5>
    maxTimeChars: 24,         // a schedule row's time cell ("上午 10 时至下午 1 时") is short
    maxItemChars: 12,         // and so is its item number ("1(a)", "2和3")
    keyStorage: "notesqa:api-key"  // where /documents keeps the key typed into it (this tab only)
  };

  var params = new URLSearchParams(location.search);
  var lang = params.get("lang") === "en" ? "en" : "zh";
  var T = {
    zh: {
      loading: "正在加载原文…", notFound: "找不到这个文档，它可能已从资料中移除。", failed: "无法加载原文，请检查网络后刷新。",
      unauthorized: "需要有效的访问密钥才能查看原文。", missingParagraph: "引用的段落不在这个文档的当前版本中。",
      paragraphs: function (n) { return "共 " + n + " 段"; }, footnote: "脚注", table: "表格",
      link: "链接到此段", date: "日期", symbol: "文号", ask: "就本文提问",
      outline: "目录", back: "返回对话", backToList: "返回文档列表", documents: "全部文档",
      cited: "引用", prev: "‹ 上一处", next: "下一处 ›", prevLabel: "上一处引用", nextLabel: "下一处引用",
      citePos: function (i, n) { return i ? "引用 " + i + "/" + n : "共 " + n + " 处引用"; },
      footnoteRef: function (k) { return "脚注 " + k; }, backToText: function (k) { return "回到脚注 " + k + " 的引用处"; },
      columns: { date: "日期", time: "时间", item: "项目", title: "内容" }
    },
    en: {
      loading: "Loading the note…", notFound: "No such document; it may have been removed from the notes.",
      failed: "Cannot load the note; check the network and reload.", unauthorized: "A valid API key is needed.",
      missingParagraph: "The cited paragraph is not in the current version of this document.",
      paragraphs: function (n) { return n + " paragraphs"; }, footnote: "Footnote", table: "Table",
      link: "Link to this paragraph", date: "Date", symbol: "Symbol", ask: "Ask about this document",
      outline: "Contents", back: "Back to the conversation", backToList: "Back to the documents",
      documents: "All documents", cited: "Citations", prev: "‹ Previous", next: "Next ›",
      prevLabel: "Previous citation", nextLabel: "Next citation",
      citePos: function (i, n) { return i ? "Citation " + i + " of " + n : n + " citations"; },
      footnoteRef: function (k) { return "Footnote " + k; }, backToText: function (k) { return "Back to footnote " + k + "'s reference"; },
      columns: { date: "Date", time: "Time", item: "Item", title: "Title" }
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
  var citedParam = (params.get("cited") || "").split(",").map(function (s) { return s.trim(); }).filter(Boolean);
  var main = document.getElementById("doc");
  var status = document.getElementById("status");
  status.textContent = T.loading;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function storedKey() {
    try { return sessionStorage.getItem(CONFIG.keyStorage); } catch (e) { return null; }
  }

  // --- reading structure back off the text ---------------------------------------------------------

  var DASH = /^[-–—•·▪]\s+/;  // the converter's list bullet, always followed by a space
  // a list label: 1. 2) 3、 a. (a) （b） (iv) 一、 (三); not "1.5" (an ASCII digit or letter right after)
  var LABEL = /^(?:\d{1,3}(?:\.\d{1,3})*[.)、．]|[A-Za-z][.)]|[一二三四五六七八九十]{1,3}[、.．]|[(（](?:\d{1,3}|[A-Za-z]{1,2}|[ivxlcdm]{1,6}|[一二三四五六七八九十]{1,3})[)）])(?=\s|$|[^\x00-\x7F])\s*/;
  var SUPERSCRIPT_DIGITS = "⁰¹²³⁴⁵⁶⁷⁸⁹";
  // a footnote paragraph starts with its marker
  var FOOTNOTE_LEAD = /^(?:\^([A-Za-z0-9]{1,3})|([⁰¹²³⁴⁵⁶⁷⁸⁹]{1,3})|(\*{1,3}|[†‡§]{1,2}))\s*/;
  // the same markers in running text (a space before "^a" is the converter's, not the author's)
  var FOOTNOTE_REF = /\s?\^([A-Za-z0-9]{1,3})(?![A-Za-z0-9])|([⁰¹²³⁴⁵⁶⁷⁸⁹]{1,3})|(?<!\*)(\*{1,3})(?!\*)|([†‡§]{1,2})/g;
  var ROW_DATE = /^(?:\d{4}\s*年\s*)?\d{1,2}\s*月\s*\d{1,2}\s*日(?:\s*[，,]?\s*(?:星期|周)[一二三四五六日天])?/;
  var ROW_DATE_EN = /^(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day,?\s+)?(?:\d{1,2}\s+[A-Z][a-z]+|[A-Z][a-z]+\s+\d{1,2})(?:,?\s+\d{4})?/;
  var TIME_HINT = /\d\s*(?:时|點|点|[:：.]\d\d|\s*[ap]\.?m)|[上下]午|中午|晚上|noon/i;
  var ROW_ITEM = /^\s*([^\d\s：:，,；;]{1,8})\s*(\d[\dA-Za-z()（）和及、,.\s-]*?)\s*[：:]\s*/;

  function footnoteKey(match) {
    if (match[1]) return match[1];
    if (match[2]) return match[2].split("").map(function (c) { return SUPERSCRIPT_DIGITS.indexOf(c); }).join("");
    return match[3] || match[4];
  }

  function lines(text) {
    var out = [], start = 0;
    text.split("\n").forEach(function (line) { out.push({ start: start, end: start + line.length }); start += line.length + 1; });
    return out;
  }

  function slice(text, range) { return text.slice(range.start, range.end); }

  // a paragraph's text as blocks: runs of text lines, and runs of "- " lines as a list;
  // `asItem`: the first line is itself a list item (its dash and label are taken off)
  function parseBlocks(text, asItem) {
    var ls = lines(text), blocks = [], i = 0, head = { label: null, dashed: false };
    if (asItem && ls.length) {
      var first = slice(text, ls[0]);
      var dash = DASH.exec(first), off = dash ? dash[0].length : 0;
      var label = LABEL.exec(first.slice(off));
      head = { label: label ? label[0].trim() : null, dashed: !!dash };
      blocks.push({ type: "text", start: ls[0].start + off + (label ? label[0].length : 0), end: ls[0].end });
      i = 1;
    }
    while (i < ls.length) {
      if (DASH.test(slice(text, ls[i]))) {
        var items = [];
        for (; i < ls.length && DASH.test(slice(text, ls[i])); i++) {
          var line = slice(text, ls[i]), d = DASH.exec(line)[0].length, l = LABEL.exec(line.slice(d));
          items.push({ label: l ? l[0].trim() : null, start: ls[i].start + d + (l ? l[0].length : 0), end: ls[i].end });
        }
        blocks.push({ type: "list", items: items });
      } else {
        var last = blocks[blocks.length - 1];
        if (last && last.type === "text") last.end = ls[i].end;
        else blocks.push({ type: "text", start: ls[i].start, end: ls[i].end });
        i++;
      }
    }
    return { head: head, blocks: blocks };
  }

  // a schedule row as cells {date, time, item, title} of [start, end) ranges, or null when it does not split
  function parseRow(text) {
    var cells = {}, pos = 0, m = ROW_DATE.exec(text) || ROW_DATE_EN.exec(text);
    if (m) { cells.date = { start: 0, end: m[0].length }; pos = m[0].length; }
    while (pos < text.length && /[\s，,]/.test(text[pos])) pos++;
    var rest = text.slice(pos), cut = rest.search(/[，,；;]|[：:](?!\d)/);
    var when = cut > 0 ? rest.slice(0, cut).trim() : "";
    if (when && when.length <= CONFIG.maxTimeChars && TIME_HINT.test(when)) {
      cells.time = { start: pos, end: pos + rest.slice(0, cut).replace(/\s+$/, "").length };
      pos += cut + 1;
    }
    if (!cells.date && !cells.time) return null;
    var item = ROW_ITEM.exec(text.slice(pos));
    if (item && item[2].trim().length <= CONFIG.maxItemChars) {
      var at = pos + text.slice(pos).indexOf(item[2], item[1].length);
      cells.itemName = item[1];
      cells.item = { start: at, end: at + item[2].trim().length };
      pos += item[0].length;
    }
    while (pos < text.length && /\s/.test(text[pos])) pos++;
    cells.title = { start: pos, end: text.length };
    return cells;
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

  // text[s, e) into parent: <mark> over `marks`, and each replacement {start, end, make()} as its node
  function emit(parent, text, s, e, marks, replacements) {
    var cuts = [s, e];
    marks.forEach(function (r) { if (r[1] > s && r[0] < e) cuts.push(Math.max(r[0], s), Math.min(r[1], e)); });
    replacements.forEach(function (r) { if (r.start >= s && r.end <= e) cuts.push(r.start, r.end); });
    cuts.sort(function (a, b) { return a - b; });
    var open = null, openEnd = -1;
    for (var i = 0; i + 1 < cuts.length; i++) {
      var a = cuts[i], b = cuts[i + 1];
      if (a >= b) continue;
      var swap = replacements.filter(function (r) { return r.start <= a && b <= r.end && r.start >= s && r.end <= e; })[0];
      if (swap) {
        if (a === swap.start) parent.appendChild(swap.make());
        open = null;
        continue;
      }
      var piece = document.createTextNode(text.slice(a, b));
      if (marks.some(function (m) { return m[0] <= a && b <= m[1]; })) {
        if (!open || openEnd !== a) { open = el("mark"); parent.appendChild(open); }
        open.appendChild(piece);
        openEnd = b;
      } else {
        parent.appendChild(piece);
        open = null;
      }
    }
  }

  // --- the document model ----------------------------------------------------------------------------

  var order = {};      // paragraph_id -> reading position
  var fills = {};      // paragraph_id -> function (quote) re-rendering the paragraph's own content
  var refs = {};       // paragraph_id -> [{start, end, key, footnote, id}]
  var footnoteOf = {}; // footnote paragraph_id -> {key, lead (length of its marker), refs: [ref ids]}
  var lastRef = {};    // footnote paragraph_id -> the reference the reader came from
  var sectionOf = {};  // paragraph_id -> the heading it stands under (the outline entry to mark)

  function linkFootnotes(paragraphs) {
    var notes = [];
    paragraphs.forEach(function (p, i) {
      if (p.kind !== "footnote") return;
      var m = FOOTNOTE_LEAD.exec(p.text);
      if (!m) return;
      footnoteOf[p.paragraph_id] = { key: footnoteKey(m), lead: m[0].length, refs: [] };
      notes.push({ at: i, key: footnoteKey(m), id: p.paragraph_id });
    });
    if (!notes.length) return;
    paragraphs.forEach(function (p, i) {
      if (p.kind === "footnote") return;
      var found = [], m;
      FOOTNOTE_REF.lastIndex = 0;
      while ((m = FOOTNOTE_REF.exec(p.text)) !== null) {
        var key = footnoteKey(m);
        // a footnote follows what references it; notes restart per table, so take the next one with the key
        var same = notes.filter(function (n) { return n.key === key; });
        if (!same.length) continue;
        var note = same.filter(function (n) { return n.at > i; })[0] || same[same.length - 1];
        var ref = { start: m.index, end: m.index + m[0].length, key: key, footnote: note.id,
                    id: "fnref-" + p.paragraph_id + "-" + found.length };
        found.push(ref);
        footnoteOf[note.id].refs.push(ref.id);
      }
      if (found.length) refs[p.paragraph_id] = found;
    });
  }

  function anchor(id) {
    var a = el("a", "anchor", "¶");
    a.href = "#" + encodeURIComponent(id);
    a.setAttribute("aria-label", T.link);
    return a;
  }

  function refNode(ref) {
    return function () {
      var sup = el("sup", "fn-ref");
      var a = el("a", null, ref.key);
      a.id = ref.id;
      a.href = "#" + encodeURIComponent(ref.footnote);
      a.setAttribute("aria-label", T.footnoteRef(ref.key));
      a.addEventListener("click", function () { lastRef[ref.footnote] = ref.id; setBackLink(ref.footnote); });
      sup.appendChild(a);
      return sup;
    };
  }

  function backNode(id) {
    return function () {
      var note = footnoteOf[id];
      if (!note.refs.length) return el("sup", "fn-mark", note.key);
      var a = el("a", "fn-back");
      a.appendChild(el("sup", null, note.key));
      a.appendChild(el("span", "fn-arrow", "↩"));
      a.href = "#" + encodeURIComponent(lastRef[id] || note.refs[0]);
      a.setAttribute("aria-label", T.backToText(note.key));
      return a;
    };
  }

  function setBackLink(id) {
    var link = document.getElementById(id) && document.getElementById(id).querySelector(".fn-back");
    if (link) link.href = "#" + encodeURIComponent(lastRef[id] || footnoteOf[id].refs[0]);
  }

  function replacementsOf(p) {
    var out = (refs[p.paragraph_id] || []).map(function (r) { return { start: r.start, end: r.end, make: refNode(r) }; });
    var note = footnoteOf[p.paragraph_id];
    if (note) out.push({ start: 0, end: note.lead, make: backNode(p.paragraph_id) });
    return out;
  }

  function listElement(labelled, className) {
    return el(labelled ? "ol" : "ul", className);
  }

  function labelItem(li, label) {
    if (label) li.setAttribute("data-label", label);
  }

  // the paragraph's blocks into `container`, the ¶ link after its first text
  function renderBlocks(container, p, parsed, q) {
    var marks = q ? quoteRanges(p.text, q) : [];
    var swaps = replacementsOf(p);
    var anchored = false;
    parsed.blocks.forEach(function (b) {
      if (b.type === "text") {
        var span = el("span", "text");
        emit(span, p.text, b.start, b.end, marks, swaps);
        container.appendChild(span);
        if (!anchored) { container.appendChild(anchor(p.paragraph_id)); anchored = true; }
        return;
      }
      var list = listElement(b.items.some(function (it) { return it.label; }), "list sub");
      b.items.forEach(function (it) {
        var li = el("li");
        labelItem(li, it.label);
        var span = el("span", "text");
        emit(span, p.text, it.start, it.end, marks, swaps);
        li.appendChild(span);
        list.appendChild(li);
      });
      container.appendChild(list);
    });
    if (!anchored) container.appendChild(anchor(p.paragraph_id));
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function paragraphBlock(p, tag, className, parsed) {
    var node = el(tag, className);
    node.id = p.paragraph_id;
    node.setAttribute("data-kind", p.kind);
    var before = p.kind === "footnote" ? function () { node.appendChild(el("span", "kind", T.footnote)); } : null;
    fills[p.paragraph_id] = function (q) {
      clear(node);
      if (before) before();
      renderBlocks(node, p, parsed, q);
    };
    fills[p.paragraph_id]();
    return node;
  }

  // --- schedule tables -------------------------------------------------------------------------------

  function renderTable(article, rows) {
    var parsed = rows.map(function (p) { return parseRow(p.text); });
    var has = { date: false, time: false, item: false };
    var itemName = null;
    parsed.forEach(function (c) {
      if (!c) return;
      if (c.date) has.date = true;
      if (c.time) has.time = true;
      if (c.item) { has.item = true; itemName = itemName === null || itemName === c.itemName ? c.itemName : T.columns.item; }
    });
    var columns = ["date", "time", "item"].filter(function (k) { return has[k]; });
    var split = columns.length > 0;
    if (split) columns.push("title");
    var names = { date: T.columns.date, time: T.columns.time, item: itemName || T.columns.item, title: T.columns.title };

    var wrap = el("div", "table-wrap");
    var tbl = el("table", split ? "rows schedule" : "rows");
    tbl.setAttribute("aria-label", T.table);
    if (split) {
      var thead = el("thead"), hr = el("tr");
      columns.forEach(function (k) { var th = el("th", "col-" + k, names[k]); th.scope = "col"; hr.appendChild(th); });
      thead.appendChild(hr);
      tbl.appendChild(thead);
    }
    var body = el("tbody");
    tbl.appendChild(body);
    wrap.appendChild(tbl);
    article.appendChild(wrap);

    var previousDate = null;
    rows.forEach(function (p, i) {
      var cells = parsed[i];
      var row = el("tr");
      row.id = p.paragraph_id;
      row.setAttribute("data-kind", p.kind);
      var date = cells && cells.date ? p.text.slice(cells.date.start, cells.date.end).replace(/\s+/g, "") : null;
      var repeated = date !== null && date === previousDate;
      previousDate = date;
      fills[p.paragraph_id] = function (q) {
        clear(row);
        var marks = q ? quoteRanges(p.text, q) : [];
        var swaps = replacementsOf(p);
        function cell(range, key, span) {
          var td = el("td", "col-" + key + (key === "date" && repeated ? " repeat" : ""));
          td.setAttribute("data-label", names[key]);
          if (span > 1) td.colSpan = span;
          if (range) emit(td, p.text, range.start, range.end, marks, swaps);
          row.appendChild(td);
          return td;
        }
        var last;
        if (!split || !cells) {
          // not a row of this shape: its whole text in one cell across the table
          last = cell({ start: 0, end: p.text.length }, "title", split ? columns.length : 1);
          last.classList.add("whole");
        } else {
          var pending = 1;
          columns.forEach(function (k) {
            if (k === "item" && !cells.item) { pending++; return; }  // the title takes its place
            last = cell(cells[k] || null, k, k === "title" ? pending : 1);
          });
        }
        last.appendChild(anchor(p.paragraph_id));
      };
      fills[p.paragraph_id]();
      body.appendChild(row);
    });
  }

  // --- rendering -------------------------------------------------------------------------------------

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
    clear(main);
    var head = el("header", "doc-head");
    var crumbs = el("nav", "crumbs");
    crumbs.setAttribute("aria-label", T.documents);
    var all = el("a", null, T.documents);
    all.href = base + "/documents" + (lang === "en" ? "?lang=en" : "");
    crumbs.appendChild(all);
    head.appendChild(crumbs);
    head.appendChild(el("h1", null, doc.title));
    var meta = [];
    var md = doc.metadata || {};
    if (typeof md.symbol === "string" && md.symbol) meta.push(T.symbol + " " + md.symbol);
    if (typeof md.date === "string" && md.date) meta.push(T.date + " " + md.date);
    meta.push(T.paragraphs(doc.paragraphs.length));
    head.appendChild(el("p", "doc-meta", meta.join(" · ")));
    main.appendChild(head);

    var heading = null;
    doc.paragraphs.forEach(function (p, i) {
      order[p.paragraph_id] = i;
      if (p.kind === "heading") heading = p.paragraph_id;
      sectionOf[p.paragraph_id] = heading;
    });
    linkFootnotes(doc.paragraphs);

    var article = el("article", "doc-body");
    var list = null, lastTop = null, rows = [];
    function flushRows() { if (rows.length) renderTable(article, rows); rows = []; }
    doc.paragraphs.forEach(function (p) {
      if (p.kind !== "list_item") { list = null; lastTop = null; }
      if (p.kind !== "table_row") flushRows();
      if (p.kind === "table_row") { rows.push(p); return; }
      if (p.kind === "list_item") {
        var parsed = parseBlocks(p.text, true);
        var li = paragraphBlock(p, "li", "list-item", parsed);
        labelItem(li, parsed.head.label);
        if (parsed.head.dashed && lastTop && !lastTop.dashed) {
          // a "- (a)" item right after a "1." item is the first one's sub-item
          if (!lastTop.children) {
            lastTop.children = listElement(!!parsed.head.label, "list sub");
            lastTop.node.appendChild(lastTop.children);
            // its own content is re-rendered in place: keep the children after it
            var fill = fills[lastTop.id], owner = lastTop;
            fills[lastTop.id] = function (q) { owner.node.removeChild(owner.children); fill(q); owner.node.appendChild(owner.children); };
          }
          lastTop.children.appendChild(li);
          return;
        }
        if (!list) { list = listElement(!!parsed.head.label, "list"); article.appendChild(list); }
        list.appendChild(li);
        lastTop = { id: p.paragraph_id, node: li, dashed: parsed.head.dashed, children: null };
        return;
      }
      var node;
      if (p.kind === "heading") {
        var depth = p.section ? p.section.split(" > ").length : 1;
        node = paragraphBlock(p, "h" + Math.min(depth + 1, CONFIG.headingLevels), "heading",
                              { head: {}, blocks: [{ type: "text", start: 0, end: p.text.length }] });
      } else {
        var blocks = parseBlocks(p.text, false);
        var nested = blocks.blocks.some(function (b) { return b.type === "list"; });
        if (p.kind === "footnote") {
          node = paragraphBlock(p, "aside", "footnote", blocks);
          node.setAttribute("role", "note");
        } else if (p.kind === "front_matter") {
          node = paragraphBlock(p, "div", "front", blocks);
        } else {
          // a <p> cannot hold a list
          node = paragraphBlock(p, nested ? "div" : "p", "para", blocks);
          if (p.paragraph_number) node.setAttribute("data-number", p.paragraph_number);
        }
      }
      article.appendChild(node);
    });
    flushRows();
    main.appendChild(article);
    main.setAttribute("aria-busy", "false");
    renderOutline(doc.paragraphs);
  }

  function renderOutline(paragraphs) {
    var headings = paragraphs.filter(function (p) { return p.kind === "heading"; });
    if (headings.length < CONFIG.minOutlineHeadings) return;
    var depthOf = function (p) { return p.section ? p.section.split(" > ").length : 1; };
    var top = Math.min.apply(null, headings.map(depthOf));
    var nav = document.getElementById("outline"), box = document.getElementById("outline-box");
    var listNode = document.getElementById("outline-list");
    document.getElementById("outline-title").textContent = T.outline;
    headings.forEach(function (p) {
      var li = el("li", "depth-" + Math.min(depthOf(p) - top + 1, CONFIG.outlineDepths));
      var a = el("a", null, p.text.replace(/\s+/g, " "));
      a.href = "#" + encodeURIComponent(p.paragraph_id);
      a.setAttribute("data-target", p.paragraph_id);
      // on a narrow screen the outline sits above the text: fold it away once it has been used
      a.addEventListener("click", function () { if (!window.matchMedia(CONFIG.sidebarQuery).matches) box.open = false; });
      li.appendChild(a);
      listNode.appendChild(li);
    });
    box.open = window.matchMedia(CONFIG.sidebarQuery).matches;
    nav.hidden = false;
  }

  // --- citations: the highlighted paragraph, and next / previous ------------------------------------

  var cited = [];

  function setupCited() {
    var ids = citedParam.slice();
    if (citedId && order[citedId] !== undefined) ids.push(citedId);
    var seen = {};
    cited = ids.filter(function (id) {
      if (order[id] === undefined || seen[id]) return false;
      seen[id] = true;
      return true;
    }).sort(function (a, b) { return order[a] - order[b]; });
    cited.forEach(function (id) {
      var node = document.getElementById(id);
      node.classList.add("cited");
      node.setAttribute("data-cited", String(cited.indexOf(id) + 1));
    });
    var nav = document.getElementById("cite-nav");
    if (cited.length < 2) return;
    nav.setAttribute("aria-label", T.cited);
    var prev = document.getElementById("cite-prev"), next = document.getElementById("cite-next");
    prev.textContent = T.prev;
    prev.setAttribute("aria-label", T.prevLabel);
    next.textContent = T.next;
    next.setAttribute("aria-label", T.nextLabel);
    prev.addEventListener("click", function () { step(-1); });
    next.addEventListener("click", function () { step(1); });
    nav.hidden = false;
    updateCited();
  }

  function currentPosition() {
    var id = decodeURIComponent(location.hash.slice(1));
    var node = id && document.getElementById(id);
    var para = node && node.closest("[data-kind]");
    return para && order[para.id] !== undefined ? order[para.id] : -1;
  }

  function neighbour(direction) {
    var at = currentPosition();
    var candidates = cited.filter(function (id) { return direction > 0 ? order[id] > at : order[id] < at; });
    if (!candidates.length) return null;
    return direction > 0 ? candidates[0] : candidates[candidates.length - 1];
  }

  function step(direction) {
    var id = neighbour(direction);
    if (id) go(id);
  }

  function updateCited() {
    if (cited.length < 2) return;
    var id = decodeURIComponent(location.hash.slice(1));
    document.getElementById("cite-pos").textContent = T.citePos(cited.indexOf(id) + 1, cited.length);
    document.getElementById("cite-prev").disabled = !neighbour(-1);
    document.getElementById("cite-next").disabled = !neighbour(1);
  }

  function highlight() {
    var id = decodeURIComponent(location.hash.slice(1));
    Array.prototype.forEach.call(document.querySelectorAll(".highlight"), function (node) {
      node.classList.remove("highlight");
      node.removeAttribute("aria-current");
      if (fills[node.id]) fills[node.id]();
    });
    Array.prototype.forEach.call(document.querySelectorAll("#outline-list a[aria-current]"), function (a) {
      a.removeAttribute("aria-current");
    });
    updateCited();
    if (!id) return;
    var node = document.getElementById(id);
    var target = node && node.closest("[data-kind]");
    if (!target || !fills[target.id]) {
      showNote(T.missingParagraph);
      return;
    }
    target.classList.add("highlight");
    target.setAttribute("aria-current", "true");
    target.setAttribute("tabindex", "-1");
    // the quote belongs to the cited paragraph only
    if (target.id === citedId && quote) fills[target.id](quote);
    var entry = sectionOf[target.id] &&
      document.querySelector("#outline-list a[data-target='" + CSS.escape(sectionOf[target.id]) + "']");
    if (entry) {
      entry.setAttribute("aria-current", "location");
      // beside the text the outline scrolls on its own: keep the section in sight (the page scrolls after)
      if (window.matchMedia(CONFIG.sidebarQuery).matches) entry.scrollIntoView({ block: "nearest" });
    }
    // a footnote reference (re-rendered above: look it up again) is where the reader returns to
    var focusNode = node === target ? target : document.getElementById(id) || target;
    focusNode.scrollIntoView({ block: "center" });
    focusNode.focus({ preventScroll: true });
  }

  function showNote(message) {
    var note = document.getElementById("note") || el("p", "note");
    note.id = "note";
    note.setAttribute("role", "status");
    note.textContent = message;
    main.insertBefore(note, main.firstChild.nextSibling);
  }

  // --- back to the conversation ----------------------------------------------------------------------

  // how many entries this page added to the tab's history (its own #paragraph jumps), so that "back"
  // skips them all and returns to the page that opened the viewer. The page's own links push their entry
  // with its depth in one step (a hashchange handler would run late, after a quick second jump).
  var depth = 0;

  function go(id) {
    if (decodeURIComponent(location.hash.slice(1)) !== id) {
      depth += 1;
      history.pushState({ nqViewerDepth: depth }, "", "#" + encodeURIComponent(id));
    }
    highlight();
  }

  // Back / Forward, or a fragment typed into the address bar (popstate and hashchange both come for it)
  function onHistory() {
    var state = history.state;
    if (state && typeof state.nqViewerDepth === "number") depth = state.nqViewerDepth;
    else { depth += 1; history.replaceState({ nqViewerDepth: depth }, ""); }
    highlight();
  }

  function followInPageLinks() {
    document.addEventListener("click", function (e) {
      var a = e.target.closest && e.target.closest("a[href^='#']");
      if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      go(decodeURIComponent(a.getAttribute("href").slice(1)));
    });
    window.addEventListener("popstate", onHistory);
    window.addEventListener("hashchange", onHistory);
    // back on this page from the back-forward cache: the script's state is that of the entry it left
    window.addEventListener("pageshow", function (e) {
      if (e.persisted && history.state && typeof history.state.nqViewerDepth === "number") depth = history.state.nqViewerDepth;
    });
  }

  function setupBack() {
    var state = history.state;
    if (state && typeof state.nqViewerDepth === "number") depth = state.nqViewerDepth;
    else history.replaceState({ nqViewerDepth: 0 }, "");
    var back = document.getElementById("back");
    var fromList = false;
    try {
      var ref = document.referrer ? new URL(document.referrer) : null;
      fromList = !!ref && ref.origin === location.origin && ref.pathname === base + "/documents";
    } catch (e) { fromList = false; }
    back.textContent = fromList ? T.backToList : T.back;
    back.href = fromList ? base + "/documents" : base + "/" + (collection ? "?collection=" + encodeURIComponent(collection) : "");
    back.addEventListener("click", function (e) {
      // reached by a link in this tab (the chat, the list, a widget's page): go back to that page as it
      // was; opened in a tab of its own (a citation opens one) or typed in, there is no such page
      // (what precedes may be a new-tab page), and the link opens the chat page
      if (document.referrer && history.length > depth + 1) {
        e.preventDefault();
        history.go(-(depth + 1));
      }
    });
  }

  // --- loading ---------------------------------------------------------------------------------------

  function UserError(message) { this.message = message; }

  function fail(message) {
    status.textContent = message;
    status.className = "status error";
    main.setAttribute("aria-busy", "false");
  }

  document.getElementById("back").textContent = T.back;
  var query = [];
  if (collection) query.push("collection=" + encodeURIComponent(collection));
  if (viewToken) query.push("view=" + encodeURIComponent(viewToken));
  var api = base + "/v1/documents/" + encodeURIComponent(docId) + (query.length ? "?" + query.join("&") : "");
  var headers = { Accept: "application/json" };
  // without a view link, the key the documents page was given in this tab (when keys are required)
  var key = viewToken ? null : storedKey();
  if (key) headers.Authorization = "Bearer " + key;
  fetch(api, { headers: headers })
    .then(function (response) {
      if (response.status === 404) throw new UserError(T.notFound);
      if (response.status === 401 || response.status === 403) throw new UserError(T.unauthorized);
      if (!response.ok) throw new UserError(T.failed);
      return response.json();
    })
    .then(function (doc) {
      render(doc);
      setupBack();
      setupCited();
      highlight();
      followInPageLinks();
      document.documentElement.setAttribute("data-ready", "true");
    })
    .catch(function (err) {
      setupBack();
      fail(err instanceof UserError ? err.message : T.failed);
      document.documentElement.setAttribute("data-ready", "error");
      if (!(err instanceof UserError) && window.console) console.error(err);
    });
})();
