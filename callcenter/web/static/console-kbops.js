// 知识库维护 (knowledge operations): search, edit, add and retire FAQ entries as drafts; a
// second person publishes them; versions and restore; the unanswered-questions work list.
// Uses console.js's helpers (api, $, text, clear, li, state); shown to editors, reviewers,
// supervisors and admins once they are logged in.
"use strict";

const KB_ROLES = ["editor", "reviewer", "supervisor", "admin"];
const KB_PUBLISHERS = ["reviewer", "supervisor", "admin"];
const KB_FIELDS = ["category", "question", "similar", "keywords", "answer", "effective_from",
  "effective_to", "source", "key_facts"];
const KB_LISTS = ["similar", "keywords", "key_facts"];
const KB_KINDS = { edit: "修改", new: "新增", retire: "停用" };
const KB_CHANNELS = { phone: "电话", sms: "短信", web: "网上咨询" };
const kbops = { entry: null, draftId: null, kind: "edit", started: false };

function kbStatus(message) { text("kbops-status", message); }

function kbFieldErrors(errors) {
  for (const node of document.querySelectorAll("#kbops-form [data-field-error]")) {
    node.textContent = "";
  }
  for (const error of errors || []) {
    const field = error.loc[error.loc.length - 1];
    const node = document.querySelector(`#kbops-form [data-field-error="${field}"]`);
    if (node) node.textContent = error.msg;
  }
}

// api() of console.js throws the detail only; the per-field reasons need the body
async function kbSend(path, json, method = "POST") {
  const response = await fetch(API + path, {
    method, credentials: "same-origin", headers: { "Content-Type": "application/json" },
    body: json === undefined ? undefined : JSON.stringify(json) });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(typeof body.detail === "string" ? body.detail : "请求失败：" + response.status);
    error.errors = body.errors || [];
    throw error;
  }
  return body;
}

function kbFill(fields, kind) {
  const form = $("kbops-form");
  form.elements.id.value = fields.id || "";
  form.elements.id.readOnly = kind !== "new";
  for (const name of KB_FIELDS) {
    const value = fields[name];
    form.elements[name].value = KB_LISTS.includes(name) ? (value || []).join("\n") : (value || "");
  }
  kbFieldErrors([]);
  text("kbops-editing", kind === "new" ? "新增条目" : `条目 ${fields.id}（第 ${kbops.entry ? kbops.entry.version : "-"} 版）`);
}

function kbRead() {
  const form = $("kbops-form");
  const fields = {};
  for (const name of KB_FIELDS) {
    const raw = form.elements[name].value;
    if (KB_LISTS.includes(name)) {
      fields[name] = raw.split("\n").map((s) => s.trim()).filter((s) => s);
    } else {
      fields[name] = name === "effective_to" && !raw.trim() ? null : raw;
    }
  }
  return fields;
}

async function kbSearch() {
  const q = $("kbops-q").value.trim();
  const entries = await api(`/kb/entries?q=${encodeURIComponent(q)}&limit=30`);
  const list = $("kbops-entries");
  clear(list);
  for (const e of entries) {
    const item = li(list, `${e.id}  ${e.fields.question}`);
    item.dataset.entry = e.id;
    item.className = "kbops-entry";
    item.addEventListener("click", () => kbOpen(e.id));
  }
  if (!entries.length) li(list, "没有找到条目");
}

async function kbOpen(entryId) {
  kbops.entry = await api(`/kb/entries/${encodeURIComponent(entryId)}`);
  kbops.draftId = null;
  kbops.kind = "edit";
  kbFill(kbops.entry.fields, "edit");
  await kbVersions(entryId);
}

async function kbVersions(entryId) {
  const list = $("kbops-versions");
  clear(list);
  const versions = await api(`/kb/entries/${encodeURIComponent(entryId)}/versions`);
  const publisher = KB_PUBLISHERS.includes(state.me.role);
  for (const v of versions) {
    const item = li(list, `第 ${v.version} 版 ${v.retired ? "（停用）" : ""} 作者 ${v.author}，` +
      `发布人 ${v.published_by}，${new Date(v.published_at).toLocaleString("zh-CN")}`);
    item.dataset.version = v.version;
    if (publisher && v.version !== kbops.entry.version) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "恢复此版";
      button.dataset.restore = v.version;
      button.addEventListener("click", async () => {
        try {
          const done = await kbSend(`/kb/entries/${encodeURIComponent(entryId)}/versions/${v.version}/restore`);
          kbStatus(`已恢复为第 ${v.version} 版的内容，发布为第 ${done.version} 版`);
          await kbOpen(entryId);
        } catch (error) { kbStatus(error.message); }
      });
      item.appendChild(button);
    }
  }
}

