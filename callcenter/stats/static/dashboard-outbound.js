"use strict";
// 外呼回电 on the dashboard: /api/v1/stats/outbound for the dashboard's range, loaded each time
// the dashboard's figures are (dashboard.js marks the body data-state="ready").
(() => {
  const $ = (id) => document.getElementById(id);
  const RESULTS = [["reached", "已接通"], ["no_answer", "无人接听"], ["busy", "占线"],
                   ["wrong_number", "号码错误"], ["failed", "呼叫失败"]];

  async function loadOutbound() {
    const table = $("outbound-table");
    try {
      const response = await Hotline.api("/api/v1/stats/outbound",
        { from: $("from").value, to: $("to").value });
      const report = await response.json();
      const cells = [
        ["呼入联系量", Hotline.num(report.contacts_by_direction.inbound)],
        ["外呼回电次数", Hotline.num(report.attempts)],
        ...RESULTS.map(([key, label]) => [label, Hotline.num(report.by_result[key])]),
        ["回电接通率", Hotline.pct(report.reach_rate)],
        ["回电通话时长", Hotline.secs(report.talk_seconds)],
        ["已完成回电请求", Hotline.num(report.callbacks_closed.done)],
        ["回电失败请求", Hotline.num(report.callbacks_closed.failed)],
        ["待回电请求（当前）", Hotline.num(report.callbacks_pending)],
      ];
      const body = table.querySelector("tbody");
      body.innerHTML = "";
      const tr = document.createElement("tr");
      const head = table.querySelector("thead tr");
      head.innerHTML = "";
      cells.forEach(([label, value]) => {
        const th = document.createElement("th"); th.textContent = label; head.appendChild(th);
        const td = document.createElement("td"); td.textContent = value; tr.appendChild(td);
      });
      body.appendChild(tr);
      table.dataset.state = "ready";
    } catch (err) {
      table.dataset.state = "error";
      $("error").textContent = "外呼回电统计查询失败：" + err.message;
    }
  }

  new MutationObserver(() => {
    if (document.body.dataset.state === "ready") loadOutbound();
  }).observe(document.body, { attributes: true, attributeFilter: ["data-state"] });
})();
