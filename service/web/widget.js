/*
 * NotesQA chat widget. Add to any page:
 *
 *   <script src="https://<service>/widget.js" data-api="https://<service>" data-title="资料问答"
 *           data-lang="zh" defer></script>
 *
 * data-api          service URL (default: where widget.js was loaded from)
 * data-title        panel title                 data-greeting     first message
 * data-placeholder  input placeholder           data-accent       CSS colour (default #1f5fbf)
 * data-lang         zh | en                     data-position     bottom-right | bottom-left
 * data-mode         floating (default) | page (fills data-target, no launcher button)
 * data-target       CSS selector of the element to fill in page mode
 * data-open         "true": start with the panel open        data-api-key  bearer token, if required
 * data-examples     "false": do not offer example questions  data-top-k    paragraphs to retrieve
 * data-collection   the collection to ask (default: the service's default collection)
 * data-doc-ids      comma-separated document ids: answer from these documents only (doc_ids of /v1/ask)
 * data-scope-from-url  "true": take the collection and documents from the page's own query string
 *                   (?collection=…&doc=<id>&doc=…&title=…), as the source viewer's "ask about this document" does
 *
 * Everything lives in a Shadow DOM; no external asset is loaded. Server text is only ever
 * inserted as text (textContent / text nodes), never parsed as HTML.
 * The host element dispatches `notesqa:stream` events ({detail: {event, data}}) for each
 * Server-Sent Event received, and `window.NotesQA.instances` lists the mounted widgets.
 */