async function kbDrafts() {
  const drafts = await api("/kb/drafts");
  const body = $("kbops-drafts").querySelector("tbody");
  clear(body);
  const publisher = KB_PUBLISHERS.includes(state.me.role);
  for (const d of drafts) {
    const row = document.createElement("tr");
    row.dataset.draft = d.id;
    row.dataset.entry = d.entry_id;
    for (const value of [d.id, d.entry_id, KB_KINDS[d.kind], d.fields.question || "", d.author,
      new Date(d.updated_at).toLocaleString("zh-CN")]) {
      const cell = document.createElement("td");
      cell.textContent = value;
      row.appendChild(cell);
    }
    const actions = document.createElement("td");
    const add = (label, handler, attr) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = label;
      button.dataset.action = attr;
      button.addEventListener("click", handler);
      actions.appendChild(button);
    };
    if (d.author === state.me.username) {
      add("继续编辑", () => { kbops.draftId = d.id; kbops.kind = d.kind; kbops.entry = null;
        kbFill(d.fields, d.kind === "new" ? "new" : "edit"); }, "edit");
    }
    if (publisher && d.author !== state.me.username) {
      add("审核发布", async () => {
        try {
          const done = await kbSend(`/kb/drafts/${d.id}/publish`);
          kbStatus(`已发布：${done.entry_id} 第 ${done.version} 版` +
            (done.reloaded ? `，知识库已重新加载（${done.reload_s} 秒）` : "，各进程正在重新加载"));
          await kbDrafts();
        } catch (error) {
          kbStatus(`不能发布草稿 ${d.id}：${error.message}`);
        }
      }, "publish");
    }
    if (d.author === state.me.username || publisher) {
      add("放弃", async () => {
        try { await kbSend(`/kb/drafts/${d.id}/discard`); await kbDrafts(); }
        catch (error) { kbStatus(error.message); }
      }, "discard");
    }
    row.appendChild(actions);
    body.appendChild(row);
  }
}

async function kbSave(event) {
  event.preventDefault();
  const fields = kbRead();
  const entryId = $("kbops-form").elements.id.value.trim();
  try {
    let draft;
    if (kbops.draftId) {
      draft = await kbSend(`/kb/drafts/${kbops.draftId}`, { fields }, "PUT");
    } else {
      draft = await kbSend("/kb/drafts", { entry_id: entryId, kind: kbops.kind, fields });
    }
    kbops.draftId = draft.id;
    kbFieldErrors([]);
    kbStatus(`草稿 ${draft.id} 已保存，等待审核员发布`);
    await kbDrafts();
  } catch (error) {
    kbFieldErrors(error.errors);
    kbStatus(`未保存：${error.message}`);
  }
}

async function kbRetire() {
  if (!kbops.entry) { kbStatus("请先选择一个条目"); return; }
  try {
    const draft = await kbSend("/kb/drafts", { entry_id: kbops.entry.id, kind: "retire" });
    kbStatus(`停用草稿 ${draft.id} 已保存，等待审核员发布`);
    await kbDrafts();
  } catch (error) { kbStatus(error.message); }
}

function kbNew() {
  kbops.entry = null;
  kbops.draftId = null;
  kbops.kind = "new";
  kbFill({ effective_from: new Date().toISOString().slice(0, 10) }, "new");
  clear($("kbops-versions"));
}

async function kbReport() {
  const report = await api("/kb/unanswered?days=30");
  const list = $("kbops-report");
  clear(list);
  text("kbops-report-total", `近30天 ${report.questions} 个问题未能直接答复，分为 ${report.groups.length} 组`);
  report.groups.forEach((g, index) => {
    const item = document.createElement("li");
    item.dataset.group = index;
    const channels = Object.entries(g.channels).map(([k, n]) => `${KB_CHANNELS[k] || k} ${n}`).join("、");
    const head = document.createElement("div");
    head.textContent = `${g.count} 次：${g.examples[0]}（${channels}）`;
    item.appendChild(head);
    const examples = document.createElement("div");
    examples.className = "muted";
    examples.textContent = g.examples.slice(1, 5).join(" / ");
    item.appendChild(examples);
    const toNew = document.createElement("button");
    toNew.type = "button";
    toNew.textContent = "转为新条目草稿";
    toNew.dataset.action = "new-entry";
    toNew.addEventListener("click", () => kbFromGroup(g.examples, null));
    item.appendChild(toNew);
    const target = g.candidates[0] || (kbops.entry && kbops.entry.id);
    if (target) {
      const toSimilar = document.createElement("button");
      toSimilar.type = "button";
      toSimilar.textContent = `加为 ${target} 的相似问法`;
      toSimilar.dataset.action = "paraphrase";
      toSimilar.addEventListener("click", () => kbFromGroup(g.examples, target));
      item.appendChild(toSimilar);
    }
    list.appendChild(item);
  });
}

async function kbFromGroup(questions, entryId) {
  try {
    const draft = await kbSend("/kb/unanswered/draft", { questions, entry_id: entryId });
    kbops.draftId = draft.id;
    kbops.kind = draft.kind;
    kbops.entry = null;
    kbFill(draft.fields, draft.kind === "new" ? "new" : "edit");
    kbStatus(`已生成草稿 ${draft.id}` + (draft.kind === "new" ? "：请补充类别、答案和政策依据后保存" : ""));
    await kbDrafts();
  } catch (error) { kbStatus(error.message); }
}

async function kbStart() {
  if (kbops.started || !state.me || !KB_ROLES.includes(state.me.role)) return;
  kbops.started = true;
  show("kbops-view", true);
  try {
    await Promise.all([kbSearch(), kbDrafts(), kbReport()]);
  } catch (error) { kbStatus(error.message); }
}

$("kbops-search").addEventListener("submit", (event) => { event.preventDefault(); kbSearch().catch((e) => kbStatus(e.message)); });
$("kbops-form").addEventListener("submit", kbSave);
$("kbops-new").addEventListener("click", kbNew);
$("kbops-retire").addEventListener("click", kbRetire);
$("kbops-refresh").addEventListener("click", () => { kbDrafts().catch((e) => kbStatus(e.message)); kbReport().catch((e) => kbStatus(e.message)); });

// console.js shows #whoami once logged in (state.me set), hides it on sign-out
new MutationObserver(() => {
  if (!$("whoami").hidden) { kbStart(); } else { kbops.started = false; show("kbops-view", false); }
}).observe($("whoami"), { attributes: true, attributeFilter: ["hidden"] });
