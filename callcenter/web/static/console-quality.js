// 12366 坐席工作台 · 质检评分 (docs/console.md "Quality review"). Loaded after console.js and
// uses its helpers (api, $, text, clear, li, renderRecordings, OUTCOME_TITLES, state).
// Builds its own panels: the admin's review forms, the supervisor's scoring of recorded calls,
// the agent's own reviews with the acknowledgement.
"use strict";

const qa = { forms: [], editing: null, names: {} };

function qaEl(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function qaTime(iso) {
  return new Date(iso).toLocaleString("zh-CN", { hour12: false });
}

function qaPanel(parentId, id, title) {
  const panel = qaEl("div", { className: "panel", id }, [qaEl("h2", { textContent: title })]);
  $(parentId).appendChild(panel);
  return panel;
}

// -- admin: review forms (each save is a new version; old reviews keep theirs) --------------

function qaBuildAdmin() {
  const panel = qaPanel("admin-view", "qa-forms-panel", "质检评分表");
  panel.append(
    qaEl("p", { className: "muted", textContent: "每次保存生成新版本；已完成的评分保留原版本的评分项。" }),
    qaEl("label", {}, ["评分表 ", qaEl("select", { id: "qa-admin-form" })]),
    qaEl("div", { className: "inline" }, [
      qaEl("input", { id: "qa-admin-name", placeholder: "代码（小写字母）", required: true }),
      qaEl("input", { id: "qa-admin-title", placeholder: "评分表名称", required: true })]),
    qaEl("table", { id: "qa-admin-criteria" }, [
      qaEl("thead", {}, [qaEl("tr", {}, ["代码", "评分项", "满分", "权重", ""].map(
        (h) => qaEl("th", { textContent: h })))]),
      qaEl("tbody")]),
    qaEl("button", { id: "qa-admin-add", type: "button", textContent: "添加评分项" }),
    qaEl("button", { id: "qa-admin-save", type: "button", textContent: "保存评分表" }),
    qaEl("p", { id: "qa-admin-status", className: "muted", role: "status" }));
  $("qa-admin-add").addEventListener("click", () => qaCriterionRow({}));
  $("qa-admin-save").addEventListener("click", qaSaveForm);
  $("qa-admin-form").addEventListener("change", () => qaShowForm(
    qa.forms.find((f) => String(f.id) === $("qa-admin-form").value)));
}

function qaCriterionRow(c) {
  const cell = (props) => qaEl("td", {}, [qaEl("input", props)]);
  const row = qaEl("tr", {}, [
    cell({ className: "qa-key", value: c.key || "", placeholder: "greeting", size: 10 }),
    cell({ className: "qa-title", value: c.title || "", placeholder: "开场问候", size: 12 }),
    cell({ className: "qa-max", type: "number", min: 1, max: 100, value: c.max_score ?? 10 }),
    cell({ className: "qa-weight", type: "number", min: 0, step: "any", value: c.weight ?? 10 }),
    qaEl("td", {}, [qaEl("button", { type: "button", textContent: "删除" })])]);
  row.querySelector("button").addEventListener("click", () => row.remove());
  $("qa-admin-criteria").tBodies[0].appendChild(row);
}

function qaShowForm(form) {
  clear($("qa-admin-criteria").tBodies[0]);
  $("qa-admin-name").value = form ? form.name : "";
  $("qa-admin-title").value = form ? form.title : "";
  for (const c of form ? form.criteria : []) qaCriterionRow(c);
}

async function qaLoadAdmin() {
  try {
    qa.forms = await api("/quality/forms");
    fillSelect($("qa-admin-form"), [...qa.forms.map((f) => [String(f.id), `${f.title}（第${f.version}版）`]),
      ["", "（新建评分表）"]]);
    qaShowForm(qa.forms[0]);
  } catch (error) {
    text("qa-admin-status", error.message);
  }
}

async function qaSaveForm() {
  text("qa-admin-status", "");
  const criteria = [...$("qa-admin-criteria").tBodies[0].rows].map((row) => ({
    key: row.querySelector(".qa-key").value.trim(),
    title: row.querySelector(".qa-title").value.trim(),
    max_score: Number(row.querySelector(".qa-max").value),
    weight: Number(row.querySelector(".qa-weight").value),
  }));
  const name = $("qa-admin-name").value.trim();
  try {
    const form = await api(`/quality/forms/${encodeURIComponent(name)}`, {
      method: "PUT", json: { title: $("qa-admin-title").value.trim(), criteria } });
    await qaLoadAdmin();
    $("qa-admin-form").value = String(form.id);
    qaShowForm(form);
    text("qa-admin-status", `已保存：${form.title}（第${form.version}版）`);
  } catch (error) {
    text("qa-admin-status", error.message);
  }
}

// -- supervisor: find a recorded call, listen, score each agent's leg ----------------------

function qaBuildSupervisor() {
  const panel = qaPanel("supervisor-view", "qa-review-panel", "质检评分");
  panel.append(
    qaEl("form", { id: "qa-search", className: "inline" }, [
      qaEl("input", { id: "qa-caller", placeholder: "来电号码", inputMode: "numeric", required: true }),
      qaEl("button", { type: "submit", textContent: "查找通话" })]),
    qaEl("ul", { id: "qa-calls", className: "recordings" }),
    qaEl("div", { id: "qa-editor", hidden: true }, [
      qaEl("h3", { id: "qa-editor-title" }),
      qaEl("label", {}, ["评分表 ", qaEl("select", { id: "qa-form" })]),
      qaEl("table", { id: "qa-scores" }, [
        qaEl("thead", {}, [qaEl("tr", {}, ["评分项", "得分", "满分", "权重"].map(
          (h) => qaEl("th", { textContent: h })))]),
        qaEl("tbody")]),
      qaEl("textarea", { id: "qa-comment", rows: 3, placeholder: "评语（坐席可见）" }),
      qaEl("button", { id: "qa-submit", type: "button", textContent: "提交评分" }),
      qaEl("button", { id: "qa-cancel", type: "button", textContent: "取消" })]),
    qaEl("p", { id: "qa-status", className: "muted", role: "status" }));
  $("qa-search").addEventListener("submit", (event) => { event.preventDefault(); qaSearch(); });
  $("qa-form").addEventListener("change", () => qaScoreRows(qaFormById($("qa-form").value), {}));
  $("qa-submit").addEventListener("click", qaSubmit);
  $("qa-cancel").addEventListener("click", () => show("qa-editor", false));
}

function qaFormById(id) { return qa.forms.find((f) => String(f.id) === String(id)); }

async function qaSearch() {
  const list = $("qa-calls");
  clear(list);
  text("qa-status", "");
  try {
    if (!qa.forms.length) qa.forms = await api("/quality/forms");
    try {  // agents by name where the board knows them
      const board = await api("/agents/board");
      qa.names = Object.fromEntries(board.agents.map((a) => [a.username, a.display_name || a.username]));
    } catch (error) { /* no desk: user names */ }
    const page = await api("/contacts/search", { json: { caller: $("qa-caller").value.trim(), limit: 10 } });
    if (!page.items.length) { text("qa-status", "没有该号码的来电"); return; }
    for (const item of page.items) await qaShowCall(list, item);
  } catch (error) {
    text("qa-status", error.message);
  }
}

async function qaShowCall(list, item) {
  const contact = await api(`/contacts/${item.id}`);
  const entry = li(list, `${qaTime(item.started_at)} ${item.caller_number} ` +
    `${OUTCOME_TITLES[item.outcome] || ""}`);
  entry.dataset.contact = String(item.id);
  const recordings = qaEl("ul", { className: "qa-recordings" });
  entry.appendChild(recordings);
  renderRecordings(recordings, await api(`/contacts/${item.id}/recordings`));
  const reviews = await api(`/quality/reviews?contact_id=${item.id}`);
  const legs = qaEl("ul", { className: "qa-legs" });
  entry.appendChild(legs);
  if (!contact.agents.length) li(legs, "无坐席接听，不能评分");
  for (const agent of contact.agents) {
    const name = qa.names[agent] && qa.names[agent] !== agent ? `${qa.names[agent]}（${agent}）` : agent;
    const leg = li(legs, `坐席 ${name}：`);
    leg.dataset.agent = agent;
    for (const r of reviews.filter((x) => x.agent === agent)) {
      leg.appendChild(qaEl("span", { className: "qa-given", textContent:
        ` ${r.reviewer_name} 评 ${r.total} 分${r.acknowledged_at ? "（坐席已确认）" : "（待坐席确认）"}` }));
    }
    const mine = reviews.find((x) => x.agent === agent && x.reviewer === state.me.username);
    const button = qaEl("button", { type: "button", className: "qa-score",
      textContent: mine ? "修改评分" : "评分" });
    button.addEventListener("click", () => qaOpen(item, agent, name, mine));
    leg.appendChild(button);
  }
}

function qaScoreRows(form, scores) {
  const body = $("qa-scores").tBodies[0];
  clear(body);
  for (const c of form ? form.criteria : []) {
    const input = qaEl("input", { id: `qa-score-${c.key}`, type: "number", min: 0,
      max: c.max_score, step: 1, value: scores[c.key] ?? "" });
    input.dataset.key = c.key;
    body.appendChild(qaEl("tr", {}, [qaEl("td", { textContent: c.title }), qaEl("td", {}, [input]),
      qaEl("td", { textContent: String(c.max_score) }), qaEl("td", { textContent: String(c.weight) })]));
  }
}

function qaOpen(item, agent, name, review) {
  qa.editing = { contactId: item.id, agent, review };
  text("qa-editor-title", `${review ? "修改评分" : "评分"}：${qaTime(item.started_at)} ` +
    `${item.caller_number} · 坐席 ${name}`);
  text("qa-status", "");
  const forms = review ? [{ id: review.form_id, title: review.form_title, version: review.form_version,
    criteria: review.criteria }] : qa.forms;
  fillSelect($("qa-form"), forms.map((f) => [String(f.id), `${f.title}（第${f.version}版）`]));
  $("qa-form").disabled = Boolean(review);
  const scores = review ? Object.fromEntries(review.criteria.map((c) => [c.key, c.score])) : {};
  qaScoreRows(forms[0], scores);
  $("qa-comment").value = review ? review.comment : "";
  show("qa-editor", true);
}

async function qaSubmit() {
  const { contactId, agent, review } = qa.editing;
  const scores = {};
  for (const input of $("qa-scores").querySelectorAll("input")) {
    if (input.value.trim() !== "") scores[input.dataset.key] = Number(input.value);
  }
  const comment = $("qa-comment").value;
  text("qa-status", "");
  try {
    const saved = review
      ? await api(`/quality/reviews/${review.id}`, { method: "PUT", json: { scores, comment } })
      : await api("/quality/reviews", { json: { contact_id: contactId, agent,
        form_id: Number($("qa-form").value), scores, comment } });
    show("qa-editor", false);
    await qaSearch();
    text("qa-status", `评分已保存：坐席 ${saved.agent_name}，总分 ${saved.total}`);
  } catch (error) {
    text("qa-status", error.message);
  }
}

// -- agent: the reviews of one's own calls, acknowledged after reading ---------------------

function qaBuildAgent() {
  const panel = qaPanel("agent-view", "qa-mine-panel", "我的质检评分");
  panel.querySelector("h2").append(" ",
    qaEl("button", { id: "qa-mine-refresh", type: "button", textContent: "刷新" }));
  panel.append(qaEl("ul", { id: "qa-mine" }),
    qaEl("p", { id: "qa-mine-status", className: "muted", role: "status" }));
  $("qa-mine-refresh").addEventListener("click", qaLoadMine);
}

async function qaLoadMine() {
  const list = $("qa-mine");
  text("qa-mine-status", "");
  try {
    const reviews = await api("/quality/reviews");
    clear(list);
    if (!reviews.length) { li(list, "暂无质检评分"); return; }
    for (const r of reviews) {
      const item = li(list, `${qaTime(r.call_at)} 的通话 · ${r.form_title} · 总分 ${r.total} · ` +
        `评分人 ${r.reviewer_name}`);
      item.dataset.review = String(r.id);
      item.appendChild(qaEl("div", { className: "qa-detail", textContent: r.criteria.map(
        (c) => `${c.title} ${c.score}/${c.max_score}`).join("；") }));
      if (r.comment) item.appendChild(qaEl("div", { className: "qa-comment-text", textContent: `评语：${r.comment}` }));
      if (r.acknowledged_at) {
        item.appendChild(qaEl("div", { className: "qa-acked muted",
          textContent: `已确认（${qaTime(r.acknowledged_at)}）` }));
      } else {
        const ack = qaEl("button", { type: "button", className: "qa-ack", textContent: "确认已阅" });
        ack.addEventListener("click", async () => {
          try {
            await api(`/quality/reviews/${r.id}/ack`, { method: "POST" });
            await qaLoadMine();
          } catch (error) {
            text("qa-mine-status", error.message);
          }
        });
        item.appendChild(ack);
      }
    }
  } catch (error) {
    text("qa-mine-status", error.message);
  }
}

// -- load each panel when console.js shows its view ----------------------------------------

function qaWhenShown(viewId, build, load) {
  build();
  const view = $(viewId);
  const check = () => { if (!view.hidden && state.me) load(); };
  new MutationObserver(check).observe(view, { attributes: true, attributeFilter: ["hidden"] });
  check();
}

qaWhenShown("admin-view", qaBuildAdmin, qaLoadAdmin);
qaWhenShown("supervisor-view", qaBuildSupervisor, async () => {
  try { qa.forms = await api("/quality/forms"); } catch (error) { text("qa-status", error.message); }
});
qaWhenShown("agent-view", qaBuildAgent, qaLoadMine);
