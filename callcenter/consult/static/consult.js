// 12366 网上咨询: the taxpayers' page. Plain JavaScript, no external resources.
"use strict";

const API = "/api/v1/consult";
const STATUS = { open: "待答复", in_progress: "处理中", answered: "已答复", closed: "已办结" };
const $ = (id) => document.getElementById(id);
const page = { phone: "", typing: null, asked: 0, cooldown: null };

// times in Beijing time, whatever the phone's own time zone
const when = (iso) => new Date(iso).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
function text(id, value) { $(id).textContent = value == null ? "" : String(value); }
function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
function el(tag, className, value) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (value != null) node.textContent = String(value);
  return node;
}

async function call(path, options = {}) {
  const init = { credentials: "same-origin", headers: {}, ...options };
  if (options.json !== undefined) {
    init.method = init.method || "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.json);
  }
  let response;
  try {
    response = await fetch(API + path, init);
  } catch (error) {
    throw new Error("网络异常，请检查网络后重试");
  }
  if (response.status === 204) return null;
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status === 401 && path !== "/session") showVerify();
    const detail = typeof body.detail === "string" ? body.detail : "";
    const error = new Error(detail || ("请求失败（" + response.status + "），请稍后再试"));
    error.status = response.status;
    throw error;
  }
  return body;
}

function showVerify() {
  $("verify-view").hidden = false;
  $("ask-view").hidden = true;
}

function showAsk(phone) {
  text("me-phone", phone);
  $("verify-view").hidden = true;
  $("ask-view").hidden = false;
  loadMine();
}

function cooldown(seconds) {
  const button = $("btn-code");
  clearInterval(page.cooldown);
  let left = seconds;
  button.disabled = true;
  const tick = () => {
    if (left <= 0) { clearInterval(page.cooldown); button.disabled = false; text("btn-code", "重新获取验证码"); return; }
    text("btn-code", `${left}秒后可重新获取`);
    left -= 1;
  };
  tick();
  page.cooldown = setInterval(tick, 1000);
}

$("code-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  text("verify-error", "");
  text("verify-status", "");
  try {
    const sent = await call("/code", { json: { phone: $("phone").value.trim() } });
    page.phone = $("phone").value.trim();
    text("verify-status", `验证码已发送至 ${sent.phone}，请查看短信。`);
    $("verify-form").hidden = false;
    $("code").focus();
    cooldown(sent.resend_after_s);
  } catch (error) {
    text("verify-error", error.message);
  }
});

$("verify-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  text("verify-error", "");
  try {
    const session = await call("/session", { json: { phone: page.phone || $("phone").value.trim(),
      code: $("code").value.trim() } });
    $("code").value = "";
    text("verify-status", "");
    showAsk(session.phone);
  } catch (error) {
    text("verify-error", error.message);
  }
});

$("btn-leave").addEventListener("click", async () => {
  try { await call("/session", { method: "DELETE" }); } catch (error) { /* gone already */ }
  $("verify-form").hidden = true;
  showVerify();
});

// -- suggestions while typing ---------------------------------------------------------------

$("question").addEventListener("input", () => {
  text("ask-error", "");
  text("count", $("question").value.trim().length);
  clearTimeout(page.typing);
  page.typing = setTimeout(suggest, 300);
});

async function suggest() {
  const q = $("question").value.trim();
  const asked = ++page.asked;
  const list = $("suggestions");
  if (q.length < 2) { $("suggest-box").hidden = true; return; }
  try {
    const result = await call(`/suggest?q=${encodeURIComponent(q)}`);
    if (asked !== page.asked) return;  // a later keystroke's answer is on its way
    clear(list);
    for (const s of result.suggestions) {
      const item = el("li");
      item.dataset.faq = s.id;
      item.appendChild(el("div", "q", s.question));
      item.appendChild(el("div", "a", s.answer));
      list.appendChild(item);
    }
    $("suggest-box").hidden = result.suggestions.length === 0;
  } catch (error) {
    if (error.status !== 401) text("ask-error", error.message);
  }
}

$("ask-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  text("ask-error", "");
  text("ask-status", "");
  $("btn-ask").disabled = true;
  try {
    const c = await call("/questions", { json: { question: $("question").value } });
    text("ask-status", `您的咨询已提交（编号${c.ticket_no}），${c.due_text}，答复将以短信发送并显示在下方。`);
    $("question").value = "";
    text("count", 0);
    $("suggest-box").hidden = true;
    loadMine();
  } catch (error) {
    text("ask-error", error.message);
  } finally {
    $("btn-ask").disabled = false;
  }
});

// -- my consultations -------------------------------------------------------------------------

async function loadMine() {
  try {
    const mine = await call("/questions");
    const list = $("consultations");
    clear(list);
    $("none").hidden = mine.length > 0;
    for (const c of mine) {
      const item = el("li");
      item.dataset.ticket = c.ticket_no;
      const head = el("div", "muted", `编号 ${c.ticket_no} · ${when(c.created_at)}`);
      head.appendChild(el("span", "badge status", STATUS[c.status] || c.status));
      item.appendChild(head);
      item.appendChild(el("div", "question", c.question));
      if (c.replies.length === 0) item.appendChild(el("div", "muted due", c.due_text));
      for (const r of c.replies) {
        const reply = el("div", "reply");
        reply.appendChild(el("div", "muted", `答复 · ${when(r.at)}`));
        reply.appendChild(el("div", "reply-text", r.text));
        item.appendChild(reply);
      }
      list.appendChild(item);
    }
  } catch (error) {
    if (error.status !== 401) text("ask-error", error.message);
  }
}
$("btn-refresh").addEventListener("click", loadMine);
// answers arrive while the page is open
setInterval(() => { if (!$("ask-view").hidden) loadMine(); }, 15000);

call("/session").then((s) => showAsk(s.phone)).catch(() => showVerify());