(function () {
  "use strict";

  var currentScript = document.currentScript;

  // every number that decides how the widget behaves, in one place
  var SETTINGS = {
    historyTurns: 6,          // earlier answered turns sent with a question (oldest dropped first)
    historyChars: 20000,      // per question / answer sent as history
    keptTurns: 30,            // turns kept in sessionStorage
    timeoutMs: 90000,         // a question with no finished answer by then fails as a timeout
    quoteUrlChars: 600,       // of the quote put in a viewer link (the copied text carries no quote)
    shortNameChars: 20,       // a document's short name on a chip (more is cut, with "…")
    sharedPrefixMin: 6,       // a title opening shared with another title is dropped from 6 characters on
    headingChars: 14,         // a section heading on a chip
    genericHeadingChars: 3,   // an unnumbered heading this short ("说明", "文件", "附件") says nothing alone
    previewChars: 360,        // of a paragraph shown around its quote in a preview
    previewWidth: 360,        // px, less where the visible area is narrower
    previewMargin: 8,         // px kept between a preview and the edge of the visible area
    previewGap: 6,            // px between a preview and its marker or chip
    previewMinHeight: 96,     // px: below this the preview goes to the side with more room
    previewHideMs: 250,       // the pointer may move from a marker into its preview in this time
    closestChars: 90          // of each closest passage shown on an abstention
  };

  var STRINGS = {
    zh: {
      title: "资料问答",
      greeting: "你好！我可以根据资料原文回答问题，并标出每个答案的出处。",
      placeholder: "输入问题，按 Enter 发送",
      open: "打开资料问答",
      close: "关闭",
      newChat: "新对话",
      send: "发送",
      input: "问题",
      log: "对话记录",
      examples: "可以这样问：",
      thinking: "正在查找资料…",
      you: "你的问题",
      assistant: "回答",
      sources: "出处",
      cite: function (n, label) { return "引用 " + n + "：" + label; },
      para: function (n) { return "第" + n + "段"; },
      footnote: "脚注",
      table: "表格",
      openSource: "查看原文",
      abstainHint: "可以换个说法，或补充会议名称、年份等细节再问。",
      up: "有帮助",
      down: "没有帮助",
      copy: "复制答案和引用",
      copied: "已复制",
      copyFailed: "复制失败",
      commentLabel: "补充说明（可选）",
      commentPlaceholder: "哪里不对？正确的答案或出处是什么？",
      submit: "提交",
      thanks: "谢谢反馈！",
      feedbackFailed: "反馈没有发送成功，请稍后再试。",
      retry: "重试",
      unreachable: "无法连接到问答服务，请检查网络后重试。",
      corsRefused: "此页面的来源未获准使用问答服务。请网站管理员把本页来源加入服务的 NOTESQA_CORS_ORIGINS 设置。",
      rateLimited: function (s) { return s ? "提问太频繁了，请 " + s + " 秒后再试。" : "提问太频繁了，请稍后再试。"; },
      serverError: "问答服务暂时出错，请稍后重试。",
      interrupted: "回答中断了，请重试。",
      timeout: "等待回答超时，请重试。",
      unauthorized: "问答服务拒绝了请求（需要有效的访问密钥）。",
      busy: "问答服务正忙，请稍后重试。",
      resolved: "回答的是：",
      disclaimer: "答案摘自资料原文，请以引用的原文为准。",
      stop: "停止生成",
      stopped: "已停止生成，上面是停止前收到的部分。",
      regenerate: "重新生成",
      closest: "最接近的段落（不是答案）",
      closestHint: "资料里与问题最接近的几段原文，供自行查看；它们没有回答这个问题。",
      byLlm: "由语言模型根据引用段落写成，每句已与所引原文核对。",
      fellBack: "语言模型这次没有作答，显示的是摘录答案。",
      dropped: function (n) { return "删去了 " + n + " 句原文不支持的内容"; },
      scoped: function (name) { return "只在《" + name + "》中查找答案。"; }
    },
    en: {
      title: "Ask the notes",
      greeting: "Hello! I answer from the source notes and show where each answer comes from.",
      placeholder: "Ask a question and press Enter",
      open: "Open the notes assistant",
      close: "Close",
      newChat: "New conversation",
      send: "Send",
      input: "Question",
      log: "Conversation",
      examples: "Try asking:",
      thinking: "Searching the notes…",
      you: "Your question",
      assistant: "Answer",
      sources: "Sources",
      cite: function (n, label) { return "Citation " + n + ": " + label; },
      para: function (n) { return "¶ " + n; },
      footnote: "footnote",
      table: "table",
      openSource: "Open the source",
      abstainHint: "Try rephrasing, or add details such as the meeting or the year.",
      up: "Helpful",
      down: "Not helpful",
      copy: "Copy answer with citations",
      copied: "Copied",
      copyFailed: "Copy failed",
      commentLabel: "Comment (optional)",
      commentPlaceholder: "What is wrong? What is the right answer or source?",
      submit: "Send",
      thanks: "Thank you for the feedback!",
      feedbackFailed: "The feedback could not be sent; please try again later.",
      retry: "Retry",
      unreachable: "Cannot reach the answering service. Check the network and retry.",
      corsRefused: "This page's origin is not allowed to use the answering service. The site's administrator must add it to the service's NOTESQA_CORS_ORIGINS setting.",
      rateLimited: function (s) { return s ? "Too many questions; retry in " + s + " s." : "Too many questions; retry shortly."; },
      serverError: "The answering service hit an error; please retry.",
      interrupted: "The answer was interrupted; please retry.",
      timeout: "No answer in time; please retry.",
      unauthorized: "The service refused the request (a valid API key is needed).",
      busy: "The answering service is busy; please retry shortly.",
      resolved: "Answered: ",
      disclaimer: "Answers quote the source notes; check the cited text.",
      stop: "Stop generating",
      stopped: "Stopped: above is what had arrived.",
      regenerate: "Regenerate",
      closest: "Closest passages (not an answer)",
      closestHint: "The passages of the notes nearest to the question, to read yourself; they do not answer it.",
      byLlm: "Written by a language model from the cited passages; each sentence was checked against its source.",
      fellBack: "The language model did not answer this time; this is the extracted answer.",
      dropped: function (n) { return n + " sentence(s) the sources do not support were dropped"; },
      scoped: function (name) { return "Answers come from “" + name + "” only."; }
    }
  };

  var ICONS = {
    chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01z",
    close: "M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6z",
    send: "M3 20.5 21.5 12 3 3.5v6.6L16 12 3 13.9z",
    reset: "M12 5V2L7 6l5 4V7a5 5 0 1 1-5 5H5a7 7 0 1 0 7-7z",
    up: "M2 10h4v11H2zm6 11h9.2a2 2 0 0 0 2-1.6l1.7-7.4A2 2 0 0 0 19 9.5h-5.3l.8-4.1a1.7 1.7 0 0 0-3-1.4L8 8.6z",
    down: "M22 14h-4V3h4zm-6-11H6.8a2 2 0 0 0-2 1.6l-1.7 7.4A2 2 0 0 0 5 14.5h5.3l-.8 4.1a1.7 1.7 0 0 0 3 1.4l3.5-4.6z",
    copy: "M8 3h11a2 2 0 0 1 2 2v11h-2V5H8zM5 7h10a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V9a2 2 0 0 1 2-2zm0 2v11h10V9z",
    info: "M12 2a10 10 0 1 1 0 20 10 10 0 0 1 0-20zm-1 8v7h2v-7zm0-4v2h2V6z",
    alert: "M12 2 1 21h22zm-1 7h2v6h-2zm0 8h2v2h-2z",
    stop: "M7 7h10v10H7z",
    regenerate: "M17.65 6.35A7.96 7.96 0 0 0 12 4a8 8 0 1 0 7.73 10h-2.08A6 6 0 1 1 12 6c1.66 0 3.14.69 4.22 1.78L13 11h7V4z",
    external: "M14 3h7v7h-2V6.4l-9.3 9.3-1.4-1.4L17.6 5H14zM5 5h6v2H5v12h12v-6h2v6a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2z"
  };

  var CSS = [
    ":host{all:initial !important;}",
    ":host(.nq-page){display:block !important;width:100% !important;height:100% !important;}",
    ".nq{all:initial;display:block;box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI','PingFang SC','Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC','Source Han Sans SC','WenQuanYi Zen Hei',sans-serif;font-size:15px;line-height:1.6;color:#1d2430;-webkit-text-size-adjust:100%;height:100%;}",
    ".nq *,.nq *::before,.nq *::after{box-sizing:border-box;}",
    ":where(.nq) :where(button,textarea,a){font:inherit;color:inherit;}",  /* no specificity: .launcher etc. keep their colours */
    ".nq :focus{outline:none;}",
    ".nq :focus-visible{outline:3px solid var(--nq-accent);outline-offset:2px;border-radius:6px;}",
    ".nq svg{width:20px;height:20px;fill:currentColor;flex:none;}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;}",
    /* launcher */
    ".launcher{position:fixed;bottom:20px;right:20px;z-index:2147483000;width:56px;height:56px;border-radius:50%;border:none;cursor:pointer;background:var(--nq-accent);color:var(--nq-on-accent);box-shadow:0 6px 20px rgba(15,23,42,.28);display:flex;align-items:center;justify-content:center;transition:transform .15s;}",
    ".launcher:hover{transform:scale(1.06);}",
    ".launcher svg{width:26px;height:26px;}",
    ".left .launcher{right:auto;left:20px;}",
    /* panel */
    ".panel{position:fixed;bottom:88px;right:20px;z-index:2147483000;width:390px;max-width:calc(100vw - 32px);height:620px;max-height:calc(100vh - 108px);display:flex;flex-direction:column;background:#fff;border-radius:16px;box-shadow:0 12px 40px rgba(15,23,42,.25),0 0 0 1px rgba(15,23,42,.06);overflow:hidden;}",
    ".left .panel{right:auto;left:20px;}",
    ".panel[hidden]{display:none;}",
    ".page .panel{position:relative;inset:auto;width:100%;max-width:none;height:100%;max-height:none;border-radius:0;box-shadow:none;}",
    "@media (max-width:480px){.floating .panel{inset:0;width:auto;max-width:none;height:auto;max-height:none;border-radius:0;}.floating.open .launcher{display:none;}}",
    "header{display:flex;align-items:center;gap:4px;padding:10px 8px 10px 16px;background:var(--nq-accent);color:var(--nq-on-accent);flex:none;}",
    "header h2{all:unset;flex:1;min-width:0;font-size:16px;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;}",
    ".icon-btn{display:inline-flex;align-items:center;justify-content:center;width:36px;height:36px;border:none;border-radius:8px;background:transparent;cursor:pointer;}",
    "header .icon-btn:hover{background:rgba(255,255,255,.18);}",
    "header .icon-btn:focus-visible{outline-color:var(--nq-on-accent);}",
    ".log{flex:1;overflow-y:auto;overflow-x:hidden;padding:16px 14px 8px;background:#f6f7f9;overscroll-behavior:contain;}",
    ".page .log{padding:24px max(14px,calc(50% - 380px)) 8px;}",
    ".msg{margin:0 0 14px;max-width:100%;overflow-wrap:anywhere;word-break:break-word;}",
    ".q{display:flex;justify-content:flex-end;}",
    ".q p{margin:0;max-width:85%;padding:8px 12px;border-radius:14px 14px 4px 14px;background:var(--nq-accent);color:var(--nq-on-accent);white-space:pre-wrap;}",
    ".a{background:#fff;border:1px solid #e3e6eb;border-radius:4px 14px 14px 14px;padding:10px 12px;}",
    ".greeting{color:#3a4352;}",
    ".scope{color:#3a4352;font-size:13px;border-left:3px solid var(--nq-accent);}",
    ".examples{margin:8px 0 14px;}",
    ".examples p{margin:0 0 6px;font-size:13px;color:#5b6472;}",
    ".examples ul{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:6px;}",
    ".ex{width:100%;text-align:left;padding:7px 10px;border:1px solid #d5dae1;border-radius:10px;background:#fff;cursor:pointer;font-size:14px;overflow-wrap:anywhere;}",
    ".ex:hover{border-color:var(--nq-accent);}",
    ".answer{white-space:pre-wrap;}",
    ".resolved{margin:0 0 6px;font-size:12px;color:#5b6472;overflow-wrap:anywhere;}",
    ".engine{margin:6px 0 0;font-size:12px;color:#5b6472;}",
    ".dropped{margin:6px 0 0;font-size:12px;color:#5b6472;}.dropped ul{margin:4px 0 0;padding-left:18px;}",
    ".fact{font-weight:700;color:#0f172a;}",
    ".streaming .answer::after{content:'';display:inline-block;width:7px;height:1em;margin-left:2px;vertical-align:-2px;background:var(--nq-accent);animation:nqblink 1s steps(2) infinite;}",
    ".marker{display:inline;padding:0 2px;margin:0 1px;border:none;border-radius:4px;background:var(--nq-soft);color:var(--nq-accent-text);font-size:.8em;font-weight:600;vertical-align:super;line-height:1;cursor:pointer;}",
    ".marker:hover{background:var(--nq-accent);color:var(--nq-on-accent);}",
    ".thinking{display:flex;align-items:center;gap:8px;color:#5b6472;}",
    ".dots{display:inline-flex;gap:4px;}",
    ".dots i{width:6px;height:6px;border-radius:50%;background:#9aa3af;animation:nqdot 1.2s infinite ease-in-out;}",
    ".dots i:nth-child(2){animation-delay:.15s}.dots i:nth-child(3){animation-delay:.3s}",
    "@keyframes nqdot{0%,80%,100%{opacity:.3;transform:translateY(0)}40%{opacity:1;transform:translateY(-3px)}}",
    "@keyframes nqblink{to{visibility:hidden}}",
    "@media (prefers-reduced-motion:reduce){.dots i,.streaming .answer::after{animation:none}.launcher{transition:none}}",
    ".abstained{background:#fff8e6;border-color:#f0d48a;}",
    ".abstained .answer{display:flex;gap:8px;align-items:flex-start;font-weight:600;color:#6b4e00;}",
    ".abstained .answer svg{margin-top:2px;fill:#c28a00;}",
    ".hint{margin:6px 0 0;font-size:13px;color:#6b5a2a;}",
    ".error{background:#fff1f1;border-color:#f2b8b8;}",
    ".error .answer{display:flex;gap:8px;color:#8a1c1c;}",
    ".error .answer svg{margin-top:2px;fill:#c62828;}",
    ".retry{margin-top:8px;padding:6px 14px;border:1px solid #c62828;border-radius:8px;background:#fff;color:#8a1c1c;cursor:pointer;font-weight:600;}",
    ".retry:hover{background:#c62828;color:#fff;}",
    ".cites{list-style:none;margin:10px 0 0;padding:0;display:flex;flex-wrap:wrap;gap:6px;}",
    ".cites li{max-width:100%;}",
    ".chip{display:inline-block;max-width:100%;padding:4px 10px;border:1px solid #d5dae1;border-radius:12px;background:#f8f9fb;cursor:pointer;font-size:13px;line-height:1.45;text-align:left;overflow-wrap:anywhere;}",
    ".chip:hover,.chip[aria-expanded=true]{border-color:var(--nq-accent);background:var(--nq-soft);}",
    ".chip b{margin-right:6px;color:var(--nq-accent-text);}",
    /* the name is already short: the chip flows as one line of text and wraps, never hiding its end */
    ".chip .loc{display:inline-block;max-width:100%;margin-left:6px;color:#5b6472;}",  /* kept whole on a line when it fits */
    /* the preview floats next to its marker or chip; widget.js keeps it inside the visible area */
    ".preview{position:fixed;top:0;left:0;z-index:2147483001;width:360px;max-width:calc(100vw - 16px);padding:10px 12px;border:1px solid #d5dae1;border-left:3px solid var(--nq-accent);border-radius:8px;background:#fff;box-shadow:0 8px 28px rgba(15,23,42,.22);font-size:14px;line-height:1.6;overflow-y:auto;overscroll-behavior:contain;text-align:left;}",
    ".preview[hidden]{display:none;}",
    ".pv-head{margin:0 0 4px;font-size:12px;color:#5b6472;overflow-wrap:anywhere;}",
    ".pv-text{margin:0;white-space:pre-wrap;color:#2c3340;overflow-wrap:anywhere;}",
    ".pv-text mark{background:#ffe58a;color:inherit;padding:0 1px;border-radius:2px;}",
    ".source-link{display:inline-flex;align-items:center;gap:4px;margin-top:6px;color:var(--nq-accent-text);font-weight:600;text-decoration:none;font-size:13px;}",
    ".source-link:hover{text-decoration:underline;}",
    ".source-link svg{width:14px;height:14px;}",
    ".actions{display:flex;align-items:center;gap:2px;margin-top:8px;color:#5b6472;}",
    ".actions .icon-btn{width:32px;height:32px;}",
    ".actions .icon-btn svg{width:17px;height:17px;}",
    ".actions .icon-btn:hover{background:#eef0f3;color:#1d2430;}",
    ".actions .icon-btn[aria-pressed=true]{color:var(--nq-accent-text);background:var(--nq-soft);}",
    ".note{font-size:12px;color:#5b6472;margin-left:6px;}",
    ".stopped-note{margin:6px 0 0;font-size:12px;color:#5b6472;}",
    ".stopped .answer{color:#3a4352;}",
    ".stop svg{width:16px;height:16px;}",
    ".send[hidden],.stop[hidden]{display:none;}",
    /* closest passages under an abstention: reading material, styled apart from an answer */
    ".closest{margin-top:10px;padding-top:8px;border-top:1px dashed #e0c98a;}",
    ".closest h3{all:unset;display:block;font-size:13px;font-weight:700;color:#6b4e00;}",
    ".closest .closest-hint{margin:2px 0 0;font-size:12px;color:#6b5a2a;}",
    ".closest ol{list-style:none;margin:8px 0 0;padding:0;display:flex;flex-direction:column;gap:8px;}",
    ".closest li{padding:6px 8px;border:1px solid #eadcb4;border-radius:8px;background:#fffdf6;}",
    ".closest a{color:var(--nq-accent-text);font-size:13px;font-weight:600;text-decoration:none;overflow-wrap:anywhere;}",
    ".closest a:hover{text-decoration:underline;}",
    ".closest a svg{width:13px;height:13px;margin-left:3px;vertical-align:-2px;}",
    ".closest .loc{margin-left:4px;font-weight:400;color:#5b6472;white-space:nowrap;}",
    ".closest .snippet{margin:2px 0 0;font-size:13px;color:#3a4352;white-space:pre-wrap;}",
    ".comment{margin-top:8px;display:flex;flex-direction:column;gap:6px;}",
    ".comment[hidden]{display:none;}",
    ".comment label{font-size:12px;color:#5b6472;}",
    ".comment textarea{width:100%;min-height:56px;resize:vertical;padding:6px 8px;border:1px solid #d5dae1;border-radius:8px;background:#fff;font-size:14px;}",
    ".comment button{align-self:flex-end;padding:5px 14px;border:none;border-radius:8px;background:var(--nq-accent);color:var(--nq-on-accent);cursor:pointer;}",
    "form.composer{display:flex;align-items:flex-end;gap:8px;padding:10px 12px;border-top:1px solid #e3e6eb;background:#fff;flex:none;margin:0;}",
    ".page form.composer{padding:12px max(12px,calc(50% - 380px));}",
    ".composer textarea{flex:1;min-width:0;resize:none;max-height:132px;min-height:40px;padding:8px 12px;border:1px solid #cfd5dd;border-radius:12px;background:#fff;font-size:15px;line-height:1.5;overflow-y:auto;}",
    ".composer textarea:focus-visible{outline:2px solid var(--nq-accent);outline-offset:0;border-color:transparent;}",
    ".send,.stop{width:40px;height:40px;border:none;border-radius:12px;background:var(--nq-accent);color:var(--nq-on-accent);cursor:pointer;display:inline-flex;align-items:center;justify-content:center;flex:none;}",
    ".send:disabled{opacity:.45;cursor:default;}",
    ".disclaimer{margin:0;padding:0 12px 8px;font-size:11px;color:#7a8391;text-align:center;background:#fff;flex:none;}",
    /* dark mode: follows the reader's system setting; every text colour keeps >= 4.5:1 on its background */
    "@media (prefers-color-scheme:dark){" +
      ".nq{color:#e6e9ef;color-scheme:dark;}" +
      ".panel{background:#171a21;box-shadow:0 12px 40px rgba(0,0,0,.55),0 0 0 1px rgba(255,255,255,.08);}" +
      ".log{background:#12151b;}" +
      ".a{background:#1e232b;border-color:#2e3541;}" +
      ".greeting,.scope{color:#c3c9d3;}" +
      ".examples p,.thinking,.pv-head,.chip .loc,.actions,.note,.comment label,.resolved{color:#a3acb9;}" +
      ".ex{background:#1e232b;border-color:#3a4250;}" +
      ".fact{color:#fff;}" +
      ".dots i{background:#6b7380;}" +
      ".marker,.chip b,.source-link,.actions .icon-btn[aria-pressed=true]{color:var(--nq-accent-text-dark);}" +
      ".abstained{background:#2a2414;border-color:#6b5520;}" +
      ".abstained .answer{color:#f0d48a;}.abstained .answer svg{fill:#e0b040;}.hint{color:#d9c48a;}" +
      ".error{background:#2c1818;border-color:#7a2e2e;}" +
      ".error .answer{color:#ffb4b4;}.error .answer svg{fill:#ff8a8a;}" +
      ".retry{background:transparent;border-color:#ff8a8a;color:#ffb4b4;}.retry:hover{background:#c62828;color:#fff;}" +
      ".chip{background:#232935;border-color:#3a4250;}" +
      ".chip:hover,.chip[aria-expanded=true]{background:#2b3342;}" +
      ".preview{background:#232935;border-color:#3a4250;box-shadow:0 8px 28px rgba(0,0,0,.6);}.pv-text{color:#d5dae1;}.pv-text mark{background:#5c4d00;}" +
      ".stopped-note,.closest .loc{color:#a3acb9;}.stopped .answer{color:#d5dae1;}" +
      ".closest{border-top-color:#6b5520;}.closest h3{color:#f0d48a;}.closest .closest-hint{color:#d9c48a;}" +
      ".closest li{background:#1e232b;border-color:#4a4026;}.closest .snippet{color:#d5dae1;}" +
      ".closest a{color:var(--nq-accent-text-dark);}" +
      ".actions .icon-btn:hover{background:#2a303b;color:#e6e9ef;}" +
      ".comment textarea,.composer textarea{background:#12151b;border-color:#3a4250;}" +
      ".nq textarea::placeholder{color:#8f98a6;}" +
      "form.composer{background:#171a21;border-top-color:#2e3541;}" +
      ".disclaimer{background:#171a21;color:#8f98a6;}" +
    "}"
  ].join("\n");

  // --- small DOM helpers: every string goes in as text ------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "text") node.textContent = value;
        else if (key === "class") node.className = value;
        else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
        else node.setAttribute(key, value === true ? "" : String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function icon(name) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", ICONS[name]);
    svg.appendChild(path);
    return svg;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  // --- quotes: mark the quoted sentence(s) inside a paragraph, whitespace-insensitively ------------
  function quoteRanges(text, quote) {
    var ranges = [];
    var parts = String(quote || "").split(/…|(?<=[。！？!?])/);
    var compact = "", index = [];
    for (var i = 0; i < text.length; i++) {
      if (!/\s/.test(text[i])) { compact += text[i]; index.push(i); }
    }
    parts.forEach(function (part) {
      var needle = part.replace(/\s+/g, "");
      if (needle.length < 2) return;
      var at = compact.indexOf(needle);
      if (at < 0) return;
      ranges.push([index[at], index[at + needle.length - 1] + 1]);
    });
    ranges.sort(function (a, b) { return a[0] - b[0]; });
    var merged = [];
    ranges.forEach(function (r) {
      var last = merged[merged.length - 1];
      if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
      else merged.push(r.slice());
    });
    return merged;
  }

  function appendRanges(parent, text, ranges) {
    var pos = 0;
    ranges.forEach(function (r) {
      if (r[0] > pos) parent.appendChild(document.createTextNode(text.slice(pos, r[0])));
      parent.appendChild(el("mark", { text: text.slice(r[0], r[1]) }));
      pos = r[1];
    });
    if (pos < text.length) parent.appendChild(document.createTextNode(text.slice(pos)));
  }

  // --- cutting text for display --------------------------------------------------------------------
  // Cuts fall where a word starts (the browser's ICU word segmenter reads Chinese without spaces), never
  // inside a surrogate pair, and what was cut away is shown as "…".
  var ELLIPSIS = "…";
  var wordSegmenter = null;
  try { wordSegmenter = new Intl.Segmenter("zh", { granularity: "word" }); } catch (e) { wordSegmenter = null; }
  var OPENERS = /[\s,，、;；:：(（《〈“‘\[【>›·\-–—\/]+$/;   // nothing ends on an opening bracket or a separator
  var CLOSERS = /^[\s,，、;；:：)）》〉”’\]】。.>›·\-–—\/]+/;  // nor starts on a closing one

  function boundaries(text) {
    var out = [];
    if (wordSegmenter) {
      Array.from(wordSegmenter.segment(text)).forEach(function (part) { out.push(part.index); });
    } else {
      for (var i = 0; i < text.length; i++) {
        var code = text.charCodeAt(i);
        if (!(code >= 0xdc00 && code <= 0xdfff && i > 0)) out.push(i);  // not the second half of a pair
      }
    }
    out.push(text.length);
    return out;
  }

  function atOrBefore(bounds, at) {
    var best = 0;
    bounds.forEach(function (b) { if (b <= at && b > best) best = b; });
    return best;
  }

  function atOrAfter(bounds, at) {
    for (var i = 0; i < bounds.length; i++) if (bounds[i] >= at) return bounds[i];
    return bounds[bounds.length - 1];
  }

  function codePointSafe(text, at) {
    var code = text.charCodeAt(at);
    return at > 0 && at < text.length && code >= 0xdc00 && code <= 0xdfff ? at - 1 : at;
  }

  // the text cut to at most `max` characters (the "…" included); `keep` characters stay whatever happens
  function cutEnd(value, max, keep) {
    var text = String(value || "").replace(/\s+/g, " ").trim();
    if (text.length <= max) return text;
    var bounds = boundaries(text), at = atOrBefore(bounds, max - 1);
    if (at < (max - 1) / 2) at = codePointSafe(text, max - 1);  // one long word (a URL, a symbol)
    if (keep && at < keep) at = atOrAfter(bounds, keep);
    var piece = text.slice(0, at).replace(OPENERS, "");
    if (!piece) piece = text.slice(0, codePointSafe(text, max - 1));
    return piece.length < text.length ? piece + ELLIPSIS : piece;
  }

  // at most `max` characters of a paragraph around the first marked range, with the ranges moved along
  function excerpt(text, ranges, max) {
    if (text.length <= max) return { text: text, ranges: ranges };
    var bounds = boundaries(text);
    var first = ranges[0] || [0, 0];
    var lead = Math.max(0, Math.floor((max - (first[1] - first[0])) / 3));
    var start = Math.max(0, Math.min(first[0] - lead, text.length - max));
    if (start > 0) start = atOrBefore(bounds, start);
    var end = Math.min(text.length, start + max);
    if (end < text.length) {
      var cut = atOrBefore(bounds, end);
      end = cut > start ? cut : codePointSafe(text, end);
    }
    var body = text.slice(start, end);
    var head = start > 0 ? ELLIPSIS : "", tail = end < text.length ? ELLIPSIS : "";
    var moved = [];
    ranges.forEach(function (r) {
      var a = Math.max(r[0], start), b = Math.min(r[1], end);
      if (a < b) moved.push([a - start + head.length, b - start + head.length]);
    });
    return { text: head + body + tail, ranges: moved };
  }

  function commonPrefix(a, b) {
    var n = Math.min(a.length, b.length), i = 0;
    while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
    return i;
  }

  // a UN-style document symbol: CAC/COSP/WG.2/2018/1, A/RES/58/4, E/CN.15/2019/L.1/Add.1
  var SYMBOL = /\b[A-Z][A-Z0-9.]*(?:\/[A-Za-z0-9][A-Za-z0-9.\-]*){2,}/;

  function findSymbol(values) {
    for (var i = 0; i < values.length; i++) {
      var m = typeof values[i] === "string" ? SYMBOL.exec(values[i]) : null;
      if (m) return m[0].replace(/[.\-]+$/, "");
    }
    return null;
  }

  // a numbered heading ("2. 通过议程", "(b) 选举", "一. 导言") names its subject; an unnumbered short one
  // ("说明", "文件", "附件") is the same in every section and tells the reader nothing
  var NUMBERING = /^\s*(?:[一二三四五六七八九十百]+[.、．]|[A-Z][.．]|\d+(?:\.\d+)*[.．、]?\s|\(?[a-z]\)|（[a-z一二三四五六七八九十]+）)/;
  function genericHeading(heading) {
    var text = String(heading || "").trim();
    return !NUMBERING.test(text) && text.length <= SETTINGS.genericHeadingChars;
  }

  // --- colours -------------------------------------------------------------------------------------
  function parseColour(value) {
    if (!value || (window.CSS && CSS.supports && !CSS.supports("color", value))) return null;
    var ctx = document.createElement("canvas").getContext("2d");
    if (!ctx) return { css: value, rgb: [31, 95, 191] };
    ctx.fillStyle = "#000";
    ctx.fillStyle = value;
    var hex = ctx.fillStyle;  // "#rrggbb" or "rgba(r, g, b, a)"
    var m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
    var rgb = m ? [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)]
      : (hex.match(/\d+/g) || [31, 95, 191]).slice(0, 3).map(Number);
    return { css: value, rgb: rgb };
  }

  function luminance(rgb) {
    var c = rgb.map(function (v) { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }

  // the accent as text on the dark answer background (#232935, the lighter of the dark surfaces):
  // mixed towards white until it reaches 4.5:1
  function accentOnDark(rgb) {
    var bg = luminance([35, 41, 53]);
    for (var step = 0; step <= 10; step++) {
      var mix = rgb.map(function (v) { return Math.round(v + (255 - v) * step / 10); });
      if ((luminance(mix) + 0.05) / (bg + 0.05) >= 4.5) return "rgb(" + mix.join(",") + ")";
    }
    return "#ffffff";
  }

  // --- Server-Sent Events over fetch (POST) ---------------------------------------------------------
  function parseEvents(buffer, onEvent) {
    var blocks = buffer.split(/\r?\n\r?\n/);
    var rest = blocks.pop();
    blocks.forEach(function (block) {
      var event = "message", data = [];
      block.split(/\r?\n/).forEach(function (line) {
        if (!line || line[0] === ":") return;
        var colon = line.indexOf(":");
        var field = colon < 0 ? line : line.slice(0, colon);
        var value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
      });
      if (!data.length) return;
      var payload;
      try { payload = JSON.parse(data.join("\n")); } catch (e) { payload = data.join("\n"); }
      onEvent(event, payload);
    });
    return rest;
  }

  function Failure(code, message, retryAfter) {
    this.code = code; this.message = message; this.retryAfter = retryAfter;
  }

  function Widget(config) {
    this.config = config;
    this.T = STRINGS[config.lang];
    this.turns = [];
    this.examples = null;
    this.storageKey = "notesqa:v1:" + config.api + ":" + (config.collection || "") + ":" + config.lang +
      (config.docIds.length ? ":" + config.docIds.join(",") : "");  // a scoped conversation is its own
    this.controller = null;
    this.documents = null;     // doc_id -> {title, metadata} from GET /v1/documents, once loaded
    this.titleList = [];       // every document title known: the collection's and the conversation's
    this.titleSeen = {};
    this.shortCache = {};
    this.previewState = null;  // {turn, marker, anchor, pinned} of the open preview
    this.hideTimer = null;
    this.lastCopied = null;    // the text the last "copy" produced (for integrations and tests)
    this.build();
    this.restore();
    this.render();
    if (config.mode === "page" || config.open) this.open(false);
  }

  Widget.prototype.build = function () {
    var self = this, cfg = this.config, T = this.T;
    var host = document.createElement("notesqa-chat");
    host.setAttribute("data-notesqa", "");
    if (cfg.mode === "page") host.className = "nq-page";
    this.host = host;
    var root = host.attachShadow({ mode: "open" });
    this.root = root;
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } catch (e) {
      root.appendChild(el("style", { text: CSS }));
    }
    var accent = parseColour(cfg.accent) || parseColour("#1f5fbf");
    var light = luminance(accent.rgb) > 0.45;
    host.style.setProperty("--nq-accent", accent.css);
    host.style.setProperty("--nq-on-accent", light ? "#111827" : "#ffffff");
    host.style.setProperty("--nq-accent-text", light ? "#1d2430" : accent.css);
    host.style.setProperty("--nq-soft", "rgba(" + accent.rgb.join(",") + ",.12)");
    host.style.setProperty("--nq-accent-text-dark", accentOnDark(accent.rgb));

    var wrap = el("div", { class: "nq " + (cfg.mode === "page" ? "page" : "floating") + (cfg.position === "left" ? " left" : ""),
                           lang: cfg.lang === "en" ? "en" : "zh-CN" });
    this.wrap = wrap;
    var panelId = "nq-panel", titleId = "nq-title";
    if (cfg.mode !== "page") {
      this.launcher = el("button", { class: "launcher", type: "button", "aria-label": T.open, title: cfg.title,
                                     "aria-expanded": "false", "aria-controls": panelId, "aria-haspopup": "dialog",
                                     onclick: function () { self.isOpen ? self.close() : self.open(true); } },
                         [icon("chat")]);
      wrap.appendChild(this.launcher);
    }
    this.log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
                           "aria-label": T.log, tabindex: "-1" });
    this.input = el("textarea", { rows: "1", "aria-label": T.input, placeholder: cfg.placeholder,
                                  maxlength: "2000", enterkeyhint: "send" });
    this.sendButton = el("button", { class: "send", type: "submit", "aria-label": T.send, title: T.send }, [icon("send")]);
    this.stopButton = el("button", { class: "stop", type: "button", "aria-label": T.stop, title: T.stop, hidden: true,
                                     onclick: function () { self.stop(); } }, [icon("stop")]);
    var form = el("form", { class: "composer", novalidate: true,
                            onsubmit: function (e) { e.preventDefault(); self.submit(); } },
                  [this.input, this.sendButton, this.stopButton]);
    this.input.addEventListener("keydown", function (e) {
      // Enter sends; Shift+Enter is a new line; never while an IME is composing (Chinese input)
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        self.submit();
      }
    });
    this.input.addEventListener("input", function () { self.autosize(); self.updateSend(); });
    var headerButtons = [el("button", { class: "icon-btn", type: "button", "aria-label": T.newChat, title: T.newChat,
                                        onclick: function () { self.reset(); } }, [icon("reset")])];
    if (cfg.mode !== "page") {
      headerButtons.push(el("button", { class: "icon-btn", type: "button", "aria-label": T.close, title: T.close,
                                        onclick: function () { self.close(); } }, [icon("close")]));
    }
    var panelAttrs = cfg.mode === "page"
      ? { class: "panel", id: panelId, role: "region", "aria-labelledby": titleId }
      : { class: "panel", id: panelId, role: "dialog", "aria-modal": "true", "aria-labelledby": titleId, hidden: true };
    this.panel = el("section", panelAttrs, [
      el("header", null, [el("h2", { id: titleId, text: cfg.title })].concat(headerButtons)),
      this.log,
      form,
      el("p", { class: "disclaimer", text: T.disclaimer })
    ]);
    this.panel.addEventListener("keydown", function (e) { self.onKeydown(e); });
    // a preview follows its anchor while the conversation scrolls, and a tap elsewhere closes it
    this.log.addEventListener("scroll", function () { self.placePreview(); }, { passive: true });
    window.addEventListener("resize", function () { self.placePreview(); });
    wrap.addEventListener("pointerdown", function (e) {
      var st = self.previewState, target = e.target;
      if (!st || !target || !target.closest) return;
      if (st.turn.preview.contains(target) || target.closest(".marker, .chip")) return;
      self.closePreview(false);
    });
    document.addEventListener("pointerdown", function (e) {  // the page outside: the host is the target
      if (self.previewState && e.target !== host) self.closePreview(false);
    }, true);
    wrap.appendChild(this.panel);
    root.appendChild(wrap);

    if (cfg.mode === "page") {
      var target = null;
      try { target = cfg.target && document.querySelector(cfg.target); } catch (e) { target = null; }
      (target || document.body).appendChild(host);
    } else {
      document.body.appendChild(host);
    }
    this.updateSend();
  };

  Widget.prototype.emit = function (event, data) {
    try {
      this.host.dispatchEvent(new CustomEvent("notesqa:stream", { detail: { event: event, data: data } }));
    } catch (e) { /* a listener's error must not break the widget */ }
  };

  // --- open / close, keyboard ------------------------------------------------------------------------
  Widget.prototype.open = function (focus) {
    this.isOpen = true;
    this.panel.hidden = false;
    this.wrap.classList.add("open");
    if (this.launcher) this.launcher.setAttribute("aria-expanded", "true");
    this.loadExamples();
    this.loadDocuments();
    this.scrollToEnd();
    if (focus !== false) this.input.focus();
  };

  Widget.prototype.close = function () {
    if (this.config.mode === "page") return;
    this.isOpen = false;
    this.panel.hidden = true;
    this.wrap.classList.remove("open");
    this.launcher.setAttribute("aria-expanded", "false");
    this.launcher.focus();
  };

  Widget.prototype.focusables = function () {
    return Array.prototype.filter.call(
      this.panel.querySelectorAll("button, [href], textarea, input, [tabindex]:not([tabindex='-1'])"),
      function (node) { return !node.disabled && node.getClientRects().length > 0; });
  };

  Widget.prototype.onKeydown = function (e) {
    if (e.key === "Escape" && this.previewState) {  // Esc closes the preview first, the panel next time
      e.preventDefault();
      e.stopPropagation();
      this.closePreview(true);
      return;
    }
    if (this.config.mode === "page") return;
    if (e.key === "Escape") {
      e.preventDefault();
      this.close();
      return;
    }
    if (e.key !== "Tab") return;
    // keep focus inside the dialog
    var items = this.focusables();
    if (!items.length) return;
    var first = items[0], last = items[items.length - 1];
    var active = this.root.activeElement;
    if (e.shiftKey && (active === first || !this.panel.contains(active))) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && (active === last || !this.panel.contains(active))) {
      e.preventDefault();
      first.focus();
    }
  };

  Widget.prototype.autosize = function () {
    this.input.style.height = "auto";
    this.input.style.height = Math.min(this.input.scrollHeight + 2, 132) + "px";
  };

  Widget.prototype.busy = function () {
    return this.turns.some(function (t) { return t.status === "thinking" || t.status === "streaming"; });
  };

  Widget.prototype.updateSend = function () {
    var busy = this.busy(), stopFocused = this.root.activeElement === this.stopButton;
    this.sendButton.disabled = busy || !this.input.value.trim();
    this.sendButton.hidden = busy;  // while an answer streams the send button is its stop button
    this.stopButton.hidden = !busy;
    if (stopFocused && !busy) this.input.focus();
  };

  Widget.prototype.stop = function () {
    var turn = this.turns.filter(function (t) { return t.status === "thinking" || t.status === "streaming"; })[0];
    if (!turn || !this.controller) return;
    turn.stopped = true;  // ask() sees the abort and keeps what had arrived
    this.controller.abort();
    this.input.focus();
  };

  Widget.prototype.scrollToEnd = function () {
    var log = this.log;
    log.scrollTop = log.scrollHeight;
  };

  // --- persistence (sessionStorage: the conversation lasts for the browser session) --------------------
  var TRANSIENT = ["node", "box", "answerNode", "chips", "preview", "commentForm", "pinned"];  // DOM, not state
  Widget.prototype.save = function () {
    try {
      var turns = this.turns.slice(-SETTINGS.keptTurns).map(function (t) {
        var copy = {};
        Object.keys(t).forEach(function (k) { if (TRANSIENT.indexOf(k) < 0) copy[k] = t[k]; });
        if (copy.status === "thinking" || copy.status === "streaming") {
          copy.status = "error";
          copy.error = { code: "interrupted" };
        }
        return copy;
      });
      sessionStorage.setItem(this.storageKey, JSON.stringify(turns));
    } catch (e) { /* storage disabled or full: the conversation just is not kept */ }
  };

  Widget.prototype.restore = function () {
    try {
      var saved = JSON.parse(sessionStorage.getItem(this.storageKey) || "[]");
      if (Array.isArray(saved)) {
        this.turns = saved.filter(function (t) { return t && typeof t.question === "string"; });
        this.turns.forEach(function (t) {
          t.citations = Array.isArray(t.citations) ? t.citations : [];
          t.closest = Array.isArray(t.closest) ? t.closest : [];
        });
        var self = this;
        this.turns.forEach(function (t) { self.noteTitles(t.citations.concat(t.closest)); });
      }
    } catch (e) { this.turns = []; }
  };

  Widget.prototype.reset = function () {
    this.closePreview(false);
    if (this.controller) this.controller.abort();
    this.turns = [];
    this.save();
    this.render();
    this.input.focus();
  };

  // --- asking --------------------------------------------------------------------------------------
  Widget.prototype.headers = function (json) {
    var headers = { Accept: json ? "application/json" : "text/event-stream" };
    if (this.config.apiKey) headers.Authorization = "Bearer " + this.config.apiKey;
    return headers;
  };

  Widget.prototype.submit = function (text) {
    var question = (text !== undefined ? text : this.input.value).trim();
    if (!question || this.busy()) return;
    if (text === undefined) { this.input.value = ""; this.autosize(); }
    var turn = { id: Date.now().toString(36) + Math.random().toString(36).slice(2, 7), question: question,
                 status: "thinking", answer: "", citations: [], closest: [], abstained: false };
    this.turns.push(turn);
    this.ask(turn);  // renders the new turn: only it is announced by the live log
  };

  Widget.prototype.ask = function (turn) {
    var self = this;
    if (this.previewState && this.previewState.turn === turn) this.closePreview(false);
    turn.status = "thinking";
    turn.answer = "";
    turn.citations = [];
    turn.closest = [];
    turn.abstained = false;
    turn.fact = null;
    turn.resolvedQuestion = null;
    turn.stopped = false;
    turn.error = null;
    turn.rating = null;
    turn.feedbackId = null;
    turn.commented = false;
    this.loadDocuments();
    this.renderTurn(turn);
    this.updateSend();
    this.save();  // a reload while it is in flight shows the question with a retry button
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    this.controller = controller;
    var timer = setTimeout(function () { if (controller) { turn.timedOut = true; controller.abort(); } }, SETTINGS.timeoutMs);
    var body = { question: turn.question };
    if (this.config.topK) body.top_k = this.config.topK;
    if (this.config.collection) body.collection = this.config.collection;
    if (this.config.docIds.length) body.doc_ids = this.config.docIds;
    var history = this.history(turn);
    if (history.length) body.history = history;
    var finished = false;

    function onEvent(event, data) {
      self.emit(event, data);
      if (event === "citations") {
        turn.citations = withCited((data && data.citations) || []);
        turn.abstained = !!(data && data.abstained);
        turn.status = "streaming";
        self.noteTitles(turn.citations);
        self.renderTurn(turn);
      } else if (event === "delta") {
        if (turn.status === "thinking") { turn.status = "streaming"; self.renderTurn(turn); }
        turn.answer += (data && data.text) || "";
        self.renderAnswerText(turn);
      } else if (event === "done") {
        finished = true;
        var kinds = {};
        turn.citations.forEach(function (c) { kinds[c.marker] = c.kind; });
        turn.answer = data.answer;
        turn.fact = data.fact || null;  // bold only what the service names as the fact
        turn.abstained = !!data.abstained;
        turn.resolvedQuestion = typeof data.resolved_question === "string" ? data.resolved_question : null;
        turn.engine = data.engine === "llm" ? "llm" : "extractive";
        turn.engineNote = typeof data.engine_note === "string" ? data.engine_note : null;
        turn.unsupported = Array.isArray(data.unsupported) ? data.unsupported.filter(function (u) {
          return u && typeof u.claim === "string";
        }) : [];
        turn.conversationId = data.conversation_id || null;
        turn.citations = withCited((data.citations || []).map(function (c) {
          var copy = Object.assign({}, c);
          copy.kind = kinds[c.marker] || null;
          return copy;
        }));
        // the best-ranked passages, given only when the service abstained: to read, not an answer
        turn.closest = turn.abstained && Array.isArray(data.closest) ? data.closest.filter(function (p) {
          return p && typeof p.doc_id === "string" && typeof p.paragraph_id === "string";
        }) : [];
        self.noteTitles(turn.citations.concat(turn.closest));
        turn.status = "done";
        self.renderTurn(turn);
        self.save();
      } else if (event === "error") {
        finished = true;
        throw new Failure((data && data.code) || "server_error", data && data.message);
      }
    }

    fetch(this.config.api + "/v1/ask/stream", {
      method: "POST", mode: "cors", credentials: "omit",
      headers: Object.assign({ "Content-Type": "application/json" }, this.headers(false)),
      body: JSON.stringify(body), signal: controller ? controller.signal : undefined
    }).then(function (response) {
      if (!response.ok) {
        var retryAfter = response.headers.get("Retry-After");  // readable cross-origin only if exposed
        return response.json().catch(function () { return {}; }).then(function (err) {
          throw new Failure(response.status === 429 ? "rate_limited" : (err.code || "http_" + response.status),
                            err.message, retryAfter, response.status);
        });
      }
      var buffer = "";
      if (!response.body || !response.body.getReader) {
        return response.text().then(function (text) { parseEvents(text + "\n\n", onEvent); });
      }
      var reader = response.body.getReader();
      var decoder = new TextDecoder("utf-8");
      function pump() {
        return reader.read().then(function (step) {
          if (step.done) {
            buffer += decoder.decode();
            parseEvents(buffer + "\n\n", onEvent);
            return;
          }
          buffer = parseEvents(buffer + decoder.decode(step.value, { stream: true }), onEvent);
          return pump();
        });
      }
      return pump();
    }).then(function () {
      if (!finished) throw new Failure("interrupted");
    }).catch(function (err) {
      if (controller && controller.signal.aborted && turn.stopped && !turn.timedOut) {
        turn.status = "stopped";  // the reader stopped it: what had arrived stays
        self.renderTurn(turn);
        return;
      }
      if (controller && controller.signal.aborted && !turn.timedOut) return;  // "new conversation"
      if (!(err instanceof Failure)) err = new Failure(turn.timedOut ? "timeout" : "unreachable");
      if (err.code !== "unreachable") return err;
      // a CORS refusal and an outage look alike to fetch: an opaque (no-cors) request that gets through
      // means the service is up and only this page's origin is refused
      return fetch(self.config.api + "/healthz", { mode: "no-cors", credentials: "omit", cache: "no-store" })
        .then(function () { return new Failure("cors_refused"); }, function () { return err; });
    }).then(function (err) {
      if (err instanceof Failure) {
        turn.status = "error";
        turn.error = { code: err.code, message: err.message || null, retryAfter: err.retryAfter || null,
                       origin: location.origin };
        self.emit("client-error", turn.error);
        self.renderTurn(turn);
      }
    }).then(function () {
      clearTimeout(timer);
      turn.timedOut = false;
      if (self.controller === controller) self.controller = null;
      self.updateSend();
      self.save();
    });
  };

  // the earlier answered turns shown (at most SETTINGS.historyTurns, oldest first): a follow-up such as
  // "那第一届呢？" is read against them; errored, stopped or unfinished turns are not sent
  Widget.prototype.history = function (turn) {
    var at = this.turns.indexOf(turn);
    var earlier = (at < 0 ? this.turns : this.turns.slice(0, at)).filter(function (t) {
      return t.status === "done" && typeof t.answer === "string";
    });
    return earlier.slice(-SETTINGS.historyTurns).map(function (t) {
      return {
        question: String(t.question).slice(0, SETTINGS.historyChars),
        answer: t.answer.slice(0, SETTINGS.historyChars),
        paragraph_ids: t.abstained ? [] : (t.citations || []).map(function (c) { return c.paragraph_id; })
          .filter(function (id) { return typeof id === "string" && id; }).slice(0, 50)
      };
    });
  };

  Widget.prototype.errorText = function (error) {
    var T = this.T;
    switch (error.code) {
      case "unreachable": return T.unreachable;
      case "cors_refused": return T.corsRefused + (error.origin ? "（" + error.origin + "）" : "");
      case "rate_limited": return T.rateLimited(/^\d+$/.test(error.retryAfter || "") ? error.retryAfter : null);
      case "timeout": return T.timeout;
      case "interrupted": return T.interrupted;
      case "unauthorized": case "forbidden": case "origin_not_allowed": case "http_401": case "http_403":
        return T.unauthorized;
      case "overloaded": case "http_503": return T.busy;
      case "internal_error": case "server_error": return T.serverError;
      default:
        if (/^http_5/.test(error.code)) return T.serverError;
        return error.message || T.serverError;
    }
  };

  // --- examples --------------------------------------------------------------------------------------
  Widget.prototype.loadExamples = function () {
    var self = this;
    if (this.examples !== null || !this.config.examples) return;
    this.examples = [];
    var query = this.config.collection ? "?collection=" + encodeURIComponent(this.config.collection) : "";
    fetch(this.config.api + "/v1/examples" + query, { mode: "cors", credentials: "omit", headers: this.headers(true) })
      .then(function (r) { return r.ok ? r.json() : { examples: [] }; })
      .then(function (data) {
        self.examples = (data.examples || []).filter(function (q) { return typeof q === "string"; }).slice(0, 6);
        if (!self.turns.length) self.render();
      })
      .catch(function () { /* the examples are optional */ });
  };

  // --- rendering -------------------------------------------------------------------------------------
  Widget.prototype.render = function () {
    var self = this, T = this.T;
    clear(this.log);
    this.log.appendChild(el("div", { class: "msg a greeting", text: this.config.greeting }));
    if (this.config.docIds.length) {
      this.log.appendChild(el("div", { class: "msg a scope", text:
        T.scoped(this.config.scopeTitle || this.config.docIds.join("、")) }));
    }
    if (!this.turns.length && this.examples && this.examples.length) {
      this.log.appendChild(el("div", { class: "examples" }, [
        el("p", { text: T.examples }),
        el("ul", null, this.examples.map(function (q) {
          return el("li", null, [el("button", { class: "ex", type: "button", text: q,
                                               onclick: function () { self.submit(q); } })]);
        }))
      ]));
    }
    this.turns.forEach(function (turn) {
      turn.node = el("div", { class: "turn", "data-turn": turn.id });
      self.log.appendChild(turn.node);
      self.renderTurn(turn, true);
    });
    this.updateSend();
    this.scrollToEnd();
  };

  // --- the documents: titles to tell apart, metadata that may hold a symbol ---------------------------
  Widget.prototype.loadDocuments = function () {
    var self = this;
    if (this.documents !== null) return;
    this.documents = {};
    var query = this.config.collection ? "?collection=" + encodeURIComponent(this.config.collection) : "";
    fetch(this.config.api + "/v1/documents" + query, { mode: "cors", credentials: "omit", headers: this.headers(true) })
      .then(function (r) { return r.ok ? r.json() : { documents: [] }; })
      .then(function (data) {
        var before = self.nameSignature();
        (data.documents || []).forEach(function (d) {
          if (!d || typeof d.doc_id !== "string") return;
          self.documents[d.doc_id] = { title: String(d.title || ""),
                                       metadata: d.metadata && typeof d.metadata === "object" ? d.metadata : {} };
        });
        self.noteTitles(Object.keys(self.documents).map(function (id) { return self.documents[id]; }));
        if (self.nameSignature() === before) return;
        self.turns.forEach(function (t) {  // the names shown so far change once, now that all titles are known
          if (t.node && t.status !== "thinking" && t.status !== "streaming") self.renderTurn(t, true);
        });
      })
      .catch(function () { /* without the list the names are told apart among the conversation's titles */ });
  };

  Widget.prototype.noteTitles = function (items) {
    var self = this;
    (items || []).forEach(function (item) {
      var title = item && typeof item.title === "string" ? item.title.trim() : "";
      if (!title || self.titleSeen[title]) return;
      self.titleSeen[title] = true;
      self.titleList.push(title);
      self.shortCache = {};
    });
  };

  Widget.prototype.nameSignature = function () {
    var self = this;
    return this.turns.map(function (t) {
      return (t.citations || []).concat(t.closest || []).map(function (c) { return self.shortName(c); }).join("|");
    }).join("||");
  };

  // A document's short name: its UN symbol when the citation, the document's metadata or its title holds
  // one; else the part of its title that no other known title shares (titles of one body open alike:
  // "增进《联合国反腐败公约》下国际合作…专家会议第七次…" / "…第十二次…"), cut at a word with "…".
  Widget.prototype.shortName = function (c) {
    var doc = (this.documents && this.documents[c.doc_id]) || {};
    var meta = c.metadata || doc.metadata || {};
    var symbolKeys = Object.keys(meta).filter(function (k) { return /symbol/i.test(k); });
    var symbol = findSymbol([c.symbol, meta.symbol].concat(symbolKeys.map(function (k) {
      return Array.isArray(meta[k]) ? meta[k][0] : meta[k];
    })).concat([c.title, doc.title]));
    if (symbol) return symbol;
    var title = String(c.title || doc.title || c.doc_id || "").replace(/\s+/g, " ").trim();
    if (Object.prototype.hasOwnProperty.call(this.shortCache, title)) return this.shortCache[title];
    var shared = 0;
    this.titleList.forEach(function (other) {
      if (other !== title) shared = Math.max(shared, commonPrefix(title, other));
    });
    var start = 0;
    if (shared >= SETTINGS.sharedPrefixMin && shared < title.length) {
      start = atOrBefore(boundaries(title), shared);  // from the start of the word where the titles part
      var rest = title.slice(start);
      start += rest.length - rest.replace(CLOSERS, "").length;
    }
    // the cut keeps at least the first character where this title differs from the others
    var name = cutEnd(title.slice(start), SETTINGS.shortNameChars, shared > start ? shared - start + 1 : 0);
    this.shortCache[title] = name;
    return name;
  };

  // Where in the document: 第N段 when the paragraph has a printed number, else its own section heading;
  // an uninformative heading ("文件", "说明") goes with the nearest heading that names something, and a
  // paragraph with neither is named by its opening words. Never a bare kind word.
  Widget.prototype.label = function (c) {
    var T = this.T;
    if (c.paragraph_number) return T.para(c.paragraph_number);
    var path = c.section ? String(c.section).split(" > ").map(function (h) { return h.trim(); }).filter(Boolean) : [];
    var own = path.length ? path[path.length - 1] : "";
    var named = null;
    for (var i = path.length - 1; i >= 0; i--) { if (!genericHeading(path[i])) { named = i; break; } }
    var label;
    if (named === path.length - 1) label = cutEnd(own, SETTINGS.headingChars);
    else if (named !== null) label = cutEnd(path[named], SETTINGS.headingChars) + " › " + own;
    else {
      var opening = cutEnd(c.text || c.quote || "", SETTINGS.headingChars);
      label = own && opening ? own + "：" + opening : own || opening;
    }
    if (c.kind === "footnote" && label) label += " " + T.footnote;
    return label;
  };

  // each passage learns the other paragraphs of its document the same answer cites, so that the viewer
  // steps through them (`?cited=`)
  function withCited(passages) {
    return passages.map(function (c) {
      var copy = Object.assign({}, c);
      copy.cited = passages.filter(function (o) { return o.doc_id === c.doc_id; })
        .map(function (o) { return o.paragraph_id; });
      return copy;
    });
  }

  Widget.prototype.sourceUrl = function (c, withoutQuote) {
    var url = this.config.api + "/documents/" + encodeURIComponent(c.doc_id);
    var params = [];
    if (c.quote && !withoutQuote) params.push("q=" + encodeURIComponent(String(c.quote).slice(0, SETTINGS.quoteUrlChars)));
    if (this.config.collection) params.push("collection=" + encodeURIComponent(this.config.collection));
    if (c.view_token) params.push("view=" + encodeURIComponent(c.view_token)); // the viewer carries no key
    if (!withoutQuote && c.cited && c.cited.length > 1) params.push("cited=" + c.cited.map(encodeURIComponent).join(","));
    if (this.config.lang === "en") params.push("lang=en");
    return url + (params.length ? "?" + params.join("&") : "") + "#" + encodeURIComponent(c.paragraph_id);
  };

  // the citations an answer shows: all of a finished one, those its text reached in a stopped one
  Widget.prototype.shownCitations = function (turn) {
    if (turn.abstained) return [];
    if (turn.status !== "stopped") return turn.citations;
    return turn.citations.filter(function (c) { return turn.answer.indexOf("[" + c.marker + "]") >= 0; });
  };

  Widget.prototype.renderTurn = function (turn, quiet) {
    if (!turn.node) {
      turn.node = el("div", { class: "turn", "data-turn": turn.id });
      this.log.appendChild(turn.node);
      if (this.log.querySelector(".examples")) this.log.removeChild(this.log.querySelector(".examples"));
    }
    var self = this, T = this.T, node = turn.node;
    if (this.previewState && this.previewState.turn === turn) this.closePreview(false);
    clear(node);
    node.appendChild(el("div", { class: "msg q" }, [el("span", { class: "sr", text: T.you + "：" }),
                                                     el("p", { text: turn.question })]));
    var box = el("div", { class: "msg a" }, [el("span", { class: "sr", text: T.assistant + "：" })]);
    turn.box = box;
    turn.preview = null;
    node.appendChild(box);
    if (turn.status === "thinking") {
      box.classList.add("thinking");
      box.setAttribute("role", "status");
      box.appendChild(el("span", { class: "dots", "aria-hidden": "true" }, [el("i"), el("i"), el("i")]));
      box.appendChild(el("span", { text: T.thinking }));
    } else if (turn.status === "error") {
      box.classList.add("error");
      box.setAttribute("role", "alert");
      box.appendChild(el("div", { class: "answer" }, [icon("alert"), el("span", { text: this.errorText(turn.error || {}) })]));
      if ((turn.error || {}).code !== "cors_refused") {  // retrying cannot help until the setting changes
        box.appendChild(el("button", { class: "retry", type: "button", text: T.retry,
                                       onclick: function () { if (!self.busy()) self.ask(turn); } }));
      }
    } else {
      if (turn.status === "streaming") { box.classList.add("streaming"); box.setAttribute("aria-busy", "true"); }
      if (turn.status === "stopped") box.classList.add("stopped");
      if (turn.abstained) box.classList.add("abstained");
      var resolved = turn.status === "done" && turn.resolvedQuestion ? String(turn.resolvedQuestion).trim() : "";
      if (resolved && resolved !== String(turn.question).trim()) {
        box.appendChild(el("p", { class: "resolved", text: T.resolved + resolved }));
      }
      turn.answerNode = el("div", { class: "answer" });
      box.appendChild(turn.answerNode);
      this.renderAnswerText(turn);
      if (turn.status === "stopped") box.appendChild(el("p", { class: "stopped-note", role: "status", text: T.stopped }));
      if (turn.status === "done") this.renderEngine(turn, box);
      if (turn.abstained && turn.status === "done") {
        box.appendChild(el("p", { class: "hint", text: T.abstainHint }));
        if (turn.closest && turn.closest.length) this.renderClosest(turn, box);
      }
      if (this.shownCitations(turn).length) this.renderCitations(turn, box);
      if (turn.status === "done" || turn.status === "stopped") this.renderActions(turn, box);
    }
    if (!quiet) this.scrollToEnd();
  };

  // which engine answered, when the service has a language model: what it wrote is marked as such, the
  // claims verification dropped can be read, and a fallback to the extracted answer is said
  Widget.prototype.renderEngine = function (turn, box) {
    var T = this.T;
    if (turn.engine === "llm") {
      box.appendChild(el("p", { class: "engine", text: T.byLlm }));
    } else if (turn.engineNote && turn.engineNote.indexOf("llm_skipped") !== 0) {  // skipped: nothing to say
      box.appendChild(el("p", { class: "engine", text: T.fellBack }));
    }
    if (!turn.unsupported || !turn.unsupported.length) return;
    var details = el("details", { class: "dropped" });
    details.appendChild(el("summary", { text: T.dropped(turn.unsupported.length) }));
    var list = el("ul");
    turn.unsupported.forEach(function (u) {
      list.appendChild(el("li", { text: u.claim + (u.reason ? "（" + u.reason + "）" : "") }));
    });
    details.appendChild(list);
    box.appendChild(details);
  };

  Widget.prototype.renderAnswerText = function (turn) {
    var self = this, node = turn.answerNode;
    if (!node) return;
    if (this.previewState && this.previewState.turn === turn && this.previewState.anchor.classList.contains("marker")) {
      this.closePreview(false);  // its marker is about to be replaced
    }
    clear(node);
    if (turn.abstained) {
      node.appendChild(icon("info"));
      node.appendChild(el("span", { text: turn.answer }));
      return;
    }
    var byMarker = {};
    turn.citations.forEach(function (c) { byMarker[c.marker] = c; });
    var text = turn.answer, re = /\[(\d+)\]/g, pos = 0, m, factShown = false;
    // the fact, when the service gives one, is bolded where it stands in the answer text (once)
    var addText = function (piece) {
      var at = turn.fact && !factShown ? piece.indexOf(turn.fact) : -1;
      if (at < 0) { node.appendChild(document.createTextNode(piece)); return; }
      factShown = true;
      if (at > 0) node.appendChild(document.createTextNode(piece.slice(0, at)));
      node.appendChild(el("strong", { class: "fact", text: turn.fact }));
      if (at + turn.fact.length < piece.length) node.appendChild(document.createTextNode(piece.slice(at + turn.fact.length)));
    };
    while ((m = re.exec(text))) {
      var citation = byMarker[Number(m[1])];
      if (!citation) continue;
      if (m.index > pos) addText(text.slice(pos, m.index));
      var marker = el("button", {
        class: "marker", type: "button", text: "[" + m[1] + "]", "data-marker": m[1],
        "aria-label": this.T.cite(m[1], this.shortName(citation) + " " + this.label(citation))
      });
      this.bindPreview(marker, turn, citation.marker);
      node.appendChild(marker);
      pos = m.index + m[0].length;
    }
    if (pos < text.length) addText(text.slice(pos));
    if (turn.status === "streaming") this.scrollToEnd();
  };

  Widget.prototype.renderCitations = function (turn, box) {
    var self = this, T = this.T;
    var list = el("ul", { class: "cites", "aria-label": T.sources });
    // right after the chips, so that Tab goes from the chips into an open preview and its link
    var preview = el("div", { class: "preview", id: "pv-" + turn.id, hidden: true });
    preview.addEventListener("mouseenter", function () { self.cancelHide(); });
    preview.addEventListener("mouseleave", function () { self.scheduleHide(); });
    preview.addEventListener("focusout", function (e) {
      var st = self.previewState;
      if (st && !preview.contains(e.relatedTarget) && e.relatedTarget !== st.anchor) self.scheduleHide();
    });
    turn.chips = {};
    turn.preview = preview;
    this.shownCitations(turn).forEach(function (c) {
      var name = self.shortName(c), label = self.label(c);
      var chip = el("button", {
        class: "chip", type: "button", "aria-expanded": "false", "aria-controls": preview.id, "data-marker": c.marker,
        title: c.title + (label ? " · " + label : "")
      }, [el("b", { text: "[" + c.marker + "]" }), el("span", { class: "t", text: name }),
          label ? el("span", { class: "loc", text: "· " + label }) : null]);
      self.bindPreview(chip, turn, c.marker);
      turn.chips[c.marker] = chip;
      list.appendChild(el("li", null, [chip]));
    });
    box.appendChild(list);
    box.appendChild(preview);
  };

  Widget.prototype.renderClosest = function (turn, box) {
    var self = this, T = this.T, headId = "cl-" + turn.id;
    var items = turn.closest.map(function (p) {
      var label = self.label(p);
      var text = String(p.text || "").replace(/\s+/g, " ").trim();
      return el("li", null, [
        el("a", { href: self.sourceUrl(p, true), target: "_blank", rel: "noopener", "data-paragraph": p.paragraph_id,
                  title: p.title + (label ? " · " + label : "") },
           [el("span", { class: "t", text: self.shortName(p) }), label ? el("span", { class: "loc", text: "· " + label }) : null,
            icon("external")]),
        text ? el("p", { class: "snippet", text: cutEnd(text, SETTINGS.closestChars) }) : null
      ]);
    });
    box.appendChild(el("section", { class: "closest", "aria-labelledby": headId }, [
      el("h3", { id: headId, text: T.closest }),
      el("p", { class: "closest-hint", text: T.closestHint }),
      el("ol", null, items)
    ]));
  };

  // --- citation previews: one floating card per answer, next to the marker or chip that opened it -----
  // Hover and focus show it, a click or tap pins it (until Esc, a tap elsewhere or a second click).
  Widget.prototype.bindPreview = function (node, turn, marker) {
    var self = this;
    var pinnedElsewhere = function () { var st = self.previewState; return st && st.pinned && st.anchor !== node; };
    node.addEventListener("mouseenter", function () { if (!pinnedElsewhere()) self.openPreview(turn, marker, node, false); });
    node.addEventListener("mouseleave", function () { self.scheduleHide(); });
    node.addEventListener("focus", function () { if (!pinnedElsewhere()) self.openPreview(turn, marker, node, false); });
    node.addEventListener("blur", function (e) {
      if (!(turn.preview && turn.preview.contains(e.relatedTarget))) self.scheduleHide();
    });
    node.addEventListener("click", function () {
      var st = self.previewState;
      if (st && st.pinned && st.anchor === node) self.closePreview(false);
      else self.openPreview(turn, marker, node, true);
    });
  };

  Widget.prototype.openPreview = function (turn, marker, anchor, pin) {
    var c = turn.citations.filter(function (x) { return x.marker === marker; })[0];
    if (!c || !turn.preview) return;
    this.cancelHide();
    var st = this.previewState;
    if (st && st.turn !== turn) this.closePreview(false);
    var same = st && st.turn === turn && st.marker === marker && st.anchor === anchor;
    this.previewState = { turn: turn, marker: marker, anchor: anchor, pinned: !!pin || !!(same && st.pinned) };
    turn.pinned = this.previewState.pinned ? marker : null;
    Object.keys(turn.chips).forEach(function (k) {
      turn.chips[k].setAttribute("aria-expanded", String(Number(k) === marker));
    });
    if (!same || turn.preview.hidden) this.fillPreview(turn, c);
    this.placePreview();
  };

  Widget.prototype.cancelHide = function () {
    if (this.hideTimer) { clearTimeout(this.hideTimer); this.hideTimer = null; }
  };

  Widget.prototype.scheduleHide = function () {
    var self = this;
    this.cancelHide();
    if (!this.previewState || this.previewState.pinned) return;
    this.hideTimer = setTimeout(function () {
      self.hideTimer = null;
      if (self.previewState && !self.previewState.pinned) self.closePreview(false);
    }, SETTINGS.previewHideMs);
  };

  Widget.prototype.closePreview = function (returnFocus) {
    this.cancelHide();
    var st = this.previewState;
    if (!st) return;
    this.previewState = null;
    st.turn.pinned = null;
    if (st.turn.preview) st.turn.preview.hidden = true;
    Object.keys(st.turn.chips || {}).forEach(function (k) { st.turn.chips[k].setAttribute("aria-expanded", "false"); });
    if (returnFocus && st.anchor.isConnected) st.anchor.focus({ preventScroll: true });
  };

  Widget.prototype.fillPreview = function (turn, c) {
    var preview = turn.preview, label = this.label(c);
    clear(preview);
    var path = c.section ? String(c.section).split(" > ") : [];
    var section = path.length > 2 ? "… > " + path.slice(-2).join(" > ") : path.join(" > ");
    // a heading as the place already says where; a paragraph number gains its section
    var head = [c.title, label, c.paragraph_number && section ? section : null].filter(Boolean).join(" · ");
    preview.appendChild(el("p", { class: "pv-head", text: "[" + c.marker + "] " + head }));
    var text = String(c.text || c.quote || "");
    var shown = excerpt(text, quoteRanges(text, c.quote), SETTINGS.previewChars);
    var body = el("p", { class: "pv-text" });
    appendRanges(body, shown.text, shown.ranges);
    preview.appendChild(body);
    preview.appendChild(el("a", { class: "source-link", href: this.sourceUrl(c), target: "_blank", rel: "noopener",
                                  "data-paragraph": c.paragraph_id },
                           [this.T.openSource, icon("external")]));
  };

  // Below the anchor when it fits, else above; from the anchor's left edge, or ending at its right edge
  // when that would run off; always inside the conversation as far as the window shows it (never over
  // the header or the input).
  Widget.prototype.placePreview = function () {
    var st = this.previewState;
    if (!st) return;
    var preview = st.turn.preview, anchor = st.anchor;
    if (!preview || !anchor.isConnected) { this.closePreview(false); return; }
    var a = anchor.getBoundingClientRect(), log = this.log.getBoundingClientRect();
    if (a.bottom < log.top || a.top > log.bottom) { this.closePreview(false); return; }  // scrolled away
    var view = window.visualViewport;
    var vw = document.documentElement.clientWidth || window.innerWidth;
    var vh = view ? Math.min(window.innerHeight, view.height) : window.innerHeight;
    var m = SETTINGS.previewMargin, gap = SETTINGS.previewGap;
    var left = Math.max(log.left, 0) + m, right = Math.min(log.right, vw) - m;
    var top = Math.max(log.top, 0) + m, bottom = Math.min(log.bottom, vh) - m;
    var width = Math.max(0, Math.min(SETTINGS.previewWidth, right - left));
    preview.hidden = false;
    preview.style.width = width + "px";
    preview.style.maxWidth = "none";
    preview.style.maxHeight = "none";
    var natural = preview.offsetHeight;
    var below = bottom - (a.bottom + gap), above = (a.top - gap) - top;
    var downward = natural <= below || (below >= above && below >= SETTINGS.previewMinHeight) || above < SETTINGS.previewMinHeight && below >= above;
    var height = Math.max(0, Math.min(natural, downward ? below : above, bottom - top));
    preview.style.maxHeight = height + "px";
    var y = downward ? a.bottom + gap : a.top - gap - height;
    y = Math.min(Math.max(y, top), bottom - height);
    var x = a.left;
    if (x + width > right) x = a.right - width;  // flip: end at the anchor's right edge
    x = Math.min(Math.max(x, left), right - width);
    preview.style.top = Math.round(y) + "px";
    preview.style.left = Math.round(x) + "px";
    preview.setAttribute("data-side", downward ? "below" : "above");
  };

  Widget.prototype.renderActions = function (turn, box) {
    var self = this, T = this.T;
    var note = el("span", { class: "note", role: "status" });
    var buttons = [];
    if (turn.status === "done") {  // a stopped answer is not rated: it is not what the service answered
      buttons.push(el("button", { class: "icon-btn", type: "button", "aria-label": T.up, title: T.up,
                                  "aria-pressed": turn.rating === "up" ? "true" : "false",
                                  onclick: function () { self.rate(turn, "up", null, note); } }, [icon("up")]));
      buttons.push(el("button", { class: "icon-btn", type: "button", "aria-label": T.down, title: T.down,
                                  "aria-pressed": turn.rating === "down" ? "true" : "false",
                                  onclick: function () { self.rate(turn, "down", null, note); } }, [icon("down")]));
    }
    buttons.push(el("button", { class: "icon-btn", type: "button", "aria-label": T.copy, title: T.copy,
                                onclick: function () { self.copy(turn, note); } }, [icon("copy")]));
    // the same question again, with the same earlier turns as history (history() reads those before it)
    buttons.push(el("button", { class: "icon-btn regenerate", type: "button", "aria-label": T.regenerate, title: T.regenerate,
                                onclick: function () {
                                  if (self.busy()) return;
                                  self.ask(turn);
                                  self.log.focus({ preventScroll: true });
                                } }, [icon("regenerate")]));
    box.appendChild(el("div", { class: "actions" }, buttons.concat([note])));
    if (turn.status !== "done") return;
    var comment = el("textarea", { "aria-label": T.commentLabel, placeholder: T.commentPlaceholder, maxlength: "2000" });
    var form = el("form", { class: "comment", hidden: !turn.rating || turn.commented, novalidate: true,
                            onsubmit: function (e) {
                              e.preventDefault();
                              if (!comment.value.trim()) return;
                              self.rate(turn, turn.rating, comment.value.trim(), note);
                            } },
                  [el("label", { text: T.commentLabel }), comment, el("button", { type: "submit", text: T.submit })]);
    turn.commentForm = form;
    box.appendChild(form);
  };

  Widget.prototype.rate = function (turn, rating, comment, note) {
    var self = this, T = this.T;
    var body = {
      question: turn.question, answer: turn.answer, fact: turn.fact || null, rating: rating, abstained: !!turn.abstained,
      citations: turn.citations.map(function (c) {
        return { marker: c.marker, doc_id: c.doc_id, paragraph_id: c.paragraph_id, title: c.title,
                 paragraph_number: c.paragraph_number, section: c.section, quote: c.quote };
      })
    };
    if (comment) body.comment = comment;
    if (this.config.collection) body.collection = this.config.collection;
    if (turn.feedbackId) body.supersedes = turn.feedbackId;
    turn.rating = rating;
    if (turn.box) {
      turn.box.querySelectorAll(".actions .icon-btn[aria-pressed]").forEach(function (b, i) {
        b.setAttribute("aria-pressed", (i === 0 ? rating === "up" : rating === "down") ? "true" : "false");
      });
    }
    fetch(this.config.api + "/v1/feedback", {
      method: "POST", mode: "cors", credentials: "omit",
      headers: Object.assign({ "Content-Type": "application/json" }, this.headers(true)),
      body: JSON.stringify(body)
    }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (data) {
      turn.feedbackId = data.id;
      if (comment) turn.commented = true;
      note.textContent = T.thanks;
      if (turn.commentForm) {
        turn.commentForm.hidden = !!turn.commented;
        if (!turn.commented && rating === "down") turn.commentForm.querySelector("textarea").focus();
      }
      self.save();
    }).catch(function () {
      note.textContent = T.feedbackFailed;
    });
  };


  // Plain text a reader can paste anywhere: the answer, then one readable line per reference
  // ("[1] CAC/COSP/WG.2/2018/1 第20段", the chip's name and place) with the viewer's address under it
  // (the paragraph's anchor, no quote in the address).
  Widget.prototype.copyText = function (turn) {
    var self = this, T = this.T, lines = [String(turn.answer || "").trim()];
    var reference = function (prefix, c) {
      var label = self.label(c);
      lines.push(prefix + self.shortName(c) + (label ? " " + label : ""));
      lines.push(self.sourceUrl(c, true));
    };
    var cited = this.shownCitations(turn);
    if (turn.status === "stopped") lines.push(T.stopped);
    if (cited.length) {
      lines.push("");
      cited.forEach(function (c) { reference("[" + c.marker + "] ", c); });
    }
    if (turn.abstained && turn.closest && turn.closest.length) {
      lines.push("", T.closest);
      turn.closest.forEach(function (p) { reference("- ", p); });
    }
    return lines.join("\n");
  };

  Widget.prototype.copy = function (turn, note) {
    var T = this.T, text = this.copyText(turn);
    this.lastCopied = text;
    function fallback() {
      var area = el("textarea", { readonly: true });
      area.value = text;
      area.style.position = "fixed";
      area.style.opacity = "0";
      this.wrap.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      this.wrap.removeChild(area);
      note.textContent = ok ? T.copied : T.copyFailed;
    }
    var self = this;
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { note.textContent = T.copied; },
                                               function () { fallback.call(self); });
    } else {
      fallback.call(this);
    }
  };

  // --- public API and auto-mount ------------------------------------------------------------------
  function configFrom(script) {
    var ds = (script && script.dataset) || {};
    var origin = location.origin;
    if (script && script.src) {
      // the service is where widget.js came from, sub-path included (https://intranet/notesqa/widget.js)
      try {
        var src = new URL(script.src, location.href);
        origin = src.origin + src.pathname.replace(/\/widget\.js$/, "");
      } catch (e) { /* keep the page origin */ }
    }
    var lang = ds.lang === "en" ? "en" : "zh";
    var T = STRINGS[lang];
    var topK = parseInt(ds.topK, 10);
    var fromUrl = ds.scopeFromUrl === "true" ? new URLSearchParams(location.search) : null;
    var docIds = fromUrl ? fromUrl.getAll("doc") : String(ds.docIds || "").split(",");
    docIds = docIds.map(function (d) { return d.trim(); }).filter(Boolean);
    return {
      api: String(ds.api || origin).replace(/\/+$/, ""),
      lang: lang,
      title: ds.title || T.title,
      greeting: ds.greeting || T.greeting,
      placeholder: ds.placeholder || T.placeholder,
      accent: ds.accent || "#1f5fbf",
      position: ds.position === "bottom-left" ? "left" : "right",
      mode: ds.mode === "page" || ds.mode === "inline" ? "page" : "floating",
      target: ds.target || null,
      open: ds.open === "true",
      apiKey: ds.apiKey || null,
      examples: ds.examples !== "false" && !docIds.length,  // the examples are about all the notes
      collection: (fromUrl && fromUrl.get("collection")) || ds.collection || null,
      docIds: docIds,
      scopeTitle: (fromUrl && fromUrl.get("title")) || null,
      topK: topK > 0 ? topK : null
    };
  }

  function mount(options) {
    var base = configFrom(null);
    var config = Object.assign(base, options || {});
    config.docIds = config.docIds || [];
    config.api = String(config.api).replace(/\/+$/, "");
    var widget = new Widget(config);
    api.instances.push(widget);
    return widget;
  }

  var api = window.NotesQA || { instances: [] };
  api.mount = mount;
  api.version = "1";
  window.NotesQA = api;

  if (currentScript && currentScript.dataset.manual !== "true") {
    var config = configFrom(currentScript);
    var start = function () { api.instances.push(new Widget(config)); };
    if (document.body) start();
    else document.addEventListener("DOMContentLoaded", start);
  }
})();
